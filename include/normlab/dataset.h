// Character-level text datasets: a file (plain or gzip, read through zlib) becomes a vocabulary of
// its sorted unique bytes and a token array; the first 90% is the train split, the rest val.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "normlab/data.h"
#include "normlab/rng.h"

typedef struct Dataset {
    int32_t *tokens;      // (n): the whole text, one token per byte
    size_t n, n_train;    // train: tokens [0, n_train); val: [n_train, n)
    int vocab_size;
    unsigned char vocab[256]; // token id -> byte, ascending
    int16_t id_of[256];       // byte -> token id, or -1
} Dataset;

// The most bytes a text may hold: its windows are drawn with 32-bit numbers (and a machine's memory
// may bound it lower: an eighth of it, for the text and its tokens).
#define DATASET_MAX_BYTES ((size_t)UINT32_MAX)

// Loads path (gzip or plain: zlib tells them apart; a regular file only, read no further than the
// limit). Returns 0, or -1 with a message in err (errlen bytes) that says what is wrong: unreadable,
// not a regular file, corrupt or truncated gzip, empty, too large, out of memory.
int dataset_load(Dataset *d, const char *path, char *err, size_t errlen);
void dataset_free(Dataset *d);
// A vocabulary without text (for a checkpoint: sampling needs only the vocabulary).
void dataset_set_vocab(Dataset *d, const unsigned char *bytes, int n);

// Where a dataset argument points: an existing file as given; otherwise a bare name (no '/') is
// looked up as NAME.txt.gz, then NAME.txt, in data_dir. Writes the path into out and returns 0, or
// -1 with a message in err saying where it looked and how to get the data.
int dataset_resolve(const char *arg, const char *data_dir, char *out, size_t outlen, char *err,
                    size_t errlen);

// B sequences of T tokens at random offsets in the split, and the same shifted by one (targets).
// The split must hold more than T tokens (dataset_check_context). idx, targets: (B*T)
void dataset_batch(const Dataset *d, bool val, int B, int T, Rng *rng, int32_t *idx, int32_t *targets);
// 0 when both splits hold more than T tokens, else -1 with a message in err.
int dataset_check_context(const Dataset *d, int T, char *err, size_t errlen);

// The text as a session's data: windows of T tokens and the next T (normlab/data.h); its evaluation
// split is val, read as every non-overlapping window. d must outlive it, and hold more than T tokens
// in each split (dataset_check_context).
DataSource dataset_source(Dataset *d, int T);

// Encodes s; returns its length, or -1 when a character is not in the vocabulary (its position in
// *bad).
int dataset_encode(const Dataset *d, const char *s, int32_t *out, int max, int *bad);
