// IDX images and labels (normlab/idx.h): the reader, Fashion-MNIST's files, and the set as data.
#include "normlab/check.h"
#include "normlab/idx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"

const char *const IDX_FASHION_LABELS[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

enum { IDX_IMAGES_MAGIC = 0x00000803, IDX_LABELS_MAGIC = 0x00000801 }; // unsigned bytes, 3 dims / 1 dim

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

// The header's magic and its first `dims` dimensions, or -1 with a message.
static int idx_header(const uint8_t *b, size_t size, uint32_t magic, int dims, uint32_t *d, const char *name,
                      char *err, size_t errlen) {
    size_t head = 4 + 4 * (size_t)dims;
    if (size < head)
        return snprintf(err, errlen, "%s: %zu bytes, shorter than an IDX header (%zu bytes): not an IDX file, or "
                        "truncated", name, size, head), -1;
    uint32_t m = be32(b);
    if (m != magic)
        return snprintf(err, errlen, "%s: magic number 0x%08x, expected 0x%08x (%s): not an IDX %s file", name, m, magic,
                        magic == IDX_IMAGES_MAGIC ? "unsigned bytes, 3 dimensions" : "unsigned bytes, 1 dimension",
                        magic == IDX_IMAGES_MAGIC ? "images" : "labels"), -1;
    for (int i = 0; i < dims; i++) d[i] = be32(b + 4 + 4 * i);
    return 0;
}

// The body must hold exactly `want` bytes after the header.
static int idx_size(size_t size, size_t head, uint64_t want, const char *name, const char *what, char *err,
                    size_t errlen) {
    if (size - head == want) return 0;
    return snprintf(err, errlen, "%s: its header says %s (%llu bytes after the header) but the file holds %zu: %s",
                    name, what, (unsigned long long)want, size - head,
                    size - head < want ? "truncated" : "it has bytes after the last item"), -1;
}

int idx_parse(IdxImages *im, const uint8_t *images, size_t n_images, const uint8_t *labels, size_t n_labels,
              int classes, const char *image_name, const char *label_name, char *err, size_t errlen) {
    NL_NONNULL(im, images, labels, image_name, label_name, err);
    *im = (IdxImages){0};
    uint32_t d[3], n;
    char what[96];
    if (idx_header(images, n_images, IDX_IMAGES_MAGIC, 3, d, image_name, err, errlen) ||
        idx_header(labels, n_labels, IDX_LABELS_MAGIC, 1, &n, label_name, err, errlen))
        return -1;
    if (d[0] == 0 || d[1] == 0 || d[2] == 0 || d[1] > IDX_MAX_SIDE || d[2] > IDX_MAX_SIDE)
        return snprintf(err, errlen, "%s: %u images of %u x %u pixels: each dimension must be in 1..%d", image_name,
                        d[0], d[1], d[2], IDX_MAX_SIDE), -1;
    snprintf(what, sizeof what, "%u images of %u x %u pixels", d[0], d[1], d[2]);
    if (idx_size(n_images, 16, (uint64_t)d[0] * d[1] * d[2], image_name, what, err, errlen)) return -1;
    snprintf(what, sizeof what, "%u labels", n);
    if (idx_size(n_labels, 8, n, label_name, what, err, errlen)) return -1;
    if (n != d[0])
        return snprintf(err, errlen, "%s holds %u images but %s %u labels: they are not one split's files", image_name,
                        d[0], label_name, n), -1;
    for (uint32_t i = 0; i < n; i++)
        if (labels[8 + i] >= classes)
            return snprintf(err, errlen, "%s: label %d at item %u is outside 0..%d", label_name, labels[8 + i], i,
                            classes - 1), -1;
    size_t px = (size_t)d[0] * d[1] * d[2];
    im->pixels = malloc(px), im->labels = malloc(n);
    if (!im->pixels || !im->labels) return idx_free(im), snprintf(err, errlen, "%s: out of memory", image_name), -1;
    memcpy(im->pixels, images + 16, px), memcpy(im->labels, labels + 8, n);
    im->n = n, im->rows = (int)d[1], im->cols = (int)d[2];
    return 0;
}

// A whole IDX file, read no further than its header allows: the header first (head bytes, its
// dimensions' product times item bytes after it), then the body, and one byte more to see whether the
// file goes on (idx_parse says so). NULL with a message in err.
static unsigned char *idx_read(const char *path, int dims, size_t *len, char *err, size_t errlen) {
    size_t head = 4 + 4 * (size_t)dims, n;
    unsigned char *h = data_read_all(path, head, &n, err, errlen);
    if (!h) return NULL;
    uint64_t want = head; // a file too short, or of another magic: idx_parse says which
    if (n >= head && be32(h) == (dims == 3 ? IDX_IMAGES_MAGIC : IDX_LABELS_MAGIC)) {
        want = 1;
        for (int i = 0; i < dims; i++) want *= be32(h + 4 + 4 * i);
        want += head;
    }
    free(h);
    if (want > data_memory_limit(2))
        return snprintf(err, errlen, "%s: its header claims %llu bytes, more than half this machine's memory: refused "
                        "before reading its body", path, (unsigned long long)want), NULL;
    return data_read_all(path, (size_t)want, len, err, errlen);
}

int idx_load(IdxImages *im, const char *images_path, const char *labels_path, int classes, char *err, size_t errlen) {
    NL_NONNULL(im, images_path, labels_path, err);
    *im = (IdxImages){0};
    size_t ni = 0, nl = 0;
    unsigned char *images = idx_read(images_path, 3, &ni, err, errlen), *labels = NULL;
    if (!images || !(labels = idx_read(labels_path, 1, &nl, err, errlen))) return free(images), -1;
    int rc = idx_parse(im, images, ni, labels, nl, classes, images_path, labels_path, err, errlen);
    free(images), free(labels);
    return rc;
}

void idx_free(IdxImages *im) {
    NL_NONNULL(im);
    free(im->pixels), free(im->labels);
    *im = (IdxImages){0};
}

// ---- Fashion-MNIST's files -------------------------------------------------------------------------
static const char *const DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"; // package dataset-fashion-mnist

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

// dir/<stem>, or dir/<stem>.gz: whichever is there (the plain name when neither is, for the message).
static void idx_file(const char *dir, const char *stem, char *out, size_t len) {
    struct stat st;
    snprintf(out, len, "%s/%s.gz", dir, stem);
    if (stat(out, &st) == 0) return;
    snprintf(out, len, "%s/%s", dir, stem);
}

int idx_resolve(const char *arg, const char *data_dir, char *dir, size_t dirlen) {
    NL_NONNULL(arg, dir);
    if (strcmp(arg, "fashion-mnist") == 0) {
        snprintf(dir, dirlen, "%s/fashion-mnist", data_dir);
        if (!is_dir(dir)) snprintf(dir, dirlen, "%s", DEBIAN_DIR);
        return 1;
    }
    char probe[4200];
    idx_file(arg, "train-images-idx3-ubyte", probe, sizeof probe);
    struct stat st;
    if (!is_dir(arg) || stat(probe, &st) != 0) return 0; // not a folder of IDX files: a text, or a mistake
    snprintf(dir, dirlen, "%s", arg);
    return 1;
}

int idx_set_load(ImageSet *s, const char *dir, char *err, size_t errlen) {
    NL_NONNULL(s, dir, err);
    *s = (ImageSet){.classes = 10, .labels = IDX_FASHION_LABELS};
    snprintf(s->name, sizeof s->name, "fashion-mnist");
    static const char *const stems[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                                            {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
    char path[2][4200];
    for (int split = 0; split < 2; split++) {
        for (int k = 0; k < 2; k++) {
            struct stat st;
            idx_file(dir, stems[split][k], path[k], sizeof path[k]);
            if (stat(path[k], &st) != 0)
                return idx_set_free(s), snprintf(err, errlen,
                       "image set %s: no %s(.gz) in it.\n  Fashion-MNIST: install Debian's package (apt-get install "
                       "dataset-fashion-mnist: its files go to %s),\n  or copy the four *-idx?-ubyte.gz files into "
                       "data/fashion-mnist/.", dir, stems[split][k], DEBIAN_DIR), -1;
        }
        if (idx_load(split ? &s->test : &s->train, path[0], path[1], s->classes, err, errlen)) return idx_set_free(s), -1;
    }
    if (s->train.rows != s->test.rows || s->train.cols != s->test.cols)
        return snprintf(err, errlen, "image set %s: its training images are %d x %d, its test images %d x %d", dir,
                        s->train.rows, s->train.cols, s->test.rows, s->test.cols), idx_set_free(s), -1;
    size_t held = s->train.n / IDX_VAL_SHARE, P = (size_t)s->train.rows * s->train.cols;
    if (held == 0)
        return snprintf(err, errlen, "image set %s: %zu training images leave none for validation (the last sixth "
                        "is held out)", dir, s->train.n), idx_set_free(s), -1;
    s->train.n -= held;
    s->val = (IdxImages){.pixels = s->train.pixels + s->train.n * P, .labels = s->train.labels + s->train.n, .n = held,
                         .rows = s->train.rows, .cols = s->train.cols};
    return 0;
}

void idx_set_free(ImageSet *s) {
    NL_NONNULL(s);
    idx_free(&s->train), idx_free(&s->test);
    s->val = (IdxImages){0};
}

// ---- the set as data ---------------------------------------------------------------------------------
static void image_row(const IdxImages *im, size_t i, int32_t *pixels, int32_t *label) {
    size_t P = (size_t)im->rows * im->cols;
    for (size_t j = 0; j < P; j++) pixels[j] = im->pixels[i * P + j];
    *label = im->labels[i];
}

static void images_draw(const DataSource *d, bool eval, int B, Rng *rng, int32_t *inputs, int32_t *targets) {
    const ImageSet *s = d->self;
    const IdxImages *im = eval ? &s->val : &s->train;
    for (int b = 0; b < B; b++)
        image_row(im, rng_below(rng, (uint32_t)im->n), inputs + (size_t)b * d->width, targets + b);
}

static void images_rows(const DataSource *d, size_t first, int n, int32_t *inputs, int32_t *targets) {
    const ImageSet *s = d->self;
    for (int b = 0; b < n; b++) image_row(&s->val, first + b, inputs + (size_t)b * d->width, targets + b);
}

// The test split: only its rows are read (a whole-split evaluation at the end of a run).
static void test_draw(const DataSource *d, bool eval, int B, Rng *rng, int32_t *inputs, int32_t *targets) {
    const ImageSet *s = d->self;
    (void)eval;
    for (int b = 0; b < B; b++)
        image_row(&s->test, rng_below(rng, (uint32_t)s->test.n), inputs + (size_t)b * d->width, targets + b);
}

static void test_rows(const DataSource *d, size_t first, int n, int32_t *inputs, int32_t *targets) {
    const ImageSet *s = d->self;
    for (int b = 0; b < n; b++) image_row(&s->test, first + b, inputs + (size_t)b * d->width, targets + b);
}

static const DataOps IMAGE_OPS = {images_draw, images_rows}, TEST_OPS = {test_draw, test_rows};

DataSource idx_source(ImageSet *s) {
    NL_NONNULL(s);
    DataSource d = {.ops = &IMAGE_OPS, .self = s, .eval_name = "val", .width = s->train.rows * s->train.cols,
                    .target_width = 1, .classes = s->classes, .units_per_row = 1, .unit = "img", .eval_rows = s->val.n,
                    .eval_whole = true, .labels = s->labels};
    s->test_source = d;
    s->test_source.ops = &TEST_OPS, s->test_source.eval_name = "test", s->test_source.eval_rows = s->test.n;
    d.test = &s->test_source;
    return d;
}
