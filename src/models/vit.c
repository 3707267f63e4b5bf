// A vision transformer (timm's ViT, names and all), pre-norm, with the norm kind selectable:
//   x = (pixels/255 - 0.2860) / 0.3530              Fashion-MNIST's training mean and std
//   patches: P x P, raster order, pixels within a patch in raster order -> (B, N, P*P)
//   x = patch_embed.proj(patches)                    weight (C, P*P), bias (C)
//   x = concat(cls_token (1,1,C), x) + pos_embed (1, N+1, C)
//   for each block:  x = x + attn.proj(attention(attn.qkv(norm1(x))))   not causal
//                    x = x + mlp.fc2(gelu(mlp.fc1(norm2(x))))
//   logits = head(norm(x)[:, 0])                     head.weight (K, C), head.bias (K)
//   loss = mean cross-entropy over the batch
// Biases on every linear layer and norm (timm's default); init N(0, 0.02) for every weight matrix,
// cls_token and pos_embed, biases 0, norm weights 1, the surrogates' scalars at the vision recipe
// (alpha0 0.5 everywhere, no embedding scale: the DyT and Derf ViTs). A batch row is an image's
// pixels (0..255); its target, the label.
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/layers.h"
#include "normlab/model.h"
#include "normlab/norm.h"
#include "normlab/ops.h"
#include "normlab/recompute.h"
#include "param_rows.h"

#define VIT_MEAN 0.2860 // Fashion-MNIST's training split: pixel mean and std, over 0..1
#define VIT_STD 0.3530

enum { VIT_SCOPE_NORM1, VIT_SCOPE_ATTN, VIT_SCOPE_NORM2, VIT_SCOPE_MLP, VIT_BLOCK_SCOPES };

typedef struct VitBlock {
    char scope[VIT_BLOCK_SCOPES][32]; // "blocks.{i}.norm1", ".attn", ".norm2", ".mlp"
    char name[24];                    // "blocks.{i}": the recomputed block's node
    Norm norm1, norm2;
    LayerAttention attn; // qkv (3C,C), proj (C,C)
    LayerMlp mlp;        // fc1 (4C,C), fc2 (C,4C)
} VitBlock;

typedef struct Vit {
    ModelConfig cfg;
    LayerRecompute *recompute; // NULL: every activation stays on the step's tape (normlab/recompute.h)
    ParamSet params;
    Tensor *cls_token, *pos_embed; // (1,1,C) (1,N+1,C)
    LayerLinear patch_embed, head;  // (C,P*P) (K,C)
    VitBlock *blocks;               // (n_layer)
    Norm norm;
    Model model;
} Vit;

static int vit_patches(const ModelConfig *c) { return (c->image_size / c->patch_size) * (c->image_size / c->patch_size); }

// ---- the parameter table (timm's names, in its state_dict's order) -------------------------------
enum { D_C = ROW_DIM_NORM_C, D_ONE = ROW_DIM_ONE, D_3C, D_4C, D_PP, D_N1, D_K };

