// The tape: an array of nodes in execution order. Execution order is already topological, so
// backward is one reverse loop. Each node knows its op (an OpDef: name + backward), its ordered
// inputs (duplicates allowed: x*x has two), its output, saved context and scalar arguments.
#pragma once
#include <stdbool.h>

#include "normlab/arena.h"
#include "normlab/tensor.h"

#define TAPE_MAX_INPUTS 5

typedef struct TapeNode TapeNode;

// What the tape needs to know about an op. Backward reads node->out->grad and accumulates (+=)
// into the grad of every input that has one (in[i]->grad != NULL), never overwriting.
// With writes_fresh set, the tape may hand the backward an input whose grad it has not zeroed
// (Tensor.grad_fresh): the backward must then write that grad whole (=, or a gemm with beta 0) and
// clear the flag. It saves zeroing a buffer and reading it back: the activations' grads, most of
// them reached by one op only (a matmul's input, gelu's, the residual adds').
typedef struct OpDef {
    const char *name;
    void (*backward)(TapeNode *n);
    bool writes_fresh;
} OpDef;

struct TapeNode {
    const OpDef *def;
    int n_in;
    Tensor *in[TAPE_MAX_INPUTS];
    Tensor *out;
    void *ctx;     // saved for backward (arena memory), op-specific
    double arg[2]; // scalar arguments, op-specific
    int iarg[2];
    const char *scope; // the layer it belongs to (tape_set_scope), for reports; may be NULL
};

// Wall time per op, summed over the steps a tape runs while profile is set (bench/step's
// breakdown). An op's forward time is everything since the previous record (or tape_profile_mark),
// so the ops' forward times add up to the whole forward.
#define TAPE_PROFILE_OPS 32
typedef struct TapeOpTime {
    const OpDef *def;
    double fwd, bwd; // seconds
} TapeOpTime;
typedef struct TapeProfile {
    int n;
    TapeOpTime op[TAPE_PROFILE_OPS];
    double mark; // clock at the previous record
} TapeProfile;

// Grad buffers given back during backward, by size, for the next grad of that size to reuse.
#define TAPE_GRAD_SIZES 32
typedef struct TapeFreeGrads {
    size_t bytes;
    void *head; // a list threaded through the free buffers themselves
} TapeFreeGrads;

typedef struct Tape {
    TapeNode *nodes; // (cap)
    int n, cap;
    Arena *arena;      // where outputs, grads and saved context live: the step arena
    bool grad_enabled; // false: ops compute forward only and record nothing
    const char *scope; // given to the nodes recorded from now on
    TapeProfile *profile; // NULL: not profiling
    TapeFreeGrads free_grads[TAPE_GRAD_SIZES];
    int n_free_sizes;
    const struct TapeObserver *observer; // the instruments' (normlab/observe.h); NULL: none
    const struct TapeHook *hook;         // told of each node's backward (below); NULL: none
} Tape;

// Called by tape_backward after each node's backward (node: its index; nodes run from t->n - 1 down
// to 0), so that work on grads already complete can start while backward goes on: data parallel
// training starts the allreduce of a layer's grads there (normlab/dist.h).
typedef struct TapeHook {
    void *ctx;
    void (*after_node)(void *ctx, int node);
} TapeHook;

// max_nodes bounds one step's graph; the nodes array is allocated once here. Returns 0 or -1.
int tape_init(Tape *t, Arena *step_arena, int max_nodes);
void tape_free(Tape *t);
// Forget all nodes and any fault, and reset the step arena: the end of a step.
void tape_reset(Tape *t);
// Forget the nodes after the first n_nodes and the arena's memory after arena_mark: undoing part of
// a forward (gradcheck's probes).
void tape_rewind(Tape *t, int n_nodes, size_t arena_mark);
// Sets whether ops record (and allocate grads); returns the previous setting.
bool tape_set_grad_enabled(Tape *t, bool enabled);

// Labels the nodes recorded from now on with scope (a layer's name, e.g. "transformer.h.0.attn"),
// so a report can say where something happened. The string must outlive the nodes; NULL: none.
void tape_set_scope(Tape *t, const char *scope);

// Where a NaN or Inf started, found after the fact, so a healthy step pays nothing:
// tape_find_nonfinite: the first node, in forward order, whose output holds one (-1: none). Call it
//   after a forward whose loss came out non-finite, before tape_reset.
// tape_backward_find_nonfinite: runs backward again (the caller zeroes the leaves' grads first),
//   checking the inputs' grads after every node's backward; returns the first node, in backward
//   order, whose backward wrote a non-finite grad (-1: none). For a step whose grads came out
//   non-finite: every grad upstream of that node is poisoned too, so it is where the fault began.
int tape_find_nonfinite(const Tape *t);
int tape_backward_find_nonfinite(Tape *t, Tensor *loss);

// Profiling: the clock the next recorded op's forward time is measured from (call before a forward).
void tape_profile_mark(Tape *t);
double tape_clock(void); // seconds, monotonic

// Seeds d loss / d loss = 1 and runs every node's backward in reverse order. loss has one element.
// Op outputs get their grad buffers here, not in the forward: zeroed just before the first backward
// that adds to them, and given back for reuse once their producer's backward has run (nothing
// reads them after that). So a step holds the forward's activations but only the grads in flight,
// and after backward only leaf tensors (parameters, inputs) and the loss have grads to read.
void tape_backward(Tape *t, Tensor *loss);
// The same from d loss / d loss = seed: the grads come out times seed (gradient accumulation and data
// parallel training seed 1 / the number of micro-batches, so the grads they add up are the mean's).
void tape_backward_seeded(Tape *t, Tensor *loss, double seed);

// For op implementations (built-in and user-defined), in this order:
//   out = tape_output(t, shape, n_in, in);   allocates out; it needs grad iff grad is enabled and
//                                            some input needs grad (its grad comes in backward)
//   ...compute out->data...
//   node = tape_record(t, def, out, n_in, in);  NULL when out needs no grad (nothing recorded)
Tensor *tape_output(Tape *t, Shape s, int n_in, Tensor *const *in);
TapeNode *tape_record(Tape *t, const OpDef *def, Tensor *out, int n_in, Tensor *const *in);
// For a backward whose input x gets the output's grad unchanged (a residual add's): x takes the
// output's grad buffer as its grad, and the output keeps x's unwritten one, which the tape gives
// back. Only where x's grad is fresh (this node writes it first), x's own (not a view's) and the
// output's size, and the output is not the loss: false otherwise, and nothing changes.
bool tape_grad_adopt(TapeNode *n, Tensor *x);
