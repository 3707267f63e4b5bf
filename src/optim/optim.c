// AdamW and SGD updates, clipping, and the schedule. Each update is one flat loop per parameter
// (weight decay is per parameter: only matrices and embeddings decay).
#include "normlab/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const OPTIM_NAMES[OPTIM_COUNT] = {"adamw", "sgd"};

int optim_init(Optimizer *o, const OptimConfig *cfg, size_t numel) {
    *o = (Optimizer){.cfg = *cfg, .numel = numel};
    o->m = aligned_alloc(64, numel * sizeof(nl_real));
    o->v = aligned_alloc(64, numel * sizeof(nl_real));
    if (!o->m || !o->v) return optim_free(o), -1;
    memset(o->m, 0, numel * sizeof(nl_real));
    memset(o->v, 0, numel * sizeof(nl_real));
    return 0;
}

void optim_free(Optimizer *o) {
    free(o->m);
    free(o->v);
    *o = (Optimizer){0};
}

// Loops over fewer elements than this run on one thread (waking the team would cost more).
#define OPTIM_PARALLEL_MIN 32768

// torch.optim.AdamW, step t (1-based), as torch computes it:
//   p *= 1 - lr wd                    (decoupled decay; decaying parameters only)
//   m += (1 - b1) (g - m);  v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
static void adamw_update(nl_real *p, const nl_real *g, nl_real *m, nl_real *v, size_t n, double lr, double wd,
                         const OptimConfig *c, long t) {
    nl_real decay = (nl_real)(1 - lr * wd), b1 = (nl_real)c->beta1, b2 = (nl_real)c->beta2;
    nl_real step_size = (nl_real)(lr / (1 - pow(c->beta1, (double)t)));
    nl_real bc2_sqrt = (nl_real)sqrt(1 - pow(c->beta2, (double)t)), eps = (nl_real)c->eps;
#pragma omp parallel for simd schedule(static) if (n >= OPTIM_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        p[i] *= decay;
        m[i] += (1 - b1) * (g[i] - m[i]);
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= step_size * m[i] / (sqrt(v[i]) / bc2_sqrt + eps);
    }
}

// torch.optim.SGD with momentum mu (dampening 0), coupled weight decay:
//   d = g + wd p;  buf = d on the first step, else mu buf + d;  p -= lr buf
static void sgd_update(nl_real *p, const nl_real *g, nl_real *buf, size_t n, double lr, double wd, double mu,
                       long t) {
#pragma omp parallel for simd schedule(static) if (n >= OPTIM_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        nl_real d = g[i] + (nl_real)wd * p[i];
        buf[i] = t == 1 ? d : (nl_real)mu * buf[i] + d;
        p[i] -= (nl_real)lr * buf[i];
    }
}

void optim_step(Optimizer *o, ParamSet *ps, double lr) {
    o->steps++;
    for (int i = 0; i < ps->n; i++) {
        const Param *pr = &ps->list[i];
        size_t off = pr->offset, n = tensor_numel(pr->t);
        double wd = param_decays(pr) ? o->cfg.weight_decay : 0, plr = lr * pr->spec.lr_mult;
        if (o->cfg.kind == OPTIM_ADAMW)
            adamw_update(ps->data + off, ps->grad + off, o->m + off, o->v + off, n, plr, wd, &o->cfg, o->steps);
        else
            sgd_update(ps->data + off, ps->grad + off, o->m + off, n, plr, wd, o->cfg.beta1, o->steps);
    }
}

double optim_lr(const OptimConfig *c, long step) {
    if (step < c->warmup) return c->lr * (step + 1) / (c->warmup + 1);
    if (step > c->decay_steps || c->decay_steps <= c->warmup) return c->min_lr;
    double ratio = (double)(step - c->warmup) / (c->decay_steps - c->warmup);
    return c->min_lr + 0.5 * (1 + cos(M_PI * ratio)) * (c->lr - c->min_lr);
}

double grad_norm(const ParamSet *ps) {
    double sq = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : sq) if (ps->numel >= OPTIM_PARALLEL_MIN)
    for (size_t i = 0; i < ps->numel; i++) sq += (double)ps->grad[i] * ps->grad[i];
    return sqrt(sq);
}

void grad_clip(ParamSet *ps, double norm, double max_norm) {
    if (max_norm > 0 && max_norm / (norm + 1e-6) < 1) {
        nl_real scale = (nl_real)(max_norm / (norm + 1e-6));
#pragma omp parallel for simd schedule(static) if (ps->numel >= OPTIM_PARALLEL_MIN)
        for (size_t i = 0; i < ps->numel; i++) ps->grad[i] *= scale;
    }
}
