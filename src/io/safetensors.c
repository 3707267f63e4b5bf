// safetensors writing (atomic) and reading (validated).
#include "normlab/check.h"
#include "normlab/safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "normlab/outfile.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code writes memory as it is"
#endif

const char *const ST_DTYPE_NAMES[ST_DTYPE_COUNT] = {"F32", "F64", "I32", "I64"};
static const size_t DTYPE_SIZE[ST_DTYPE_COUNT] = {4, 8, 4, 8};

#define MAX_HEADER (64u << 20)
#define MAX_ELEMENTS (1ull << 40)

static size_t entry_bytes(const StEntry *e) {
    size_t n = DTYPE_SIZE[e->dtype];
    for (int i = 0; i < e->ndim; i++) n *= (size_t)e->shape[i];
    return n;
}

static char *header_json(const StEntry *entries, int n, const char *const *meta, int n_meta) {
    cJSON *root = cJSON_CreateObject();
    if (n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < n_meta; i++) cJSON_AddStringToObject(m, meta[2 * i], meta[2 * i + 1]);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const StEntry *e = &entries[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON_AddStringToObject(t, "dtype", ST_DTYPE_NAMES[e->dtype]);
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < e->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += entry_bytes(e);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

void st_temp_path(const char *path, char *out, size_t len) {
    NL_NONNULL(path, out);
    snprintf(out, len, "%s.tmp.%ld", path, (long)getpid());
}

// fsync the directory holding path, so the rename itself is on disk.
static int sync_dir(const char *path) {
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int st_write(const char *path, const StEntry *entries, int n, const char *const *meta, int n_meta,
             char *err, size_t errlen) {
    NL_NONNULL(path, entries, err);
    for (int i = 0; i < n; i++) // the format names each tensor once (a reader keeps one of two)
        for (int j = 0; j < i; j++)
            if (!strcmp(entries[i].name, entries[j].name))
                return snprintf(err, errlen, "%s: tensors %d and %d are both named '%s': not written (a "
                                "safetensors file names each tensor once)", path, j, i, entries[i].name), -1;
    char *json = header_json(entries, n, meta, n_meta);
    if (!json) return snprintf(err, errlen, "%s: out of memory for the header", path), -1;
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8;
    char tmp[4096];
    st_temp_path(path, tmp, sizeof tmp);
    outfile_remove_stale_temps(path); // of saves to path that were killed midway
    int fd = outfile_create_temp(path, tmp, err, errlen); // never through a planted link
    if (fd < 0) {
        free(json);
        return -1;
    }
    FILE *f = fdopen(fd, "wb");
    uint64_t le = padded;
    bool ok = f && fwrite(&le, 8, 1, f) == 1 && fwrite(json, 1, hlen, f) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < n; i++) {
        size_t b = entry_bytes(&entries[i]);
        ok = b == 0 || fwrite(entries[i].data, 1, b, f) == b;
    }
    ok = ok && fflush(f) == 0 && fsync(fd) == 0;
    int saved = errno;
    ok = (f ? fclose(f) == 0 : (close(fd), false)) && ok;
    free(json);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(ok ? errno : saved));
        unlink(tmp);
        return -1;
    }
    sync_dir(path);
    return 0;
}

// ---- reading -----------------------------------------------------------------------------------
static bool as_count(const cJSON *j, uint64_t max, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= (double)max && v == floor(v))) return false;
    *out = (uint64_t)v;
    return true;
}

static int parse_dtype(const cJSON *j) {
    if (!cJSON_IsString(j)) return -1;
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(j->valuestring, ST_DTYPE_NAMES[i]) == 0) return i;
    return -1;
}

