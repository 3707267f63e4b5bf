// Element-wise unary kernels, each forward beside its backward. Large arrays are split between the
// threads (from KERNEL_PARALLEL_MIN elements, kernels.h). <tgmath.h> picks the float or double
// libm function from the argument type, so the same lines serve both builds; `omp simd` loops call
// libmvec's vector versions where available (vecmath.h).
#include "vecmath.h" // before <tgmath.h>

#include <tgmath.h>

#include "kernels.h"

// y = tanh(x);  dy/dx = sech^2(x) (tanh_derivative, kernels.h)
void tanh_forward(nl_real *y, const nl_real *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = tanh(x[i]);
}
void tanh_backward(nl_real *dx, const nl_real *dy, const nl_real *x, const nl_real *y, size_t n) {
    (void)y;
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * tanh_derivative(x[i]);
}

// y = erf(x);  dy/dx = (2 / sqrt(pi)) exp(-x^2) (erf_derivative, kernels.h)
void erf_forward(nl_real *y, const nl_real *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = erf(x[i]);
}
void erf_backward(nl_real *dx, const nl_real *dy, const nl_real *x, const nl_real *y, size_t n) {
    (void)y;
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * erf_derivative(x[i]);
}

// y = 0.5 x (1 + erf(x / sqrt 2));  dy/dx = Phi(x) + x phi(x), Phi/phi the normal cdf/pdf
static const nl_real INV_SQRT2 = (nl_real)0.70710678118654752440;
static const nl_real INV_SQRT_2PI = (nl_real)0.39894228040143267794;
void gelu_forward(nl_real *y, const nl_real *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = (nl_real)0.5 * x[i] * (1 + erf(x[i] * INV_SQRT2));
}
// Past |x| = GELU_PDF_ZERO, phi(x) would underflow (exp(-x^2/2) < 1e-38 in float) and is taken as 0:
// x phi(x) is then below 1e-35. exp of such arguments leaves the vector exp's fast path (10x slower
// per element), which large activations late in training reach.
#ifdef NL_REAL_IS_DOUBLE
#define GELU_PDF_ZERO 37.0
#else
#define GELU_PDF_ZERO 13.0f
#endif
// dx += dy gelu'(x), or with `write`, dx = dy gelu'(x) (a fresh grad: tape.h). gelu'(x) = Phi(x)
// + x phi(x), with Phi(x) the forward's output over x (y = x Phi(x)), not erf again: the slope costs
// one exp and a division where it cost an erf and an exp. At x = 0, where y / x is 0 / 0, Phi is 1/2.
static inline nl_real gelu_pdf(nl_real x) {
    nl_real ax = fabs(x), xc = real_clamp_above(ax, GELU_PDF_ZERO);
    return real_keep_if(INV_SQRT_2PI * exp((nl_real)-0.5 * xc * xc), ax < GELU_PDF_ZERO);
}
static inline nl_real gelu_cdf(nl_real x, nl_real y) {
    bool zero = x == 0;
    return y / (x + real_keep_if(1, zero)) + real_keep_if((nl_real)0.5, zero);
}
// In chunks, phi in one loop and the rest in another (phi stays in L1 between them): inside a loop
// that also divides and combines, every live vector was saved and restored around each call of the
// vector exp; alone, the exp's loop keeps none. The same values, 16-20% less time.
enum { GELU_CHUNK = 512 };
void gelu_backward(nl_real *dx, const nl_real *dy, const nl_real *x, const nl_real *y, bool write, size_t n) {
#pragma omp parallel for schedule(static) if (n >= KERNEL_PARALLEL_MIN)
    for (size_t c = 0; c < n; c += GELU_CHUNK) {
        size_t m = n - c < GELU_CHUNK ? n - c : GELU_CHUNK;
        const nl_real *xc = x + c, *yc = y + c, *dyc = dy + c;
        nl_real *dxc = dx + c, pdf[GELU_CHUNK];
#pragma omp simd
        for (size_t i = 0; i < m; i++) pdf[i] = gelu_pdf(xc[i]);
        // NOLINTNEXTLINE(bugprone-branch-clone): = and += (clang-tidy compares the two simd loops as alike)
        if (write) {
#pragma omp simd
            for (size_t i = 0; i < m; i++) dxc[i] = dyc[i] * (gelu_cdf(xc[i], yc[i]) + xc[i] * pdf[i]);
        } else {
#pragma omp simd
            for (size_t i = 0; i < m; i++) dxc[i] += dyc[i] * (gelu_cdf(xc[i], yc[i]) + xc[i] * pdf[i]);
        }
    }
}

// y = log(1 + exp(x)), as max(x,0) + log1p(exp(-|x|)) so exp never overflows;
// dy/dx = sigmoid(x), as exp(x - y) (= 1 / (1 + exp(-x)), also overflow-free)
void softplus_forward(nl_real *y, const nl_real *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = fmax(x[i], (nl_real)0) + log1p(exp(-fabs(x[i])));
}
void softplus_backward(nl_real *dx, const nl_real *dy, const nl_real *x, const nl_real *y, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * exp(x[i] - y[i]);
}

// y = 1 / sqrt(x);  dy/dx = -x^(-3/2) / 2 = -y^3 / 2
void rsqrt_forward(nl_real *y, const nl_real *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = 1 / sqrt(x[i]);
}
void rsqrt_backward(nl_real *dx, const nl_real *dy, const nl_real *x, const nl_real *y, size_t n) {
    (void)x;
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * (nl_real)-0.5 * y[i] * y[i] * y[i];
}
