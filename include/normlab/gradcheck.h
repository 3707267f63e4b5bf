// Gradient checking, for the framework's own ops and for yours: compares the tape's gradients with
// central finite differences, for every element of every input that needs grad.
//
// The scalar checked is loss = sum(r * y), with r fixed random weights (a plain sum(y) would hide
// errors that cancel across outputs, e.g. LayerNorm's whole input gradient). Each numeric derivative
// uses the five-point central stencil (error O(h^4)) in double precision over the outputs.
//
// Error metric, per element: |a - n| / max(|a|, |n|, floor), a analytic, n numeric. Elements whose
// magnitude matters are judged by relative error; the floor says which do not:
//   floor = max(1e-3 * the largest |a| or |n| in that tensor (1e-2 in float),  noise / tol)
// The first term: elements three (two) orders of magnitude below the tensor's largest gradient are
// judged relative to that fraction of the largest. The second: the stencil's own rounding noise,
// noise = 10 ulp * sum|r_i y_i| * 1.5 / h (1.5 = the stencil's weights (8+8+1+1)/12), so a gradient
// that finite differences cannot resolve (saturated tanh: 1e-30) passes when the two agree to within
// that noise. A non-finite analytic or numeric value always fails.
#pragma once
#include <stdbool.h>
#include <stdio.h>

#include "normlab/rng.h"
#include "normlab/tape.h"

// Builds the output y from the inputs on tape t. Called once with grad enabled (then backward), and
// again for every perturbed element. Must be deterministic given the inputs (pass opts.rng for
// random ops such as dropout: it is restored before every call).
typedef Tensor *(*GradcheckFn)(Tape *t, Tensor *const *inputs, void *ctx);

typedef struct GradcheckOpts {
    double h;          // step; 0 picks the default for the real type (1e-4 double, 1e-2 float)
    double tol;        // max error; 0 picks the default (1e-6 double, 1e-2 float)
    unsigned long seed; // seed of the weights r
    Rng *rng;          // optional: restored to its starting state before every call of f
    FILE *report;      // where failures are printed; NULL: stderr
    bool verbose;      // also print every element checked
} GradcheckOpts;

typedef struct GradcheckResult {
    double noise;       // the finite differences' rounding noise (see the metric above)
    double max_err;     // the largest error over all checked elements
    int worst_input;    // which input it was in, and at which element
    size_t worst_index;
    double worst_analytic, worst_numeric;
    size_t n_checked, n_failed;
} GradcheckResult;

// Checks d(sum(r * f(inputs)))/d(input) for every input that needs grad. The inputs' grads are
// overwritten. Uses t's arena above its current top and gives the space back. Returns 0 when every
// element passes, 1 otherwise (with a report line per failing element, up to 10 per input).
int gradcheck(Tape *t, GradcheckFn f, void *ctx, Tensor *const *inputs, int n_inputs,
              const GradcheckOpts *opts, GradcheckResult *result);

// The default tolerance for the real type the library was built with.
double gradcheck_default_tol(void);
