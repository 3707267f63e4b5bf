// The GPT's parameter table and forward pass.
#include "normlab/check.h"
#include "normlab/gpt.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/ops.h"
#include "param_rows.h"

const char *const GPT_NORM_POSITION_NAMES[MODEL_NORM_POSITIONS] = {"ln_1", "ln_2", "ln_f"};

// ---- the parameter table -----------------------------------------------------------------------
// nanoGPT's names, in its order (param_rows.h: one walk builds the specs and binds the fields).
enum { D_C = ROW_DIM_NORM_C, D_ONE = ROW_DIM_ONE, D_3C, D_4C, D_V, D_T };

static const ParamRow EMBEDDING_ROWS[] = { // bound in Gpt
    {"transformer.wte.weight", D_V, D_C, 0, ROW_NORMAL, ROW_ALWAYS, offsetof(Gpt, wte), false},
    {"transformer.wpe.weight", D_T, D_C, 0, ROW_NORMAL, ROW_ALWAYS, offsetof(Gpt, wpe), false},
    {"transformer.emb_scale", D_ONE, 0, 0, ROW_EMB_SCALE, ROW_IF_EMB_SCALE, offsetof(Gpt, emb_scale), false},
};
static const ParamRow ATTN_ROWS[] = { // under "transformer.h.{i}.attn.", bound in GptBlock
    {"c_attn.weight", D_3C, D_C, 0, ROW_NORMAL, ROW_ALWAYS, offsetof(GptBlock, attn.c_attn.weight), true},
    {"c_attn.bias", D_3C, 0, 0, ROW_ZERO, ROW_IF_BIAS, offsetof(GptBlock, attn.c_attn.bias), false},
    {"c_proj.weight", D_C, D_C, 0, ROW_NORMAL_PROJ, ROW_ALWAYS, offsetof(GptBlock, attn.c_proj.weight), true},
    {"c_proj.bias", D_C, 0, 0, ROW_ZERO, ROW_IF_BIAS, offsetof(GptBlock, attn.c_proj.bias), false},
};
static const ParamRow MLP_ROWS[] = { // under "transformer.h.{i}.mlp.", bound in GptBlock
    {"c_fc.weight", D_4C, D_C, 0, ROW_NORMAL, ROW_ALWAYS, offsetof(GptBlock, mlp.c_fc.weight), true},
    {"c_fc.bias", D_4C, 0, 0, ROW_ZERO, ROW_IF_BIAS, offsetof(GptBlock, mlp.c_fc.bias), false},
    {"c_proj.weight", D_C, D_4C, 0, ROW_NORMAL_PROJ, ROW_ALWAYS, offsetof(GptBlock, mlp.c_proj.weight), true},
    {"c_proj.bias", D_C, 0, 0, ROW_ZERO, ROW_IF_BIAS, offsetof(GptBlock, mlp.c_proj.bias), false},
};

static int dim_size(const ModelConfig *c, int d) {
    switch (d) {
    case D_ONE: return 1;
    case D_C: return c->n_embd;
    case D_3C: return 3 * c->n_embd;
    case D_4C: return 4 * c->n_embd;
    case D_V: return c->vocab_size;
    case D_T: return c->block_size;
    default: return 0;
    }
}

