// A model's parameter table as rows (src/models only): each row a parameter's name under its group's
// prefix, where its dims' sizes come from (the model's own dim ids, resolved by its dim function),
// how it is initialised, when it exists, and the field it is bound to: the byte offset of a
// `Tensor *` in the struct the group binds. One walk over the rows builds the specs (allocation,
// init, names, checkpoints, the optimizer's lr multiplier) and, after allocation, binds the tensors
// to the fields and their layer groups: a name is written once and never looked up.
#pragma once
#include <stddef.h>

#include "normlab/model.h"
#include "normlab/params.h"

typedef enum { ROW_NORMAL, ROW_NORMAL_PROJ, ROW_ZERO, ROW_ONE, ROW_SCALAR, ROW_SHIFT, ROW_EMB_SCALE } RowInit;
typedef enum { ROW_ALWAYS, ROW_IF_BIAS, ROW_IF_ALPHA, ROW_IF_BETA, ROW_IF_SHIFT, ROW_IF_EMB_SCALE } RowWhen;

typedef struct ParamRow {
    const char *name;
    int d0, d1, d2; // the model's dim ids (0: none)
    RowInit init;
    RowWhen when;
    size_t field;
    bool hidden;    // a weight matrix inside the blocks: Muon's (normlab/optim.h), not AdamW's
} ParamRow;
#define PARAM_ROWS(r) (r), (int)(sizeof(r) / sizeof((r)[0]))

// A norm's rows (weight, bias, alpha, beta, shift), bound in a Norm; d0 1 is its width, 2 one.
enum { ROW_DIM_NORM_C = 1, ROW_DIM_ONE = 2 };
extern const ParamRow PARAM_NORM_ROWS[5];

// A norm group's kind (which scalar rows it has), its scalar's initial effective value, and its
// width when not the model's ROW_DIM_NORM_C (0: that one; qk-norm's is head_dim).
typedef struct RowNorm {
    NormKind kind;
    double scalar0;
    int width;
} RowNorm;
// The norm at a block position (MODEL_NORM_*), and qk-norm's.
static inline RowNorm row_norm_at(const ModelConfig *c, int position) {
    return (RowNorm){model_norm_kind(c, position), c->scalar0[position], 0};
}
static inline RowNorm row_norm_qk(const ModelConfig *c) {
    return (RowNorm){c->qk_norm_kind, c->qk_scalar0, c->n_embd / c->n_head};
}

typedef struct RowWalk {
    const ModelConfig *c;
    int (*dim)(const ModelConfig *c, int id); // a dim id's size
    double std, proj_std;  // ROW_NORMAL's and ROW_NORMAL_PROJ's standard deviations
    ParamSpec *specs;      // not NULL: the specs are written
    const ParamSet *bound; // not NULL: the k-th parameter is bound to its field and group
    int *param_group;      // (with bound) the group of each parameter
    int k;                 // rows walked so far
} RowWalk;

// Walks one group's rows (those that exist for w->c) under prefix; base is the struct bound;
// norm the group's norm (a norm group), or NULL. For a norm group, dim(ROW_DIM_*) must give the
// model's width and 1.
void param_rows_walk(RowWalk *w, int group, const char *prefix, const ParamRow *rows, int n, void *base,
                     const RowNorm *norm);
