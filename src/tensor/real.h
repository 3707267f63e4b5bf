// The real type of every tensor: float by default, double with `meson configure -Dreal=double`.
// The double build exists for gradient checks with tight tolerances; both builds run the same code.
#pragma once

#ifdef REAL_IS_DOUBLE
typedef double real;
#define REAL_NAME "double"
#define REAL_EPSILON 2.220446049250313e-16
#else
typedef float real;
#define REAL_NAME "float"
#define REAL_EPSILON 1.1920929e-07
#endif
