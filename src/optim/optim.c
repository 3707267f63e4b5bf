// AdamW and SGD updates, clipping, and the schedule. Each update is a flat loop over a stretch of
// one parameter (weight decay and the lr multiplier are per parameter: only matrices and embeddings
// decay); optim_step runs them for all the parameters in one parallel region.
#include "normlab/check.h"
#include "normlab/optim.h"

#include "../tensor/kernels.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int optim_init(Optimizer *o, const OptimConfig *cfg, size_t numel) {
    NL_NONNULL(o, cfg);
    *o = (Optimizer){.cfg = *cfg, .numel = numel};
    for (int k = 0; k < OPTIM_TABLE[cfg->kind].n_state; k++) {
        if (!(o->state[k] = aligned_alloc(64, numel * sizeof(nl_real)))) return optim_free(o), -1;
        memset(o->state[k], 0, numel * sizeof(nl_real));
    }
    return 0;
}

void optim_free(Optimizer *o) {
    NL_NONNULL(o);
    for (int k = 0; k < OPTIM_MAX_STATE; k++) free(o->state[k]);
    free(o->scratch);
    *o = (Optimizer){0};
}

// torch.optim.AdamW, step t (1-based), as torch computes it:
//   p *= 1 - lr wd                    (decoupled decay; decaying parameters only)
//   m += (1 - b1) (g - m);  v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
static void adamw_update(const OptimConfig *c, nl_real *p, const nl_real *g, nl_real gs, nl_real *const *state,
                         size_t n, double lr, double wd, long t) {
    nl_real *m = state[0], *v = state[1];
    nl_real decay = (nl_real)(1 - lr * wd), b1 = (nl_real)c->beta1, b2 = (nl_real)c->beta2;
    nl_real step_size = (nl_real)(lr / (1 - pow(c->beta1, (double)t)));
    nl_real bc2_sqrt = (nl_real)sqrt(1 - pow(c->beta2, (double)t)), eps = (nl_real)c->eps;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        nl_real gi = g[i] * gs;
        p[i] *= decay;
        m[i] += (1 - b1) * (gi - m[i]);
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        nl_real denom = real_sqrt(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * m[i] / denom;
    }
}

// torch.optim.SGD with momentum mu (dampening 0), coupled weight decay:
//   d = g + wd p;  buf = d on the first step, else mu buf + d;  p -= lr buf
static void sgd_update(const OptimConfig *c, nl_real *p, const nl_real *g, nl_real gs, nl_real *const *state,
                       size_t n, double lr, double wd, long t) {
    nl_real *buf = state[0];
    double mu = c->beta1;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        nl_real d = g[i] * gs + (nl_real)wd * p[i];
        buf[i] = t == 1 ? d : (nl_real)mu * buf[i] + d;
        p[i] -= (nl_real)lr * buf[i];
    }
}

// Muon's work space for a (rows, cols) matrix: X and the next X (r' x c', r' = min, c' = max),
// A = X X^T and B (r' x r').
static size_t muon_scratch(int rows, int cols) {
    size_t r = rows < cols ? rows : cols;
    return 2 * (size_t)rows * cols + 2 * r * r;
}

