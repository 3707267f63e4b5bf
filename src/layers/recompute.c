// Activation recomputation (normlab/recompute.h).
#include "normlab/check.h"
#include "normlab/recompute.h"

#include <stdlib.h>
#include <string.h>

#include "normlab/ops.h"

LayerRecompute *layer_recompute_new(void) {
    LayerRecompute *r = malloc(sizeof *r); // a block's graph is a few dozen nodes
    if (!r) return NULL;
    if (arena_init(&r->arena, "recompute", 0)) return free(r), NULL;
    if (tape_init(&r->tape, &r->arena, 256)) return arena_free(&r->arena), free(r), NULL;
    return r;
}

void layer_recompute_free(LayerRecompute *r) {
    if (r) tape_free(&r->tape), arena_free(&r->arena), free(r);
}

typedef struct BlockCtx {
    LayerRecompute *r;
    LayerBlockForward f;
    const void *block;
    bool has_rng;
    Rng rng; // the dropout generator as the block found it: the recomputation draws the same masks
} BlockCtx;

// The block's forward again, on the recompute tape, then its backward from y's grad: the scalar
// sum(y * dy) has d/dy = dy exactly. The block's input is a leaf there whose grad is x's own.
static void block_recompute_backward(TapeNode *n) {
    const BlockCtx *c = n->ctx;
    Tape *rt = &c->r->tape;
    Tensor x = *n->in[0], dy = *n->out;
    x.base = NULL, x.needs_grad = x.grad != NULL;
    dy.data = n->out->grad, dy.grad = NULL, dy.needs_grad = false, dy.base = NULL;
    Rng rng = c->rng;
    Tensor *y = c->f(rt, c->block, &x, c->has_rng ? &rng : NULL);
    tape_set_scope(rt, NULL);
    tape_backward(rt, op_sum(rt, op_mul(rt, y, &dy)));
    tape_reset(rt);
}
static const OpDef BLOCK_RECOMPUTE_OP = {.name = "block (recomputed)", .backward = block_recompute_backward};

// The recompute arena is sized by its first use (arena.h), which must then be the largest: a
// block's forward and backward, not the forward alone. So that first use is a dry run: forward,
// then backward from a zero dy, which adds only zeros to the parameters' grads (+0 stays +0).
static void recompute_arena_measure(LayerRecompute *r, LayerBlockForward f, const void *block, Tensor *x,
                                    const Rng *rng) {
    Tape *rt = &r->tape;
    Tensor in = *x, dy;
    in.grad = NULL, in.needs_grad = false, in.base = NULL;
    Rng copy = rng ? *rng : (Rng){0};
    Tensor *y = f(rt, block, &in, rng ? &copy : NULL);
    dy = *y;
    dy.data = arena_calloc(rt->arena, tensor_numel(y) * sizeof(nl_real)), dy.needs_grad = false;
    if (y->needs_grad) tape_backward(rt, op_sum(rt, op_mul(rt, y, &dy)));
    tape_set_scope(rt, NULL);
    tape_reset(rt);
}

Tensor *layer_recompute_forward(Tape *t, LayerRecompute *r, LayerBlockForward f, const void *block, const char *scope,
                                Tensor *x, Rng *rng) {
    NL_NONNULL(t, r, f, block, scope, x); // rng: NULL in evaluation
    Tape *rt = &r->tape;
    if (rt->arena->measuring) recompute_arena_measure(r, f, block, x, rng);
    Tensor *y = tape_output(t, x->shape, 1, &x);
    y->needs_grad = t->grad_enabled; // the block's parameters need grads even if x does not
    BlockCtx *c = arena_alloc(t->arena, sizeof *c);
    *c = (BlockCtx){.r = r, .f = f, .block = block, .has_rng = rng != NULL};
    if (rng) c->rng = *rng;
    rt->observer = t->observer; // the instruments see the block's layers
    Tensor *out = f(rt, block, x, rng);
    memcpy(y->data, out->data, tensor_numel(y) * sizeof(nl_real));
    rt->observer = NULL;
    tape_set_scope(rt, NULL);
    tape_reset(rt);
    tape_set_scope(t, scope);
    TapeNode *n = tape_record(t, &BLOCK_RECOMPUTE_OP, y, 1, &x);
    if (n) n->ctx = c;
    return y;
}
