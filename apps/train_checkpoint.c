// Checkpoints: the model under nanoGPT's names, the optimizer's state blocks as optimizer.<state>.*
// (named by its row: AdamW's moments m and v, SGD's momentum m), and in __metadata__ the options, the
// step, the random streams and the vocabulary.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/checkpoint.h"
#include "train.h"

#define FORMAT "normlab-checkpoint-1"

static void hex_bytes(const unsigned char *b, int n, char *out) {
    for (int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static int unhex_bytes(const char *s, unsigned char *out, int max) {
    int n = 0;
    unsigned v;
    for (; s[0] && s[1] && n < max; s += 2, n++) {
        if (sscanf(s, "%2x", &v) != 1) return -1;
        out[n] = (unsigned char)v;
    }
    return *s ? -1 : n;
}

static void rng_format(const Rng *g, char *out) {
    sprintf(out, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, g->s[0], g->s[1], g->s[2], g->s[3]);
}

static int rng_parse(const char *s, Rng *g) {
    if (!s || strlen(s) != 64) return -1;
    for (int i = 0; i < 4; i++) {
        char part[17] = {0};
        memcpy(part, s + 16 * i, 16);
        char *end;
        g->s[i] = strtoull(part, &end, 16);
        if (*end) return -1;
    }
    return 0;
}

// "optimizer.<state>." for the optimizer's state block j
static void state_prefix(const OptimInfo *oi, int j, char *out) { sprintf(out, "optimizer.%.40s.", oi->state[j]); }

int checkpoint_write(const Run *r, const char *path, char *err, size_t errlen) {
    const ParamSet *ps = &r->gpt.params;
    const OptimInfo *oi = &OPTIM_TABLE[r->opt.cfg.kind];
    int n = (1 + oi->n_state) * ps->n;
    StEntry *e = malloc(n * sizeof *e);
    char *names = malloc((size_t)n * 128);
    if (!e || !names) {
        free(e), free(names);
        return snprintf(err, errlen, "out of memory writing %s", path), -1;
    }
    int k = params_entries(ps, ps->data, "", e, names);
    for (int j = 0; j < oi->n_state; j++) {
        char prefix[64];
        state_prefix(oi, j, prefix);
        k += params_entries(ps, r->opt.state[j], prefix, e + k, names + (size_t)k * 128);
    }

    const char *meta[2 * 64];
    char buf[8192], step[32], optim_steps[32], vocab[513], rd[65], rdo[65];
    int m = 0;
    options_to_meta(&r->o, meta, &m, buf, sizeof buf);
    snprintf(step, sizeof step, "%ld", r->step);
    snprintf(optim_steps, sizeof optim_steps, "%ld", r->opt.steps); // fewer than step after skips
    hex_bytes(r->data.vocab, r->data.vocab_size, vocab);
    rng_format(&r->data_rng, rd);
    rng_format(&r->dropout_rng, rdo);
    const char *extra[] = {"format", FORMAT, "step", step, "optim_steps", optim_steps, "vocab", vocab, "rng_data", rd,
                           "rng_dropout", rdo, "real", NL_REAL_NAME, "dataset", r->data_path};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) meta[2 * m + i] = extra[i];
    m += (int)(sizeof extra / sizeof extra[0]) / 2;
    int rc = st_write(path, e, k, meta, m, err, errlen);
    free(e), free(names);
    return rc;
}

static const char *meta_lookup(void *f, const char *key) { return st_meta(f, key); }

int checkpoint_open(Run *r, const char *path, StFile *f, char *err, size_t errlen) {
    if (st_open(f, path, err, errlen)) return -1;
    const char *fmt = st_meta(f, "format");
    if (!fmt || strcmp(fmt, FORMAT)) {
        snprintf(err, errlen, "%s is a safetensors file but not a checkpoint of this program "
                 "(format '%s', expected '%s')", path, fmt ? fmt : "none", FORMAT);
        return st_close(f), -1;
    }
    char why[512];
    if (options_from_meta(&r->o, meta_lookup, f, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", path, why);
        return st_close(f), -1;
    }
    return 0;
}

int checkpoint_check_model(const StFile *f, const GptConfig *cfg, OptimKind optim, char *err, size_t errlen) {
    int n = gpt_param_specs(cfg, NULL);
    ParamSpec *specs = malloc(n * sizeof *specs);
    if (!specs) return snprintf(err, errlen, "out of memory"), -1;
    gpt_param_specs(cfg, specs);
    StTensor t;
    int rc = specs_check(f, specs, n, "", err, errlen);
    for (int j = 0; !rc && j < OPTIM_TABLE[optim].n_state; j++) {
        char prefix[64];
        state_prefix(&OPTIM_TABLE[optim], j, prefix);
        rc = specs_check(f, specs, n, prefix, err, errlen);
    }
    if (!rc && !cfg->emb_scale && st_find(f, "transformer.emb_scale", &t) == 0) // it would be dropped unseen
        rc = -1, snprintf(err, errlen, "the checkpoint's model has an embedding scale: resume it without --emb-scale=off");
    free(specs);
    return rc;
}

int checkpoint_restore(Run *r, const StFile *f, char *err, size_t errlen) {
    ParamSet *ps = &r->gpt.params;
    if (params_read(f, ps, ps->data, "", err, errlen)) return -1;
    const OptimInfo *oi = &OPTIM_TABLE[r->opt.cfg.kind];
    for (int j = 0; j < oi->n_state; j++) {
        char prefix[64];
        state_prefix(oi, j, prefix);
        if (params_read(f, ps, r->opt.state[j], prefix, err, errlen)) return -1;
    }
    const char *step = st_meta(f, "step"), *vocab = st_meta(f, "vocab");
    char *end;
    unsigned char v[256];
    int nv = vocab ? unhex_bytes(vocab, v, 256) : -1;
    if (!step || (r->step = strtol(step, &end, 10), *end) || r->step < 0 || nv != r->gpt.cfg.vocab_size ||
        rng_parse(st_meta(f, "rng_data"), &r->data_rng) || rng_parse(st_meta(f, "rng_dropout"), &r->dropout_rng))
        return snprintf(err, errlen, "the checkpoint's step, vocabulary or random state is missing or malformed"), -1;
    const char *os = st_meta(f, "optim_steps"); // absent in older checkpoints: no step was skipped
    r->opt.steps = os ? strtol(os, &end, 10) : r->step;
    if (os && (*end || r->opt.steps < 0 || r->opt.steps > r->step))
        return snprintf(err, errlen, "the checkpoint's optim_steps '%s' is malformed", os), -1;
    if (r->have_text) { // the text's vocabulary must be the one the model was trained with
        if (r->data.vocab_size != nv || memcmp(r->data.vocab, v, nv))
            return snprintf(err, errlen, "the dataset's vocabulary (%d symbols) differs from the "
                            "checkpoint's (%d): it was trained on other text", r->data.vocab_size, nv), -1;
    } else {
        dataset_set_vocab(&r->data, v, nv);
    }
    return 0;
}
