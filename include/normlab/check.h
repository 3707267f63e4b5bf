// Always-on checks for programmer errors (shape mismatch, index out of range): print file:line and a
// message that says what the caller forgot, then abort. Runtime failures return error codes instead.
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NL_CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n  ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            abort();                                                                  \
        }                                                                             \
    } while (0)

// Each pointer argument named must not be NULL (a programmer's error): NL_NONNULL(t, a, b) at the top
// of a public function prints file:line, the function and the first NULL argument's name, then aborts.
#define NL_NONNULL(...)                                                                                \
    nl_nonnull(__FILE__, __LINE__, __func__, #__VA_ARGS__, (const void *const[]){__VA_ARGS__},        \
               sizeof((const void *const[]){__VA_ARGS__}) / sizeof(const void *))

static inline void nl_nonnull(const char *file, int line, const char *func, const char *names,
                              const void *const *args, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (args[i]) continue;
        const char *name = names;
        for (size_t k = 0; k < i; k++) name = strchr(name, ',') + 1; // the i-th name in "t, a, b"
        while (*name == ' ') name++;
        fprintf(stderr, "%s:%d: check failed: %s(): its argument %.*s is NULL\n", file, line, func,
                (int)strcspn(name, ","), name);
        abort();
    }
}