static const ParamRow EMBED_ROWS[] = { // bound in Vit
    {"cls_token", D_ONE, D_ONE, D_C, ROW_NORMAL, ROW_ALWAYS, offsetof(Vit, cls_token), false},
    {"pos_embed", D_ONE, D_N1, D_C, ROW_NORMAL, ROW_ALWAYS, offsetof(Vit, pos_embed), false},
    {"patch_embed.proj.weight", D_C, D_PP, 0, ROW_NORMAL, ROW_ALWAYS, offsetof(Vit, patch_embed.weight), false},
    {"patch_embed.proj.bias", D_C, 0, 0, ROW_ZERO, ROW_IF_BIAS, offsetof(Vit, patch_embed.bias), false},
};
static const ParamRow ATTN_ROWS[] = { // under "blocks.{i}.attn.", bound in VitBlock
    {"qkv.weight", D_3C, D_C, 0, ROW_NORMAL, ROW_ALWAYS, offsetof(VitBlock, attn.c_attn.weight), true},
    {"qkv.bias", D_3C, 0, 0, ROW_ZERO, ROW_IF_BIAS, offsetof(VitBlock, attn.c_attn.bias), false},
    {"proj.weight", D_C, D_C, 0, ROW_NORMAL, ROW_ALWAYS, offsetof(VitBlock, attn.c_proj.weight), true},
    {"proj.bias", D_C, 0, 0, ROW_ZERO, ROW_IF_BIAS, offsetof(VitBlock, attn.c_proj.bias), false},
};
static const ParamRow MLP_ROWS[] = { // under "blocks.{i}.mlp.", bound in VitBlock
    {"fc1.weight", D_4C, D_C, 0, ROW_NORMAL, ROW_ALWAYS, offsetof(VitBlock, mlp.c_fc.weight), true},
    {"fc1.bias", D_4C, 0, 0, ROW_ZERO, ROW_IF_BIAS, offsetof(VitBlock, mlp.c_fc.bias), false},
    {"fc2.weight", D_C, D_4C, 0, ROW_NORMAL, ROW_ALWAYS, offsetof(VitBlock, mlp.c_proj.weight), true},
    {"fc2.bias", D_C, 0, 0, ROW_ZERO, ROW_IF_BIAS, offsetof(VitBlock, mlp.c_proj.bias), false},
};
static const ParamRow HEAD_ROWS[] = { // bound in Vit
    {"head.weight", D_K, D_C, 0, ROW_NORMAL, ROW_ALWAYS, offsetof(Vit, head.weight), false},
    {"head.bias", D_K, 0, 0, ROW_ZERO, ROW_IF_BIAS, offsetof(Vit, head.bias), false},
};

static int dim_size(const ModelConfig *c, int d) {
    switch (d) {
    case D_ONE: return 1;
    case D_C: return c->n_embd;
    case D_3C: return 3 * c->n_embd;
    case D_4C: return 4 * c->n_embd;
    case D_PP: return c->patch_size * c->patch_size;
    case D_N1: return vit_patches(c) + 1;
    case D_K: return c->n_classes;
    default: return 0;
    }
}

// The walk (param_rows.h): groups "embed" 0, block i 1 + i, "norm" with the head n_layer + 1.
static int walk(const ModelConfig *c, ParamSpec *specs, Vit *m) {
    RowWalk w = {.c = c, .dim = dim_size, .std = 0.02, .proj_std = 0.02, .specs = specs,
                 .bound = m ? &m->params : NULL, .param_group = m ? m->model.param_group : NULL};
    char prefix[48];
    RowNorm at[MODEL_NORM_POSITIONS], qk = row_norm_qk(c);
    for (int p = 0; p < MODEL_NORM_POSITIONS; p++) at[p] = row_norm_at(c, p);
    param_rows_walk(&w, 0, "", PARAM_ROWS(EMBED_ROWS), m, NULL);
    for (int l = 0; l < c->n_layer; l++) {
        VitBlock *b = m ? &m->blocks[l] : NULL;
        snprintf(prefix, sizeof prefix, "blocks.%d.norm1.", l);
        param_rows_walk(&w, 1 + l, prefix, PARAM_ROWS(PARAM_NORM_ROWS), b ? &b->norm1 : NULL, &at[MODEL_NORM_ATTN]);
        snprintf(prefix, sizeof prefix, "blocks.%d.attn.", l);
        param_rows_walk(&w, 1 + l, prefix, PARAM_ROWS(ATTN_ROWS), b, NULL);
        for (int k = 0; c->qk_norm && k < 2; k++) {
            snprintf(prefix, sizeof prefix, "blocks.%d.attn.%s_norm.", l, k ? "k" : "q");
            param_rows_walk(&w, 1 + l, prefix, PARAM_ROWS(PARAM_NORM_ROWS), b ? (k ? &b->attn.k_norm : &b->attn.q_norm) : NULL, &qk);
        }
        snprintf(prefix, sizeof prefix, "blocks.%d.norm2.", l);
        param_rows_walk(&w, 1 + l, prefix, PARAM_ROWS(PARAM_NORM_ROWS), b ? &b->norm2 : NULL, &at[MODEL_NORM_MLP]);
        snprintf(prefix, sizeof prefix, "blocks.%d.mlp.", l);
        param_rows_walk(&w, 1 + l, prefix, PARAM_ROWS(MLP_ROWS), b, NULL);
    }
    param_rows_walk(&w, 1 + c->n_layer, "norm.", PARAM_ROWS(PARAM_NORM_ROWS), m ? &m->norm : NULL,
                    &at[MODEL_NORM_FINAL]);
    param_rows_walk(&w, 1 + c->n_layer, "", PARAM_ROWS(HEAD_ROWS), m, NULL);
    return w.k;
}

