// What the dataset readers share (src/data only).
#pragma once
#include <stddef.h>

// Reads the whole file (plain or gzip, through zlib) into a malloc'ed buffer: its length in *len.
// NULL with a message in err when it cannot be opened or its gzip data is corrupt or truncated.
unsigned char *data_read_all(const char *path, size_t *len, char *err, size_t errlen);
