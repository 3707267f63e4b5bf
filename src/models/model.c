// The model table and the model description's storage (normlab/model.h).
#include "normlab/model.h"

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

int model_config_write(const ModelConfig *c, const char **meta, int *n, int max, char *buf, size_t buflen) {
    if (*n >= max) return -1;
    meta[2 * *n] = "model.norm", meta[2 * *n + 1] = NORM_TABLE[c->norm]->name, (*n)++;
    size_t half = buflen / 2; // the second table's strings after the first's
    return meta_fields_write(CONFIG_FIELDS, N_CONFIG_FIELDS, c, "model.", meta, n, max, buf, half) ||
                   meta_fields_write(ADDED_FIELDS, N_ADDED_FIELDS, c, "model.", meta, n, max, buf + half, buflen - half)
               ? -1
               : 0;
}

int model_config_read(const StFile *f, ModelConfig *c, char *err, size_t errlen) {
    const char *norm = st_meta(f, "model.norm");
    int k = norm ? norm_kind_parse(norm) : -1;
    if (k < 0) return snprintf(err, errlen, "the checkpoint's model.norm is %s", norm ? "not a norm" : "missing"), -1;
    *c = (ModelConfig){.norm = k};
    if (meta_fields_read(CONFIG_FIELDS, N_CONFIG_FIELDS, c, "model.", f, err, errlen)) return -1;
    return st_meta(f, "model.image_size") ? meta_fields_read(ADDED_FIELDS, N_ADDED_FIELDS, c, "model.", f, err, errlen) : 0;
}

int model_kind_parse(const char *name) {
    for (int k = 0; k < MODEL_COUNT; k++)
        if (!strcmp(MODEL_TABLE[k]->name, name)) return k;
    return -1;
}

int model_names_alloc(ModelNames *names, int n) {
    names->n = n;
    names->name = calloc(n > 0 ? n : 1, sizeof *names->name);
    return names->name ? 0 : -1;
}

void model_names_free(ModelNames *names) {
    free(names->name);
    *names = (ModelNames){0};
}

void model_describe_free(Model *m) {
    model_names_free(&m->groups), model_names_free(&m->norms), model_names_free(&m->attention);
    model_names_free(&m->scalars);
    free(m->param_group), free(m->norm), free(m->scalar);
    *m = (Model){0};
}
