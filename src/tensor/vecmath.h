// Vectorised libm: glibc's libmvec has SIMD versions of tanh, exp, erf and log1p (float and double,
// within 4 ulp per glibc's documentation), but its headers declare them only under -ffast-math.
// We declare them here, so loops marked `#pragma omp simd` call the vector versions while every
// other floating-point rule stays IEEE (no -ffast-math anywhere). Without libmvec (or with another
// compiler), the same loops call the scalar functions: slower, same results to a few ulp.
#pragma once
#ifdef _TGMATH_H
#error "include vecmath.h before <tgmath.h>: tgmath turns these names into macros"
#endif
#include <math.h>

#if defined(HAVE_LIBMVEC) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VECMATH_SIMD __attribute__((simd("notinbranch")))
VECMATH_SIMD float tanhf(float);
VECMATH_SIMD float expf(float);
VECMATH_SIMD float erff(float);
VECMATH_SIMD float log1pf(float);
VECMATH_SIMD double tanh(double);
VECMATH_SIMD double exp(double);
VECMATH_SIMD double erf(double);
VECMATH_SIMD double log1p(double);
#endif