static int vit_param_specs(const ModelConfig *c, ParamSpec *out) { return walk(c, out, NULL); }

// The first problem with the config, or NULL.
static const char *config_problem(const ModelConfig *c) {
    if (c->n_classes < 2) return "the ViT needs at least 2 classes";
    if (c->image_size < 1 || c->patch_size < 1 || c->image_size % c->patch_size)
        return "the patch size must divide the image side";
    if (c->n_layer < 1) return "n_layer must be >= 1";
    if (c->n_head < 1 || c->n_embd < 1 || c->n_embd % c->n_head) return "n_embd must be a multiple of n_head (>= 1)";
    if (!(c->dropout >= 0 && c->dropout < 1)) return "dropout must be in [0, 1)";
    if (c->emb_scale) return "the ViT has no embedding scale (its recipe is the DyT and Derf ViTs': none)";
    const char *why = model_norms_problem(c);
    if (why) return why;
    if (!(c->scalar_lr_mult >= 0 && isfinite(c->scalar_lr_mult))) return "scalar_lr_mult must be >= 0 and finite";
    return NULL;
}

static int vit_config_check(const ModelConfig *c, char *err, size_t errlen) {
    const char *why = config_problem(c);
    if (why) snprintf(err, errlen, "%s", why);
    return why ? -1 : 0;
}

// Parameters, grads, two moments, and a step's activations: about 20 (B, N+1, C) tensors per block,
// its (B, H, N+1, N+1) scores, and the patches.
static double vit_memory_estimate(const ModelConfig *c, int B, int T) {
    (void)T;
    double C = c->n_embd, L = c->n_layer, N = vit_patches(c) + 1, PP = (double)c->patch_size * c->patch_size;
    double params = L * (12 * C * C + 13 * C) + N * C + PP * C + c->n_classes * C;
    double activations = B * (L * (20 * N * C + c->n_head * N * N) + N * PP);
    return (4 * params + activations) * sizeof(nl_real);
}

// ---- forward -------------------------------------------------------------------------------------
// pixels (B, S*S) 0..255 -> normalised patches (B, N, P*P), a leaf: patch (py, px) in raster order,
// its pixels (y, x) in raster order.
static Tensor *vit_patchify(Tape *t, const ModelConfig *c, const int32_t *pixels, int B) {
    int S = c->image_size, P = c->patch_size, G = S / P, N = G * G;
    Tensor *x = tensor_new(t->arena, NL_SHAPE(B, N, P * P), false);
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++)
            for (int y = 0; y < P; y++)
                for (int q = 0; q < P; q++) {
                    int32_t p = pixels[(size_t)b * S * S + (size_t)((n / G) * P + y) * S + (n % G) * P + q];
                    x->data[((size_t)b * N + n) * P * P + y * P + q] = (nl_real)((p / 255.0 - VIT_MEAN) / VIT_STD);
                }
    return x;
}

