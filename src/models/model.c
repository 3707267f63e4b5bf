// The model description's storage (normlab/model.h).
#include "normlab/model.h"

#include <stdlib.h>

int model_names_alloc(ModelNames *names, int n) {
    names->n = n;
    names->name = calloc(n > 0 ? n : 1, sizeof *names->name);
    return names->name ? 0 : -1;
}

void model_names_free(ModelNames *names) {
    free(names->name);
    *names = (ModelNames){0};
}

void model_describe_free(Model *m) {
    model_names_free(&m->groups), model_names_free(&m->norms), model_names_free(&m->attention);
    model_names_free(&m->scalars);
    free(m->param_group), free(m->norm), free(m->scalar);
    *m = (Model){0};
}
