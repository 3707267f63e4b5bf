// AdamW and SGD updates, clipping, and the schedule. Each update is a flat loop over a stretch of
// one parameter (weight decay and the lr multiplier are per parameter: only matrices and embeddings
// decay); optim_step runs them for all the parameters in one parallel region.
#include "normlab/optim.h"

#include "../tensor/kernels.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int optim_init(Optimizer *o, const OptimConfig *cfg, size_t numel) {
    *o = (Optimizer){.cfg = *cfg, .numel = numel};
    for (int k = 0; k < OPTIM_TABLE[cfg->kind].n_state; k++) {
        if (!(o->state[k] = aligned_alloc(64, numel * sizeof(nl_real)))) return optim_free(o), -1;
        memset(o->state[k], 0, numel * sizeof(nl_real));
    }
    return 0;
}

void optim_free(Optimizer *o) {
    for (int k = 0; k < OPTIM_MAX_STATE; k++) free(o->state[k]);
    *o = (Optimizer){0};
}

// Loops over fewer elements than this run on one thread (waking the team would cost more).
#define OPTIM_PARALLEL_MIN 32768

// torch.optim.AdamW, step t (1-based), as torch computes it:
//   p *= 1 - lr wd                    (decoupled decay; decaying parameters only)
//   m += (1 - b1) (g - m);  v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
static void adamw_update(const OptimConfig *c, nl_real *p, const nl_real *g, nl_real *const *state, size_t n,
                         double lr, double wd, long t) {
    nl_real *m = state[0], *v = state[1];
    nl_real decay = (nl_real)(1 - lr * wd), b1 = (nl_real)c->beta1, b2 = (nl_real)c->beta2;
    nl_real step_size = (nl_real)(lr / (1 - pow(c->beta1, (double)t)));
    nl_real bc2_sqrt = (nl_real)sqrt(1 - pow(c->beta2, (double)t)), eps = (nl_real)c->eps;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        p[i] *= decay;
        m[i] += (1 - b1) * (g[i] - m[i]);
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        nl_real denom = real_sqrt(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * m[i] / denom;
    }
}

// torch.optim.SGD with momentum mu (dampening 0), coupled weight decay:
//   d = g + wd p;  buf = d on the first step, else mu buf + d;  p -= lr buf
static void sgd_update(const OptimConfig *c, nl_real *p, const nl_real *g, nl_real *const *state, size_t n,
                       double lr, double wd, long t) {
    nl_real *buf = state[0];
    double mu = c->beta1;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        nl_real d = g[i] + (nl_real)wd * p[i];
        buf[i] = t == 1 ? d : (nl_real)mu * buf[i] + d;
        p[i] -= (nl_real)lr * buf[i];
    }
}

// AdamW's state is its two moments; SGD's, the momentum buffer (named m, as checkpoints always have).
const OptimInfo OPTIM_TABLE[OPTIM_COUNT] = {
    [OPTIM_ADAMW] = {"adamw", 2, {"m", "v"}, adamw_update},
    [OPTIM_SGD] = {"sgd", 1, {"m"}, sgd_update},
};

// One parallel region for every parameter (a region per parameter kept the small ones serial and
// woke the team a dozen times a step): each thread takes a contiguous slice of the flat array, whole
// cache lines, and updates the stretches of the parameters that fall in it. The updates are element
// by element, so the slices do not change the numbers.
void optim_step(Optimizer *o, ParamSet *ps, double lr) {
    const OptimInfo *info = &OPTIM_TABLE[o->cfg.kind];
    long t = ++o->steps;
#pragma omp parallel if (ps->numel >= OPTIM_PARALLEL_MIN)
    {
        size_t per = (ps->numel + omp_get_num_threads() - 1) / omp_get_num_threads();
        per = (per + 15) / 16 * 16;
        size_t a = (size_t)omp_get_thread_num() * per, b = a + per;
        for (int i = 0; i < ps->n; i++) {
            const Param *pr = &ps->list[i];
            size_t lo = pr->offset > a ? pr->offset : a, end = pr->offset + tensor_numel(pr->t);
            size_t hi = end < b ? end : b;
            if (lo >= hi) continue;
            nl_real *state[OPTIM_MAX_STATE];
            for (int k = 0; k < info->n_state; k++) state[k] = o->state[k] + lo;
            info->update(&o->cfg, ps->data + lo, ps->grad + lo, state, hi - lo, lr * pr->spec.lr_mult,
                         param_decays(pr) ? o->cfg.weight_decay : 0, t);
        }
    }
}

double optim_min_lr_of(double lr) {
    char tenth[32];
    snprintf(tenth, sizeof tenth, "%.15g", lr / 10);
    return strtod(tenth, NULL);
}

double optim_lr(const OptimConfig *c, long step) {
    if (step < c->warmup) return c->lr * (step + 1) / (c->warmup + 1);
    if (step > c->decay_steps || c->decay_steps <= c->warmup) return c->min_lr;
    double ratio = (double)(step - c->warmup) / (c->decay_steps - c->warmup);
    return c->min_lr + 0.5 * (1 + cos(M_PI * ratio)) * (c->lr - c->min_lr);
}

// In fixed chunks (kernels.h): the norm, and so clipping, does not depend on the thread count.
double grad_norm(const ParamSet *ps) {
    double part[FIXED_SUM_PARTS];
    size_t n = ps->numel, chunk = fixed_sum_chunk(n, OPTIM_PARALLEL_MIN / 2), parts = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (parts > 1)
    for (size_t p = 0; p < parts; p++) {
        size_t i1 = (p + 1) * chunk < n ? (p + 1) * chunk : n;
        double sq = 0;
#pragma omp simd reduction(+ : sq)
        for (size_t i = p * chunk; i < i1; i++) sq += (double)ps->grad[i] * ps->grad[i];
        part[p] = sq;
    }
    return sqrt(fixed_sum_total(part, parts));
}

void grad_clip(ParamSet *ps, double norm, double max_norm) {
    if (max_norm > 0 && max_norm / (norm + 1e-6) < 1) {
        nl_real scale = (nl_real)(max_norm / (norm + 1e-6));
#pragma omp parallel for simd schedule(static) if (ps->numel >= OPTIM_PARALLEL_MIN)
        for (size_t i = 0; i < ps->numel; i++) ps->grad[i] *= scale;
    }
}
