// Named parameter blocks in safetensors files.
#include "normlab/checkpoint.h"

#include <stdio.h>
#include <string.h>

int params_entries(const ParamSet *ps, const nl_real *block, const char *prefix, StEntry *out,
                   char *names) {
    for (int i = 0; i < ps->n; i++) {
        const Param *p = &ps->list[i];
        char *name = names + (size_t)i * 128;
        snprintf(name, 128, "%s%s", prefix, p->spec.name);
        out[i] = (StEntry){.name = name, .dtype = ST_REAL, .ndim = p->spec.shape.ndim, .data = block + p->offset};
        for (int d = 0; d < p->spec.shape.ndim; d++) out[i].shape[d] = p->spec.shape.d[d];
    }
    return ps->n;
}

// Finds prefix + spec's name in f and checks its shape and dtype; 0, or -1 with a message.
static int spec_find(const StFile *f, const ParamSpec *spec, const char *prefix, StTensor *t, char *err,
                     size_t errlen) {
    char name[128], want[64];
    snprintf(name, sizeof name, "%s%s", prefix, spec->name);
    if (st_find(f, name, t)) return snprintf(err, errlen, "the checkpoint has no tensor '%s'", name), -1;
    bool same = t->ndim == spec->shape.ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == spec->shape.d[d];
    if (!same)
        return snprintf(err, errlen, "'%s' has shape %s in the model but another in the checkpoint", name,
                        shape_str(spec->shape, want)), -1;
    if (t->dtype != ST_F32 && t->dtype != ST_F64)
        return snprintf(err, errlen, "'%s' is %s in the checkpoint, not a float type", name,
                        ST_DTYPE_NAMES[t->dtype]), -1;
    return 0;
}

int specs_check(const StFile *f, const ParamSpec *specs, int n, const char *prefix, char *err, size_t errlen) {
    StTensor t;
    for (int i = 0; i < n; i++)
        if (spec_find(f, &specs[i], prefix, &t, err, errlen)) return -1;
    return 0;
}

int params_read(const StFile *f, const ParamSet *ps, nl_real *block, const char *prefix, char *err,
                size_t errlen) {
    for (int i = 0; i < ps->n; i++) {
        const Param *p = &ps->list[i];
        StTensor t;
        if (spec_find(f, &p->spec, prefix, &t, err, errlen)) return -1;
        st_read_reals(&t, block + p->offset, tensor_numel(p->t)); // cannot fail: dtype and shape are checked
    }
    return 0;
}
