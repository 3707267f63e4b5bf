// nanoGPT's GPT, pre-norm, with the norm kind selectable:
//   x = wte[idx] + wpe[0..T-1]
//   x = emb_scale * x                 (when the embedding scale is on: one learnable scalar)
//   for each block:  x = x + c_proj(attn(c_attn(ln_1(x))))
//                    x = x + mlp.c_proj(gelu(mlp.c_fc(ln_2(x))))
//   logits = ln_f(x) @ wte^T          (lm_head tied to wte)
// Parameter names, shapes, init and order are nanoGPT's (gpt.c's table), so checkpoints load there.
#pragma once
#include <stdbool.h>

#include "normlab/layers.h"
#include "normlab/model.h"
#include "normlab/norm.h"
#include "normlab/params.h"
#include "normlab/recompute.h"
#include "normlab/tape.h"

// The GPT's names for the norm positions (normlab/model.h's MODEL_NORM_*).
extern const char *const GPT_NORM_POSITION_NAMES[MODEL_NORM_POSITIONS]; // "ln_1", "ln_2", "ln_f"

// A block's parts, as nanoGPT names its modules: the tape scopes its nodes are labelled with.
enum { GPT_SCOPE_LN1, GPT_SCOPE_ATTN, GPT_SCOPE_LN2, GPT_SCOPE_MLP, GPT_BLOCK_SCOPES };

typedef struct GptBlock {
    char scope[GPT_BLOCK_SCOPES][48]; // "transformer.h.{i}.ln_1", ".attn", ".ln_2", ".mlp"
    char name[40];                    // "transformer.h.{i}": the recomputed block's node
    Norm ln_1, ln_2;
    LayerAttention attn; // c_attn (3C,C), c_proj (C,C)
    LayerMlp mlp;        // c_fc (4C,C), c_proj (C,4C)
} GptBlock;

typedef struct Gpt {
    ModelConfig cfg;
    LayerRecompute *recompute; // NULL: every activation stays on the step's tape (normlab/recompute.h)
    ParamSet params;
    Tensor *wte, *wpe; // (V,C) (block_size,C)
    Tensor *emb_scale; // [1], or NULL when the embedding scale is off
    GptBlock *blocks;  // (n_layer)
    Norm ln_f;
    Model model; // what the training machinery sees of it (normlab/model.h), filled by gpt_init
} Gpt;

// Builds the parameter table for cfg into specs (when not NULL) and returns its length.
int gpt_param_specs(const ModelConfig *cfg, ParamSpec *specs);
// Allocates the parameters, draws them from nanoGPT's init with rng, and describes the model in
// m->model. Returns 0, or -1 when out of memory. cfg must be valid (gpt_config_check).
int gpt_init(Gpt *m, const ModelConfig *cfg, Rng *rng);
void gpt_free(Gpt *m); // recomputation too, if on
// Turns activation recomputation (normlab/recompute.h) on (0, or -1 when out of memory) or off.
int gpt_recompute_set(Gpt *m, bool on);
// About how many bytes training cfg on (B,T) batches takes: parameters, grads and two optimizer
// moments, plus a step's saved activations (about 20 (B,T,C) tensors per layer, the logits and their
// softmax). In double, so absurd sizes give a large number rather than an overflow. For refusing a
// configuration that cannot fit before allocating anything, not an exact count.
double gpt_memory_estimate(const ModelConfig *cfg, int B, int T);
// 0 when cfg is usable, else -1 with what is wrong with it in err.
int gpt_config_check(const ModelConfig *cfg, char *err, size_t errlen);

// idx: (B,T) token ids. Nodes are labelled with the module they belong to (tape_set_scope):
// "transformer.wte", a block's parts, "transformer.ln_f", "lm_head". With targets (B,T): returns the mean cross-entropy loss [1]. Without
// (targets NULL): returns the logits (B,T,V). dropout_rng is used when cfg.dropout > 0 and grad is
// enabled (may be NULL otherwise).
Tensor *gpt_forward(Tape *t, const Gpt *m, const int32_t *idx, const int32_t *targets, int B, int T,
                    Rng *dropout_rng);
