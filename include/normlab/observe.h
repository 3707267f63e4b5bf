// What the forward reports to whoever watches it: the instruments (normlab/stats.h) attach a
// TapeObserver to a tape, and the layers and ops report to it in the passes they make anyway. The
// tape only carries the pointer; these are the types the reports are made of.
#pragma once
#include "normlab/tape.h"

// What the fused attention op saw in one forward (over its whole batch), and what the cross-entropy
// saw of the logits.
typedef struct AttentionSeen {
    double entropy;      // of each row's attention distribution, in nats: mean over heads and rows
    double entropy_min;  // the same mean for the head where it is smallest
    double max_logit;    // the largest pre-softmax logit q.k / sqrt(hd)
} AttentionSeen;
typedef struct LogitsSeen {
    double log_z_mean, log_z_max; // log sum_j exp(logit_j) per row (what z-loss penalises)
} LogitsSeen;

// An observer the layers and ops report to during the forward (the instruments, normlab/stats.h):
// a norm its input, the attention op what its softmax saw, the cross-entropy its rows' log Z. The
// ops measure only when asked, in the pass they make anyway. Any callback may be NULL.
typedef struct TapeObserver {
    void *ctx;
    void (*norm_input)(void *ctx, const void *layer, const Tensor *input);
    void (*attention)(void *ctx, const AttentionSeen *a);
    void (*logits)(void *ctx, const LogitsSeen *z);
} TapeObserver;

// A layer's forward reports its input to the tape's observer, if any.
static inline void tape_observe(Tape *t, const void *layer, const Tensor *input) {
    if (t->observer && t->observer->norm_input) t->observer->norm_input(t->observer->ctx, layer, input);
}
