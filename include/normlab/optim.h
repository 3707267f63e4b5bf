// Optimizers (AdamW and SGD with momentum, torch semantics), global-norm gradient clipping and the
// learning-rate schedule. They see only the parameter blocks (normlab/params.h): an optimizer's
// state (AdamW's moments, SGD's momentum) lives in blocks of the same layout. One row per optimizer
// (OPTIM_TABLE, optim.c) says its name, its state blocks' names and its update: a new optimizer is
// its update function and one row.
#pragma once
#include <stdbool.h>

#include "normlab/params.h"

typedef enum OptimKind { OPTIM_ADAMW, OPTIM_SGD, OPTIM_MUON, OPTIM_COUNT } OptimKind;
#define OPTIM_MAX_STATE 2

typedef struct OptimConfig {
    OptimKind kind;
    double lr, min_lr;         // peak and floor of the schedule
    int warmup, decay_steps;   // linear warmup steps; cosine decay ends at decay_steps
    double beta1, beta2, eps;  // AdamW (beta1 is SGD's momentum)
    double weight_decay;       // on parameters with 2+ dims only
    double muon_lr;            // Muon's peak lr for the hidden matrices (its schedule: lr's, scaled)
} OptimConfig;

typedef struct Optimizer {
    OptimConfig cfg;
    size_t numel;                     // the parameter blocks' length
    nl_real *state[OPTIM_MAX_STATE]; // (numel) each, as many as the row names; zero at the start
    long steps;                       // updates taken so far
    nl_real *scratch;                 // a matrix update's work space (Muon's), sized on first use
    size_t scratch_len;
} Optimizer;

// The update of a stretch of one parameter at step t (1-based), element by element: p and g its data
// and grad, gs the factor the grad is taken times (the clip's, grad_clip_scale; 1: none), state its
// slices of the state blocks, n its length, lr its learning rate (the schedule's x its lr_mult), wd
// its decay. optim_step calls it from its threads.
typedef void (*OptimUpdate)(const OptimConfig *c, nl_real *p, const nl_real *g, nl_real gs, nl_real *const *state,
                            size_t n, double lr, double wd, long t);
// The update of one whole hidden matrix (ParamSpec.hidden), for an optimizer that needs the matrix
// (Muon): p, g its data and grad (rows, cols), state its slices, lr and wd as above; the scratch has
// room for optim_matrix_scratch(rows, cols) reals. NULL in a row: every parameter is element-wise.
typedef void (*OptimMatrixUpdate)(const OptimConfig *c, nl_real *p, const nl_real *g, nl_real gs, nl_real *const *state,
                                  int rows, int cols, double lr, double wd, nl_real *scratch);
typedef struct OptimInfo {
    const char *name;                     // as given to --optim
    int n_state;                          // state blocks; checkpoints name them optimizer.<state>.<param>
    const char *state[OPTIM_MAX_STATE];
    unsigned nonneg;                      // bit k: state k is never negative (a second moment)
    OptimUpdate update;                   // every parameter (those not hidden, with a matrix update)
    OptimMatrixUpdate matrix;             // the hidden matrices, or NULL
} OptimInfo;
extern const OptimInfo OPTIM_TABLE[OPTIM_COUNT];

int optim_init(Optimizer *o, const OptimConfig *cfg, size_t numel); // 0, or -1 out of memory
void optim_free(Optimizer *o);
// Readies o for ps's parameters (a matrix update's work space, for the largest hidden matrix): 0, or
// -1 out of memory. Needed before optim_step by an optimizer with a matrix update (Muon).
int optim_prepare(Optimizer *o, const ParamSet *ps);
// One update of every parameter from its grad times grad_scale (the clip's factor, applied in the
// update's own pass instead of one of its own: the same numbers as scaling the grads first; the
// grads are left as they were), at learning rate lr (the schedule's value; a matrix update's lr is
// its own peak lr, scaled as lr is by the schedule).
void optim_step(Optimizer *o, ParamSet *ps, double lr, double grad_scale);

// Muon (Keller Jordan's reference): momentum 0.95 with Nesterov, the update orthogonalized by 5
// Newton-Schulz steps of the quintic (3.4445, -4.7750, 2.0315) on the update over its Frobenius norm,
// scaled by sqrt(max(1, rows / cols)); decoupled weight decay p *= 1 - lr wd first.
#define MUON_MOMENTUM 0.95
#define MUON_NS_STEPS 5

// nanoGPT's schedule: step < warmup: lr (step+1)/(warmup+1); step > decay_steps: min_lr;
// between: cosine from lr down to min_lr.
double optim_lr(const OptimConfig *cfg, long step);
// The schedule's floor for a peak lr, the study's one schedule: lr / 10, as it would be typed
// (0.0003 for 0.003, where 0.003 / 10 is 0.00030000000000000003).
double optim_min_lr_of(double lr);

// The total L2 norm of all grads, accumulated in double.
double grad_norm(const ParamSet *ps);
// Given that norm, the factor torch's clip_grad_norm_ scales every grad by: max_norm / (norm + 1e-6)
// where that is below 1, else 1 (max_norm <= 0: no clipping, 1). For optim_step's grad_scale.
double grad_clip_scale(double norm, double max_norm);
