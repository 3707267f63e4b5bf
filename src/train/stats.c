// The instruments (normlab/stats.h): per-group grad norms and update ratios, the norm inputs'
// statistics, and the loss-spike detector.
#include "normlab/check.h"
#include "normlab/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SAT2 2.0 // |alpha x + s| > 2: the saturation studies' threshold

static void observe_norm_input(void *ctx, const void *layer, const Tensor *x);
static void observe_attention(void *ctx, const AttentionSeen *a);
static void observe_logits(void *ctx, const LogitsSeen *z);

// Every kind of column, once: its name, what it is measured per, and what it says. The column table
// below names its columns from these rows; stats_families_json prints them (./train --registry).
enum { F_GRAD_NORM, F_UPDATE_RATIO, F_IN_RMS, F_IN_STD, F_IN_MAX, F_ALPHA, F_BETA, F_SAT, F_SLOPE, F_SAT2,
       F_SHIFT, F_ATTN_ENTROPY, F_ATTN_ENTROPY_MIN, F_ATTN_MAX_LOGIT, F_LOG_Z_MEAN, F_LOG_Z_MAX, F_COUNT };
typedef enum { PER_GROUP, PER_NORM, PER_ATTENTION, PER_MODEL } StatsPer;
static const char *const PER_NAMES[] = {"group", "norm", "attention", "model"};
static const struct StatsFamily {
    const char *name;
    StatsPer per; // the column: grad_norm.<group>, <norm>.in_rms, <block>.attn_entropy, log_z_max
    const char *help;
} FAMILIES[F_COUNT] = {
    [F_GRAD_NORM] = {"grad_norm", PER_GROUP, "the layer group's grad norm, before clipping"},
    [F_UPDATE_RATIO] = {"update_ratio", PER_GROUP, "|p_after - p_before| / |p| over the layer group"},
    [F_IN_RMS] = {"in_rms", PER_NORM, "rms of the norm's input"},
    [F_IN_STD] = {"in_std", PER_NORM, "standard deviation of the norm's input"},
    [F_IN_MAX] = {"in_max", PER_NORM, "largest |x| of the norm's input"},
    [F_ALPHA] = {"alpha", PER_NORM, "alpha (DyT, Derf: the scalar inside the squashing), effective"},
    [F_BETA] = {"beta", PER_NORM, "beta (DyISRU), effective"},
    [F_SAT] = {"sat", PER_NORM, "saturation: fraction of outputs past 0.99 of their bound"},
    [F_SLOPE] = {"slope", PER_NORM, "DyISRU's slope at 0, 1/sqrt(beta + eps)"},
    [F_SAT2] = {"sat2", PER_NORM, "saturation: fraction with |alpha x + s| > 2"},
    [F_SHIFT] = {"shift", PER_NORM, "shift (Derf)"},
    [F_ATTN_ENTROPY] = {"attn_entropy", PER_ATTENTION, "attention entropy, mean over heads (nats)"},
    [F_ATTN_ENTROPY_MIN] = {"attn_entropy_min", PER_ATTENTION, "attention entropy of the lowest head (nats)"},
    [F_ATTN_MAX_LOGIT] = {"attn_max_logit", PER_ATTENTION, "largest attention logit q.k / sqrt(hd)"},
    [F_LOG_Z_MEAN] = {"log_z_mean", PER_MODEL, "mean log Z of the output logits"},
    [F_LOG_Z_MAX] = {"log_z_max", PER_MODEL, "largest log Z of the output logits (what z-loss penalises)"},
};

// Appends the column of family f at place (a group, norm or block name; "" for the model's), or
// named place alone (f < 0: a model scalar). Only counts when s->cols is NULL.
static void column(TrainStats *s, int f, const char *place, const double *value, const bool *seen) {
    if (s->cols) {
        StatsColumn *c = &s->cols[s->n_cols];
        if (f < 0 || FAMILIES[f].per == PER_MODEL) snprintf(c->name, sizeof c->name, "%s", f < 0 ? place : FAMILIES[f].name);
        else if (FAMILIES[f].per == PER_GROUP) snprintf(c->name, sizeof c->name, "%s.%s", FAMILIES[f].name, place);
        else snprintf(c->name, sizeof c->name, "%s.%s", place, FAMILIES[f].name);
        c->value = value, c->seen = seen;
    }
    s->n_cols++;
}