// One hidden matrix's Muon step (the reference's muon_update and step), its momentum in state[0]:
//   m = b m + (1 - b) g;  u = (1 - b) g + b m                 (Nesterov)
//   X = u / (|u|_F + 1e-7), as r' x c' (transposed when rows > cols)
//   5 times: A = X X^T;  B = beta A + gamma A A;  X = alpha X + B X
//   p *= 1 - lr wd;  p -= lr sqrt(max(1, rows / cols)) X     (X back in (rows, cols))
static void muon_update(const OptimConfig *c, nl_real *p, const nl_real *g, nl_real gs, nl_real *const *state,
                        int rows, int cols, double lr, double wd, nl_real *scratch) {
    (void)c;
    const nl_real a = (nl_real)3.4445, b = (nl_real)-4.7750, cc = (nl_real)2.0315, mu = (nl_real)MUON_MOMENTUM;
    bool tall = rows > cols;
    int r = tall ? cols : rows, k = tall ? rows : cols; // X is (r, k), r <= k
    size_t n = (size_t)rows * cols;
    nl_real *m = state[0], *x = scratch, *next = x + n, *A = next + n, *B = A + (size_t)r * r;
    double sq = 0;
    for (size_t i = 0; i < n; i++) {
        nl_real gi = g[i] * gs;
        m[i] = mu * m[i] + (1 - mu) * gi;
        nl_real u = (1 - mu) * gi + mu * m[i];
        x[tall ? (i % cols) * rows + i / cols : i] = u; // transposed when tall
        sq += (double)u * u;
    }
    nl_real inv = (nl_real)(1 / (sqrt(sq) + 1e-7));
    for (size_t i = 0; i < n; i++) x[i] *= inv;
    for (int step = 0; step < MUON_NS_STEPS; step++) {
        gemm(false, true, r, r, k, 1, x, x, 0, A);  // A = X X^T   (r,r)
        memcpy(B, A, (size_t)r * r * sizeof(nl_real));
        gemm(false, false, r, r, r, cc, A, A, b, B); // B = b A + c A A
        memcpy(next, x, n * sizeof(nl_real));
        gemm(false, false, r, k, r, 1, B, x, a, next); // X = a X + B X
        nl_real *t = x;
        x = next, next = t;
    }
    nl_real decay = (nl_real)(1 - lr * wd), step_size = (nl_real)(lr * sqrt(fmax(1, (double)rows / cols)));
    for (size_t i = 0; i < n; i++) p[i] = p[i] * decay - step_size * x[tall ? (i % cols) * rows + i / cols : i];
}

// AdamW's state is its two moments; SGD's, the momentum buffer (named m, as checkpoints always have);
// Muon's, AdamW's moments, where its hidden matrices keep their momentum in m.
const OptimInfo OPTIM_TABLE[OPTIM_COUNT] = {
    [OPTIM_ADAMW] = {"adamw", 2, {"m", "v"}, 1u << 1, adamw_update, NULL},
    [OPTIM_SGD] = {"sgd", 1, {"m"}, 0, sgd_update, NULL},
    [OPTIM_MUON] = {"muon", 2, {"m", "v"}, 1u << 1, adamw_update, muon_update},
};

// One parallel region for every parameter (a region per parameter kept the small ones serial and
// woke the team a dozen times a step): each thread takes a contiguous slice of the flat array, whole
// cache lines, and updates the stretches of the parameters that fall in it. The updates are element
// by element, so the slices do not change the numbers.
// A matrix update's parameters: the hidden matrices of an optimizer that has one.
static bool by_matrix(const OptimInfo *info, const Param *pr) {
    return info->matrix && pr->spec.hidden && pr->t->shape.ndim == 2;
}

int optim_prepare(Optimizer *o, const ParamSet *ps) {
    NL_NONNULL(o, ps);
    const OptimInfo *info = &OPTIM_TABLE[o->cfg.kind];
    size_t need = 0;
    for (int i = 0; i < ps->n; i++)
        if (by_matrix(info, &ps->list[i])) {
            size_t len = muon_scratch(ps->list[i].t->shape.d[0], ps->list[i].t->shape.d[1]);
            need = len > need ? len : need;
        }
    if (need <= o->scratch_len) return 0;
    nl_real *s = realloc(o->scratch, need * sizeof(nl_real));
    if (!s) return -1;
    o->scratch = s, o->scratch_len = need;
    return 0;
}

