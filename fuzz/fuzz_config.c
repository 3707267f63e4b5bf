// Fuzz target: the train program's --config reader, with two files. The input's first byte says
// where it splits (at (byte / 255) of the rest): the first part is a.conf, the second b.conf, read
// as ./train --config a.conf --config b.conf. Whatever parses must keep each file's values intact
// (they point into that file's own text: ASan sees a value read after its text is gone), derive
// and record its metadata.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train_options.h"

static void write_part(const char *path, const uint8_t *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t rest = size - 1, cut = rest * data[0] / 255;
    char a[64], b[64];
    snprintf(a, sizeof a, "/tmp/fuzz_config_%d_a.conf", (int)getpid());
    snprintf(b, sizeof b, "/tmp/fuzz_config_%d_b.conf", (int)getpid());
    write_part(a, data + 1, cut);
    write_part(b, data + 1 + cut, rest - cut);
    char *argv[] = {"train", "--config", a, "--config", b, NULL};
    TrainOptions o = {0};
    if (options_parse(&o, 5, argv) == 0) {
        options_derive(&o);
        const char *meta[256 + 1] = {0};
        static char buf[16384];
        int n = 0;
        options_to_meta(&o, meta, &n, buf, sizeof buf);
        for (int i = 0; i < 2 * n; i++)
            if (!meta[i]) abort();
    }
    options_free(&o);
    unlink(a), unlink(b);
    return 0;
}
