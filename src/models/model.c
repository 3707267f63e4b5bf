// The model table and the model description's storage (normlab/model.h).
#include "normlab/model.h"

#include <stdlib.h>
#include <string.h>

#define MODEL_ROW_(ID, name) [MODEL_##ID] = &MODEL_INFO_##name,
const ModelInfo *const MODEL_TABLE[MODEL_COUNT] = {MODEL_KINDS(MODEL_ROW_)};

int model_kind_parse(const char *name) {
    for (int k = 0; k < MODEL_COUNT; k++)
        if (!strcmp(MODEL_TABLE[k]->name, name)) return k;
    return -1;
}

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