// The walk: the groups in nanoGPT's order, writing the specs (specs not NULL) or binding m's fields
// and layer groups (m not NULL: the embeddings 0, block i 1 + i, ln_f n_layer + 1). Returns the
// number of rows. nanoGPT's init: N(0, 0.02); residual projections N(0, 0.02/sqrt(2 n_layer)).
static int walk(const ModelConfig *c, ParamSpec *specs, Gpt *m) {
    RowWalk w = {.c = c, .dim = dim_size, .std = 0.02, .proj_std = 0.02 / sqrt(2.0 * c->n_layer), .specs = specs,
                 .bound = m ? &m->params : NULL, .param_group = m ? m->model.param_group : NULL};
    char prefix[64];
    RowNorm at[MODEL_NORM_POSITIONS], qk = row_norm_qk(c);
    for (int p = 0; p < MODEL_NORM_POSITIONS; p++) at[p] = row_norm_at(c, p);
    param_rows_walk(&w, 0, "", PARAM_ROWS(EMBEDDING_ROWS), m, NULL);
    for (int l = 0; l < c->n_layer; l++) {
        GptBlock *b = m ? &m->blocks[l] : NULL;
        snprintf(prefix, sizeof prefix, "transformer.h.%d.ln_1.", l);
        param_rows_walk(&w, 1 + l, prefix, PARAM_ROWS(PARAM_NORM_ROWS), b ? &b->ln_1 : NULL, &at[MODEL_NORM_ATTN]);
        snprintf(prefix, sizeof prefix, "transformer.h.%d.attn.", l);
        param_rows_walk(&w, 1 + l, prefix, PARAM_ROWS(ATTN_ROWS), b, NULL);
        for (int k = 0; c->qk_norm && k < 2; k++) {
            snprintf(prefix, sizeof prefix, "transformer.h.%d.attn.%s_norm.", l, k ? "k" : "q");
            param_rows_walk(&w, 1 + l, prefix, PARAM_ROWS(PARAM_NORM_ROWS), b ? (k ? &b->attn.k_norm : &b->attn.q_norm) : NULL, &qk);
        }
        snprintf(prefix, sizeof prefix, "transformer.h.%d.ln_2.", l);
        param_rows_walk(&w, 1 + l, prefix, PARAM_ROWS(PARAM_NORM_ROWS), b ? &b->ln_2 : NULL, &at[MODEL_NORM_MLP]);
        snprintf(prefix, sizeof prefix, "transformer.h.%d.mlp.", l);
        param_rows_walk(&w, 1 + l, prefix, PARAM_ROWS(MLP_ROWS), b, NULL);
    }
    param_rows_walk(&w, 1 + c->n_layer, "transformer.ln_f.", PARAM_ROWS(PARAM_NORM_ROWS), m ? &m->ln_f : NULL,
                    &at[MODEL_NORM_FINAL]);
    return w.k;
}

int gpt_param_specs(const ModelConfig *c, ParamSpec *out) {
    NL_NONNULL(c);
    return walk(c, out, NULL);
}

double gpt_memory_estimate(const ModelConfig *c, int B, int T) {
    NL_NONNULL(c);
    double C = c->n_embd, L = c->n_layer, V = c->vocab_size, BT = (double)B * T;
    double params = V * C + (double)c->block_size * C + L * (12 * C * C + 13 * C) + 2 * C;
    // about 20 (B, T, C) tensors a block, the logits thrice, and attention's (B, H, T, T) scores,
    // probabilities and their grads (an evaluation at T = 65536 measured 8 floats per T^2 a head)
    double activations = L * 20 * BT * C + 3 * BT * V + L * 10.0 * B * c->n_head * (double)T * T;
    return (4 * params + activations) * sizeof(nl_real);
}

// The first problem with the config, or NULL.
static const char *config_problem(const ModelConfig *c) {
    if (c->vocab_size < 1) return "vocab_size must be >= 1";
    if (c->block_size < 1) return "block_size must be >= 1";
    if (c->n_layer < 1) return "n_layer must be >= 1";
    if (c->n_head < 1 || c->n_embd < 1) return "n_head and n_embd must be >= 1";
    if (c->n_embd % c->n_head) return "n_embd must be divisible by n_head";
    if (!(c->dropout >= 0 && c->dropout < 1)) return "dropout must be in [0, 1)";
    const char *why = model_norms_problem(c);
    if (why) return why;
    if (c->emb_scale && !isfinite(c->emb_scale0)) return "the embedding scale's initial value must be finite";
    if (!(c->scalar_lr_mult >= 0 && isfinite(c->scalar_lr_mult))) return "scalar_lr_mult must be >= 0 and finite";
    return NULL;
}

int gpt_config_check(const ModelConfig *cfg, char *err, size_t errlen) {
    NL_NONNULL(cfg, err);
    const char *why = config_problem(cfg);
    if (why) snprintf(err, errlen, "%s", why);
    return why ? -1 : 0;
}


