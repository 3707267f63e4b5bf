// A model as the training machinery sees it: the step, evaluation, the instruments, checkpoints,
// the dump, recomputation and data parallel (normlab/train.h, stats.h, dist.h) take a Model and
// nothing else of it. A model's own file fills one in (the GPT: gpt_init), from its own table of
// parameters: a new model is that file and its registry row, not a change to the machinery.
//   Model.params      every parameter, in the model's table order (names, shapes, init, lr_mult)
//   Model.ops         its forward to a loss, recomputation, free
//   Model.groups      layer groups the instruments sum grad norms and update ratios over
//   Model.norms       every norm, in forward order, with the name its columns carry
//   Model.attention   every attention op, in forward order (the ops report in that order)
//   Model.scalars     learned scalars outside the norms that the log shows (the embedding scale)
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "normlab/norm.h"
#include "normlab/params.h"
#include "normlab/tape.h"

#define MODEL_NAME 32

// One step's inputs, rows of fixed width. The GPT's: rows sequences of T token ids, targets the
// next ids (T per row). A model reads the fields it knows and checks the widths.
typedef struct Batch {
    int rows;               // sequences (B)
    int width;              // inputs per row (T)
    int target_width;       // targets per row (T)
    const int32_t *tokens;  // (rows, width)
    const int32_t *targets; // (rows, target_width), or NULL: forward returns the outputs (logits)
} Batch;

// Rows [first, first + n) of b: a micro-batch, or one process's share.
static inline Batch batch_rows(const Batch *b, int first, int n) {
    Batch s = *b;
    s.rows = n;
    s.tokens = b->tokens + (size_t)first * b->width;
    if (b->targets) s.targets = b->targets + (size_t)first * b->target_width;
    return s;
}

typedef struct ModelOps {
    const char *name; // the model's name ("gpt")
    // With targets: the mean loss [1]. Without: the outputs (the GPT's logits (B,T,V)). Nodes are
    // labelled with the module they belong to (tape_set_scope). dropout_rng draws dropout masks
    // when grad is enabled (may be NULL when the model has none).
    Tensor *(*forward)(Tape *t, const void *self, const Batch *b, Rng *dropout_rng);
    // Activation recomputation on (0, or -1 when out of memory) or off; NULL: the model has none.
    int (*recompute)(void *self, bool on);
} ModelOps;

// A named place in the model.
typedef struct ModelNames {
    int n;
    char (*name)[MODEL_NAME];
} ModelNames;

typedef struct Model {
    const ModelOps *ops;
    void *self;          // the model's own struct (a Gpt)
    ParamSet *params;
    ModelNames groups;   // "emb", "h0", ..., "ln_f"
    int *param_group;    // (params->n) the group each parameter belongs to
    ModelNames norms;    // "h0.ln_1", "h0.ln_2", ..., "ln_f"
    const Norm **norm;   // (norms.n) the layers those names are, which report their inputs
    ModelNames attention; // "h0", ...: the blocks whose attention reports
    ModelNames scalars;  // "emb_scale"
    const Tensor **scalar; // (scalars.n) each a [1] tensor
    int tape_nodes;      // about how many nodes a step's tape holds (tape_init's hint)
} Model;

// Recomputation on or off: 0, or -1 when out of memory or the model has none.
static inline int model_recompute(const Model *m, bool on) {
    return m->ops->recompute ? m->ops->recompute(m->self, on) : -1;
}
static inline Tensor *model_forward(Tape *t, const Model *m, const Batch *b, Rng *dropout_rng) {
    return m->ops->forward(t, m->self, b, dropout_rng);
}

// Allocates a ModelNames of n names (0, or -1 when out of memory); model_names_free frees it.
int model_names_alloc(ModelNames *names, int n);
void model_names_free(ModelNames *names);
// Frees what a model's init allocated for its description (the names and the tables above); the
// model's own free calls it.
void model_describe_free(Model *m);
