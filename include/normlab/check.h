// Always-on checks for programmer errors (shape mismatch, index out of range): print file:line and a
// message that says what the caller forgot, then abort. Runtime failures return error codes instead.
#pragma once
#include <stdio.h>
#include <stdlib.h>

#define NL_CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n  ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            abort();                                                                  \
        }                                                                             \
    } while (0)