static Tensor *gpt_model_forward(Tape *t, const void *self, const Batch *b, Rng *dropout_rng) {
    NL_CHECK(b->target_width == b->width || !b->targets, "the GPT's targets are the next token of each input");
    return gpt_forward(t, self, b->tokens, b->targets, b->rows, b->width, dropout_rng);
}
static int gpt_model_recompute(void *self, bool on) { return gpt_recompute_set(self, on); }
static void gpt_destroy(void *self) {
    gpt_free(self);
    free(self);
}
static const ModelOps GPT_OPS = {"gpt", gpt_model_forward, gpt_model_recompute, gpt_destroy};

// The GPT as a row of the model table (normlab/model.h): built on the heap, freed by its ops.
static Model *gpt_create(const ModelConfig *cfg, Rng *rng) {
    Gpt *g = calloc(1, sizeof *g);
    if (!g || gpt_init(g, cfg, rng)) return free(g), NULL;
    return &g->model;
}
const ModelInfo MODEL_INFO_gpt = {"gpt", gpt_config_check, gpt_param_specs, gpt_memory_estimate, gpt_create, NULL, NULL,
                                  GPT_NORM_POSITION_NAMES};

// m->model: the names the instruments' columns carry (h<i>.ln_1, ...), where the norms are (the
// walk then fills param_group, and binds the embedding scale).
static int gpt_describe(Gpt *m) {
    Model *d = &m->model;
    int L = m->cfg.n_layer;
    *d = (Model){.ops = &GPT_OPS, .self = m, .config = &m->cfg, .params = &m->params, .tape_nodes = 4096 + 64 * L};
    d->param_group = malloc(m->params.n * sizeof(int));
    d->norm = malloc((2 * L + 1) * sizeof *d->norm); // NOLINT(bugprone-sizeof-expression): an array of pointers
    d->scalar = malloc(sizeof *d->scalar);            // NOLINT(bugprone-sizeof-expression)
    if (!d->param_group || !d->norm || !d->scalar || model_names_alloc(&d->groups, L + 2) ||
        model_names_alloc(&d->norms, 2 * L + 1) || model_names_alloc(&d->attention, L) ||
        model_names_alloc(&d->scalars, m->cfg.emb_scale))
        return -1;
    snprintf(d->groups.name[0], MODEL_NAME, "emb");
    for (int l = 0; l < L; l++) {
        snprintf(d->groups.name[1 + l], MODEL_NAME, "h%d", l);
        snprintf(d->attention.name[l], MODEL_NAME, "h%d", l);
        snprintf(d->norms.name[2 * l], MODEL_NAME, "h%d.ln_1", l);
        snprintf(d->norms.name[2 * l + 1], MODEL_NAME, "h%d.ln_2", l);
        d->norm[2 * l] = &m->blocks[l].ln_1, d->norm[2 * l + 1] = &m->blocks[l].ln_2;
    }
    snprintf(d->groups.name[L + 1], MODEL_NAME, "ln_f");
    snprintf(d->norms.name[2 * L], MODEL_NAME, "ln_f");
    d->norm[2 * L] = &m->ln_f;
    if (m->cfg.emb_scale) snprintf(d->scalars.name[0], MODEL_NAME, "emb_scale");
    return 0;
}

int gpt_init(Gpt *m, const ModelConfig *cfg, Rng *rng) {
    NL_NONNULL(m, cfg, rng);
    *m = (Gpt){.cfg = *cfg};
    int n = gpt_param_specs(cfg, NULL);
    ParamSpec *specs = malloc(n * sizeof *specs);
    m->blocks = calloc(cfg->n_layer, sizeof *m->blocks);
    if (!specs || !m->blocks || paramset_alloc(&m->params, specs, gpt_param_specs(cfg, specs))) {
        free(specs);
        gpt_free(m);
        return -1;
    }
    free(specs);
    if (gpt_describe(m)) return gpt_free(m), -1;
    paramset_init(&m->params, rng);
    walk(cfg, NULL, m); // every field gets its tensor; the ones whose row does not exist stay NULL
    if (m->emb_scale) m->model.scalar[0] = m->emb_scale;
    for (int l = 0; l < cfg->n_layer; l++) {
        GptBlock *b = &m->blocks[l];
        static const char *const part[GPT_BLOCK_SCOPES] = {"ln_1", "attn", "ln_2", "mlp"};
        for (int k = 0; k < GPT_BLOCK_SCOPES; k++)
            snprintf(b->scope[k], sizeof b->scope[k], "transformer.h.%d.%s", l, part[k]);
        snprintf(b->name, sizeof b->name, "transformer.h.%d", l);
        model_norm_set(&b->ln_1, cfg, cfg->norm), model_norm_set(&b->ln_2, cfg, cfg->norm);
        model_attention_set(&b->attn, cfg, true);
        b->mlp.dropout = cfg->dropout;
    }
    model_norm_set(&m->ln_f, cfg, model_norm_kind(cfg, MODEL_NORM_FINAL));
    return 0;
}

