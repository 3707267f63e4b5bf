// safetensors files: an 8-byte little-endian header length, a JSON header (per tensor: dtype, shape,
// data_offsets; plus a "__metadata__" object of strings), then the raw little-endian data.
// Writing is atomic (temp file, fsync, rename): a crash leaves the old file or the new, never half.
// Reading validates the whole header (types, shapes, offsets within the file, sizes that match)
// before anything is trusted, so a corrupt or truncated file is an error message, never a crash.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "normlab/real.h"

typedef enum StDtype { ST_F32, ST_F64, ST_I32, ST_I64, ST_DTYPE_COUNT } StDtype;
extern const char *const ST_DTYPE_NAMES[ST_DTYPE_COUNT]; // "F32", "F64", "I32", "I64"

#define ST_MAX_DIMS 4
#define ST_REAL (sizeof(nl_real) == 4 ? ST_F32 : ST_F64)

typedef struct StEntry { // a tensor to write
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
} StEntry;

// Writes entries (data in the given order) and metadata pairs meta[0..2*n_meta) = key, value.
// Atomic: the data goes to st_temp_path(path), is fsynced, then renamed over path, so path holds
// the old file or the new one, never a part. Returns 0, or -1 with a message in err.
// The temp file st_write uses for path in this process ("<path>.tmp.<pid>"): a signal handler can
// remove it when the process must leave in the middle of a write.
void st_temp_path(const char *path, char *out, size_t len);
int st_write(const char *path, const StEntry *entries, int n, const char *const *meta, int n_meta,
             char *err, size_t errlen);

typedef struct StTensor { // a tensor found in a file
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const unsigned char *data;
    size_t nbytes;
} StTensor;

typedef struct StFile {
    unsigned char *buf; // the whole file
    size_t size;
    const unsigned char *data; // after the header
    size_t data_len;
    void *header; // the parsed JSON (cJSON)
} StFile;

int st_open(StFile *f, const char *path, char *err, size_t errlen); // 0, or -1 with a message
void st_close(StFile *f);
int st_find(const StFile *f, const char *name, StTensor *out); // 0, or -1 when absent
const char *st_meta(const StFile *f, const char *key);        // NULL when absent
// Copies a float tensor (F32 or F64) of exactly numel elements into out, converting to real.
// Returns 0, or -1 when the dtype is not a float type or the size differs.
int st_read_reals(const StTensor *t, nl_real *out, size_t numel);
int64_t st_numel(const StTensor *t);