// Validates one tensor entry against data of data_len bytes at data; fills out when given.
static const char *check_entry(const cJSON *e, const unsigned char *data, size_t data_len,
                               StTensor *out) {
    StTensor t = {0};
    int dt = parse_dtype(cJSON_GetObjectItemCaseSensitive(e, "dtype"));
    if (dt < 0) return "unknown or missing dtype";
    t.dtype = dt;
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > ST_MAX_DIMS) return "bad shape";
    uint64_t numel = 1, dim, begin, end;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape) {
        if (!as_count(d, MAX_ELEMENTS, &dim)) return "bad shape";
        numel *= dim;
        if (numel > MAX_ELEMENTS) return "too many elements";
        t.shape[t.ndim++] = (int64_t)dim;
    }
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        !as_count(cJSON_GetArrayItem(offs, 0), UINT64_MAX / 2, &begin) ||
        !as_count(cJSON_GetArrayItem(offs, 1), UINT64_MAX / 2, &end) || begin > end)
        return "bad data_offsets";
    if (end > data_len) return "its data lies past the end of the file: the file is truncated or incomplete";
    if (end - begin != numel * DTYPE_SIZE[dt]) return "data_offsets do not match dtype and shape";
    t.nbytes = end - begin;
    if (out) t.data = data + begin, *out = t; // (st_open checks the header before data is read: NULL)
    return NULL;
}

// Reads len bytes at off into buf; false on a short read.
static bool read_at(int fd, void *buf, size_t len, off_t off) {
    for (size_t n = 0; n < len;) {
        ssize_t got = pread(fd, (char *)buf + n, len - n, off + (off_t)n);
        if (got <= 0) return false;
        n += (size_t)got;
    }
    return true;
}

typedef struct Range {
    uint64_t begin, end;
    const char *name;
} Range;
static int range_cmp(const void *a, const void *b) {
    const Range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : x->end < y->end ? -1 : x->end > y->end;
}

// The tensors' data ranges tile the data exactly, as the format requires: sorted, each one starting
// where the one before ends, the last ending at the file's end. NULL, or what is wrong.
static const char *check_ranges(const cJSON *h, size_t data_len, char *why, size_t len) {
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, h) n++;
    Range *r = malloc(sizeof *r * (size_t)(n ? n : 1));
    if (!r) return "out of memory";
    int k = 0;
    cJSON_ArrayForEach(e, h) {
        if (!strcmp(e->string, "__metadata__")) continue;
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        r[k++] = (Range){(uint64_t)cJSON_GetArrayItem(offs, 0)->valuedouble,
                         (uint64_t)cJSON_GetArrayItem(offs, 1)->valuedouble, e->string};
    }
    qsort(r, (size_t)k, sizeof *r, range_cmp);
    const char *bad = NULL;
    uint64_t at = 0; // where the data so far ends
    for (int i = 0; i < k && !bad; at = r[i++].end) {
        if (r[i].begin < at)
            snprintf(why, len, "tensor '%.80s' (data bytes %llu..%llu) overlaps the tensor before it, which ends at %llu",
                     r[i].name, (unsigned long long)r[i].begin, (unsigned long long)r[i].end, (unsigned long long)at), bad = why;
        else if (r[i].begin > at)
            snprintf(why, len, "data bytes %llu..%llu belong to no tensor (a gap before '%.80s')", (unsigned long long)at,
                     (unsigned long long)r[i].begin, r[i].name), bad = why;
    }
    if (!bad && at != data_len)
        snprintf(why, len, "the tensors' data ends at byte %llu of %zu: the file has bytes no tensor holds",
                 (unsigned long long)at, data_len), bad = why;
    free(r);
    return bad;
}