// The column table, in the order the columns are written (docs/training.md lists them).
static void columns(TrainStats *s) {
    const Model *m = s->model;
    s->n_cols = 0;
    for (int g = 0; g < m->groups.n; g++) column(s, F_GRAD_NORM, m->groups.name[g], &s->gnorm[g], NULL);
    for (int g = 0; g < m->groups.n; g++) column(s, F_UPDATE_RATIO, m->groups.name[g], &s->uratio[g], NULL);
    for (int i = 0; i < m->norms.n; i++) {
        const NormInfo *k = NORM_TABLE[m->norm[i]->kind];
        StatsNorm *n = &s->norm[i];
        const bool *seen = &s->have_norms;
        const char *at = m->norms.name[i];
        column(s, F_IN_RMS, at, &n->rms, seen), column(s, F_IN_STD, at, &n->std, seen);
        column(s, F_IN_MAX, at, &n->max, seen);
        if (k->scalar) column(s, k->scalar == NORM_SCALAR_ALPHA ? F_ALPHA : F_BETA, at, &n->scalar, seen);
        if (k->saturates_at > 0) column(s, F_SAT, at, &n->sat, seen);
        else if (k->scalar == NORM_SCALAR_BETA) column(s, F_SLOPE, at, &n->slope, seen);
        if (k->saturates_at > 0) column(s, F_SAT2, at, &n->sat2, seen);
        if (k->shift) column(s, F_SHIFT, at, &n->shift, seen);
    }
    for (int l = 0; l < m->attention.n; l++) {
        const AttentionSeen *a = &s->attn[l];
        const char *at = m->attention.name[l];
        column(s, F_ATTN_ENTROPY, at, &a->entropy, &s->have_attn);
        column(s, F_ATTN_ENTROPY_MIN, at, &a->entropy_min, &s->have_attn);
        column(s, F_ATTN_MAX_LOGIT, at, &a->max_logit, &s->have_attn);
    }
    column(s, F_LOG_Z_MEAN, "", &s->logits.log_z_mean, &s->have_logits);
    column(s, F_LOG_Z_MAX, "", &s->logits.log_z_max, &s->have_logits);
    for (int i = 0; i < m->scalars.n; i++) column(s, -1, m->scalars.name[i], &s->scalar[i], NULL);
}

void stats_families_json(FILE *f) {
    NL_NONNULL(f);
    fputc('[', f);
    for (int i = 0; i < F_COUNT; i++)
        fprintf(f, "%s\n  {\"name\": \"%s\", \"per\": \"%s\", \"help\": \"%s\"}", i ? "," : "", FAMILIES[i].name,
                PER_NAMES[FAMILIES[i].per], FAMILIES[i].help);
    fputc(']', f);
}

int stats_init(TrainStats *s, const Model *m) {
    NL_NONNULL(s, m);
    *s = (TrainStats){.model = m};
    s->observer = (TapeObserver){.ctx = s, .norm_input = observe_norm_input, .attention = observe_attention,
                                 .logits = observe_logits};
    int groups = m->groups.n > 0 ? m->groups.n : 1;
    s->gnorm = calloc(groups, sizeof(double));
    s->uratio = calloc(groups, sizeof(double));
    s->before = malloc(m->params->numel * sizeof(nl_real));
    s->norm = calloc(m->norms.n + 1, sizeof *s->norm);
    s->attn = calloc(m->attention.n + 1, sizeof *s->attn);
    s->scalar = calloc(m->scalars.n + 1, sizeof(double));
    if (!s->gnorm || !s->uratio || !s->before || !s->norm || !s->attn || !s->scalar) return stats_free(s), -1;
    columns(s); // counts them
    if (!(s->cols = malloc((s->n_cols + 1) * sizeof *s->cols))) return stats_free(s), -1; // + 1: never 0 bytes
    columns(s);
    return 0;
}

void stats_free(TrainStats *s) {
    NL_NONNULL(s);
    free(s->gnorm), free(s->uratio), free(s->before), free(s->norm), free(s->attn), free(s->scalar), free(s->cols);
    *s = (TrainStats){0};
}

void stats_header(const TrainStats *s, FILE *f) {
    NL_NONNULL(s, f);
    for (int i = 0; i < s->n_cols; i++) fprintf(f, ",%s", s->cols[i].name);
}

// The statistics of one norm's input x (rows, C) and, for the surrogates, its scalar.
static void measure_norm(StatsNorm *out, const Norm *n, const Tensor *x) {
    const NormInfo *k = NORM_TABLE[n->kind];
    double a = n->scalar ? norm_scalar_effective(n->kind, n->scalar->data[0]) : NAN;
    double sh = n->shift ? n->shift->data[0] : 0, sat_at = k->saturates_at;
    size_t len = tensor_numel(x), sat = 0, sat2 = 0;
    double sum = 0, sq = 0, mx = 0;
    const nl_real *v = x->data;
#pragma omp parallel for simd schedule(static) reduction(+ : sum, sq, sat, sat2) reduction(max : mx)
    for (size_t i = 0; i < len; i++) {
        double e = v[i], u = fabs(a * e + sh);
        sum += e, sq += e * e;
        mx = fmax(mx, fabs(e));
        sat += u > sat_at, sat2 += u > SAT2;
    }
    double mean = sum / len;
    bool squashes = k->saturates_at > 0;
    *out = (StatsNorm){.rms = sqrt(sq / len), .std = sqrt(fmax(sq / len - mean * mean, 0)), .max = mx, .scalar = a,
                       .sat = squashes ? (double)sat / len : NAN, .sat2 = squashes ? (double)sat2 / len : NAN,
                       .slope = k->scalar == NORM_SCALAR_BETA && a + n->eps > 0 ? 1 / sqrt(a + n->eps) : NAN,
                       .shift = n->shift ? sh : NAN};
}

