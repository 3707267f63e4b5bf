// IDX images and labels: a good split read back exactly, plain and gzip, the set as data, and every
// broken file the reader must refuse with a message that names the file and what is wrong.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "normlab/idx.h"
#include "test_util.h"

static char dir[] = "/tmp/normlab_idx_XXXXXX";

enum { N = 6, R = 2, C = 4 }; // six 2 x 4 images: a set loaded from them holds the last one out for validation

// An images file (magic, N, R, C, pixels i*8 + j) and a labels file (magic, N, labels 7, 0, 9, 3, 5, 1).
static size_t images_bytes(uint8_t *b, uint32_t magic, uint32_t n) {
    uint32_t head[4] = {magic, n, R, C};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(head[i] >> (24 - 8 * k));
    for (int i = 0; i < N * R * C; i++) b[16 + i] = (uint8_t)(3 * i + 1);
    return 16 + N * R * C;
}
static size_t labels_bytes(uint8_t *b, uint32_t n) {
    uint32_t head[2] = {0x801, n};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(head[i] >> (24 - 8 * k));
    static const uint8_t labels[N] = {7, 0, 9, 3, 5, 1};
    memcpy(b + 8, labels, N);
    return 8 + N;
}

static int setup(void **state) {
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static void test_a_good_split_reads_back_exactly(void **state) {
    (void)state;
    uint8_t im[80], lb[16];
    size_t ni = images_bytes(im, 0x803, N), nl = labels_bytes(lb, N);
    IdxImages s;
    char err[512] = "";
    assert_int_equal(idx_parse(&s, im, ni, lb, nl, 10, "im", "lb", err, sizeof err), 0);
    assert_int_equal(s.n, N);
    assert_int_equal(s.rows, R);
    assert_int_equal(s.cols, C);
    for (int i = 0; i < N * R * C; i++) assert_int_equal(s.pixels[i], 3 * i + 1);
    assert_int_equal(s.labels[0], 7), assert_int_equal(s.labels[2], 9);
    idx_free(&s);
}

// What idx_parse says about a broken pair, which must fail and name the file.
static void expect_refused(const uint8_t *im, size_t ni, const uint8_t *lb, size_t nl, const char *file,
                           const char *words) {
    IdxImages s;
    char err[512] = "";
    assert_int_equal(idx_parse(&s, im, ni, lb, nl, 10, "images.idx", "labels.idx", err, sizeof err), -1);
    print_message("  refused: %s\n", err);
    assert_non_null(strstr(err, file));
    assert_non_null(strstr(err, words));
    assert_null(s.pixels);
}

static void test_broken_files_are_refused(void **state) {
    (void)state;
    uint8_t im[80], lb[16], bad[80];
    size_t ni = images_bytes(im, 0x803, N), nl = labels_bytes(lb, N);
    expect_refused(im, ni - 1, lb, nl, "images.idx", "truncated");                 // a pixel short
    expect_refused(im, 10, lb, nl, "images.idx", "shorter than an IDX header");    // cut in the header
    memcpy(bad, im, ni), bad[ni] = 0;
    expect_refused(bad, ni + 1, lb, nl, "images.idx", "bytes after the last item"); // one byte too many
    expect_refused(im, ni, lb, nl - 1, "labels.idx", "truncated");
    images_bytes(bad, 0x802, N);                                                    // 2 dims: not images
    expect_refused(bad, ni, lb, nl, "images.idx", "magic number 0x00000802");
    expect_refused(im, ni, im, ni, "labels.idx", "magic number 0x00000803");       // images as labels
    uint8_t two[16];
    size_t n2 = labels_bytes(two, N - 1) - 1;                                       // 5 labels for 6 images
    expect_refused(im, ni, two, n2, "holds 6 images", "5 labels");
    memcpy(bad, lb, nl), bad[9] = 10;
    expect_refused(im, ni, bad, nl, "labels.idx", "label 10 at item 1 is outside 0..9");
    images_bytes(bad, 0x803, 0);
    expect_refused(bad, 16, lb, nl, "images.idx", "each dimension must be in 1..");
}

static void write_gz(const char *name, const uint8_t *b, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, b, (unsigned)n), (int)n);
    gzclose(g);
}

