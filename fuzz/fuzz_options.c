// Fuzz target: the train program's command line. The input is split at NUL bytes into arguments;
// whatever parses is derived, recorded as checkpoint metadata and restored from it, and the
// restored options must record the same metadata (what --resume relies on).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_options.h"

enum { MAX_ARGS = 32, META_MAX = 256 };

static const char *lookup(void *ctx, const char *key) {
    const char **meta = ctx;
    for (int i = 0; meta[i]; i += 2)
        if (!strcmp(meta[i], key)) return meta[i + 1];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char *argv[MAX_ARGS + 1] = {"train"};
    int argc = 1;
    for (char *s = text; argc < MAX_ARGS && s <= text + size; s += strlen(s) + 1) argv[argc++] = s;
    argv[argc] = NULL;

    TrainOptions o = {0};
    if (options_parse(&o, argc, argv) == 0) {
        options_derive(&o);
        const char *meta[META_MAX + 1] = {0}, *again[META_MAX + 1] = {0};
        static char buf[16384], buf2[16384];
        int n = 0, n2 = 0;
        options_to_meta(&o, meta, &n, buf, sizeof buf);
        TrainOptions back = {0};
        char *none[] = {"train", NULL};
        char err[512];
        if (options_parse(&back, 1, none) || options_from_meta(&back, lookup, meta, err, sizeof err))
            fprintf(stderr, "restoring: %s\n", err), abort();
        options_derive(&back);
        options_to_meta(&back, again, &n2, buf2, sizeof buf2);
        if (n != n2) abort();
        for (int i = 0; i < 2 * n; i++)
            if (strcmp(meta[i], again[i])) abort(); // a saved option that does not come back the same
    }
    options_free(&o);
    free(text);
    return 0;
}
