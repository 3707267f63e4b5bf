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
    if (d) dist_grads_finish(d, t), dist_sum(d, sum, 2);
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
    TrainTimes *tm = s->times;
    double t0 = tape_clock();
    grad_clip(s->model->params, gnorm, s->grad_clip);
    t0 = lap(tm, tm ? &tm->clip : NULL, t0);
    optim_step(s->opt, s->model->params, lr);
    t0 = lap(tm, tm ? &tm->update : NULL, t0);
    tape_reset(s->tape);
    lap(tm, tm ? &tm->reset : NULL, t0);
}

double train_eval_batches(Tape *t, const Model *m, const Dataset *d, bool val, int B, int T, long batches,
                          Rng *rng, int32_t *idx, int32_t *targets) {
    double sum = 0;
    Batch b = {.rows = B, .width = T, .target_width = T, .tokens = idx, .targets = targets};
    for (long i = 0; i < batches; i++) {
        dataset_batch(d, val, B, T, rng, idx, targets);
        sum += model_forward(t, m, &b, NULL)->data[0];
        tape_reset(t);
    }
    return sum / batches;
}

int train_eval_full_val(Tape *t, const Model *m, const Dataset *d, int B, int T, int32_t *idx, int32_t *targets,
                        double *loss, size_t *n_tokens) {
    Batch inputs = {.rows = B, .width = T, .target_width = T, .tokens = idx}; // no targets: the logits
    int V = d->vocab_size;
    const int32_t *val = d->tokens + d->n_train;
    size_t windows = (d->n - d->n_train - 1) / T;
    nl_real *probs = malloc((size_t)B * T * V * sizeof(nl_real)); // the kernel's scratch (once per call)
    *n_tokens = windows * T;
    if (!probs) return -1;
    double sum = 0;
    for (size_t w0 = 0; w0 < windows; w0 += B) {
        for (int b = 0; b < B; b++) {
            size_t w = w0 + b < windows ? w0 + b : windows - 1;
            memcpy(idx + (size_t)b * T, val + w * T, T * sizeof(int32_t));
            memcpy(targets + (size_t)b * T, val + w * T + 1, T * sizeof(int32_t));
        }
        const nl_real *logits = model_forward(t, m, &inputs, NULL)->data; // (B,T,V)
        size_t real_rows = (size_t)(windows - w0 < (size_t)B ? windows - w0 : (size_t)B) * T;
        sum += cross_entropy_forward(probs, NULL, logits, targets, real_rows, V);
        tape_reset(t);
    }
    free(probs);
    *loss = sum / (double)(windows * T);
    return 0;
}
