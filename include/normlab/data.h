// What a session's batches come from, for any model: rows of int32 inputs and targets drawn from a
// training split, and an evaluation split read in a fixed order. A text (normlab/dataset.h) gives
// windows of T token ids and the next ids; labelled images (normlab/idx.h) give each image's pixels
// (0..255) and its label. The model reads them as a Batch (normlab/model.h).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "normlab/rng.h"

struct Dataset;
struct DataSource;

typedef struct DataOps {
    // B rows drawn at random (rng) from the training split (eval false) or the evaluation split:
    // inputs (B, width), targets (B, target_width)
    void (*draw)(const struct DataSource *d, bool eval, int B, Rng *rng, int32_t *inputs, int32_t *targets);
    // Rows [first, first + n) of the evaluation split in its fixed order (first + n <= eval_rows)
    void (*rows)(const struct DataSource *d, size_t first, int n, int32_t *inputs, int32_t *targets);
} DataOps;

typedef struct DataSource {
    const DataOps *ops;
    const void *self;
    const char *eval_name;       // the evaluation split's name in messages ("val", "test")
    int width, target_width;     // one row's inputs and targets
    int classes;                 // the values a target takes (the text's vocabulary, 10 labels)
    int units_per_row;           // what speed counts in a row (a text's T tokens, one image)
    const char *unit;            // its short name ("tok", "img")
    size_t eval_rows;            // the evaluation split's rows (a whole-split evaluation reads them all)
    bool eval_whole;             // every evaluation reads the whole split (small splits: the images')
    const char *const *labels;   // (classes) the classes' names, or NULL (a text's)
    struct Dataset *text;        // the text, when it is one (sampling; a checkpoint's vocabulary,
                                 //   which a session restores into a text that has none)
    const struct DataSource *test; // a split read once, whole, at the end of a run and never
                                   //   during it (an image set's test split), or NULL
} DataSource;

static inline void data_draw(const DataSource *d, bool eval, int B, Rng *rng, int32_t *inputs, int32_t *targets) {
    d->ops->draw(d, eval, B, rng, inputs, targets);
}
static inline void data_rows(const DataSource *d, size_t first, int n, int32_t *inputs, int32_t *targets) {
    d->ops->rows(d, first, n, inputs, targets);
}
