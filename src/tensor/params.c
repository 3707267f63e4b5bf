// The parameter blocks and table-driven allocation and init.
#include "normlab/params.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "normlab/check.h"

#define PAD (64 / sizeof(nl_real)) // elements per 64 bytes

int paramset_alloc(ParamSet *ps, const ParamSpec *specs, int n) {
    NL_NONNULL(ps, specs);
    *ps = (ParamSet){.n = n};
    ps->list = calloc(n, sizeof(Param));
    ps->tensors = calloc(n, sizeof(Tensor));
    if (!ps->list || !ps->tensors) return paramset_free(ps), -1;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        NL_CHECK(specs[i].lr_mult > 0, "parameter %s: lr_mult must be > 0 (1 for the plain learning rate), got %g",
              specs[i].name, specs[i].lr_mult);
        for (int j = 0; j < i; j++) // a checkpoint names them: two of one name could not be told apart
            NL_CHECK(strcmp(specs[i].name, specs[j].name), "parameters %d and %d are both named '%s': each "
                     "parameter needs a name of its own", j, i, specs[i].name);
        ps->list[i] = (Param){.spec = specs[i], .offset = off};
        off += (shape_numel(specs[i].shape) + PAD - 1) / PAD * PAD;
    }
    ps->numel = off;
    ps->data = aligned_alloc(64, off * sizeof(nl_real));
    ps->grad = aligned_alloc(64, off * sizeof(nl_real));
    if (!ps->data || !ps->grad) return paramset_free(ps), -1;
    memset(ps->data, 0, off * sizeof(nl_real));
    memset(ps->grad, 0, off * sizeof(nl_real));
    for (int i = 0; i < n; i++) {
        Param *p = &ps->list[i];
        ps->tensors[i] = (Tensor){.data = ps->data + p->offset, .grad = ps->grad + p->offset,
                                  .shape = p->spec.shape, .needs_grad = true, .name = p->spec.name};
        p->t = &ps->tensors[i];
    }
    return 0;
}

void paramset_free(ParamSet *ps) {
    NL_NONNULL(ps);
    free(ps->list);
    free(ps->tensors);
    free(ps->data);
    free(ps->grad);
    *ps = (ParamSet){0};
}

void paramset_init(ParamSet *ps, Rng *rng) {
    NL_NONNULL(ps, rng);
    for (int i = 0; i < ps->n; i++) {
        Param *p = &ps->list[i];
        size_t n = tensor_numel(p->t);
        for (size_t j = 0; j < n; j++)
            p->t->data[j] = (nl_real)(p->spec.init == PARAM_INIT_NORMAL ? p->spec.value * rng_normal(rng)
                                                                     : p->spec.value);
    }
}

// Split between the team, a slice each: faster than one thread's memset (docs/performance.md).
void paramset_zero_grad(ParamSet *ps) {
    NL_NONNULL(ps);
#pragma omp parallel if (ps->numel >= KERNEL_PARALLEL_MIN)
    {
        size_t n = ps->numel, parts = (size_t)omp_get_num_threads(), per = (n + parts - 1) / parts;
        size_t a = per * (size_t)omp_get_thread_num(), b = a + per;
        if (a < n) memset(ps->grad + a, 0, ((b < n ? b : n) - a) * sizeof(nl_real));
    }
}

Param *paramset_find(const ParamSet *ps, const char *name) {
    NL_NONNULL(ps, name);
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->list[i].spec.name, name) == 0) return &ps->list[i];
    return NULL;
}

size_t paramset_count(const ParamSet *ps) {
    NL_NONNULL(ps);
    size_t n = 0;
    for (int i = 0; i < ps->n; i++) n += tensor_numel(ps->list[i].t);
    return n;
}
