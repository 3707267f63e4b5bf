// The outlier experiment's computations (see outlier_experiment.h).
#include "outlier_experiment.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int outlier_sample_read(const char *path, double *out, int max, char *err) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, 200, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char line[512];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '#' || *p == '\0') continue;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        while (isspace((unsigned char)*end)) end++;
        if (end == p || (*end && *end != '#') || errno || !isfinite(v)) {
            snprintf(err, 200, "%s:%d: not a finite number: %.40s", path, lineno, p);
            fclose(f);
            return -1;
        }
        if (n == max) {
            snprintf(err, 200, "%s: more than %d values", path, max);
            fclose(f);
            return -1;
        }
        out[n++] = v;
    }
    fclose(f);
    if (n < 2) {
        snprintf(err, 200, "%s: needs at least 2 values, found %d", path, n);
        return -1;
    }
    return n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void outlier_sample_draw(Rng *rng, double sigma, int n, double *out) {
    for (int i = 0; i < n; i++) out[i] = sigma * rng_normal(rng);
    qsort(out, n, sizeof *out, cmp_double);
}

// LN (population variance) or RMSNorm of v, without eps, in place.
static void apply_target(OutlierTarget target, double *v, int C) {
    double mean = 0, sq = 0;
    if (target == TARGET_LN) {
        for (int k = 0; k < C; k++) mean += v[k];
        mean /= C;
    }
    for (int k = 0; k < C; k++) sq += (v[k] - mean) * (v[k] - mean);
    double inv = 1 / sqrt(sq / C);
    for (int k = 0; k < C; k++) v[k] = (v[k] - mean) * inv;
}

int outlier_points_make(const double *sorted, int C, int n_outliers, double step,
                        OutlierTarget target, OutlierPoints *p) {
    int half = OUTLIER_STEPS * n_outliers;
    // k outliers walking out together: each one's output tends to sqrt((C-k)/k) through LN and
    // sqrt(C/k) through RMSNorm (sqrt(C-1) and sqrt(C) for the paper's single outlier)
    double ko = n_outliers;
    *p = (OutlierPoints){.n = 2 * half, .bound = sqrt(target == TARGET_LN ? (C - ko) / ko : C / ko)};
    p->x = malloc(2 * half * sizeof(double));
    p->y = malloc(2 * half * sizeof(double));
    double *v = malloc(2 * C * sizeof(double)); // the layer's output, then its input
    if (!p->x || !p->y || !v) {
        free(v);
        outlier_points_free(p);
        return -1;
    }
    double *x = v + C;
    int k = 0;
    for (int s = 1; s <= OUTLIER_STEPS; s++) {
        memcpy(v, sorted, C * sizeof(double));
        for (int o = 0; o < n_outliers; o++) v[C - 1 - o] += step * s;
        memcpy(x, v, C * sizeof(double));
        apply_target(target, v, C);
        for (int o = 0; o < n_outliers; o++, k++) {
            p->x[k] = x[C - 1 - o];
            p->y[k] = v[C - 1 - o];
            p->x[half + k] = -p->x[k]; // the point reflection
            p->y[half + k] = -p->y[k];
        }
    }
    free(v);
    return 0;
}

void outlier_points_free(OutlierPoints *p) {
    free(p->x);
    free(p->y);
    p->x = p->y = NULL;
}

double outlier_model(FitKind kind, double param, double bound, double x) {
    return kind == FIT_DYT ? bound * tanh(param * x) : bound * x / sqrt(param + x * x);
}

// f and its first and second derivatives in the parameter:
//   DyT:    f = K tanh(a x),         f_a = K x (1 - t^2),       f_aa = -2 K x^2 t (1 - t^2)
//   DyISRU: f = K x q^(-1/2),        f_b = -K x q^(-3/2) / 2,   f_bb = 3 K x q^(-5/2) / 4,  q = b + x^2
static void model_derivs(FitKind kind, double param, double K, double x, double *f, double *fp,
                         double *fpp) {
    if (kind == FIT_DYT) {
        double t = tanh(param * x);
        *f = K * t;
        *fp = K * x * (1 - t * t);
        *fpp = -2 * K * x * x * t * (1 - t * t);
    } else {
        double q = param + x * x;
        *f = K * x / sqrt(q);
        *fp = -0.5 * K * x / (q * sqrt(q));
        *fpp = 0.75 * K * x / (q * q * sqrt(q));
    }
}

// S(p) = sum_i (f(x_i; p) - y_i)^2 and its first two derivatives:
//   S' = 2 sum r f_p,   S'' = 2 sum (f_p^2 + r f_pp)
static double sse(FitKind kind, const OutlierPoints *pt, double param, double *d1, double *d2,
                  double *gn) {
    double s = 0, g = 0, h = 0, j = 0;
    for (int i = 0; i < pt->n; i++) {
        double f, fp, fpp;
        model_derivs(kind, param, pt->bound, pt->x[i], &f, &fp, &fpp);
        double r = f - pt->y[i];
        s += r * r;
        g += 2 * r * fp;
        h += 2 * (fp * fp + r * fpp);
        j += 2 * fp * fp;
    }
    if (d1) *d1 = g, *d2 = h, *gn = j;
    return s;
}

static bool param_ok(FitKind kind, const OutlierPoints *pt, double param) {
    if (!isfinite(param)) return false;
    if (kind == FIT_DYT) return true;
    for (int i = 0; i < pt->n; i++) // beta + x^2 must stay positive at every point
        if (param + pt->x[i] * pt->x[i] <= 0) return false;
    return true;
}

Fit outlier_fit(FitKind kind, const OutlierPoints *pt, double start) {
    Fit fit = {.kind = kind, .param = start};
    double p = start;
    for (int it = 1; it <= 200; it++) {
        double g, h, gn;
        double s = sse(kind, pt, p, &g, &h, &gn);
        // Newton where the curvature is positive, Gauss-Newton (always a descent step) otherwise
        double step = -g / (h > 0 ? h : gn);
        double t = 1, next = p + step;
        while (t > 1e-12 && (!param_ok(kind, pt, next) || sse(kind, pt, next, NULL, NULL, NULL) > s)) {
            t /= 2;
            next = p + t * step;
        }
        fit.iterations = it;
        if (t <= 1e-12 || next == p) break; // no step improves S: converged to rounding
        p = next;
    }
    double g, h, gn;
    sse(kind, pt, p, &g, &h, &gn);
    fit.param = p;
    fit.grad = g;
    double mar = 0;
    for (int i = 0; i < pt->n; i++) mar += fabs(outlier_model(kind, p, pt->bound, pt->x[i]) - pt->y[i]);
    fit.mar = mar / pt->n;
    return fit;
}