// The tape's observer, during the forward: a norm's input; the attention ops, in forward order;
// the loss's logits.
static void observe_norm_input(void *ctx, const void *layer, const Tensor *x) {
    TrainStats *s = ctx;
    const Model *m = s->model;
    for (int i = 0; i < m->norms.n; i++)
        if (layer == m->norm[i]) measure_norm(&s->norm[i], m->norm[i], x), s->n_seen++;
}
static void observe_attention(void *ctx, const AttentionSeen *a) {
    TrainStats *s = ctx;
    if (s->n_attn_seen < s->model->attention.n) s->attn[s->n_attn_seen] = *a;
    s->n_attn_seen++;
}
static void observe_logits(void *ctx, const LogitsSeen *z) {
    TrainStats *s = ctx;
    s->logits = *z, s->n_logits_seen++;
}

void stats_attach(TrainStats *s, Tape *t) {
    NL_NONNULL(s, t);
    s->n_seen = s->n_attn_seen = s->n_logits_seen = 0;
    t->observer = &s->observer;
}

void stats_measure(TrainStats *s, Tape *t) {
    NL_NONNULL(s, t);
    t->observer = NULL;
    const Model *m = s->model;
    const ParamSet *ps = m->params;
    for (int g = 0; g < m->groups.n; g++) s->gnorm[g] = 0;
    for (int i = 0; i < ps->n; i++) {
        const Param *p = &ps->list[i];
        const nl_real *gr = ps->grad + p->offset;
        double sq = 0;
        size_t len = tensor_numel(p->t);
#pragma omp parallel for simd schedule(static) reduction(+ : sq) if (len >= 65536)
        for (size_t j = 0; j < len; j++) sq += (double)gr[j] * gr[j];
        s->gnorm[m->param_group[i]] += sq;
    }
    for (int g = 0; g < m->groups.n; g++) s->gnorm[g] = sqrt(s->gnorm[g]);
    s->have_norms = s->n_seen == m->norms.n;
    s->have_attn = s->n_attn_seen == m->attention.n, s->have_logits = s->n_logits_seen == 1;
}

void stats_before_update(TrainStats *s) {
    NL_NONNULL(s);
    const ParamSet *ps = s->model->params;
    memcpy(s->before, ps->data, ps->numel * sizeof(nl_real));
}

void stats_after_update(TrainStats *s) {
    NL_NONNULL(s);
    const Model *m = s->model;
    const ParamSet *ps = m->params;
    int G = m->groups.n;
    double du[G > 0 ? G : 1], w[G > 0 ? G : 1];
    for (int g = 0; g < G; g++) du[g] = w[g] = 0;
    for (int i = 0; i < ps->n; i++) {
        const Param *p = &ps->list[i];
        const nl_real *a = ps->data + p->offset, *b = s->before + p->offset;
        double d2 = 0, w2 = 0;
        size_t len = tensor_numel(p->t);
#pragma omp parallel for simd schedule(static) reduction(+ : d2, w2) if (len >= 65536)
        for (size_t j = 0; j < len; j++) d2 += (double)(a[j] - b[j]) * (a[j] - b[j]), w2 += (double)b[j] * b[j];
        du[m->param_group[i]] += d2, w[m->param_group[i]] += w2;
    }
    for (int g = 0; g < G; g++) s->uratio[g] = w[g] > 0 ? sqrt(du[g] / w[g]) : NAN;
    for (int i = 0; i < m->scalars.n; i++) s->scalar[i] = m->scalar[i]->data[0];
}

void stats_write(const TrainStats *s, FILE *f, bool json) {
    NL_NONNULL(s, f);
    for (int i = 0; i < s->n_cols; i++) {
        const StatsColumn *c = &s->cols[i];
        double v = !c->seen || *c->seen ? *c->value : NAN;
        if (!json) fprintf(f, ",%.6g", v); // NaN and Inf as C prints them; JSON: null
        else if (isfinite(v)) fprintf(f, ", \"%s\": %.6g", c->name, v);
        else fprintf(f, ", \"%s\": null", c->name);
    }
}

void stats_write_empty(const TrainStats *s, FILE *f) {
    NL_NONNULL(s, f);
    for (int i = 0; i < s->n_cols; i++) fputc(',', f);
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bool stats_spike(TrainStats *s, double loss, double factor) {
    NL_NONNULL(s);
    bool spike = false;
    if (factor > 0 && s->n_window >= 10) {
        double sorted[SPIKE_WINDOW];
        memcpy(sorted, s->window, s->n_window * sizeof(double));
        qsort(sorted, s->n_window, sizeof(double), compare_double);
        double median = s->n_window % 2 ? sorted[s->n_window / 2]
                                        : 0.5 * (sorted[s->n_window / 2 - 1] + sorted[s->n_window / 2]);
        spike = loss > factor * median;
    }
    if (isfinite(loss)) {
        s->window[s->next] = loss;
        s->next = (s->next + 1) % SPIKE_WINDOW;
        if (s->n_window < SPIKE_WINDOW) s->n_window++;
    }
    return spike;
}
