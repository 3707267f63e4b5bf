// Datasets: plain and gzip text, the vocabulary, the split, batches, and every broken file the
// loader must refuse with a message (never a crash).
#include <zlib.h>

#include "normlab/dataset.h"
#include "test_util.h"

static char dir[] = "/tmp/normlab_data_XXXXXX";

static void write_file(const char *name, const void *bytes, size_t n, char *path) {
    sprintf(path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

// gzip of text into name; returns the compressed size.
static size_t write_gz(const char *name, const char *text, char *path) {
    sprintf(path, "%s/%s", dir, name);
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, text, (unsigned)strlen(text)), (int)strlen(text));
    gzclose(g);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    fclose(f);
    return n;
}

static char text[4000];

static int setup(void **state) {
    (void)state;
    if (!mkdtemp(dir)) return -1;
    for (int i = 0; i < 3999; i++) text[i] = "the quick brown fox jumps over a lazy dog\n"[i % 42];
    return 0;
}

static void test_plain_and_gzip_agree(void **state) {
    (void)state;
    char p1[256], p2[256], err[512];
    write_file("a.txt", text, strlen(text), p1);
    write_gz("a.txt.gz", text, p2);
    Dataset a, b;
    assert_int_equal(dataset_load(&a, p1, err, sizeof err), 0);
    assert_int_equal(dataset_load(&b, p2, err, sizeof err), 0);
    assert_int_equal(a.n, 3999);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.tokens, b.tokens, a.n * sizeof(int32_t));
    // vocabulary: sorted unique bytes ("\n", " ", a..z minus those absent)
    assert_int_equal(a.vocab[0], '\n');
    assert_int_equal(a.vocab[1], ' ');
    for (int i = 2; i < a.vocab_size; i++) assert_true(a.vocab[i] > a.vocab[i - 1]);
    for (size_t i = 0; i < a.n; i++) assert_int_equal(a.vocab[a.tokens[i]], (unsigned char)text[i]);
    assert_int_equal(a.n_train, (size_t)(3999 * 0.9)); // first 90% train, the rest val
    dataset_free(&a);
    dataset_free(&b);
}

static void test_batches(void **state) {
    (void)state;
    char p[256], err[512];
    write_file("b.txt", text, strlen(text), p);
    Dataset d;
    assert_int_equal(dataset_load(&d, p, err, sizeof err), 0);
    Rng rng;
    rng_seed(&rng, 3);
    int32_t idx[4 * 16], tg[4 * 16];
    for (int val = 0; val < 2; val++) {
        dataset_batch(&d, val, 4, 16, &rng, idx, tg);
        const int32_t *split = d.tokens + (val ? d.n_train : 0);
        size_t n = val ? d.n - d.n_train : d.n_train;
        for (int b = 0; b < 4; b++) {
            // the sequence is somewhere in its split, and the targets are it shifted by one
            size_t off = SIZE_MAX;
            for (size_t o = 0; o + 16 < n && off == SIZE_MAX; o++)
                if (!memcmp(split + o, idx + b * 16, 16 * sizeof(int32_t)) && !memcmp(split + o + 1, tg + b * 16, 16 * sizeof(int32_t))) off = o;
            assert_true(off != SIZE_MAX);
        }
    }
    assert_int_equal(dataset_check_context(&d, 64, err, sizeof err), 0);
    assert_int_equal(dataset_check_context(&d, 500, err, sizeof err), -1); // val has only 400 tokens
    assert_non_null(strstr(err, "too short for a context of 500"));
    dataset_free(&d);
}

static void test_broken_files_are_refused(void **state) {
    (void)state;
    char p[256], err[512];
    Dataset d;
    size_t gz = write_gz("c.txt.gz", text, p);
    unsigned char buf[8192];
    FILE *f = fopen(p, "rb");
    assert_int_equal(fread(buf, 1, gz, f), gz);
    fclose(f);
    write_file("truncated.txt.gz", buf, gz / 2, p); // cut in the middle of the stream
    assert_int_equal(dataset_load(&d, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrupt or truncated gzip"));
    for (size_t i = 20; i < 40; i++) buf[i] ^= 0x5a; // damage the deflate data
    write_file("corrupt.txt.gz", buf, gz, p);
    assert_int_equal(dataset_load(&d, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrupt or truncated gzip"));
    write_file("empty.txt", "", 0, p);
    assert_int_equal(dataset_load(&d, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "only 0 bytes"));
    sprintf(p, "%s/missing.txt", dir);
    assert_int_equal(dataset_load(&d, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
}

static void test_resolve(void **state) {
    (void)state;
    char p[256], out[512], err[1024];
    write_gz("shakes.txt.gz", text, p);
    assert_int_equal(dataset_resolve("shakes", dir, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, p);
    assert_int_equal(dataset_resolve(p, "/nowhere", out, sizeof out, err, sizeof err), 0); // a path
    assert_int_equal(dataset_resolve("tinyshakespeare", "/nowhere", out, sizeof out, err, sizeof err), -1);
    assert_non_null(strstr(err, "fetch.sh")); // says how to get it
    assert_non_null(strstr(err, "Offline"));
    // another name: what the folder holds, and that fetch.sh fetches tinyshakespeare only
    assert_int_equal(dataset_resolve("nosuch", dir, out, sizeof out, err, sizeof err), -1);
    assert_non_null(strstr(err, "holds: "));
    assert_non_null(strstr(err, "shakes"));
    assert_non_null(strstr(err, "fetches tinyshakespeare only"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_gzip_agree),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_broken_files_are_refused),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests_name("data", tests, setup, NULL);
}
