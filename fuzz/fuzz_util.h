// Shared by the fuzz targets: the input as a file (the readers under test take paths).
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

// Writes data to a per-process temp file ending in suffix; returns its path (static storage), or
// NULL when it cannot be written.
static inline const char *fuzz_write_temp(const unsigned char *data, size_t size, const char *suffix) {
    static char path[512];
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/normlab_fuzz_%d%s", dir, (int)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    size_t put = fwrite(data, 1, size, f);
    if (fclose(f) || put != size) return NULL;
    return path;
}