static Tensor *block_forward(Tape *t, const void *block, Tensor *x, Rng *rng) {
    const VitBlock *b = block;
    tape_set_scope(t, b->scope[VIT_SCOPE_NORM1]);
    Tensor *h = norm_forward(t, &b->norm1, x);
    tape_set_scope(t, b->scope[VIT_SCOPE_ATTN]);
    x = op_add(t, x, layer_attention_forward(t, &b->attn, h, rng));
    tape_set_scope(t, b->scope[VIT_SCOPE_NORM2]);
    h = norm_forward(t, &b->norm2, x);
    tape_set_scope(t, b->scope[VIT_SCOPE_MLP]);
    return op_add(t, x, layer_mlp_forward(t, &b->mlp, h, rng));
}

static Tensor *vit_forward(Tape *t, const void *self, const Batch *batch, Rng *rng) {
    const Vit *m = self;
    const ModelConfig *c = &m->cfg;
    int B = batch->rows, N1 = vit_patches(c) + 1, C = c->n_embd;
    NL_CHECK(batch->width == c->image_size * c->image_size && (!batch->targets || batch->target_width == 1),
             "the ViT takes rows of %d x %d pixels and one label each", c->image_size, c->image_size);
    tape_set_scope(t, "patch_embed");
    Tensor *x = layer_linear_forward(t, &m->patch_embed, vit_patchify(t, c, batch->tokens, B)); // (B,N,C)
    x = op_concat_rows(t, m->cls_token, x);                                                     // (B,N+1,C)
    x = op_add(t, x, tensor_view(t->arena, m->pos_embed, NL_SHAPE(N1, C)));
    x = op_dropout(t, x, c->dropout, rng);
    bool recompute = m->recompute && t->grad_enabled;
    for (int l = 0; l < c->n_layer; l++)
        x = recompute ? layer_recompute_forward(t, m->recompute, block_forward, &m->blocks[l], m->blocks[l].name, x, rng)
                      : block_forward(t, &m->blocks[l], x, rng);
    tape_set_scope(t, "norm");
    x = norm_forward(t, &m->norm, x);
    tape_set_scope(t, "head");
    Tensor *logits = layer_linear_forward(t, &m->head, op_rows(t, x, 0, 1)); // (B,1,K): the cls token's
    Tensor *out = layer_loss_forward(t, &(LayerLoss){c->logit_softcap, c->z_loss}, logits, batch->targets);
    tape_set_scope(t, NULL);
    return out;
}

// ---- the model's description and its row -----------------------------------------------------------
static int vit_recompute(void *self, bool on) {
    Vit *m = self;
    if (!on) layer_recompute_free(m->recompute), m->recompute = NULL;
    else if (!m->recompute && !(m->recompute = layer_recompute_new())) return -1;
    return 0;
}

static void vit_free(void *self) {
    Vit *m = self;
    layer_recompute_free(m->recompute);
    paramset_free(&m->params);
    free(m->blocks);
    model_describe_free(&m->model);
    free(m);
}
static const ModelOps VIT_OPS = {"vit", vit_forward, vit_recompute, vit_free};

// m->model: the names the instruments' columns carry (h<i>.norm1, ...) and where the norms are.
static int vit_describe(Vit *m) {
    Model *d = &m->model;
    int L = m->cfg.n_layer;
    *d = (Model){.ops = &VIT_OPS, .self = m, .config = &m->cfg, .params = &m->params, .tape_nodes = 4096 + 64 * L};
    d->param_group = malloc(m->params.n * sizeof(int));
    d->norm = malloc((2 * L + 1) * sizeof *d->norm); // NOLINT(bugprone-sizeof-expression): an array of pointers
    if (!d->param_group || !d->norm || model_names_alloc(&d->groups, L + 2) || model_names_alloc(&d->norms, 2 * L + 1) ||
        model_names_alloc(&d->attention, L) || model_names_alloc(&d->scalars, 0))
        return -1;
    snprintf(d->groups.name[0], MODEL_NAME, "embed");
    for (int l = 0; l < L; l++) {
        snprintf(d->groups.name[1 + l], MODEL_NAME, "h%d", l);
        snprintf(d->attention.name[l], MODEL_NAME, "h%d", l);
        snprintf(d->norms.name[2 * l], MODEL_NAME, "h%d.norm1", l);
        snprintf(d->norms.name[2 * l + 1], MODEL_NAME, "h%d.norm2", l);
        d->norm[2 * l] = &m->blocks[l].norm1, d->norm[2 * l + 1] = &m->blocks[l].norm2;
    }
    snprintf(d->groups.name[L + 1], MODEL_NAME, "norm");
    snprintf(d->norms.name[2 * L], MODEL_NAME, "norm");
    d->norm[2 * L] = &m->norm;
    return 0;
}

