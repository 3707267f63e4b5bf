// The drop-in test's arithmetic (dropin_fit.h).
#include "dropin_fit.h"

#include <math.h>
#include <stdlib.h>

int dropin_points(const nl_real *x, size_t rows, int C, int c0, int c1, DropinTarget target, double eps,
                  OutlierPoints *p) {
    size_t n = rows * (size_t)(c1 - c0);
    *p = (OutlierPoints){.n = (int)n, .bound = sqrt(target == DROPIN_LN ? C - 1.0 : C)};
    p->x = malloc(n * sizeof(double)), p->y = malloc(n * sizeof(double));
    if (!p->x || !p->y) return outlier_points_free(p), -1;
    for (size_t r = 0; r < rows; r++) {
        const nl_real *v = x + r * C;
        double mean = 0, sq = 0;
        for (int c = 0; c < C; c++) mean += v[c];
        mean = target == DROPIN_LN ? mean / C : 0;
        for (int c = 0; c < C; c++) sq += (v[c] - mean) * (v[c] - mean);
        double inv = 1 / sqrt(sq / C + eps);
        for (int c = c0; c < c1; c++) {
            size_t k = r * (size_t)(c1 - c0) + (size_t)(c - c0);
            p->x[k] = v[c], p->y[k] = (v[c] - mean) * inv;
        }
    }
    return 0;
}

static int compare_abs(const void *a, const void *b) {
    double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
    return (x > y) - (x < y);
}

DropinFit dropin_fit(FitKind kind, const OutlierPoints *p) {
    double sq = 0;
    for (int i = 0; i < p->n; i++) sq += p->x[i] * p->x[i];
    double slope_at_0 = 1 / sqrt(sq / p->n); // a layer's slope is about 1 / the input's rms
    double start = kind == FIT_DYT ? slope_at_0 / p->bound : pow(p->bound / slope_at_0, 2);
    DropinFit d = {.fit = outlier_fit(kind, p, start)};
    // the tail: the 1% of pairs with the largest |x|
    double *sorted = malloc(p->n * sizeof(double));
    if (!sorted) return d.mar_tail = d.tail_from = NAN, d;
    for (int i = 0; i < p->n; i++) sorted[i] = p->x[i];
    qsort(sorted, p->n, sizeof(double), compare_abs);
    int tail = p->n / 100 > 0 ? p->n / 100 : 1;
    d.tail_from = fabs(sorted[p->n - tail]);
    free(sorted);
    double sum = 0;
    int count = 0;
    for (int i = 0; i < p->n; i++)
        if (fabs(p->x[i]) >= d.tail_from)
            sum += fabs(outlier_model(kind, d.fit.param, p->bound, p->x[i]) - p->y[i]), count++;
    d.mar_tail = sum / count;
    return d;
}