void optim_step(Optimizer *o, ParamSet *ps, double lr, double grad_scale) {
    NL_NONNULL(o, ps);
    nl_real gs = (nl_real)grad_scale;
    const OptimInfo *info = &OPTIM_TABLE[o->cfg.kind];
    long t = ++o->steps;
#pragma omp parallel if (ps->numel >= KERNEL_PARALLEL_MIN)
    {
        size_t per = (ps->numel + omp_get_num_threads() - 1) / omp_get_num_threads();
        per = (per + 15) / 16 * 16;
        size_t a = (size_t)omp_get_thread_num() * per, b = a + per;
        for (int i = 0; i < ps->n; i++) {
            const Param *pr = &ps->list[i];
            if (by_matrix(info, pr)) continue;
            size_t lo = pr->offset > a ? pr->offset : a, end = pr->offset + tensor_numel(pr->t);
            size_t hi = end < b ? end : b;
            if (lo >= hi) continue;
            nl_real *state[OPTIM_MAX_STATE];
            for (int k = 0; k < info->n_state; k++) state[k] = o->state[k] + lo;
            info->update(&o->cfg, ps->data + lo, ps->grad + lo, gs, state, hi - lo, lr * pr->spec.lr_mult,
                         param_decays(pr) ? o->cfg.weight_decay : 0, t);
        }
    }
    // the hidden matrices one at a time, each with the team inside its products; lr's schedule, scaled
    double matrix_lr = o->cfg.lr > 0 ? lr * o->cfg.muon_lr / o->cfg.lr : 0;
    for (int i = 0; info->matrix && i < ps->n; i++) {
        const Param *pr = &ps->list[i];
        if (!by_matrix(info, pr)) continue;
        NL_CHECK(o->scratch_len >= muon_scratch(pr->t->shape.d[0], pr->t->shape.d[1]),
                 "%s's matrix update needs optim_prepare first", info->name);
        nl_real *state[OPTIM_MAX_STATE];
        for (int k = 0; k < info->n_state; k++) state[k] = o->state[k] + pr->offset;
        info->matrix(&o->cfg, ps->data + pr->offset, ps->grad + pr->offset, gs, state, pr->t->shape.d[0],
                     pr->t->shape.d[1], matrix_lr * pr->spec.lr_mult, o->cfg.weight_decay, o->scratch);
    }
}

double optim_min_lr_of(double lr) {
    char tenth[32];
    snprintf(tenth, sizeof tenth, "%.15g", lr / 10);
    return strtod(tenth, NULL);
}

double optim_lr(const OptimConfig *c, long step) {
    NL_NONNULL(c);
    if (step < c->warmup) return c->lr * (step + 1) / (c->warmup + 1);
    if (step > c->decay_steps || c->decay_steps <= c->warmup) return c->min_lr;
    double ratio = (double)(step - c->warmup) / (c->decay_steps - c->warmup);
    return c->min_lr + 0.5 * (1 + cos(M_PI * ratio)) * (c->lr - c->min_lr);
}

// In fixed chunks (kernels.h): the norm, and so clipping, does not depend on the thread count.
double grad_norm(const ParamSet *ps) {
    NL_NONNULL(ps);
    double part[FIXED_SUM_PARTS];
    size_t n = ps->numel, chunk = fixed_sum_chunk(n, KERNEL_PARALLEL_MIN / 2), parts = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (parts > 1)
    for (size_t p = 0; p < parts; p++) {
        // this part's grads through a pointer of their own: read through ps inside the loop, gcc 12
        // made each load a gather (vgatherqps), 0.4 ms of a default step (docs/performance.md)
        const nl_real *g = ps->grad + p * chunk;
        size_t m = ((p + 1) * chunk < n ? (p + 1) * chunk : n) - p * chunk;
        double sq = 0;
#pragma omp simd reduction(+ : sq)
        for (size_t i = 0; i < m; i++) sq += (double)g[i] * g[i];
        part[p] = sq;
    }
    return sqrt(fixed_sum_total(part, parts));
}

double grad_clip_scale(double norm, double max_norm) {
    return max_norm > 0 && max_norm / (norm + 1e-6) < 1 ? max_norm / (norm + 1e-6) : 1;
}
