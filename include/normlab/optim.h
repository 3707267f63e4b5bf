// Optimizers (AdamW and SGD with momentum, torch semantics), global-norm gradient clipping and the
// learning-rate schedule. They see only the parameter blocks (tensor/params.h): the moments live in
// blocks of the same layout.
#pragma once
#include <stdbool.h>

#include "normlab/params.h"

typedef enum OptimKind { OPTIM_ADAMW, OPTIM_SGD, OPTIM_COUNT } OptimKind;
extern const char *const OPTIM_NAMES[OPTIM_COUNT]; // "adamw", "sgd"

typedef struct OptimConfig {
    OptimKind kind;
    double lr, min_lr;         // peak and floor of the schedule
    int warmup, decay_steps;   // linear warmup steps; cosine decay ends at decay_steps
    double beta1, beta2, eps;  // AdamW (beta1 is SGD's momentum)
    double weight_decay;       // on parameters with 2+ dims only
} OptimConfig;

typedef struct Optimizer {
    OptimConfig cfg;
    size_t numel;  // the parameter blocks' length
    nl_real *m, *v;   // (numel): AdamW's first and second moments; SGD's momentum buffer is m
    long steps;    // updates taken so far
} Optimizer;

int optim_init(Optimizer *o, const OptimConfig *cfg, size_t numel); // 0, or -1 out of memory
void optim_free(Optimizer *o);
// One update of every parameter from its grad, at learning rate lr (the schedule's value).
void optim_step(Optimizer *o, ParamSet *ps, double lr);

// nanoGPT's schedule: step < warmup: lr (step+1)/(warmup+1); step > decay_steps: min_lr;
// between: cosine from lr down to min_lr.
double optim_lr(const OptimConfig *cfg, long step);

// The total L2 norm of all grads, accumulated in double.
double grad_norm(const ParamSet *ps);
// Given that norm: if max_norm / (norm + 1e-6) < 1, scales every grad by that factor (torch's
// clip_grad_norm_). max_norm <= 0: no clipping.
void grad_clip(ParamSet *ps, double norm, double max_norm);
