// safetensors: a round trip, the header's shape on disk, atomic writes, and every kind of broken
// file refused with a message (never a crash).
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "normlab/safetensors.h"
#include "test_util.h"

static char dir[] = "/tmp/normlab_st_XXXXXX";

static int setup(void **state) {
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static void write_raw(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(b, 1, n, f);
    fclose(f);
}

// A file with the given header text and data bytes.
static void write_with_header(const char *path, const char *header, size_t data_len) {
    unsigned char buf[4096] = {0};
    uint64_t n = strlen(header);
    memcpy(buf, &n, 8);
    memcpy(buf + 8, header, n);
    write_raw(path, buf, 8 + n + data_len);
}

static void test_round_trip(void **state) {
    (void)state;
    char path[256], err[512];
    sprintf(path, "%s/a.safetensors", dir);
    float w[6] = {1, 2, 3, 4, 5, 6.5f};
    int32_t idx[4] = {7, 8, 9, -1};
    StEntry e[] = {{"w", ST_F32, 2, {2, 3}, w}, {"idx", ST_I32, 2, {2, 2}, idx}, {"empty", ST_F32, 1, {0}, NULL}};
    const char *meta[] = {"norm", "dyt", "note", "quotes \" and \\ survive"};
    assert_int_equal(st_write(path, e, 3, meta, 2, err, sizeof err), 0);
    StFile f;
    assert_int_equal(st_open(&f, path, err, sizeof err), 0);
    StTensor t;
    assert_int_equal(st_find(&f, "w", &t), 0);
    assert_int_equal(t.dtype, ST_F32);
    assert_int_equal(t.ndim, 2);
    assert_true(t.shape[0] == 2 && t.shape[1] == 3);
    nl_real back[6];
    assert_int_equal(st_read_reals(&t, back, 6), 0);
    for (int i = 0; i < 6; i++) assert_true(back[i] == w[i]);
    assert_int_equal(st_read_reals(&t, back, 5), -1); // wrong size refused
    assert_int_equal(st_find(&f, "idx", &t), 0);
    assert_memory_equal(t.data, idx, sizeof idx);
    assert_int_equal(st_read_reals(&t, back, 4), -1); // not a float type
    assert_int_equal(st_find(&f, "missing", &t), -1);
    assert_string_equal(st_meta(&f, "norm"), "dyt");
    assert_string_equal(st_meta(&f, "note"), "quotes \" and \\ survive");
    assert_null(st_meta(&f, "absent"));
    // the layout: header length is a multiple of 8, the data starts right after it
    uint64_t hlen;
    memcpy(&hlen, f.buf, 8);
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(f.data_len, sizeof w + sizeof idx);
    st_close(&f);
    // nothing left behind by the atomic write
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d))) assert_null(strstr(de->d_name, ".tmp."));
    closedir(d);
}

static void test_broken_files_are_refused(void **state) {
    (void)state;
    char path[256], err[512];
    sprintf(path, "%s/bad.safetensors", dir);
    StFile f;
    const struct {
        const char *header;
        size_t data;
        const char *want;
    } cases[] = {
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "the file is truncated or incomplete"}, // truncated data
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "do not match"},
        {"{\"w\":{\"dtype\":\"Q8\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "bad shape"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "bad data_offsets"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1e30],\"data_offsets\":[0,8]}}", 8, "bad shape"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2,2,2,2],\"data_offsets\":[0,8]}}", 8, "bad shape"},
        {"{\"__metadata__\":{\"step\":3}}", 0, "not a string"},
        {"{\"w\":[1,2]}", 0, "not an object"},
        {"{\"w\": {\"dtype\": \"F32\"", 0, "not a JSON object"},
        {"[]", 0, "not a JSON object"},
        // the data ranges must tile the data: no overlap, no gap, nothing after the last
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "overlaps the tensor before it"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         12, "belong to no tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "bytes no tensor holds"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_with_header(path, cases[i].header, cases[i].data);
        assert_int_equal(st_open(&f, path, err, sizeof err), -1);
        if (!strstr(err, cases[i].want)) fail_msg("case %zu: message '%s' lacks '%s'", i, err, cases[i].want);
    }
    unsigned char tiny[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}; // header length 2^63-ish
    write_raw(path, tiny, 8);
    assert_int_equal(st_open(&f, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated or not safetensors"));
    write_raw(path, "abc", 3);
    assert_int_equal(st_open(&f, path, err, sizeof err), -1);
    assert_int_equal(st_open(&f, "/nonexistent/x.safetensors", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    // not a regular file: refused by what it is, and a FIFO does not block the reader
    assert_int_equal(st_open(&f, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "is a directory, not a safetensors file"));
    sprintf(path, "%s/fifo.safetensors", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(st_open(&f, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "is a FIFO"));
    unlink(path);
}

// A temp file name planted as a symlink (in a shared folder anyone can) is never written through;
// a dead process's temp file is removed by the next save to the same path.
static void test_planted_link_and_stale_temp(void **state) {
    (void)state;
    char path[256], tmp[300], victim[300], stale[300], err[512];
    sprintf(path, "%s/ck.safetensors", dir), sprintf(victim, "%s/victim.txt", dir);
    FILE *v = fopen(victim, "w");
    assert_non_null(v);
    fputs("precious\n", v), fclose(v);
    st_temp_path(path, tmp, sizeof tmp);
    assert_int_equal(symlink(victim, tmp), 0);
    sprintf(stale, "%s.tmp.%d", path, 999999); // no such process (pid_max is below this by default)
    v = fopen(stale, "w");
    assert_non_null(v);
    fclose(v);
    float x[2] = {1, 2};
    StEntry e = {"w", ST_F32, 1, {2}, x};
    assert_int_equal(st_write(path, &e, 1, NULL, 0, err, sizeof err), 0);
    char text[64] = "";
    v = fopen(victim, "r");
    assert_non_null(v);
    text[fread(text, 1, sizeof text - 1, v)] = 0;
    fclose(v);
    assert_string_equal(text, "precious\n");
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode)); // the checkpoint itself is a file, not a link to the victim
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(tmp, F_OK), -1);
}

static void test_unwritable(void **state) {
    (void)state;
    char err[512];
    float x = 1;
    StEntry e = {"x", ST_F32, 1, {1}, &x};
    assert_int_equal(st_write("/nonexistent/dir/x.safetensors", &e, 1, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot create"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_broken_files_are_refused),
        cmocka_unit_test(test_unwritable),
        cmocka_unit_test(test_planted_link_and_stale_temp),
    };
    return cmocka_run_group_tests_name("safetensors", tests, setup, NULL);
}
