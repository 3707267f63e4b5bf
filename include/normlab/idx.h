// Labelled images in IDX files (the MNIST format; Fashion-MNIST's four gzipped files): an images
// file (magic 0x00000803: unsigned bytes, 3 dims n, rows, cols, then n*rows*cols pixels) and a
// labels file (magic 0x00000801: n, then n labels), plain or gzip (zlib tells them apart). The
// reader checks magic numbers, dimensions, sizes, the two counts and every label, and names the
// file and what is wrong.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "normlab/data.h"

#define IDX_MAX_SIDE 4096 // rows and cols above this are refused (no such image set exists)

typedef struct IdxImages {
    uint8_t *pixels; // (n, rows * cols), raster order
    uint8_t *labels; // (n), each < classes
    size_t n;
    int rows, cols;
} IdxImages;

// Parses an images file's and a labels file's bytes (already read whole) as one split, labels in
// [0, classes). 0, or -1 with a message in err naming image_name or label_name and what is wrong.
int idx_parse(IdxImages *im, const uint8_t *images, size_t n_images, const uint8_t *labels, size_t n_labels,
              int classes, const char *image_name, const char *label_name, char *err, size_t errlen);
// Reads and parses the two files (plain or gzip). 0, or -1 with a message in err.
int idx_load(IdxImages *im, const char *images_path, const char *labels_path, int classes, char *err, size_t errlen);
void idx_free(IdxImages *im);

// An image classification set: its training split, a validation split held out of the training
// images (the last sixth of them: 10,000 of Fashion-MNIST's 60,000; evaluations during a run read it
// whole, and settings are chosen on it), its test split (read once, at the end of a run, to report a
// chosen setting), and its classes' names.
typedef struct ImageSet {
    IdxImages train, val, test; // val: a view into the training file's images, not its own memory
    int classes;
    const char *const *labels; // (classes)
    char name[64];             // "fashion-mnist"
    DataSource test_source;    // the test split as data (idx_source's .test)
} ImageSet;

#define IDX_VAL_SHARE 6 // the last 1/IDX_VAL_SHARE of the training images are the validation split

// Fashion-MNIST's classes, in label order.
extern const char *const IDX_FASHION_LABELS[10];

// Where a dataset argument names an image set: "fashion-mnist" (its files in data_dir/fashion-mnist/
// or in the Debian package's /usr/share/datasets/fashion-mnist/; 1 whether or not they are there:
// loading says), or a folder with train-images-idx3-ubyte(.gz) in it. 1 and the folder in dir when
// arg is one, 0 when it is not an image set (a text, or a folder of something else).
int idx_resolve(const char *arg, const char *data_dir, char *dir, size_t dirlen);
// Loads train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), t10k-images-idx3-ubyte(.gz) and
// t10k-labels-idx1-ubyte(.gz) from dir, ten classes named as Fashion-MNIST's. 0, or -1 with a message
// in err (a missing file says how to get the set).
int idx_set_load(ImageSet *s, const char *dir, char *err, size_t errlen);
void idx_set_free(ImageSet *s);

// The set as a session's data (normlab/data.h): a row is one image's pixels (0..255, as int32) and
// its label; training draws from train with replacement, evaluation reads val whole, in order, and
// .test reads the test split. s must outlive it and stay where it is.
DataSource idx_source(ImageSet *s);
