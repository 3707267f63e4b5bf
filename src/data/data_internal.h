// What the dataset readers share (src/data only).
#pragma once
#include <stddef.h>

// Reads a file (plain or gzip, through zlib) into a malloc'ed buffer, its length in *len. Only a
// regular file is opened (a FIFO or a device is refused by what it is, never waited on), and reading
// stops after max + 1 bytes, so a file (or a gzip member) never inflates past what its format allows:
// *len > max says there was more, and the caller says what is wrong. NULL with a message in err when
// it cannot be opened or read, or its gzip data is corrupt or truncated before max + 1 bytes.
unsigned char *data_read_all(const char *path, size_t max, size_t *len, char *err, size_t errlen);

// The most bytes a read may hold: a share of this machine's memory (what the data costs once loaded
// is a multiple of its bytes).
size_t data_memory_limit(int share);
