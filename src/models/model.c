// The model table and the model description's storage (normlab/model.h).
#include "normlab/check.h"
#include "normlab/model.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/checkpoint.h"

#define MODEL_ROW_(ID, name) [MODEL_##ID] = &MODEL_INFO_##name,
const ModelInfo *const MODEL_TABLE[MODEL_COUNT] = {MODEL_KINDS(MODEL_ROW_)};

// Every ModelConfig field but the norm (written by name), as metadata.
#define FIELD_(key, type) {#key, type, offsetof(ModelConfig, key)}
static const MetaField CONFIG_FIELDS[] = {
    FIELD_(vocab_size, META_INT), FIELD_(block_size, META_INT), FIELD_(n_layer, META_INT), FIELD_(n_head, META_INT),
    FIELD_(n_embd, META_INT), FIELD_(bias, META_BOOL), FIELD_(dropout, META_DOUBLE), FIELD_(composite, META_BOOL),
    {"scalar0_attn", META_DOUBLE, offsetof(ModelConfig, scalar0[MODEL_NORM_ATTN])},
    {"scalar0_mlp", META_DOUBLE, offsetof(ModelConfig, scalar0[MODEL_NORM_MLP])},
    {"scalar0_final", META_DOUBLE, offsetof(ModelConfig, scalar0[MODEL_NORM_FINAL])},
    FIELD_(shift0, META_DOUBLE), FIELD_(emb_scale, META_BOOL), FIELD_(emb_scale0, META_DOUBLE),
    FIELD_(scalar_lr_mult, META_DOUBLE),
};
#define N_CONFIG_FIELDS (int)(sizeof CONFIG_FIELDS / sizeof CONFIG_FIELDS[0])
// Fields added after checkpoints existed: a checkpoint without them has 0 (a GPT's).
static const MetaField ADDED_FIELDS[] = {FIELD_(image_size, META_INT), FIELD_(patch_size, META_INT),
                                         FIELD_(n_classes, META_INT)};
#define N_ADDED_FIELDS (int)(sizeof ADDED_FIELDS / sizeof ADDED_FIELDS[0])
// The interventions (added later still: a checkpoint without them has them off), and their norms'
// kinds by name: model.qk_norm ("none" or a kind) and model.final_norm.
static const MetaField INTERVENTION_FIELDS[] = {FIELD_(qk_scalar0, META_DOUBLE), FIELD_(attn_softcap, META_DOUBLE),
                                                FIELD_(logit_softcap, META_DOUBLE), FIELD_(z_loss, META_DOUBLE)};
#define N_INTERVENTION_FIELDS (int)(sizeof INTERVENTION_FIELDS / sizeof INTERVENTION_FIELDS[0])

int model_config_write(const ModelConfig *c, const char **meta, int *n, int max, char *buf, size_t buflen) {
    NL_NONNULL(c, meta, n, buf);
    if (*n + 3 > max) return -1;
    meta[2 * *n] = "model.norm", meta[2 * *n + 1] = NORM_TABLE[c->norm]->name, (*n)++;
    meta[2 * *n] = "model.qk_norm", meta[2 * *n + 1] = c->qk_norm ? NORM_TABLE[c->qk_norm_kind]->name : "none", (*n)++;
    meta[2 * *n] = "model.final_norm", meta[2 * *n + 1] = NORM_TABLE[model_norm_kind(c, MODEL_NORM_FINAL)]->name, (*n)++;
    size_t third = buflen / 3; // each table's strings in its own third
    return meta_fields_write(CONFIG_FIELDS, N_CONFIG_FIELDS, c, "model.", meta, n, max, buf, third) ||
                   meta_fields_write(ADDED_FIELDS, N_ADDED_FIELDS, c, "model.", meta, n, max, buf + third, third) ||
                   meta_fields_write(INTERVENTION_FIELDS, N_INTERVENTION_FIELDS, c, "model.", meta, n, max, buf + 2 * third,
                                     buflen - 2 * third)
               ? -1
               : 0;
}

// model.qk_norm and model.final_norm, when the checkpoint has them: 0, or -1 with a message.
static int norms_read(const StFile *f, ModelConfig *c, char *err, size_t errlen) {
    const char *qk = st_meta(f, "model.qk_norm"), *fin = st_meta(f, "model.final_norm");
    if (qk && strcmp(qk, "none")) {
        int k = norm_kind_parse(qk);
        if (k < 0) return snprintf(err, errlen, "the checkpoint's model.qk_norm '%s' is not a norm", qk), -1;
        c->qk_norm = true, c->qk_norm_kind = k;
    }
    if (fin) {
        int k = norm_kind_parse(fin);
        if (k < 0) return snprintf(err, errlen, "the checkpoint's model.final_norm '%s' is not a norm", fin), -1;
        c->final_norm_own = k != (int)c->norm, c->final_norm_kind = k;
    }
    return 0;
}

