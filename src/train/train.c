// The training step and evaluation (normlab/train.h).
#include "normlab/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/check.h"
#include "normlab/observe.h"
#include "tensor/kernels.h"

static double lap(TrainTimes *times, double *phase, double since) {
    double now = tape_clock();
    if (times) *phase += now - since;
    return now;
}

// Where a non-finite loss began: the first op output holding a NaN or Inf, in forward order.
static void describe_forward_fault(const Tape *t, long step, double value, char *err, size_t errlen) {
    int at = tape_find_nonfinite(t);
    snprintf(err, errlen, "step %ld: the loss is %g; it started in %s (%s), the first output in forward "
             "order to hold a NaN or Inf", step, value, at < 0 ? "?" : t->nodes[at].scope,
             at < 0 ? "?" : t->nodes[at].def->name);
}

int train_forward_backward(TrainStep *s, const Batch *batch, long step, double *loss_out, double *gnorm, char *err,
                           size_t errlen) {
    NL_NONNULL(s, batch, loss_out, gnorm, err);
    TrainTimes *tm = s->times;
    Tape *t = s->tape;
    Dist *d = s->dist;
    int K = s->accum > 1 ? s->accum : 1, N = d ? d->size : 1, b = batch->rows / K;
    NL_CHECK(batch->rows % K == 0, "a batch of %d rows does not split into %d micro-batches", batch->rows, K);
    double t0 = tape_clock();
    paramset_zero_grad(s->model->params);
    t0 = lap(tm, tm ? &tm->zero_grad : NULL, t0);
    const TapeObserver *observer = t->observer; // the instruments look at the first micro-batch
    double sum[2] = {0, 0};                     // the losses; the micro-batches whose loss was not finite
    Tensor *loss = NULL;
    err[0] = 0, s->fault_here = false;
    for (int k = 0; k < K; k++) {
        if (k > 0) tape_reset(t), t->observer = NULL;
        tape_profile_mark(t); // a profile's first op starts here
        Batch micro = batch_rows(batch, k * b, b);
        loss = model_forward(t, s->model, &micro, s->dropout_rng);
        double value = loss->data[0];
        if (!isfinite(value) && !sum[1]++) describe_forward_fault(t, step, value, err, errlen), s->fault_here = true;
        if (sum[1] && N == 1) return t->observer = observer, -1; // alone: nobody waits for these grads
        // under a Dist, backward runs even so: every rank takes part in every reduction
        if (k == K - 1 && d) dist_backward_begin(d, t);
        tape_backward_seeded(t, loss, 1.0 / ((double)K * N)); // the grads of the mean over K x N
        sum[0] += value;
    }
    t->observer = observer;
    if (d) dist_grads_finish(d, t), dist_sum(d, sum, 2, "the losses' sum");
    double value = sum[0] / ((double)K * N);
    if (sum[1]) {
        if (!err[0]) snprintf(err, errlen, "step %ld: the loss is %g on another process's share of the batch "
                              "(that process says where it began)", step, value);
        return -1;
    }
    *gnorm = grad_norm(s->model->params);
    lap(tm, tm ? &tm->forward_backward : NULL, t0);
    if (!isfinite(*gnorm)) { // run backward again, checking each op's grads, to find where it began
        paramset_zero_grad(s->model->params);
        int at = tape_backward_find_nonfinite(t, loss); // the last micro-batch's: what the tape holds
        s->fault_here = at >= 0;
        if (at < 0 && (K > 1 || N > 1))
            snprintf(err, errlen, "step %ld: the loss is %.4f but the gradients are not finite; they started on "
                     "%s", step, value, N > 1 ? "another process's share of the batch or an earlier micro-batch"
                                               : "an earlier micro-batch");
        else
            snprintf(err, errlen, "step %ld: the loss is %.4f but the gradients are not finite; they started in "
                     "the backward of %s (%s), the first in backward order to write a NaN or Inf", step, value,
                     at < 0 ? "?" : t->nodes[at].scope, at < 0 ? "?" : t->nodes[at].def->name);
        return -1;
    }
    *loss_out = value;
    return 0;
}

