// Named parameter blocks in safetensors files.
#include "checkpoint.h"

#include <stdio.h>
#include <string.h>

int params_entries(const ParamSet *ps, const real *block, const char *prefix, StEntry *out,
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

int params_read(const StFile *f, const ParamSet *ps, real *block, const char *prefix, char *err,
                size_t errlen) {
    for (int i = 0; i < ps->n; i++) {
        const Param *p = &ps->list[i];
        char name[128], want[64];
        snprintf(name, sizeof name, "%s%s", prefix, p->spec.name);
        StTensor t;
        if (st_find(f, name, &t))
            return snprintf(err, errlen, "the checkpoint has no tensor '%s'", name), -1;
        bool same = t.ndim == p->spec.shape.ndim;
        for (int d = 0; same && d < t.ndim; d++) same = t.shape[d] == p->spec.shape.d[d];
        if (!same)
            return snprintf(err, errlen, "'%s' has shape %s in the model but another in the checkpoint",
                            name, shape_str(p->spec.shape, want)), -1;
        if (st_read_reals(&t, block + p->offset, tensor_numel(p->t)))
            return snprintf(err, errlen, "'%s' is %s in the checkpoint, not a float type", name,
                            ST_DTYPE_NAMES[t.dtype]), -1;
    }
    return 0;
}
