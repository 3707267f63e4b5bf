// Named parameter blocks in safetensors files.
#include "normlab/check.h"
#include "normlab/checkpoint.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int params_entries(const ParamSet *ps, const nl_real *block, const char *prefix, StEntry *out,
                   char *names) {
    NL_NONNULL(ps, block, prefix, out, names);
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
    NL_NONNULL(f, specs, prefix, err);
    StTensor t;
    for (int i = 0; i < n; i++)
        if (spec_find(f, &specs[i], prefix, &t, err, errlen)) return -1;
    return 0;
}

int params_read(const StFile *f, const ParamSet *ps, nl_real *block, const char *prefix, char *err,
                size_t errlen) {
    NL_NONNULL(f, ps, block, prefix, err);
    for (int i = 0; i < ps->n; i++) {
        const Param *p = &ps->list[i];
        StTensor t;
        if (spec_find(f, &p->spec, prefix, &t, err, errlen)) return -1;
        st_read_reals(&t, block + p->offset, tensor_numel(p->t)); // cannot fail: dtype and shape are checked
    }
    return 0;
}

// ---- configs as metadata ---------------------------------------------------------------------------
int meta_fields_write(const MetaField *fields, int nf, const void *base, const char *prefix, const char **meta,
                      int *n, int max, char *buf, size_t buflen) {
    NL_NONNULL(fields, base, prefix, meta, n, buf);
    size_t used = 0;
    for (int i = 0; i < nf; i++) {
        const MetaField *f = &fields[i];
        const char *at = (const char *)base + f->offset;
        char *key = buf + used;
        int k = snprintf(key, buflen - used, "%s%s", prefix, f->key);
        if (*n >= max || k < 0 || used + k + 1 >= buflen) return -1;
        used += k + 1;
        char *value = buf + used;
        int v, iv;
        long lv;
        bool bv;
        double dv;
        switch (f->type) {
        case META_INT: memcpy(&iv, at, sizeof iv), v = snprintf(value, buflen - used, "%d", iv); break;
        case META_LONG: memcpy(&lv, at, sizeof lv), v = snprintf(value, buflen - used, "%ld", lv); break;
        case META_BOOL: memcpy(&bv, at, sizeof bv), v = snprintf(value, buflen - used, "%s", bv ? "true" : "false"); break;
        default: memcpy(&dv, at, sizeof dv), v = snprintf(value, buflen - used, "%.17g", dv); break;
        }
        if (v < 0 || used + v + 1 >= buflen) return -1;
        used += v + 1;
        meta[2 * *n] = key, meta[2 * *n + 1] = value, (*n)++;
    }
    return 0;
}

int meta_fields_read(const MetaField *fields, int nf, void *base, const char *prefix, const StFile *file, char *err,
                     size_t errlen) {
    NL_NONNULL(fields, base, prefix, file, err);
    for (int i = 0; i < nf; i++) {
        const MetaField *f = &fields[i];
        char key[128], *end = NULL;
        snprintf(key, sizeof key, "%s%s", prefix, f->key);
        const char *s = st_meta(file, key);
        char *at = (char *)base + f->offset;
        bool ok = s && *s;
        if (ok && f->type == META_BOOL) {
            bool b = !strcmp(s, "true");
            ok = b || !strcmp(s, "false");
            memcpy(at, &b, sizeof b);
        } else if (ok && f->type == META_DOUBLE) {
            double d = strtod(s, &end);
            ok = !*end && isfinite(d);
            memcpy(at, &d, sizeof d);
        } else if (ok) {
            errno = 0;
            long l = strtol(s, &end, 10);
            ok = !*end && !errno && (f->type == META_LONG || (l >= INT_MIN && l <= INT_MAX));
            int iv = (int)l;
            f->type == META_LONG ? memcpy(at, &l, sizeof l) : memcpy(at, &iv, sizeof iv);
        }
        if (!ok)
            return snprintf(err, errlen, "the checkpoint's %s is %s", key, s ? "malformed" : "missing"), -1;
    }
    return 0;
}
