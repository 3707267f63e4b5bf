// The seed paper's outlier experiment as functions: build the (x, y) points an outlier traces
// through a normalization layer, and fit DyT and DyISRU to them by least squares. Everything is in
// double, whatever the library's real type: the fits are reported to 6+ significant digits and the
// RMSNorm self-check is held to rounding level.
#pragma once
#include <stddef.h>

#include "normlab/rng.h"

enum { OUTLIER_STEPS = 9 }; // S = 1..9

// Which layer the outliers pass through (no eps in either, as in the paper).
typedef enum { TARGET_LN, TARGET_RMSNORM } OutlierTarget;

typedef struct OutlierPoints {
    int n;            // 2 * OUTLIER_STEPS * n_outliers: the points and their reflections
    double *x, *y;    // (n)
    double bound;     // the fitted curves' scale, the outliers' limit: sqrt((C-k)/k) LN, sqrt(C/k) RMSNorm
} OutlierPoints;

typedef enum { FIT_DYT, FIT_DYISRU } FitKind;

typedef struct Fit {
    FitKind kind;
    double param;      // alpha (DyT) or beta (DyISRU)
    double mar;        // mean absolute residual over the points
    int iterations;
    double grad;       // d(sum of squared residuals)/d(param) at the end: ~0 when converged
} Fit;

// Reads one number per line ('#' starts a comment; blank lines skipped). Returns the count, or -1
// with a message in err (up to 200 bytes) when the file is missing or a line is not a number.
int outlier_sample_read(const char *path, double *out, int max, char *err);
// n values of sigma * N(0,1), sorted ascending.
void outlier_sample_draw(Rng *rng, double sigma, int n, double *out);

// For S = 1..9: add step * S to the n_outliers largest values of the sorted sample (the paper:
// step 5, one outlier), apply the target layer to the whole modified vector, and record (x, y) of
// every modified element; then add the point reflections (-x, -y). p's arrays are malloc'ed
// (outlier_points_free). Returns 0, or -1 when out of memory.
int outlier_points_make(const double *sorted, int C, int n_outliers, double step,
                        OutlierTarget target, OutlierPoints *p);
void outlier_points_free(OutlierPoints *p);

// Unweighted least squares over the points for f(x) = bound tanh(alpha x) or
// bound x / sqrt(beta + x^2), from `start`, by Newton's method on the sum of squares with a
// Gauss-Newton fallback and backtracking, until the step no longer changes the parameter.
Fit outlier_fit(FitKind kind, const OutlierPoints *p, double start);
double outlier_model(FitKind kind, double param, double bound, double x);