static int name_order(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

// A header that names a tensor twice (a reader would keep one of the two): its message, else NULL.
static const char *check_names(const cJSON *h, char *buf, size_t len) {
    int n = cJSON_GetArraySize(h), k = 0;
    const char **names = malloc((size_t)(n > 0 ? n : 1) * sizeof *names), *why = NULL;
    if (!names) return "out of memory for the header's names";
    const cJSON *e;
    cJSON_ArrayForEach(e, h) names[k++] = e->string;
    qsort(names, k, sizeof *names, name_order);
    for (int i = 1; i < k && !why; i++)
        if (!strcmp(names[i], names[i - 1]))
            snprintf(buf, len, "'%.80s' is named twice in the header (a file names each tensor once)", names[i]), why = buf;
    free(names);
    return why;
}

int st_open(StFile *f, const char *path, char *err, size_t errlen) {
    NL_NONNULL(f, path, err);
    *f = (StFile){0};
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); // a FIFO must not block us
    if (fd < 0) return snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno)), -1;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is %s, not a safetensors file", path,
                 S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                 : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "not a regular file");
        return close(fd), -1;
    }
    size_t size = (size_t)st.st_size;
    uint64_t hlen = 0;
    if (size < 8 || !read_at(fd, &hlen, 8, 0)) { // the header's length first (the format is little-endian)
        close(fd);
        return snprintf(err, errlen, "%s is not a safetensors file (%zu bytes)", path, size), -1;
    }
    if (hlen > size - 8 || hlen > MAX_HEADER) {
        close(fd);
        return snprintf(err, errlen, "%s: truncated or not safetensors (header of %llu bytes in a "
                        "file of %zu)", path, (unsigned long long)hlen, size), -1;
    }
    char *text = malloc((size_t)hlen + 1);
    if (!text || !read_at(fd, text, (size_t)hlen, 8)) {
        free(text), close(fd);
        return snprintf(err, errlen, "cannot read %s's header", path), -1;
    }
    cJSON *h = cJSON_ParseWithLength(text, (size_t)hlen);
    free(text);
    f->header = h;
    f->size = size;
    f->data_len = size - 8 - (size_t)hlen;
    if (!cJSON_IsObject(h)) {
        close(fd), st_close(f);
        return snprintf(err, errlen, "%s: the header is not a JSON object", path), -1;
    }
    const cJSON *e; // the whole header is checked against the file's size before any data is read
    char why_buf[256];
    const char *why = NULL;
    cJSON_ArrayForEach(e, h) {
        if (strcmp(e->string, "__metadata__") == 0) {
            const cJSON *kv;
            if (!cJSON_IsObject(e)) why = "__metadata__ is not an object";
            else cJSON_ArrayForEach(kv, e) if (!cJSON_IsString(kv)) why = "a __metadata__ value is not a string";
        } else {
            why = cJSON_IsObject(e) ? check_entry(e, NULL, f->data_len, NULL) : "not an object";
        }
        if (why) {
            snprintf(err, errlen, "%s: tensor '%.80s': %s", path, e->string, why);
            close(fd), st_close(f);
            return -1;
        }
    }
    if ((why = check_ranges(h, f->data_len, why_buf, sizeof why_buf)) || (why = check_names(h, why_buf, sizeof why_buf))) {
        snprintf(err, errlen, "%s: %s", path, why);
        close(fd), st_close(f);
        return -1;
    }
    f->buf = malloc(size);
    if (!f->buf || !read_at(fd, f->buf, size, 0)) {
        close(fd), st_close(f);
        return snprintf(err, errlen, "cannot read %s (%zu bytes)", path, size), -1;
    }
    close(fd);
    f->data = f->buf + 8 + hlen;
    return 0;
}

void st_close(StFile *f) {
    NL_NONNULL(f);
    cJSON_Delete(f->header);
    free(f->buf);
    *f = (StFile){0};
}

int st_find(const StFile *f, const char *name, StTensor *out) {
    NL_NONNULL(f, name, out);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(f->header, name);
    if (!e || strcmp(name, "__metadata__") == 0 || check_entry(e, f->data, f->data_len, out)) return -1;
    return 0;
}

const char *st_meta(const StFile *f, const char *key) {
    NL_NONNULL(f, key);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(f->header, "__metadata__");
    const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL; // NOLINT(clang-analyzer-core.NullDereference): IsString(NULL) is false
}

int64_t st_numel(const StTensor *t) {
    NL_NONNULL(t);
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int st_read_reals(const StTensor *t, nl_real *out, size_t numel) {
    NL_NONNULL(t, out);
    if ((t->dtype != ST_F32 && t->dtype != ST_F64) || (size_t)st_numel(t) != numel) return -1;
    for (size_t i = 0; i < numel; i++) {
        if (t->dtype == ST_F32) {
            float v;
            memcpy(&v, t->data + 4 * i, 4);
            out[i] = (nl_real)v;
        } else {
            double v;
            memcpy(&v, t->data + 8 * i, 8);
            out[i] = (nl_real)v;
        }
    }
    return 0;
}
