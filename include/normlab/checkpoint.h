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

// A struct's fields as checkpoint metadata: one row per field (its key, type and offset), so that a
// config is written and read back by one table. Keys are written as prefix + key.
typedef enum { META_INT, META_LONG, META_BOOL, META_DOUBLE } MetaType;
typedef struct MetaField {
    const char *key;
    MetaType type;
    size_t offset; // offsetof(the struct, the field)
} MetaField;
// Appends a (key, value) pair per field of the struct at base to meta from index *n on (at most
// max pairs in all), the strings written into buf (buflen bytes). 0, or -1 when meta or buf is full.
int meta_fields_write(const MetaField *fields, int nf, const void *base, const char *prefix, const char **meta,
                      int *n, int max, char *buf, size_t buflen);
// Reads every field from f's metadata into the struct at base. 0, or -1 with a message naming the
// first key that is missing or not a value of its type.
int meta_fields_read(const MetaField *fields, int nf, void *base, const char *prefix, const StFile *f, char *err,
                     size_t errlen);
