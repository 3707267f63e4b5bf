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

#include "normlab/layers.h"
#include "normlab/norm.h"
#include "normlab/params.h"
#include "normlab/tape.h"

#define MODEL_NAME 32

// Where a transformer's norms sit: before attention, before the MLP, after the last block. The
// surrogates' initial scalars are set per position (the recipes' alpha0 per position).
enum { MODEL_NORM_ATTN, MODEL_NORM_MLP, MODEL_NORM_FINAL, MODEL_NORM_POSITIONS };

// A model's shape and init, one struct for every model in the table below: each reads the fields
// it has (a new model adds the ones it needs).
typedef struct ModelConfig {
    int vocab_size, block_size, n_layer, n_head, n_embd;
    bool bias;       // biases in linear layers and norms
    double dropout;  // on embeddings, attention weights, and each residual branch
    NormKind norm;
    bool composite;  // the norms' composite forms (slower; for checking)
    double scalar0[MODEL_NORM_POSITIONS]; // initial effective alpha or beta per norm position
    double shift0;   // derf's initial shift s
    bool emb_scale;  // the embedding scale: a learnable scalar times the embeddings (the DyT and
    double emb_scale0; //   Derf authors' recipe for the element-wise norms), initialised to emb_scale0
    double scalar_lr_mult; // the learning rate of the norms' scalars and the embedding scale is
                           // lr x this (0 is read as 1)
    int image_size, patch_size, n_classes; // the ViT's: square images of this side, cut in patches
    // The stability interventions (docs/stability.md, "What makes a surrogate stable"); zero: off.
    bool qk_norm;             // a norm on each head's q and k (attn.q_norm, attn.k_norm, weights (hd))
    NormKind qk_norm_kind;    //   of this kind, its scalar starting at qk_scalar0 (effective alpha or beta)
    double qk_scalar0;
    bool final_norm_own;      // the final norm (ln_f, the ViT's norm) of final_norm_kind, not the blocks'
    NormKind final_norm_kind; //   (its scalar starts at scalar0[MODEL_NORM_FINAL])
    double attn_softcap;      // the attention scores soft-capped: cap tanh(s / cap) (0: off)
    double logit_softcap;     // the output logits, the same (0: off)
    double z_loss;            // the training loss adds z_loss x mean (log Z)^2 of the output logits
} ModelConfig;

// The norm kind at a position (MODEL_NORM_*): the blocks' kind, or the final norm's own.
static inline NormKind model_norm_kind(const ModelConfig *c, int position) {
    return position == MODEL_NORM_FINAL && c->final_norm_own ? c->final_norm_kind : c->norm;
}

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
    // Frees a model made by its ModelInfo's create (self and all it holds).
    void (*destroy)(void *self);
} ModelOps;

// A named place in the model.
typedef struct ModelNames {
    int n;
    char (*name)[MODEL_NAME];
} ModelNames;

typedef struct Model {
    const ModelOps *ops; // ops->name is its row's name in the model table
    void *self;          // the model's own struct (a Gpt)
    const ModelConfig *config; // what it was built from (a checkpoint records it)
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

// ---- the models: one row each ----------------------------------------------------------------
// A model the programs can build by name (./train --model). A new model is its file, which defines
// MODEL_INFO_<name>, and its X(...) line here.
#define MODEL_KINDS(X) X(GPT, gpt) X(VIT, vit)

typedef struct ModelInfo {
    const char *name;
    // 0 when cfg is usable, else -1 with what is wrong in err.
    int (*check)(const ModelConfig *cfg, char *err, size_t errlen);
    // Its parameter table (written to specs when not NULL); returns the number of rows.
    int (*param_specs)(const ModelConfig *cfg, ParamSpec *specs);
    // About how many bytes training takes at batch B of T tokens (to refuse what cannot fit).
    double (*memory_estimate)(const ModelConfig *cfg, int B, int T);
    // A new model drawn from rng (its Model, whose ops->destroy frees it); NULL when out of memory.
    Model *(*create)(const ModelConfig *cfg, Rng *rng);
    // The model's own training defaults as (option, value) pairs in the train program's names,
    // ending at {NULL}: they replace the program's defaults when this model runs. NULL: none.
    const char *const (*defaults)[2];
    // Each norm's recipe for this model (indexed by NormKind); NULL: the norms' own (measured on the GPT).
    const NormRecipe *recipes;
    // What the model calls its norm positions (MODEL_NORM_*: "ln_1", "ln_2", "ln_f" in the GPT).
    const char *const *positions;
} ModelInfo;

#define MODEL_KIND_ENUM_(ID, name) MODEL_##ID,
typedef enum ModelKind { MODEL_KINDS(MODEL_KIND_ENUM_) MODEL_COUNT } ModelKind;
#define MODEL_INFO_DECL_(ID, name) extern const ModelInfo MODEL_INFO_##name;
MODEL_KINDS(MODEL_INFO_DECL_)
extern const ModelInfo *const MODEL_TABLE[MODEL_COUNT]; // indexed by ModelKind

// A model's kind by name, or -1.
int model_kind_parse(const char *name);
// The config's fields as checkpoint metadata pairs "model.<field>" (normlab/checkpoint.h's
// MetaField table; the norm by name), appended to meta from *n on: 0, or -1 when meta (max pairs)
// or buf is full. model_config_read reads them back: 0, or -1 with a message in err.
struct StFile;
int model_config_write(const ModelConfig *c, const char **meta, int *n, int max, char *buf, size_t buflen);
int model_config_read(const struct StFile *f, ModelConfig *c, char *err, size_t errlen);
// For a model's own file: the first problem with the config's norms (the kinds at every position and
// qk-norm's, their initial scalars, derf's shift) and the interventions' values, or NULL.
const char *model_norms_problem(const ModelConfig *c);
// A bound norm's kind and form (its tensors come from the walk): kind at cfg's form and eps.
void model_norm_set(Norm *n, const ModelConfig *cfg, NormKind kind);
// A bound attention layer's settings from cfg: heads, mask, dropout, qk-norm's kind, the soft cap.
void model_attention_set(LayerAttention *a, const ModelConfig *cfg, bool causal);

// Frees a model its row created; NULL is a no-op.
static inline void model_destroy(Model *m) {
    if (m) m->ops->destroy(m->self);
}

// Allocates a ModelNames of n names (0, or -1 when out of memory); model_names_free frees it.
int model_names_alloc(ModelNames *names, int n);
void model_names_free(ModelNames *names);
// Frees what a model's init allocated for its description (the names and the tables above); the
// model's own free calls it.
void model_describe_free(Model *m);
