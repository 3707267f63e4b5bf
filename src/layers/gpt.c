// The GPT's parameter table and forward pass.
#include "gpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../autograd/ops.h"

const char *const GPT_NORM_POSITION_NAMES[GPT_NORM_POSITIONS] = {"ln_1", "ln_2", "ln_f"};

// ---- the parameter table -----------------------------------------------------------------------
// Where a dim's size comes from, how a row is initialised, and when it exists.
typedef enum { D_NONE, D_ONE, D_C, D_3C, D_4C, D_V, D_T } Dim;
typedef enum { W_NORMAL, W_PROJ, W_ZERO, W_ONE, W_SCALAR, W_SHIFT, W_EMB_SCALE } Init;
typedef enum { ALWAYS, IF_BIAS, IF_ALPHA, IF_BETA, IF_SHIFT, IF_EMB_SCALE } When;
typedef struct Row {
    const char *name; // under the row group's prefix
    Dim d0, d1;
    Init init;
    When when;
} Row;

static const Row EMBEDDING_ROWS[] = {
    {"transformer.wte.weight", D_V, D_C, W_NORMAL, ALWAYS},
    {"transformer.wpe.weight", D_T, D_C, W_NORMAL, ALWAYS},
    {"transformer.emb_scale", D_ONE, D_NONE, W_EMB_SCALE, IF_EMB_SCALE},
};
static const Row NORM_ROWS[] = { // under "transformer.h.{i}.ln_1." etc.
    {"weight", D_C, D_NONE, W_ONE, ALWAYS},
    {"bias", D_C, D_NONE, W_ZERO, IF_BIAS},
    {"alpha", D_ONE, D_NONE, W_SCALAR, IF_ALPHA},
    {"beta", D_ONE, D_NONE, W_SCALAR, IF_BETA},
    {"shift", D_ONE, D_NONE, W_SHIFT, IF_SHIFT},
};
static const Row ATTN_ROWS[] = { // under "transformer.h.{i}.attn."
    {"c_attn.weight", D_3C, D_C, W_NORMAL, ALWAYS},
    {"c_attn.bias", D_3C, D_NONE, W_ZERO, IF_BIAS},
    {"c_proj.weight", D_C, D_C, W_PROJ, ALWAYS},
    {"c_proj.bias", D_C, D_NONE, W_ZERO, IF_BIAS},
};
static const Row MLP_ROWS[] = { // under "transformer.h.{i}.mlp."
    {"c_fc.weight", D_4C, D_C, W_NORMAL, ALWAYS},
    {"c_fc.bias", D_4C, D_NONE, W_ZERO, IF_BIAS},
    {"c_proj.weight", D_C, D_4C, W_PROJ, ALWAYS},
    {"c_proj.bias", D_C, D_NONE, W_ZERO, IF_BIAS},
};
#define ROWS(r) (r), (int)(sizeof(r) / sizeof((r)[0]))

