// Activation recomputation for any model's blocks (llm.c's -r, PyTorch's activation checkpointing).
// A block run through layer_recompute_forward leaves only its output on the step's tape: it runs on
// a tape of its own, whose memory the next block reuses; in backward it runs its forward again there,
// then its backward. Peak memory: the blocks' outputs and one block's activations instead of every
// block's; the cost, one more forward of the blocks per step (about a third more FLOPs). The same ops
// in the same order on the same numbers: results are identical, bit for bit.
#pragma once
#include "normlab/arena.h"
#include "normlab/rng.h"
#include "normlab/tape.h"

// A block's forward: y = f(block, x), recording on t; rng draws its dropout masks (may be NULL).
typedef Tensor *(*LayerBlockForward)(Tape *t, const void *block, Tensor *x, Rng *rng);

typedef struct LayerRecompute {
    Arena arena; // sized by its first use: a block's forward and backward
    Tape tape;
} LayerRecompute;

// A recompute tape for a model's blocks (NULL when out of memory); layer_recompute_free frees it (NULL: no-op).
LayerRecompute *layer_recompute_new(void);
void layer_recompute_free(LayerRecompute *r);
// y = f(block, x) (B,T,C) with only y on t, its node named scope; backward runs f again on r.
Tensor *layer_recompute_forward(Tape *t, LayerRecompute *r, LayerBlockForward f, const void *block, const char *scope,
                                Tensor *x, Rng *rng);