void gpt_free(Gpt *m) {
    NL_NONNULL(m);
    gpt_recompute_set(m, false);
    paramset_free(&m->params);
    free(m->blocks);
    model_describe_free(&m->model);
    *m = (Gpt){0};
}

// ---- forward -----------------------------------------------------------------------------------
// One block, pre-norm: x + attn(ln_1(x)), then + mlp(ln_2(.)). (B,T,C) -> (B,T,C)
static Tensor *block_forward(Tape *t, const GptBlock *b, Tensor *x, Rng *rng) {
    tape_set_scope(t, b->scope[GPT_SCOPE_LN1]);
    Tensor *h = norm_forward(t, &b->ln_1, x);
    tape_set_scope(t, b->scope[GPT_SCOPE_ATTN]);
    x = op_add(t, x, layer_attention_forward(t, &b->attn, h, rng));
    tape_set_scope(t, b->scope[GPT_SCOPE_LN2]);
    h = norm_forward(t, &b->ln_2, x);
    tape_set_scope(t, b->scope[GPT_SCOPE_MLP]);
    return op_add(t, x, layer_mlp_forward(t, &b->mlp, h, rng));
}

// ---- recomputation (Gpt.recompute: normlab/recompute.h) ------------------------------------------
int gpt_recompute_set(Gpt *m, bool on) {
    NL_NONNULL(m);
    if (!on) layer_recompute_free(m->recompute), m->recompute = NULL;
    else if (!m->recompute && !(m->recompute = layer_recompute_new())) return -1;
    return 0;
}

static Tensor *block_forward_of(Tape *t, const void *block, Tensor *x, Rng *rng) { return block_forward(t, block, x, rng); }

Tensor *gpt_forward(Tape *t, const Gpt *m, const int32_t *idx, const int32_t *targets, int B, int T,
                    Rng *rng) {
    NL_NONNULL(t, m, idx);
    const ModelConfig *c = &m->cfg;
    NL_CHECK(T >= 1 && T <= c->block_size, "sequence length %d is outside [1, block_size %d]", T,
          c->block_size);
    int C = c->n_embd;
    tape_set_scope(t, "transformer.wte");
    Tensor *tok = op_reshape(t, op_embedding(t, m->wte, idx, B * T), NL_SHAPE(B, T, C)); // (B,T,C)
    Tensor *pos = tensor_slice(t->arena, m->wpe, 0, NL_SHAPE(T, C));                   // (T,C)
    Tensor *x = op_add(t, tok, pos);
    if (m->emb_scale) x = op_mul(t, x, m->emb_scale); // the lm_head below still uses the unscaled wte
    x = op_dropout(t, x, c->dropout, rng);
    bool recompute = m->recompute && t->grad_enabled;
    for (int l = 0; l < c->n_layer; l++)
        x = recompute ? layer_recompute_forward(t, m->recompute, block_forward_of, &m->blocks[l], m->blocks[l].name, x, rng)
                      : block_forward(t, &m->blocks[l], x, rng);
    tape_set_scope(t, "transformer.ln_f");
    x = norm_forward(t, &m->ln_f, x);
    tape_set_scope(t, "lm_head");
    Tensor *logits = op_matmul(t, x, m->wte, false, true); // (B,T,V), lm_head tied to wte
    Tensor *out = layer_loss_forward(t, &(LayerLoss){c->logit_softcap, c->z_loss}, logits, targets);
    tape_set_scope(t, NULL); // the names live in m
    return out;
}
