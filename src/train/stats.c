// The instruments (normlab/stats.h): per-group grad norms and update ratios, the norm inputs'
// statistics, and the loss-spike detector.
#include "normlab/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// |tanh(z)| > 0.99 exactly when |z| > atanh(0.99); |erf(u)| > 0.99 when |u| > erfinv(0.99)
#define SAT_Z 2.6466524123622461
#define SAT_U_ERF 1.8213863677184496
#define SAT2 2.0 // |alpha x + s| > 2: the saturation studies' threshold

static void observe_norm_input(void *ctx, const void *layer, const Tensor *x);
static void observe_attention(void *ctx, const AttentionSeen *a);
static void observe_logits(void *ctx, const LogitsSeen *z);

int stats_init(TrainStats *s, const Gpt *m) {
    const ParamSet *ps = &m->params;
    int L = m->cfg.n_layer;
    *s = (TrainStats){.model = m, .n_groups = L + 2, .n_pos = 2 * L + 1, .n_layer = L};
    s->observer = (TapeObserver){.ctx = s, .norm_input = observe_norm_input, .attention = observe_attention,
                                 .logits = observe_logits};
    s->group_of = malloc(ps->n * sizeof(int));
    s->group_name = malloc(s->n_groups * sizeof *s->group_name);
    s->gnorm = malloc(s->n_groups * sizeof(double));
    s->uratio = malloc(s->n_groups * sizeof(double));
    s->before = malloc(ps->numel * sizeof(nl_real));
    s->norm = malloc(s->n_pos * sizeof *s->norm); // NOLINT(bugprone-sizeof-expression): an array of pointers
    s->pos_name = malloc(s->n_pos * sizeof *s->pos_name);
    s->attn = malloc(L * sizeof *s->attn);
    double **per_pos[] = {&s->rms, &s->std, &s->max, &s->scalar, &s->shift, &s->derived, &s->sat2};
    bool ok = s->group_of && s->group_name && s->gnorm && s->uratio && s->before && s->norm && s->pos_name &&
              s->attn;
    for (size_t k = 0; k < sizeof per_pos / sizeof *per_pos; k++) ok &= (*per_pos[k] = malloc(s->n_pos * sizeof(double))) != NULL;
    if (!ok) return stats_free(s), -1;
    for (int i = 0; i < ps->n; i++) s->group_of[i] = 1 + m->param_block[i]; // emb 0, h<i> 1 + i, ln_f L + 1
    snprintf(s->group_name[0], STATS_NAME, "emb");
    for (int l = 0; l < L; l++) {
        snprintf(s->group_name[1 + l], STATS_NAME, "h%d", l);
        s->norm[2 * l] = &m->blocks[l].ln_1, s->norm[2 * l + 1] = &m->blocks[l].ln_2;
        snprintf(s->pos_name[2 * l], STATS_NAME, "h%d.ln_1", l);
        snprintf(s->pos_name[2 * l + 1], STATS_NAME, "h%d.ln_2", l);
    }
    snprintf(s->group_name[L + 1], STATS_NAME, "ln_f");
    s->norm[2 * L] = &m->ln_f;
    snprintf(s->pos_name[2 * L], STATS_NAME, "ln_f");
    return 0;
}

void stats_free(TrainStats *s) {
    free(s->group_of), free(s->group_name), free(s->gnorm), free(s->uratio), free(s->before);
    free(s->norm), free(s->pos_name), free(s->attn);
    free(s->rms), free(s->std), free(s->max), free(s->scalar), free(s->shift), free(s->derived), free(s->sat2);
    *s = (TrainStats){0};
}

// The name of a position's derived column, or NULL for ln and rmsnorm.
static const char *derived_name(NormKind k) {
    static const char *const names[] = {[NORM_SCALAR_NONE] = NULL, [NORM_SCALAR_ALPHA] = "sat",
                                        [NORM_SCALAR_BETA] = "slope"};
    return names[NORM_TABLE[k]->scalar];
}

// DyT kinds and Derf: the squashing's argument alpha x + s has a sat2 column.
static bool has_sat2(NormKind k) { return NORM_TABLE[k]->scalar == NORM_SCALAR_ALPHA; }