static int dim_size(const GptConfig *c, Dim d) {
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

static bool row_exists(const GptConfig *c, const Row *r) {
    switch (r->when) {
    case IF_BIAS: return c->bias;
    case IF_ALPHA: return NORM_TABLE[c->norm].scalar == NORM_SCALAR_ALPHA;
    case IF_BETA: return NORM_TABLE[c->norm].scalar == NORM_SCALAR_BETA;
    case IF_SHIFT: return NORM_TABLE[c->norm].shift;
    case IF_EMB_SCALE: return c->emb_scale;
    default: return true;
    }
}

// Appends the rows of one group under prefix; scalar0 is a norm group's initial alpha or beta.
static int add_rows(const GptConfig *c, ParamSpec *out, int k, const char *prefix, const Row *rows,
                    int n, const double *scalar0) {
    for (int i = 0; i < n; i++) {
        const Row *r = &rows[i];
        if (!row_exists(c, r)) continue;
        if (out) {
            ParamSpec *s = &out[k];
            snprintf(s->name, sizeof s->name, "%s%s", prefix, r->name);
            bool scalar = r->init == W_SCALAR || r->init == W_SHIFT || r->init == W_EMB_SCALE;
            s->lr_mult = scalar && c->scalar_lr_mult > 0 ? c->scalar_lr_mult : 1;
            s->shape = r->d1 == D_NONE ? SHAPE(dim_size(c, r->d0)) : SHAPE(dim_size(c, r->d0), dim_size(c, r->d1));
            switch (r->init) { // nanoGPT: N(0, 0.02); residual projections N(0, 0.02/sqrt(2 n_layer))
            case W_NORMAL: s->init = PARAM_INIT_NORMAL, s->value = 0.02; break;
            case W_PROJ: s->init = PARAM_INIT_NORMAL, s->value = 0.02 / sqrt(2.0 * c->n_layer); break;
            case W_ZERO: s->init = PARAM_INIT_CONST, s->value = 0; break;
            case W_ONE: s->init = PARAM_INIT_CONST, s->value = 1; break;
            case W_SCALAR:
                s->init = PARAM_INIT_CONST;
                CHECK(scalar0, "a scalar row outside a norm group");
                s->value = norm_scalar_stored(c->norm, *scalar0);
                break;
            case W_SHIFT: s->init = PARAM_INIT_CONST, s->value = c->shift0; break;
            case W_EMB_SCALE: s->init = PARAM_INIT_CONST, s->value = c->emb_scale0; break;
            }
        }
        k++;
    }
    return k;
}

int gpt_param_specs(const GptConfig *c, ParamSpec *out) {
    char prefix[64];
    int k = add_rows(c, out, 0, "", ROWS(EMBEDDING_ROWS), NULL);
    for (int l = 0; l < c->n_layer; l++) {
        snprintf(prefix, sizeof prefix, "transformer.h.%d.ln_1.", l);
        k = add_rows(c, out, k, prefix, ROWS(NORM_ROWS), &c->scalar0[GPT_LN1]);
        snprintf(prefix, sizeof prefix, "transformer.h.%d.attn.", l);
        k = add_rows(c, out, k, prefix, ROWS(ATTN_ROWS), NULL);
        snprintf(prefix, sizeof prefix, "transformer.h.%d.ln_2.", l);
        k = add_rows(c, out, k, prefix, ROWS(NORM_ROWS), &c->scalar0[GPT_LN2]);
        snprintf(prefix, sizeof prefix, "transformer.h.%d.mlp.", l);
        k = add_rows(c, out, k, prefix, ROWS(MLP_ROWS), NULL);
    }
    return add_rows(c, out, k, "transformer.ln_f.", ROWS(NORM_ROWS), &c->scalar0[GPT_LNF]);
}

double gpt_memory_estimate(const GptConfig *c, int B, int T) {
    double C = c->n_embd, L = c->n_layer, V = c->vocab_size, BT = (double)B * T;
    double params = V * C + (double)c->block_size * C + L * (12 * C * C + 13 * C) + 2 * C;
    double activations = L * 20 * BT * C + 3 * BT * V;
    return (4 * params + activations) * sizeof(real);
}

const char *gpt_config_check(const GptConfig *c) {
    if (c->vocab_size < 1) return "vocab_size must be >= 1";
    if (c->block_size < 1) return "block_size must be >= 1";
    if (c->n_layer < 1) return "n_layer must be >= 1";
    if (c->n_head < 1 || c->n_embd < 1) return "n_head and n_embd must be >= 1";
    if (c->n_embd % c->n_head) return "n_embd must be divisible by n_head";
    if (!(c->dropout >= 0 && c->dropout < 1)) return "dropout must be in [0, 1)";
    if ((int)c->norm < 0 || c->norm >= NORM_COUNT) return "unknown norm";
    if (NORM_TABLE[c->norm].scalar)
        for (int p = 0; p < GPT_NORM_POSITIONS; p++) {
            double v = c->scalar0[p];
            if (!isfinite(v)) return "alpha0/beta0 must be finite";
            if (NORM_TABLE[c->norm].softplus && !(v > 0)) return "the softplus norms need alpha0/beta0 > 0";
        }
    if (!isfinite(c->shift0)) return "shift0 must be finite";
    if (c->emb_scale && !isfinite(c->emb_scale0)) return "the embedding scale's initial value must be finite";
    if (!(c->scalar_lr_mult >= 0 && isfinite(c->scalar_lr_mult))) return "scalar_lr_mult must be >= 0 and finite";
    return NULL;
}

// ---- binding the named parameters to the model's fields ----------------------------------------
static Tensor *param(const Gpt *m, const char *fmt, int layer) {
    char name[PARAM_NAME_MAX];
    snprintf(name, sizeof name, fmt, layer);
    Param *p = paramset_find(&m->params, name);
    return p ? p->t : NULL;
}

static Norm bind_norm(const Gpt *m, const char *prefix_fmt, int layer) {
    char fmt[PARAM_NAME_MAX];
    const char *scalar = norm_scalar_name(m->cfg.norm);
    Norm n = {.kind = m->cfg.norm, .composite = m->cfg.composite, .eps = NORM_EPS};
    snprintf(fmt, sizeof fmt, "%sweight", prefix_fmt);
    n.weight = param(m, fmt, layer);
    snprintf(fmt, sizeof fmt, "%sbias", prefix_fmt);
    n.bias = param(m, fmt, layer);
    if (scalar) {
        snprintf(fmt, sizeof fmt, "%s%s", prefix_fmt, scalar);
        n.scalar = param(m, fmt, layer);
    }
    snprintf(fmt, sizeof fmt, "%sshift", prefix_fmt);
    n.shift = param(m, fmt, layer);
    return n;
}

int gpt_init(Gpt *m, const GptConfig *cfg, Rng *rng) {
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
    paramset_init(&m->params, rng);
    m->wte = param(m, "transformer.wte.weight", 0);
    m->wpe = param(m, "transformer.wpe.weight", 0);
    m->emb_scale = param(m, "transformer.emb_scale", 0);
    for (int l = 0; l < cfg->n_layer; l++) {
        GptBlock *b = &m->blocks[l];
        static const char *const part[GPT_BLOCK_SCOPES] = {"ln_1", "attn", "ln_2", "mlp"};
        for (int k = 0; k < GPT_BLOCK_SCOPES; k++)
            snprintf(b->scope[k], sizeof b->scope[k], "transformer.h.%d.%s", l, part[k]);
        b->ln_1 = bind_norm(m, "transformer.h.%d.ln_1.", l);
        b->ln_2 = bind_norm(m, "transformer.h.%d.ln_2.", l);
        b->c_attn_w = param(m, "transformer.h.%d.attn.c_attn.weight", l);
        b->c_attn_b = param(m, "transformer.h.%d.attn.c_attn.bias", l);
        b->attn_proj_w = param(m, "transformer.h.%d.attn.c_proj.weight", l);
        b->attn_proj_b = param(m, "transformer.h.%d.attn.c_proj.bias", l);
        b->c_fc_w = param(m, "transformer.h.%d.mlp.c_fc.weight", l);
        b->c_fc_b = param(m, "transformer.h.%d.mlp.c_fc.bias", l);
        b->mlp_proj_w = param(m, "transformer.h.%d.mlp.c_proj.weight", l);
        b->mlp_proj_b = param(m, "transformer.h.%d.mlp.c_proj.bias", l);
    }
    m->ln_f = bind_norm(m, "transformer.ln_f.", 0);
    return 0;
}

void gpt_free(Gpt *m) {
    paramset_free(&m->params);
    free(m->blocks);
    *m = (Gpt){0};
}

// ---- forward -----------------------------------------------------------------------------------
// y = x W^T + b for W stored [out, in]; b may be NULL.
static Tensor *linear(Tape *t, Tensor *x, Tensor *w, Tensor *b) {
    Tensor *y = op_matmul(t, x, w, false, true);
    return b ? op_add(t, y, b) : y;
}

// Causal self-attention: c_attn makes q|k|v (B,T,3C), the fused op attends per head, c_proj mixes.
// x (B,T,C) -> (B,T,C)
static Tensor *attention(Tape *t, const Gpt *m, const GptBlock *b, Tensor *x, Rng *rng) {
    Tensor *qkv = linear(t, x, b->c_attn_w, b->c_attn_b);              // (B,T,3C)
    Tensor *y = op_attention(t, qkv, m->cfg.n_head, m->cfg.dropout, rng); // (B,T,C)
    y = linear(t, y, b->attn_proj_w, b->attn_proj_b);
    return op_dropout(t, y, m->cfg.dropout, rng);
}

// x (B,T,C) -> (B,T,C)
static Tensor *mlp(Tape *t, const Gpt *m, const GptBlock *b, Tensor *x, Rng *rng) {
    Tensor *h = op_gelu(t, linear(t, x, b->c_fc_w, b->c_fc_b)); // (B,T,4C)
    return op_dropout(t, linear(t, h, b->mlp_proj_w, b->mlp_proj_b), m->cfg.dropout, rng);
}

Tensor *gpt_forward(Tape *t, const Gpt *m, const int32_t *idx, const int32_t *targets, int B, int T,
                    Rng *rng) {
    const GptConfig *c = &m->cfg;
    CHECK(T >= 1 && T <= c->block_size, "sequence length %d is outside [1, block_size %d]", T,
          c->block_size);
    int C = c->n_embd;
    tape_set_scope(t, "transformer.wte");
    Tensor *tok = op_reshape(t, op_embedding(t, m->wte, idx, B * T), SHAPE(B, T, C)); // (B,T,C)
    Tensor *pos = tensor_slice(t->arena, m->wpe, 0, SHAPE(T, C));                   // (T,C)
    Tensor *x = op_add(t, tok, pos);
    if (m->emb_scale) x = op_mul(t, x, m->emb_scale); // the lm_head below still uses the unscaled wte
    x = op_dropout(t, x, c->dropout, rng);
    for (int l = 0; l < c->n_layer; l++) {
        const GptBlock *b = &m->blocks[l];
        tape_set_scope(t, b->scope[GPT_SCOPE_LN1]);
        Tensor *h = norm_forward(t, &b->ln_1, x);
        tape_set_scope(t, b->scope[GPT_SCOPE_ATTN]);
        x = op_add(t, x, attention(t, m, b, h, rng));
        tape_set_scope(t, b->scope[GPT_SCOPE_LN2]);
        h = norm_forward(t, &b->ln_2, x);
        tape_set_scope(t, b->scope[GPT_SCOPE_MLP]);
        x = op_add(t, x, mlp(t, m, b, h, rng));
    }
    tape_set_scope(t, "transformer.ln_f");
    x = norm_forward(t, &m->ln_f, x);
    tape_set_scope(t, "lm_head");
    Tensor *logits = op_matmul(t, x, m->wte, false, true); // (B,T,V), lm_head tied to wte
    Tensor *out = targets ? op_cross_entropy(t, logits, targets) : logits;
    tape_set_scope(t, NULL); // the names live in m
    return out;
}
