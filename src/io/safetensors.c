// safetensors writing (atomic) and reading (validated).
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
#include <unistd.h>

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
    char *json = header_json(entries, n, meta, n_meta);
    if (!json) return snprintf(err, errlen, "%s: out of memory for the header", path), -1;
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8;
    char tmp[4096];
    st_temp_path(path, tmp, sizeof tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a file next to %s: %s", path, strerror(errno));
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
        !as_count(cJSON_GetArrayItem(offs, 0), data_len, &begin) ||
        !as_count(cJSON_GetArrayItem(offs, 1), data_len, &end) || begin > end)
        return "data_offsets outside the file";
    if (end - begin != numel * DTYPE_SIZE[dt]) return "data_offsets do not match dtype and shape";
    t.nbytes = end - begin;
    t.data = data + begin;
    if (out) *out = t;
    return NULL;
}

int st_open(StFile *f, const char *path, char *err, size_t errlen) {
    *f = (StFile){0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno)), -1;
    long size = (fseek(fp, 0, SEEK_END) == 0) ? ftell(fp) : -1;
    rewind(fp);
    if (size < 8) {
        fclose(fp);
        return snprintf(err, errlen, "%s is not a safetensors file (%ld bytes)", path, size), -1;
    }
    f->buf = malloc((size_t)size);
    if (!f->buf || fread(f->buf, 1, (size_t)size, fp) != (size_t)size) {
        fclose(fp);
        st_close(f);
        return snprintf(err, errlen, "cannot read %s", path), -1;
    }
    fclose(fp);
    f->size = (size_t)size;
    uint64_t hlen;
    memcpy(&hlen, f->buf, 8);
    if (hlen > f->size - 8 || hlen > MAX_HEADER) {
        st_close(f);
        return snprintf(err, errlen, "%s: truncated or not safetensors (header of %llu bytes in a "
                        "file of %zu)", path, (unsigned long long)hlen, (size_t)size), -1;
    }
    cJSON *h = cJSON_ParseWithLength((const char *)f->buf + 8, (size_t)hlen);
    f->header = h;
    f->data = f->buf + 8 + hlen;
    f->data_len = f->size - 8 - hlen;
    if (!cJSON_IsObject(h)) {
        st_close(f);
        return snprintf(err, errlen, "%s: the header is not a JSON object", path), -1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, h) {
        const char *why = NULL;
        if (strcmp(e->string, "__metadata__") == 0) {
            const cJSON *kv;
            if (!cJSON_IsObject(e)) why = "__metadata__ is not an object";
            else cJSON_ArrayForEach(kv, e) if (!cJSON_IsString(kv)) why = "a __metadata__ value is not a string";
        } else {
            why = cJSON_IsObject(e) ? check_entry(e, f->data, f->data_len, NULL) : "not an object";
        }
        if (why) {
            snprintf(err, errlen, "%s: tensor '%.80s': %s", path, e->string, why);
            st_close(f);
            return -1;
        }
    }
    return 0;
}

void st_close(StFile *f) {
    cJSON_Delete(f->header);
    free(f->buf);
    *f = (StFile){0};
}

int st_find(const StFile *f, const char *name, StTensor *out) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(f->header, name);
    if (!e || strcmp(name, "__metadata__") == 0 || check_entry(e, f->data, f->data_len, out)) return -1;
    return 0;
}

const char *st_meta(const StFile *f, const char *key) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(f->header, "__metadata__");
    const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL; // NOLINT(clang-analyzer-core.NullDereference): IsString(NULL) is false
}

int64_t st_numel(const StTensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int st_read_reals(const StTensor *t, nl_real *out, size_t numel) {
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
