// Training a model (normlab/model.h): the step (forward, backward, clip, update), written once and
// used by the train program, its --dump-step and bench_step; and evaluation (a fixed set of
// batches, or a whole split), for any model and data (normlab/data.h).
#pragma once
#include <stdint.h>

#include "normlab/data.h"
#include "normlab/dist.h"
#include "normlab/model.h"
#include "normlab/optim.h"
#include "normlab/tape.h"

// Seconds spent in each phase, summed over the steps taken (when TrainStep.times is set).
typedef struct TrainTimes {
    double zero_grad, forward_backward, update, reset; // update: the clip's scaling is in its pass
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

// What an evaluation measured over its targets: the mean loss, the share the outputs' argmax gets
// right, and (when confusion is not NULL) confusion[target * classes + argmax] counted (added to).
typedef struct TrainEval {
    double loss, accuracy;
    size_t targets;  // targets counted
    long *confusion; // (classes, classes) the caller's, or NULL
} TrainEval;

// Over `batches` batches of B rows drawn from the split (eval: the evaluation split) with rng (the
// same ones each time for the same rng state). t must have grad disabled. inputs, targets: scratch
// of B rows. 0, or -1 when out of memory.
int train_eval_batches(Tape *t, const Model *m, const DataSource *d, bool eval, int B, long batches, Rng *rng,
                       int32_t *inputs, int32_t *targets, TrainEval *out);
// Over the whole evaluation split, B rows at a time (the last batch padded with repeats that are
// not counted): exact, where train_eval_batches estimates. 0, or -1 when out of memory.
int train_eval_split(Tape *t, const Model *m, const DataSource *d, int B, int32_t *inputs, int32_t *targets,
                     TrainEval *out);