void stats_header(const TrainStats *s, FILE *f) {
    NormKind k = s->model->cfg.norm;
    for (int g = 0; g < s->n_groups; g++) fprintf(f, ",grad_norm.%s", s->group_name[g]);
    for (int g = 0; g < s->n_groups; g++) fprintf(f, ",update_ratio.%s", s->group_name[g]);
    for (int p = 0; p < s->n_pos; p++) {
        const char *n = s->pos_name[p];
        fprintf(f, ",%s.in_rms,%s.in_std,%s.in_max", n, n, n);
        if (NORM_TABLE[k]->scalar) fprintf(f, ",%s.%s,%s.%s", n, norm_scalar_name(k), n, derived_name(k));
        if (has_sat2(k)) fprintf(f, ",%s.sat2", n);
        if (NORM_TABLE[k]->shift) fprintf(f, ",%s.shift", n);
    }
    for (int l = 0; l < s->n_layer; l++) fprintf(f, ",h%d.attn_entropy,h%d.attn_entropy_min,h%d.attn_max_logit", l, l, l);
    fprintf(f, ",log_z_mean,log_z_max");
    if (s->model->emb_scale) fprintf(f, ",emb_scale");
}

// The statistics of one norm's input x (rows, C) and, for the surrogates, its scalar.
static void measure_position(TrainStats *s, int p, const Tensor *x) {
    NormKind k = s->model->cfg.norm;
    const Norm *n = s->norm[p];
    double a = n->scalar ? norm_scalar_effective(k, n->scalar->data[0]) : NAN;
    double sh = n->shift ? n->shift->data[0] : 0, sat_at = n->shift ? SAT_U_ERF : SAT_Z;
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
    s->rms[p] = sqrt(sq / len);
    s->std[p] = sqrt(fmax(sq / len - mean * mean, 0));
    s->max[p] = mx;
    s->scalar[p] = a;
    s->shift[p] = n->shift ? sh : NAN;
    s->derived[p] = !n->scalar ? NAN : NORM_TABLE[k]->scalar == NORM_SCALAR_ALPHA ? (double)sat / len
                                     : a + n->eps > 0 ? 1 / sqrt(a + n->eps) : NAN;
    s->sat2[p] = has_sat2(k) ? (double)sat2 / len : NAN;
}

// The tape's observer, during the forward: a norm's input; the attention ops, one per block in
// order; the loss's logits.
static void observe_norm_input(void *ctx, const void *layer, const Tensor *x) {
    TrainStats *s = ctx;
    for (int p = 0; p < s->n_pos; p++)
        if (layer == s->norm[p]) measure_position(s, p, x), s->n_seen++;
}
static void observe_attention(void *ctx, const AttentionSeen *a) {
    TrainStats *s = ctx;
    if (s->n_attn_seen < s->n_layer) s->attn[s->n_attn_seen] = *a;
    s->n_attn_seen++;
}
static void observe_logits(void *ctx, const LogitsSeen *z) {
    TrainStats *s = ctx;
    s->logits = *z, s->n_logits_seen++;
}

void stats_attach(TrainStats *s, Tape *t) {
    s->n_seen = s->n_attn_seen = s->n_logits_seen = 0;
    t->observer = &s->observer;
}

void stats_measure(TrainStats *s, Tape *t) {
    t->observer = NULL;
    const ParamSet *ps = &s->model->params;
    for (int g = 0; g < s->n_groups; g++) s->gnorm[g] = 0;
    for (int i = 0; i < ps->n; i++) {
        const Param *p = &ps->list[i];
        const nl_real *gr = ps->grad + p->offset;
        double sq = 0;
        size_t len = tensor_numel(p->t);
#pragma omp parallel for simd schedule(static) reduction(+ : sq) if (len >= 65536)
        for (size_t j = 0; j < len; j++) sq += (double)gr[j] * gr[j];
        s->gnorm[s->group_of[i]] += sq;
    }
    for (int g = 0; g < s->n_groups; g++) s->gnorm[g] = sqrt(s->gnorm[g]);
    s->have_norms = s->n_seen == s->n_pos;
    s->have_attn = s->n_attn_seen == s->n_layer, s->have_logits = s->n_logits_seen == 1;
}