int model_config_read(const StFile *f, ModelConfig *c, char *err, size_t errlen) {
    NL_NONNULL(f, c, err);
    const char *norm = st_meta(f, "model.norm");
    int k = norm ? norm_kind_parse(norm) : -1;
    if (k < 0) return snprintf(err, errlen, "the checkpoint's model.norm is %s", norm ? "not a norm" : "missing"), -1;
    *c = (ModelConfig){.norm = k};
    if (meta_fields_read(CONFIG_FIELDS, N_CONFIG_FIELDS, c, "model.", f, err, errlen) || norms_read(f, c, err, errlen)) return -1;
    if (st_meta(f, "model.z_loss") &&
        meta_fields_read(INTERVENTION_FIELDS, N_INTERVENTION_FIELDS, c, "model.", f, err, errlen))
        return -1;
    return st_meta(f, "model.image_size") ? meta_fields_read(ADDED_FIELDS, N_ADDED_FIELDS, c, "model.", f, err, errlen) : 0;
}

int model_kind_parse(const char *name) {
    NL_NONNULL(name);
    for (int k = 0; k < MODEL_COUNT; k++)
        if (!strcmp(MODEL_TABLE[k]->name, name)) return k;
    return -1;
}

int model_names_alloc(ModelNames *names, int n) {
    NL_NONNULL(names);
    names->n = n;
    names->name = calloc(n > 0 ? n : 1, sizeof *names->name);
    return names->name ? 0 : -1;
}

void model_names_free(ModelNames *names) {
    NL_NONNULL(names);
    free(names->name);
    *names = (ModelNames){0};
}

void model_describe_free(Model *m) {
    NL_NONNULL(m);
    model_names_free(&m->groups), model_names_free(&m->norms), model_names_free(&m->attention);
    model_names_free(&m->scalars);
    free(m->param_group), free(m->norm), free(m->scalar);
    *m = (Model){0};
}

// A norm's initial scalar: finite, and > 0 where a softplus stores it.
static const char *scalar0_problem(NormKind k, double v) {
    if (!NORM_TABLE[k]->scalar) return NULL;
    if (!isfinite(v)) return "alpha0/beta0 must be finite";
    return NORM_TABLE[k]->softplus && !(v > 0) ? "the softplus norms need alpha0/beta0 > 0" : NULL;
}

static bool kind_ok(int k) { return k >= 0 && k < NORM_COUNT; }

const char *model_norms_problem(const ModelConfig *c) {
    NL_NONNULL(c);
    if (!kind_ok((int)c->norm) || (c->qk_norm && !kind_ok((int)c->qk_norm_kind)) ||
        (c->final_norm_own && !kind_ok((int)c->final_norm_kind)))
        return "unknown norm";
    for (int p = 0; p < MODEL_NORM_POSITIONS; p++) {
        const char *why = scalar0_problem(model_norm_kind(c, p), c->scalar0[p]);
        if (why) return why;
    }
    const char *qk = c->qk_norm ? scalar0_problem(c->qk_norm_kind, c->qk_scalar0) : NULL;
    if (qk) return qk;
    if (!isfinite(c->shift0)) return "shift0 must be finite";
    if (!(c->attn_softcap >= 0 && isfinite(c->attn_softcap)) || !(c->logit_softcap >= 0 && isfinite(c->logit_softcap)))
        return "the soft caps must be >= 0 and finite (0: off)";
    if (!(c->z_loss >= 0 && isfinite(c->z_loss))) return "z_loss must be >= 0 and finite";
    return NULL;
}

void model_norm_set(Norm *n, const ModelConfig *cfg, NormKind kind) {
    NL_NONNULL(n, cfg);
    n->kind = kind, n->composite = cfg->composite, n->eps = NORM_EPS;
}

void model_attention_set(LayerAttention *a, const ModelConfig *cfg, bool causal) {
    NL_NONNULL(a, cfg);
    a->n_head = cfg->n_head, a->causal = causal, a->dropout = cfg->dropout, a->softcap = cfg->attn_softcap;
    a->qk_norm = cfg->qk_norm;
    if (cfg->qk_norm) model_norm_set(&a->q_norm, cfg, cfg->qk_norm_kind), model_norm_set(&a->k_norm, cfg, cfg->qk_norm_kind);
}
