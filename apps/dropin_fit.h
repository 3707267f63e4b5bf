// The drop-in test's arithmetic: from a normalization layer's recorded inputs, the (x, y) pairs it
// maps each element to (y before the layer's weight and bias), and the one-parameter DyT and DyISRU
// curves fitted to them by least squares (the outlier experiment's fit, outlier_experiment.h), with
// their residuals overall and on the largest inputs. In double throughout.
#pragma once
#include <stddef.h>

#include "normlab/real.h"
#include "outlier_experiment.h"

// Which layer produced the targets: LN (x - mean) / sqrt(var + eps) or RMSNorm x / sqrt(ms + eps),
// per row of C channels. The fitted curves' bound is the layer's: sqrt(C - 1) LN, sqrt(C) RMSNorm.
typedef enum { DROPIN_LN, DROPIN_RMSNORM } DropinTarget;

// The pairs of channels [c0, c1) of every row of x (rows, C): x and the target layer's output (eps
// as given). p's arrays are malloc'ed (outlier_points_free). Returns 0, or -1 when out of memory.
int dropin_points(const nl_real *x, size_t rows, int C, int c0, int c1, DropinTarget target, double eps,
                  OutlierPoints *p);

typedef struct DropinFit {
    Fit fit;           // param: alpha (DyT) or beta (DyISRU), fitted with bound = p->bound; mar: over every pair
    double mar_tail;   // over the 1% of pairs with the largest |x| (at least one)
    double tail_from;  // the smallest |x| in that tail
} DropinFit;

// Fits kind to the pairs from a start taken from the data (the slope at 0 matching 1/rms(x)).
DropinFit dropin_fit(FitKind kind, const OutlierPoints *p);