static void test_a_set_from_gzip_files_and_as_data(void **state) {
    (void)state;
    uint8_t im[80], lb[16];
    size_t ni = images_bytes(im, 0x803, N), nl = labels_bytes(lb, N);
    ImageSet s;
    char err[1024] = "", resolved[512];
    assert_int_equal(idx_resolve(dir, "/nonexistent", resolved, sizeof resolved), 0); // no IDX files in it yet
    assert_int_equal(idx_resolve("tinyshakespeare", "/nonexistent", resolved, sizeof resolved), 0);
    assert_int_equal(idx_resolve("fashion-mnist", "/nonexistent", resolved, sizeof resolved), 1);
    assert_int_equal(idx_set_load(&s, dir, err, sizeof err), -1); // nothing there yet
    assert_non_null(strstr(err, "train-images-idx3-ubyte"));
    assert_non_null(strstr(err, "apt-get install dataset-fashion-mnist"));
    write_gz("train-images-idx3-ubyte.gz", im, ni), write_gz("train-labels-idx1-ubyte.gz", lb, nl);
    assert_int_equal(idx_resolve(dir, "/nonexistent", resolved, sizeof resolved), 1);
    write_gz("t10k-images-idx3-ubyte.gz", im, ni), write_gz("t10k-labels-idx1-ubyte.gz", lb, nl - 1); // truncated
    assert_int_equal(idx_set_load(&s, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "t10k-labels-idx1-ubyte.gz"));
    assert_non_null(strstr(err, "truncated"));
    write_gz("t10k-labels-idx1-ubyte.gz", lb, nl);
    assert_int_equal(idx_set_load(&s, dir, err, sizeof err), 0);
    DataSource d = idx_source(&s);
    assert_int_equal(d.width, R * C);
    assert_int_equal(d.target_width, 1);
    // the last sixth of the training images is the validation split, which evaluations read
    assert_int_equal(s.train.n, N - N / IDX_VAL_SHARE), assert_int_equal(d.eval_rows, N / IDX_VAL_SHARE);
    assert_string_equal(d.eval_name, "val");
    int32_t px[N * R * C], y[N];
    data_rows(&d, 0, 1, px, y); // training image 5, the validation split's first
    assert_int_equal(y[0], 1);
    for (int j = 0; j < R * C; j++) assert_int_equal(px[j], 3 * (5 * R * C + j) + 1);
    // the test split, whole, in order
    assert_non_null(d.test);
    assert_int_equal(d.test->eval_rows, N), assert_string_equal(d.test->eval_name, "test");
    data_rows(d.test, 1, 2, px, y); // test images 1 and 2
    assert_int_equal(y[0], 0), assert_int_equal(y[1], 9);
    for (int j = 0; j < R * C; j++) assert_int_equal(px[j], 3 * (R * C + j) + 1);
    Rng rng;
    rng_seed(&rng, 1);
    bool seen[N] = {false};
    for (int k = 0; k < 20; k++) {
        data_draw(&d, false, 1, &rng, px, y);
        unsigned i = (unsigned)(px[0] - 1) / 3 / (R * C); // which image: its first pixel says
        assert_true(i < N - N / IDX_VAL_SHARE);           // never a validation image
        assert_int_equal(y[0], lb[8 + i]);
        seen[i % N] = true;
    }
    assert_true(seen[0] && seen[1] && seen[2]);
    idx_set_free(&s);
}

// A FIFO where an IDX file should be is refused by what it is, never waited on; a gzip file whose
// header claims one tiny image but which inflates to 256 MB is read no further than the header allows
// (the memory the process ever held stays far below what inflating it would take).
static void test_readers_refuse_fifos_and_stop_at_the_header(void **state) {
    (void)state;
    char sub[600], path[700], err[1024] = "";
    snprintf(sub, sizeof sub, "%s/odd", dir);
    mkdir(sub, 0755);
    uint8_t im[80], lb[16];
    size_t ni = images_bytes(im, 0x803, N), nl = labels_bytes(lb, N);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", sub);
    assert_int_equal(mkfifo(path, 0644), 0);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", sub);
    FILE *f = fopen(path, "wb");
    fwrite(lb, 1, nl, f), fclose(f);
    ImageSet s;
    alarm(20); // a reader that waits on the FIFO fails here instead of hanging the suite
    assert_int_equal(idx_set_load(&s, sub, err, sizeof err), -1);
    alarm(0);
    assert_non_null(strstr(err, "is not a regular file"));
    // the bomb: a valid header and body of one split, then 256 MB of zeros, gzipped (about 256 KB)
    snprintf(path, sizeof path, "%s/bomb-images.gz", dir);
    gzFile g = gzopen(path, "wb9");
    assert_non_null(g);
    gzwrite(g, im, (unsigned)ni);
    static uint8_t zeros[1 << 20];
    for (int i = 0; i < 256; i++) assert_int_equal(gzwrite(g, zeros, sizeof zeros), (int)sizeof zeros);
    gzclose(g);
    char labels[700];
    snprintf(labels, sizeof labels, "%s/bomb-labels", dir);
    f = fopen(labels, "wb");
    fwrite(lb, 1, nl, f), fclose(f);
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    IdxImages images;
    assert_int_equal(idx_load(&images, path, labels, 10, err, sizeof err), -1);
    getrusage(RUSAGE_SELF, &after);
    assert_non_null(strstr(err, "bytes after the last item"));
    long grew_mb = (after.ru_maxrss - before.ru_maxrss) / 1024;
    if (grew_mb > 32) fail_msg("reading the bomb's header-allowed bytes took %ld MB more", grew_mb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_good_split_reads_back_exactly),
        cmocka_unit_test(test_broken_files_are_refused),
        cmocka_unit_test(test_a_set_from_gzip_files_and_as_data),
        cmocka_unit_test(test_readers_refuse_fifos_and_stop_at_the_header),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
