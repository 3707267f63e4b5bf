// Loading, vocabulary, split and batches.
#include "normlab/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "normlab/check.h"
#include "data_internal.h"

static void vocab_index(Dataset *d) {
    for (int b = 0; b < 256; b++) d->id_of[b] = -1;
    for (int i = 0; i < d->vocab_size; i++) d->id_of[d->vocab[i]] = (int16_t)i;
}

void dataset_set_vocab(Dataset *d, const unsigned char *bytes, int n) {
    NL_NONNULL(d, bytes);
    *d = (Dataset){.vocab_size = n};
    memcpy(d->vocab, bytes, n);
    vocab_index(d);
}

size_t data_memory_limit(int share) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages / (size_t)share * (size_t)size : (size_t)1 << 32;
}

unsigned char *data_read_all(const char *path, size_t max, size_t *len, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0) return snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno)), NULL;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode))
        return close(fd), snprintf(err, errlen, "%s is not a regular file (a FIFO, a device or a folder): not read",
                                   path), NULL;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    gzFile f = gzdopen(fd, "rb");
    if (!f) return close(fd), snprintf(err, errlen, "cannot read %s: out of memory", path), NULL;
    size_t cap = 1 << 16, n = 0, want = max + 1; // doubled as needed, never past want
    if (cap > want) cap = want;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            gzclose(f);
            snprintf(err, errlen, "%s: out of memory after %zu bytes", path, n);
            return NULL;
        }
        int got = gzread(f, buf + n, (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n));
        if (got < 0) break;
        n += (size_t)got;
        if (got == 0 || n == want) break;
        if (n == cap) {
            unsigned char *bigger = realloc(buf, cap = cap > want / 2 ? want : cap * 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    int zerr;
    char msg[200]; // gzerror's text belongs to f: copy it before gzclose frees f
    snprintf(msg, sizeof msg, "%s", gzerror(f, &zerr));
    int close_rc = gzclose(f); // Z_BUF_ERROR: the last read stopped inside a gzip stream
    if ((zerr != Z_OK && zerr != Z_STREAM_END) || (close_rc != Z_OK && n < want)) {
        free(buf);
        snprintf(err, errlen, "%s: corrupt or truncated gzip data (%s)", path,
                 zerr != Z_OK ? msg : "the file ends inside a compressed stream");
        return NULL;
    }
    *len = n;
    return buf;
}

int dataset_load(Dataset *d, const char *path, char *err, size_t errlen) {
    NL_NONNULL(d, path, err);
    *d = (Dataset){0};
    size_t n, max = data_memory_limit(8); // the text, then its tokens (int32) and a batch's copies
    if (max > DATASET_MAX_BYTES) max = DATASET_MAX_BYTES;
    unsigned char *text = data_read_all(path, max, &n, err, errlen);
    if (!text) return -1;
    if (n > max)
        return free(text), snprintf(err, errlen, "%s holds (or inflates to) more than %zu bytes, the most a text may "
                                    "hold here: refused before reading further", path, max), -1;
    if (n < 2) {
        free(text);
        snprintf(err, errlen, "%s: only %zu bytes of text; a dataset needs enough for a context", path, n);
        return -1;
    }
    bool seen[256] = {false};
    for (size_t i = 0; i < n; i++) seen[text[i]] = true;
    for (int b = 0; b < 256; b++)
        if (seen[b]) d->vocab[d->vocab_size++] = (unsigned char)b;
    vocab_index(d);
    d->tokens = malloc(n * sizeof(int32_t));
    if (!d->tokens) {
        free(text);
        snprintf(err, errlen, "%s: out of memory for %zu tokens", path, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) d->tokens[i] = d->id_of[text[i]];
    free(text);
    d->n = n;
    d->n_train = (size_t)(n * 0.9);
    return 0;
}

void dataset_free(Dataset *d) {
    NL_NONNULL(d);
    free(d->tokens);
    *d = (Dataset){0};
}

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int dataset_resolve(const char *arg, const char *data_dir, char *out, size_t outlen, char *err,
                    size_t errlen) {
    NL_NONNULL(arg, out, err);
    if (is_file(arg)) {
        snprintf(out, outlen, "%s", arg);
        return 0;
    }
    bool path = strchr(arg, '/') || strchr(arg, '.');
    const char *ext[] = {".txt.gz", ".txt"};
    for (int i = 0; i < 2 && !path; i++) { // a name: data/NAME.txt.gz or data/NAME.txt
        snprintf(out, outlen, "%s/%s%s", data_dir, arg, ext[i]);
        if (is_file(out)) return 0;
    }
    struct stat st;
    if (stat(arg, &st) == 0) { // there, but not a file to read whole
        snprintf(err, errlen, "dataset %s is %s: give a .txt or .txt.gz file", arg,
                 S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe), not a regular file"
                 : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device, not a regular file" : "not a regular file");
        return -1;
    }
    if (path) {
        snprintf(err, errlen, "dataset file %s not found", arg);
        return -1;
    }
    if (strcmp(arg, "tinyshakespeare") == 0) {
        snprintf(err, errlen,
                 "dataset '%s' not found: looked for %s/%s.txt.gz and %s/%s.txt.\n"
                 "  Get it with: %s/fetch.sh   (downloads it once)\n"
                 "  Offline: copy %s.txt.gz (or the plain text as %s.txt) into %s/ by hand.",
                 arg, data_dir, arg, data_dir, arg, data_dir, arg, arg, data_dir);
        return -1;
    }
    // another name: say what the data folder holds, and that fetch.sh knows one dataset only
    char have[1024] = "";
    size_t used = 0;
    DIR *dir = opendir(data_dir);
    for (struct dirent *e; dir && (e = readdir(dir));) {
        size_t n = strlen(e->d_name);
        int cut = n > 7 && !strcmp(e->d_name + n - 7, ".txt.gz") ? 7 : n > 4 && !strcmp(e->d_name + n - 4, ".txt") ? 4 : 0;
        if (cut && used < sizeof have)
            used += snprintf(have + used, sizeof have - used, "%s%.*s", used ? ", " : "", (int)(n - cut), e->d_name);
    }
    if (dir) closedir(dir);
    snprintf(err, errlen,
             "dataset '%s' not found: no %s/%s.txt.gz or %s/%s.txt.\n"
             "  %s/ holds: %s.\n"
             "  %s/fetch.sh fetches tinyshakespeare only; for another text, give its path (a .txt or\n"
             "  .txt.gz file) or copy it into %s/ as %s.txt.",
             arg, data_dir, arg, data_dir, arg, data_dir, used ? have : "no datasets yet", data_dir, data_dir, arg);
    return -1;
}

int dataset_check_context(const Dataset *d, int T, char *err, size_t errlen) {
    NL_NONNULL(d, err);
    size_t n_val = d->n - d->n_train;
    if (d->n_train > (size_t)T && n_val > (size_t)T) return 0;
    snprintf(err, errlen,
             "the dataset is too short for a context of %d: its train split has %zu tokens and its "
             "val split %zu; each needs more than %d (use a smaller --block-size or more text)",
             T, d->n_train, n_val, T);
    return -1;
}

void dataset_batch(const Dataset *d, bool val, int B, int T, Rng *rng, int32_t *idx, int32_t *targets) {
    NL_NONNULL(d, rng, idx, targets);
    const int32_t *split = d->tokens + (val ? d->n_train : 0);
    size_t n = val ? d->n - d->n_train : d->n_train;
    NL_CHECK(n > (size_t)T && n - T <= UINT32_MAX, "split of %zu tokens for context %d", n, T);
    for (int b = 0; b < B; b++) {
        size_t off = rng_below(rng, (uint32_t)(n - T)); // n - T offsets leave room for the targets
        memcpy(idx + (size_t)b * T, split + off, T * sizeof(int32_t));
        memcpy(targets + (size_t)b * T, split + off + 1, T * sizeof(int32_t));
    }
}

static void text_draw(const DataSource *src, bool val, int B, Rng *rng, int32_t *idx, int32_t *targets) {
    dataset_batch(src->text, val, B, src->width, rng, idx, targets);
}

// Window w of the val split: tokens [wT, wT + T) and the next T.
static void text_rows(const DataSource *src, size_t first, int n, int32_t *idx, int32_t *targets) {
    const Dataset *d = src->text;
    size_t T = (size_t)src->width;
    const int32_t *val = d->tokens + d->n_train;
    for (int b = 0; b < n; b++) {
        memcpy(idx + b * T, val + (first + b) * T, T * sizeof(int32_t));
        memcpy(targets + b * T, val + (first + b) * T + 1, T * sizeof(int32_t));
    }
}

static const DataOps TEXT_OPS = {text_draw, text_rows};

DataSource dataset_source(Dataset *d, int T) {
    NL_NONNULL(d);
    size_t n_val = d->n - d->n_train;
    return (DataSource){.ops = &TEXT_OPS, .self = d, .eval_name = "val", .width = T, .target_width = T,
                        .classes = d->vocab_size, .units_per_row = T, .unit = "tok", .eval_rows = n_val > 0 ? (n_val - 1) / T : 0, .text = d};
}

int dataset_encode(const Dataset *d, const char *s, int32_t *out, int max, int *bad) {
    NL_NONNULL(d, s, out, bad);
    int n = 0;
    for (; n < max && s[n]; n++) {
        int id = d->id_of[(unsigned char)s[n]];
        if (id < 0) {
            *bad = n;
            return -1;
        }
        out[n] = id;
    }
    return n;
}