void stats_before_update(TrainStats *s) {
    const ParamSet *ps = &s->model->params;
    memcpy(s->before, ps->data, ps->numel * sizeof(nl_real));
}

void stats_after_update(TrainStats *s) {
    const ParamSet *ps = &s->model->params;
    double du[s->n_groups], w[s->n_groups];
    for (int g = 0; g < s->n_groups; g++) du[g] = w[g] = 0;
    for (int i = 0; i < ps->n; i++) {
        const Param *p = &ps->list[i];
        const nl_real *a = ps->data + p->offset, *b = s->before + p->offset;
        double d2 = 0, w2 = 0;
        size_t len = tensor_numel(p->t);
#pragma omp parallel for simd schedule(static) reduction(+ : d2, w2) if (len >= 65536)
        for (size_t j = 0; j < len; j++) d2 += (double)(a[j] - b[j]) * (a[j] - b[j]), w2 += (double)b[j] * b[j];
        du[s->group_of[i]] += d2, w[s->group_of[i]] += w2;
    }
    for (int g = 0; g < s->n_groups; g++) s->uratio[g] = w[g] > 0 ? sqrt(du[g] / w[g]) : NAN;
}

// One value: CSV field or JSON member (NaN and Inf as JSON null; CSV as C prints them).
static void put(FILE *f, bool json, const char *name, const char *suffix, double v) {
    if (!json) fprintf(f, ",%.6g", v);
    else if (isfinite(v)) fprintf(f, ", \"%s%s\": %.6g", name, suffix, v);
    else fprintf(f, ", \"%s%s\": null", name, suffix);
}

void stats_write(const TrainStats *s, FILE *f, bool json) {
    char key[2 * STATS_NAME];
    NormKind k = s->model->cfg.norm;
    for (int g = 0; g < s->n_groups; g++) put(f, json, "grad_norm.", s->group_name[g], s->gnorm[g]);
    for (int g = 0; g < s->n_groups; g++) put(f, json, "update_ratio.", s->group_name[g], s->uratio[g]);
    for (int p = 0; p < s->n_pos; p++) {
        bool have = s->have_norms;
        snprintf(key, sizeof key, "%s.", s->pos_name[p]);
        put(f, json, key, "in_rms", have ? s->rms[p] : NAN);
        put(f, json, key, "in_std", have ? s->std[p] : NAN);
        put(f, json, key, "in_max", have ? s->max[p] : NAN);
        if (!NORM_TABLE[k]->scalar) continue;
        put(f, json, key, norm_scalar_name(k), have ? s->scalar[p] : NAN);
        put(f, json, key, derived_name(k), have ? s->derived[p] : NAN);
        if (has_sat2(k)) put(f, json, key, "sat2", have ? s->sat2[p] : NAN);
        if (NORM_TABLE[k]->shift) put(f, json, key, "shift", have ? s->shift[p] : NAN);
    }
    for (int l = 0; l < s->n_layer; l++) {
        const AttentionSeen *a = &s->attn[l];
        snprintf(key, sizeof key, "h%d.", l);
        put(f, json, key, "attn_entropy", s->have_attn ? a->entropy : NAN);
        put(f, json, key, "attn_entropy_min", s->have_attn ? a->entropy_min : NAN);
        put(f, json, key, "attn_max_logit", s->have_attn ? a->max_logit : NAN);
    }
    put(f, json, "log_z_mean", "", s->have_logits ? s->logits.log_z_mean : NAN);
    put(f, json, "log_z_max", "", s->have_logits ? s->logits.log_z_max : NAN);
    if (s->model->emb_scale) put(f, json, "emb_scale", "", s->model->emb_scale->data[0]);
}

void stats_write_empty(const TrainStats *s, FILE *f) {
    NormKind k = s->model->cfg.norm;
    int per_pos = 3 + (NORM_TABLE[k]->scalar ? 2 : 0) + has_sat2(k) + NORM_TABLE[k]->shift;
    int cols = 2 * s->n_groups + s->n_pos * per_pos + 3 * s->n_layer + 2 + (s->model->emb_scale != NULL);
    for (int i = 0; i < cols; i++) fputc(',', f);
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bool stats_spike(TrainStats *s, double loss, double factor) {
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