static Model *vit_create(const ModelConfig *cfg, Rng *rng) {
    Vit *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cfg = *cfg;
    int n = vit_param_specs(cfg, NULL);
    ParamSpec *specs = malloc(n * sizeof *specs);
    m->blocks = calloc(cfg->n_layer, sizeof *m->blocks);
    if (!specs || !m->blocks || paramset_alloc(&m->params, specs, vit_param_specs(cfg, specs)) || vit_describe(m)) {
        free(specs);
        vit_free(m);
        return NULL;
    }
    free(specs);
    paramset_init(&m->params, rng);
    walk(cfg, NULL, m);
    static const char *const part[VIT_BLOCK_SCOPES] = {"norm1", "attn", "norm2", "mlp"};
    for (int l = 0; l < cfg->n_layer; l++) {
        VitBlock *b = &m->blocks[l];
        for (int k = 0; k < VIT_BLOCK_SCOPES; k++) snprintf(b->scope[k], sizeof b->scope[k], "blocks.%d.%s", l, part[k]);
        snprintf(b->name, sizeof b->name, "blocks.%d", l);
        model_norm_set(&b->norm1, cfg, cfg->norm), model_norm_set(&b->norm2, cfg, cfg->norm);
        model_attention_set(&b->attn, cfg, false);
        b->mlp.dropout = cfg->dropout;
    }
    model_norm_set(&m->norm, cfg, model_norm_kind(cfg, MODEL_NORM_FINAL));
    return &m->model;
}

// The ViT's training defaults (the train program's option names) and its norms' recipes: alpha0 0.5
// everywhere and no embedding scale (the DyT and Derf ViTs); each norm's lr is its best in the lr
// sweep of docs/vision.md (results/vision: tools/tests/test_studies.py holds these to it).
static const char *const VIT_DEFAULTS[][2] = {
    {"n-embd", "128"}, {"n-head", "4"}, {"n-layer", "4"}, {"bias", "true"}, {"batch-size", "128"},
    {"beta2", "0.999"}, {"weight-decay", "0.05"}, {"steps", "2000"}, {"warmup", "100"}, {"eval-interval", "250"},
    {"sample", "8"}, {NULL, NULL},
};
#define VIT_RECIPE(lr) {0, {0.5, 0.5, 0.5}, lr, 1}
static const NormRecipe VIT_RECIPES[NORM_COUNT] = {
    [NORM_LN] = VIT_RECIPE(5.6e-4), [NORM_RMSNORM] = VIT_RECIPE(1e-3), [NORM_DYT] = VIT_RECIPE(5.6e-3),
    [NORM_DYTSP] = VIT_RECIPE(3.2e-3), [NORM_DYISRU] = VIT_RECIPE(1.8e-3), [NORM_DYISRUSP] = VIT_RECIPE(1.8e-3),
    [NORM_DERF] = VIT_RECIPE(3.2e-3),
};

static const char *const VIT_POSITIONS[MODEL_NORM_POSITIONS] = {"norm1", "norm2", "norm"};

const ModelInfo MODEL_INFO_vit = {"vit", vit_config_check, vit_param_specs, vit_memory_estimate, vit_create,
                                  VIT_DEFAULTS, VIT_RECIPES, VIT_POSITIONS};
