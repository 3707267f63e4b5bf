// A session's checkpoints and --dump-step (normlab/session.h). A checkpoint holds the model under
// its parameters' names, the optimizer's state blocks as optimizer.<state>.* (named by its row:
// AdamW's moments m and v, SGD's momentum m), and in __metadata__ the caller's options, the step,
// the random streams and the vocabulary.
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/check.h"
#include "normlab/checkpoint.h"
#include "normlab/session.h"
#include "normlab/train.h"

#define FORMAT "normlab-checkpoint-1"
#define MAX_META 160 // metadata pairs: the caller's, the model's config and the session's

static void hex_bytes(const unsigned char *b, int n, char *out) {
    for (int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = 0;
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

// The session's config as metadata (session.<field>; the optimizer by name, session.optim), beside
// the model's (model.kind, model.<field>): a checkpoint says how to rebuild what wrote it.
#define FIELD_(key, type) {#key, type, offsetof(SessionConfig, key)}
static const MetaField SESSION_FIELDS[] = {
    FIELD_(batch_size, META_INT), FIELD_(block_size, META_INT), FIELD_(grad_accum, META_INT),
    FIELD_(seed, META_LONG), FIELD_(grad_clip, META_DOUBLE), FIELD_(eval_iters, META_LONG),
    FIELD_(optim.lr, META_DOUBLE), FIELD_(optim.min_lr, META_DOUBLE), FIELD_(optim.warmup, META_INT),
    FIELD_(optim.decay_steps, META_INT), FIELD_(optim.beta1, META_DOUBLE), FIELD_(optim.beta2, META_DOUBLE),
    FIELD_(optim.eps, META_DOUBLE), FIELD_(optim.weight_decay, META_DOUBLE),
};
#define N_SESSION_FIELDS (int)(sizeof SESSION_FIELDS / sizeof SESSION_FIELDS[0])
// Added after checkpoints existed: read when present (a checkpoint without it trained without Muon).
static const MetaField SESSION_ADDED_FIELDS[] = {FIELD_(optim.muon_lr, META_DOUBLE)};

// The model's and the session's configs appended to meta from *n on (strings in buf).
static int configs_write(const Session *s, const char **meta, int *n, char *buf, size_t buflen) {
    if (*n + 2 > MAX_META) return -1;
    meta[2 * *n] = "model.kind", meta[2 * *n + 1] = s->model->ops->name, (*n)++;
    meta[2 * *n] = "session.optim", meta[2 * *n + 1] = OPTIM_TABLE[s->cfg.optim.kind].name, (*n)++;
    size_t half = buflen / 2, rest = buflen - half;
    if (s->model->config && model_config_write(s->model->config, meta, n, MAX_META, buf, half)) return -1;
    return meta_fields_write(SESSION_FIELDS, N_SESSION_FIELDS, &s->cfg, "session.", meta, n, MAX_META, buf + half,
                             rest * 3 / 4) ||
                   meta_fields_write(SESSION_ADDED_FIELDS, 1, &s->cfg, "session.", meta, n, MAX_META,
                                     buf + half + rest * 3 / 4, rest - rest * 3 / 4)
               ? -1
               : 0;
}

int session_checkpoint_config(const StFile *f, int *kind, ModelConfig *mc, SessionConfig *sc, char *err,
                              size_t errlen) {
    NL_NONNULL(f, kind, mc, sc, err);
    const char *name = st_meta(f, "model.kind"), *optim = st_meta(f, "session.optim");
    if (!name)
        return snprintf(err, errlen, "the checkpoint does not record its model's config (it was written before "
                        "checkpoints did: ./train --steps 0 --resume IT --save NEW rewrites it with them)"), -1;
    if ((*kind = model_kind_parse(name)) < 0)
        return snprintf(err, errlen, "the checkpoint's model '%s' is not one this build has", name), -1;
    *sc = (SessionConfig){.optim.kind = OPTIM_COUNT};
    for (int k = 0; optim && k < OPTIM_COUNT; k++)
        if (!strcmp(OPTIM_TABLE[k].name, optim)) sc->optim.kind = k;
    if (sc->optim.kind == OPTIM_COUNT) return snprintf(err, errlen, "the checkpoint's session.optim is not an optimizer"), -1;
    return model_config_read(f, mc, err, errlen) ||
                   meta_fields_read(SESSION_FIELDS, N_SESSION_FIELDS, sc, "session.", f, err, errlen) ||
                   (st_meta(f, "session.optim.muon_lr") &&
                    meta_fields_read(SESSION_ADDED_FIELDS, 1, sc, "session.", f, err, errlen))
               ? -1
               : 0;
}

// "optimizer.<state>." for the optimizer's state block j
static void state_prefix(const OptimInfo *oi, int j, char *out) { sprintf(out, "optimizer.%.40s.", oi->state[j]); }

// The caller's pairs, then the session's (their values in the strings the caller passes).
static int meta_join(const char **out, const char *const *meta, int n_meta, const char *const *own, int n_own) {
    if (n_meta + n_own > MAX_META) return -1;
    memcpy(out, meta, 2 * n_meta * sizeof *out);
    memcpy(out + 2 * n_meta, own, 2 * n_own * sizeof *out);
    return n_meta + n_own;
}

// The spike detector's window as text, exactly (hex floats): "next n v0 v1 ...", so that a resumed run
// counts the spikes an uninterrupted one counts (its log's spikes column, row for row).
static void spike_window_format(const TrainStats *st, char *out, size_t len) {
    size_t k = (size_t)snprintf(out, len, "%d %d", st->next, st->n_window);
    for (int i = 0; i < st->n_window && k < len; i++) k += (size_t)snprintf(out + k, len - k, " %a", st->window[i]);
}

// Reads it back; 0, or -1 when malformed. Absent (a checkpoint from before): an empty window.
static int spike_window_parse(TrainStats *st, const char *text) {
    if (!text) return 0;
    char *end;
    long next = strtol(text, &end, 10), n = strtol(end, &end, 10);
    if (next < 0 || next >= SPIKE_WINDOW || n < 0 || n > SPIKE_WINDOW) return -1;
    for (long i = 0; i < n; i++) {
        char *at = end;
        st->window[i] = strtod(at, &end);
        if (end == at || !isfinite(st->window[i])) return -1;
    }
    st->next = (int)next, st->n_window = (int)n;
    return *end ? -1 : 0;
}

int session_save(const Session *s, const char *path, const char *const *meta, int n_meta, char *err, size_t errlen) {
    NL_NONNULL(s, path, err);
    const ParamSet *ps = s->model->params;
    const OptimInfo *oi = &OPTIM_TABLE[s->opt.cfg.kind];
    int n = (1 + oi->n_state) * ps->n;
    StEntry *e = malloc(n * sizeof *e);
    char *names = malloc((size_t)n * 128);
    if (!e || !names) return free(e), free(names), snprintf(err, errlen, "out of memory writing %s", path), -1;
    int k = params_entries(ps, ps->data, "", e, names);
    for (int j = 0; j < oi->n_state; j++) {
        char prefix[64];
        state_prefix(oi, j, prefix);
        k += params_entries(ps, s->opt.state[j], prefix, e + k, names + (size_t)k * 128);
    }
    char step[32], optim_steps[32], vocab[513], rd[65], rdo[65];
    snprintf(step, sizeof step, "%ld", s->step);
    snprintf(optim_steps, sizeof optim_steps, "%ld", s->opt.steps); // fewer than step after skips
    vocab[0] = '\0'; // a text's symbols (the images' labels need none)
    if (s->data.text) hex_bytes(s->data.text->vocab, s->data.text->vocab_size, vocab);
    rng_format(&s->data_rng, rd);
    rng_format(&s->dropout_rng, rdo);
    char counts[64], window[SPIKE_WINDOW * 26 + 32];
    snprintf(counts, sizeof counts, "%ld %ld", s->spikes, s->skipped);
    spike_window_format(&s->stats, window, sizeof window);
    const char *own[] = {"format", FORMAT, "step", step, "optim_steps", optim_steps, "vocab", vocab,
                         "rng_data", rd, "rng_dropout", rdo, "real", NL_REAL_NAME, "spikes_skipped", counts,
                         "spike_window", window};
    const char *all[2 * MAX_META];
    char buf[8192];
    int m = meta_join(all, meta, n_meta, own, (int)(sizeof own / sizeof own[0]) / 2), rc = -1;
    if (m < 0 || configs_write(s, all, &m, buf, sizeof buf)) snprintf(err, errlen, "%s: more than %d metadata entries", path, MAX_META);
    else rc = st_write(path, e, k, all, m, err, errlen);
    free(e), free(names);
    return rc;
}

int session_checkpoint_open(StFile *f, const char *path, char *err, size_t errlen) {
    NL_NONNULL(f, path, err);
    if (st_open(f, path, err, errlen)) return -1;
    const char *fmt = st_meta(f, "format");
    if (!fmt || strcmp(fmt, FORMAT)) {
        snprintf(err, errlen, "%s is a safetensors file but not a checkpoint of this program "
                 "(format '%s', expected '%s')", path, fmt ? fmt : "none", FORMAT);
        return st_close(f), -1;
    }
    return 0;
}

int session_checkpoint_check(const StFile *f, const ModelInfo *mi, const ModelConfig *cfg, OptimKind optim, char *err,
                             size_t errlen) {
    NL_NONNULL(f, mi, cfg, err);
    int n = mi->param_specs(cfg, NULL);
    ParamSpec *specs = n > 0 ? malloc(n * sizeof *specs) : NULL;
    if (!specs) return snprintf(err, errlen, "out of memory (or a model without parameters)"), -1;
    mi->param_specs(cfg, specs);
    int rc = specs_check(f, specs, n, "", err, errlen);
    for (int j = 0; !rc && j < OPTIM_TABLE[optim].n_state; j++) {
        char prefix[64];
        state_prefix(&OPTIM_TABLE[optim], j, prefix);
        rc = specs_check(f, specs, n, prefix, err, errlen);
    }
    free(specs);
    return rc;
}

// The step, the streams and the optimizer's step count (absent in older checkpoints: no step was
// skipped). 0, or -1 with err.
static int restore_counters(Session *s, const StFile *f, char *err, size_t errlen) {
    const char *step = st_meta(f, "step"), *os = st_meta(f, "optim_steps");
    char *end;
    if (!step || (s->step = strtol(step, &end, 10), *end) || s->step < 0 ||
        rng_parse(st_meta(f, "rng_data"), &s->data_rng) || rng_parse(st_meta(f, "rng_dropout"), &s->dropout_rng))
        return snprintf(err, errlen, "the checkpoint's step, vocabulary or random state is missing or malformed"), -1;
    s->opt.steps = os ? strtol(os, &end, 10) : s->step;
    if (os && (*end || s->opt.steps < 0 || s->opt.steps > s->step))
        return snprintf(err, errlen, "the checkpoint's optim_steps '%s' is malformed", os), -1;
    const char *counts = st_meta(f, "spikes_skipped"); // absent before these were kept: from 0
    if (counts && (sscanf(counts, "%ld %ld", &s->spikes, &s->skipped) != 2 || s->spikes < 0 || s->skipped < 0))
        return snprintf(err, errlen, "the checkpoint's spikes_skipped '%.40s' is malformed", counts), -1;
    if (spike_window_parse(&s->stats, st_meta(f, "spike_window")))
        return snprintf(err, errlen, "the checkpoint's spike_window is malformed"), -1;
    return 0;
}

// The vocabulary: the text's must be the checkpoint's; a session without text takes it. Data that
// is not a text has none.
static int restore_vocab(Session *s, const StFile *f, char *err, size_t errlen) {
    Dataset *text = s->data.text;
    if (!text) return 0;
    const char *vocab = st_meta(f, "vocab");
    unsigned char v[256];
    int nv = vocab ? unhex_bytes(vocab, v, 256) : -1;
    if (nv < 0) return snprintf(err, errlen, "the checkpoint's step, vocabulary or random state is missing or malformed"), -1;
    if (s->model->config && nv != s->model->config->vocab_size) // the outputs are one per symbol
        return snprintf(err, errlen, "the checkpoint's vocabulary has %d symbols, its model %d", nv,
                        s->model->config->vocab_size), -1;
    if (text->n == 0) return dataset_set_vocab(text, v, nv), s->data.classes = nv, 0;
    if (text->vocab_size != nv || memcmp(text->vocab, v, nv))
        return snprintf(err, errlen, "the dataset's vocabulary (%d symbols) differs from the checkpoint's (%d): it "
                        "was trained on other text", text->vocab_size, nv), -1;
    return 0;
}

// What a block read from a checkpoint must mean, not only its shape: every value finite (a diverged
// model is not resumed: it would only stop again), and a second moment never negative. 0, or -1
// naming the tensor and the element.
static int params_check(const ParamSet *ps, const nl_real *block, const char *prefix, bool nonneg, char *err,
                        size_t errlen) {
    for (int i = 0; i < ps->n; i++) {
        const Param *p = &ps->list[i];
        for (size_t k = 0, n = tensor_numel(p->t); k < n; k++) {
            double v = block[p->offset + k];
            if (isfinite(v) && (!nonneg || v >= 0)) continue;
            return snprintf(err, errlen, "%s%s holds %g at element %zu: %s", prefix, p->spec.name, v, k,
                            isfinite(v) ? "a second moment is never negative (the file was altered)"
                                        : "a diverged model cannot go on (resume an earlier checkpoint)"), -1;
        }
    }
    return 0;
}

int session_restore(Session *s, const StFile *f, char *err, size_t errlen) {
    NL_NONNULL(s, f, err);
    ParamSet *ps = s->model->params;
    if (params_read(f, ps, ps->data, "", err, errlen) || params_check(ps, ps->data, "", false, err, errlen)) return -1;
    const OptimInfo *oi = &OPTIM_TABLE[s->opt.cfg.kind];
    for (int j = 0; j < oi->n_state; j++) {
        char prefix[64];
        state_prefix(oi, j, prefix);
        if (params_read(f, ps, s->opt.state[j], prefix, err, errlen) ||
            params_check(ps, s->opt.state[j], prefix, oi->nonneg >> j & 1, err, errlen))
            return -1;
    }
    if (restore_counters(s, f, err, errlen) || restore_vocab(s, f, err, errlen)) return -1;
    return 0;
}

// ---- --dump-step ---------------------------------------------------------------------------------
int session_dump_step(Session *s, const char *path, const char *const *meta, int n_meta, char *err, size_t errlen) {
    NL_NONNULL(s, path, err);
    ParamSet *ps = s->model->params;
    const OptimInfo *oi = &OPTIM_TABLE[s->opt.cfg.kind];
    int n_state = oi->n_state < OPTIM_MAX_STATE ? oi->n_state : OPTIM_MAX_STATE;
    int per = 3 + 2 * n_state; // before, grad., after., and the optimizer's state before and after.
    nl_real *before = malloc(ps->numel * sizeof(nl_real)), *grads = malloc(ps->numel * sizeof(nl_real));
    StEntry *e = malloc((per * ps->n + 3) * sizeof *e);
    char *names = malloc((size_t)per * ps->n * 128);
    nl_real *state_before[OPTIM_MAX_STATE] = {0};
    int rc = -1;
    if (!before || !grads || !e || !names) {
        snprintf(err, errlen, "out of memory for the dump");
        goto done;
    }
    memcpy(before, ps->data, ps->numel * sizeof(nl_real));
    for (int j = 0; j < n_state; j++) {
        if (!(state_before[j] = malloc(ps->numel * sizeof(nl_real)))) {
            snprintf(err, errlen, "out of memory for the dump");
            goto done;
        }
        memcpy(state_before[j], s->opt.state[j], ps->numel * sizeof(nl_real));
    }
    char optim_steps[32]; // the updates taken before this one (AdamW's bias correction)
    snprintf(optim_steps, sizeof optim_steps, "%ld", s->opt.steps);
    double lr = optim_lr(&s->opt.cfg, s->step), gnorm, loss;
    int B = s->cfg.batch_size, T = s->data.width, TT = s->data.target_width;
    data_draw(&s->data, false, B, &s->data_rng, s->idx, s->targets);
    Batch b = {.rows = B, .width = T, .target_width = TT, .tokens = s->idx, .targets = s->targets};
    TrainStep st = {.model = s->model, .opt = &s->opt, .tape = &s->train.tape, .dropout_rng = &s->dropout_rng,
                    .grad_clip = s->cfg.grad_clip};
    if (train_forward_backward(&st, &b, s->step, &loss, &gnorm, err, errlen)) goto done; // grads before clipping
    memcpy(grads, ps->grad, ps->numel * sizeof(nl_real));
    train_update(&st, gnorm, lr);

    int k = params_entries(ps, before, "", e, names);
    k += params_entries(ps, grads, "grad.", e + k, names + (size_t)k * 128);
    k += params_entries(ps, ps->data, "after.", e + k, names + (size_t)k * 128);
    for (int j = 0; j < n_state; j++) { // optimizer.<state>.<param> before, after.optimizer.<...> after
        char prefix[64], after[80];
        state_prefix(oi, j, prefix);
        snprintf(after, sizeof after, "after.%s", prefix);
        k += params_entries(ps, state_before[j], prefix, e + k, names + (size_t)k * 128);
        k += params_entries(ps, s->opt.state[j], after, e + k, names + (size_t)k * 128);
    }
    float loss32 = (float)loss;
    e[k++] = (StEntry){"batch.idx", ST_I32, 2, {B, T}, s->idx};
    e[k++] = (StEntry){"batch.targets", ST_I32, 2, {B, TT}, s->targets};
    e[k++] = (StEntry){"loss", ST_F32, 1, {1}, &loss32};
    const OptimConfig *oc = &s->opt.cfg;
    char v[6][40];
    const double values[6] = {lr, oc->weight_decay, oc->beta1, oc->beta2, oc->eps, s->cfg.grad_clip};
    for (int i = 0; i < 6; i++) snprintf(v[i], 40, "%.17g", values[i]);
    const char *own[] = {"lr", v[0], "weight_decay", v[1], "beta1", v[2], "beta2", v[3], "adam_eps", v[4],
                         "grad_clip", v[5], "optim_steps", optim_steps};
    const char *all[2 * MAX_META];
    char buf[8192];
    int m = meta_join(all, meta, n_meta, own, 7);
    if (m < 0 || configs_write(s, all, &m, buf, sizeof buf)) snprintf(err, errlen, "%s: more than %d metadata entries", path, MAX_META);
    else rc = st_write(path, e, k, all, m, err, errlen);
done:
    for (int j = 0; j < n_state; j++) free(state_before[j]);
    free(before), free(grads), free(e), free(names);
    return rc;
}
