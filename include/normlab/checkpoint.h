// Parameter blocks to and from safetensors entries: a block with the parameter set's layout (the
// values, their grads, an optimizer moment) is written as one tensor per parameter, named
// prefix + parameter name, and read back by the same names with their shapes checked.
#pragma once
#include "normlab/params.h"
#include "normlab/safetensors.h"

// Appends one entry per parameter of ps, with data from block (ps->data, ps->grad or a moment),
// named prefix + name. names needs n * 128 bytes. Returns the number of entries appended.
int params_entries(const ParamSet *ps, const nl_real *block, const char *prefix, StEntry *out,
                   char *names);
// Reads every parameter of ps named prefix + name from f into block. Returns 0, or -1 with a
// message naming the first tensor that is missing or has the wrong shape or dtype.
int params_read(const StFile *f, const ParamSet *ps, nl_real *block, const char *prefix, char *err,
                size_t errlen);
// Checks, without reading any data, that f holds each of specs[0..n) as prefix + name with its shape
// and a float dtype: a resume checks the file against the model's table before allocating the model,
// so a corrupt header cannot make the program allocate a model the file does not hold. Returns 0, or
// -1 with the same messages as params_read.
int specs_check(const StFile *f, const ParamSpec *specs, int n, const char *prefix, char *err, size_t errlen);