void train_update(TrainStep *s, double gnorm, double lr) {
    NL_NONNULL(s);
    TrainTimes *tm = s->times;
    double t0 = tape_clock();
    // the clip is a factor the update applies in its own pass over the grads
    optim_step(s->opt, s->model->params, lr, grad_clip_scale(gnorm, s->grad_clip));
    t0 = lap(tm, tm ? &tm->update : NULL, t0);
    tape_reset(s->tape);
    lap(tm, tm ? &tm->reset : NULL, t0);
}

// One batch's outputs against its targets, the first `real` rows counted: adds to the sums in e
// (loss: the sum until the caller divides). probs: the kernel's scratch (rows x target_width x classes).
static void eval_outputs(Tape *t, const Model *m, const DataSource *d, const Batch *b, int real, nl_real *probs,
                         double *correct, TrainEval *e) {
    Batch in = *b;
    in.targets = NULL; // the outputs: (rows, target_width, classes)
    const Tensor *out = model_forward(t, m, &in, NULL);
    int V = d->classes;
    size_t n = (size_t)real * b->target_width;
    NL_CHECK(tensor_numel(out) == (size_t)b->rows * b->target_width * V, "the model's outputs are not (rows, %d, %d)",
             b->target_width, V);
    e->loss += cross_entropy_forward(probs, NULL, out->data, b->targets, n, V);
    for (size_t i = 0; i < n; i++) {
        const nl_real *row = out->data + i * V;
        int best = 0;
        for (int j = 1; j < V; j++)
            if (row[j] > row[best]) best = j;
        *correct += best == b->targets[i];
        if (e->confusion) e->confusion[(size_t)b->targets[i] * V + best]++;
    }
    e->targets += n;
    tape_reset(t);
}

static nl_real *eval_scratch(const DataSource *d, int B, TrainEval *e) {
    *e = (TrainEval){.confusion = e->confusion};
    return malloc((size_t)B * d->target_width * d->classes * sizeof(nl_real));
}

static int eval_finish(TrainEval *e, nl_real *probs, double correct) {
    free(probs);
    e->loss /= (double)e->targets, e->accuracy = correct / (double)e->targets;
    return 0;
}

int train_eval_batches(Tape *t, const Model *m, const DataSource *d, bool eval, int B, long batches, Rng *rng,
                       int32_t *inputs, int32_t *targets, TrainEval *out) {
    NL_NONNULL(t, m, d, rng, inputs, targets, out);
    nl_real *probs = eval_scratch(d, B, out);
    if (!probs) return -1;
    double correct = 0;
    Batch b = {.rows = B, .width = d->width, .target_width = d->target_width, .tokens = inputs, .targets = targets};
    for (long i = 0; i < batches; i++) {
        data_draw(d, eval, B, rng, inputs, targets);
        eval_outputs(t, m, d, &b, B, probs, &correct, out);
    }
    return eval_finish(out, probs, correct);
}

int train_eval_split(Tape *t, const Model *m, const DataSource *d, int B, int32_t *inputs, int32_t *targets,
                     TrainEval *out) {
    NL_NONNULL(t, m, d, inputs, targets, out);
    nl_real *probs = eval_scratch(d, B, out);
    if (!probs) return -1;
    double correct = 0;
    Batch b = {.rows = B, .width = d->width, .target_width = d->target_width, .tokens = inputs, .targets = targets};
    for (size_t r0 = 0; r0 < d->eval_rows; r0 += B) {
        int real = d->eval_rows - r0 < (size_t)B ? (int)(d->eval_rows - r0) : B;
        data_rows(d, r0, real, inputs, targets);
        for (int r = real; r < B; r++) { // padding: repeats of the last row, not counted
            memcpy(inputs + (size_t)r * d->width, inputs + (size_t)(real - 1) * d->width, d->width * sizeof(int32_t));
            memcpy(targets + (size_t)r * d->target_width, targets + (size_t)(real - 1) * d->target_width,
                   d->target_width * sizeof(int32_t));
        }
        eval_outputs(t, m, d, &b, real, probs, &correct, out);
    }
    return eval_finish(out, probs, correct);
}
