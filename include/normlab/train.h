// Training a model (normlab/model.h): the step (forward, backward, clip, update), written once and
// used by the train program, its --dump-step and bench_step; and a language model's evaluation (a
// fixed set of batches, or a whole split).
#pragma once
#include <stdint.h>

#include "normlab/dataset.h"
#include "normlab/dist.h"
#include "normlab/model.h"
#include "normlab/optim.h"
#include "normlab/tape.h"

// Seconds spent in each phase, summed over the steps taken (when TrainStep.times is set).
typedef struct TrainTimes {
    double zero_grad, forward_backward, clip, update, reset;
} TrainTimes;

typedef struct TrainStep {
    Model *model;
    Optimizer *opt;
    Tape *tape;        // the step's tape; reset by train_update
    Rng *dropout_rng;  // draws dropout masks; may be NULL when the model has no dropout
    double grad_clip;  // clip the global grad norm to this; <= 0: off
    TrainTimes *times; // NULL: not timed
    int accum;         // micro-batches per step (gradient accumulation); 0 or 1: one
    Dist *dist;        // data parallel: the grads are averaged over its ranks; NULL: alone
    bool fault_here;   // out: after a NAN, this process's own rows showed where it began (err says where)
} TrainStep;

// Zeroes the grads, runs forward and backward on the batch, in `accum` micro-batches of rows/accum
// rows whose grads add up; *loss gets the loss (the mean over the micro-batches) and *grad_norm the
// global grad norm (before clipping). Returns 0. With a Dist, the batch is this rank's share of the
// step's: the loss and the grads are then the mean over
// every rank's, the same on each. When the loss or a gradient is not finite, returns -1 with a
// message in err naming the step and where it began (module and op; under a Dist, on this rank: a
// rank whose share was healthy says that another's was not); the tape is then left for the caller to
// reset (tape_reset). Every rank returns -1 together.
int train_forward_backward(TrainStep *s, const Batch *b, long step, double *loss, double *grad_norm, char *err,
                           size_t errlen);
// Clips the grads given their norm, takes one optimizer step at lr, and resets the tape.
void train_update(TrainStep *s, double grad_norm, double lr);

// The mean loss over `batches` batches of (B,T) drawn from the split with rng (the same ones each
// time for the same rng state). t must have grad disabled. idx, targets: (B*T) scratch.
double train_eval_batches(Tape *t, const Model *m, const Dataset *d, bool val, int B, int T, long batches,
                          Rng *rng, int32_t *idx, int32_t *targets);
// The loss over the whole val split: every non-overlapping window of T tokens, B at a time (the
// last batch padded with repeats that are not counted). Exact, where train_eval_batches estimates.
// *loss gets it and *n_tokens the tokens counted. 0, or -1 when out of memory.
int train_eval_full_val(Tape *t, const Model *m, const Dataset *d, int B, int T, int32_t *idx, int32_t *targets,
                        double *loss, size_t *n_tokens);

