// Bump allocation, measured-on-first-use sizing, and the needed-vs-available report.
#include "normlab/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include "normlab/check.h"

// Arena memory is mapped from the system directly, not malloc'ed: unmapping gives it back at once,
// so a measured arena's temporary chunks are gone before its block is taken (with malloc, freed
// chunks would stay in the heap and a process would hold both: 2x the resident memory).
static void *pages_alloc(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
static void pages_free(void *p, size_t bytes) {
    if (p) munmap(p, bytes);
}

#define CHUNK_MIN (1u << 20)

struct ArenaChunk {
    ArenaChunk *next;
    size_t cap, used;
    unsigned char *mem; // ARENA_ALIGN-aligned
};

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

int arena_init(Arena *a, const char *name, size_t cap) {
    NL_NONNULL(a, name);
    *a = (Arena){.name = name, .measuring = cap == 0};
    if (cap == 0) return 0;
    a->cap = align_up(cap);
    a->base = pages_alloc(a->cap);
    return a->base ? 0 : -1;
}

static void chunks_free(Arena *a) {
    while (a->chunks) {
        ArenaChunk *c = a->chunks;
        a->chunks = c->next;
        pages_free(c->mem, c->cap);
        free(c);
    }
}

void arena_free(Arena *a) {
    NL_NONNULL(a);
    chunks_free(a);
    pages_free(a->base, a->cap);
    *a = (Arena){0};
}

// The system gave no memory: to the caller's ArenaFail when it set one, else abort (file:line).
static void out_of_memory(Arena *a, size_t bytes, size_t held) {
    if (a->fail) {
        snprintf(a->fail->msg, sizeof a->fail->msg, "arena '%s': out of memory: %zu more bytes wanted, %zu held "
                 "(%.3g GB in all)", a->name, bytes, held, (double)(bytes + held) / 1e9);
        longjmp(a->fail->env, 1);
    }
    NL_CHECK(false, "arena '%s': out of memory (%zu bytes wanted, %zu held)", a->name, bytes, held);
}

static void *chunk_alloc(Arena *a, size_t bytes) {
    ArenaChunk *c = a->chunks;
    if (!c || c->cap - c->used < bytes) {
        if (!(c = malloc(sizeof *c))) out_of_memory(a, sizeof *c, a->peak);
        c->cap = bytes > CHUNK_MIN ? bytes : CHUNK_MIN;
        c->used = 0;
        if (!(c->mem = pages_alloc(c->cap))) free(c), out_of_memory(a, bytes, a->peak);
        c->next = a->chunks;
        a->chunks = c;
    }
    void *p = c->mem + c->used;
    c->used += bytes;
    return p;
}

void *arena_alloc(Arena *a, size_t bytes) {
    NL_NONNULL(a);
    bytes = align_up(bytes ? bytes : 1);
    void *p;
    if (a->measuring) {
        p = chunk_alloc(a, bytes);
    } else {
        NL_CHECK(a->cap - a->used >= bytes,
              "arena '%s' exhausted: needed %zu bytes, available %zu.\n"
              "  A measured arena is sized by its first use: the work done between resets must\n"
              "  not grow after the first step (same batch shape, same model).",
              a->name, a->used + bytes, a->cap);
        p = a->base + a->used;
    }
    a->used += bytes;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void *arena_calloc(Arena *a, size_t bytes) {
    NL_NONNULL(a);
    void *p = arena_alloc(a, bytes);
    memset(p, 0, bytes);
    return p;
}

void arena_reset(Arena *a) {
    NL_NONNULL(a);
    if (a->measuring && a->peak > 0) {
        chunks_free(a);
        a->cap = a->peak;
        a->base = pages_alloc(a->cap);
        if (!a->base) { // measured again on its next use (the block is what failed)
            size_t cap = a->cap;
            a->cap = 0;
            out_of_memory(a, cap, 0);
        }
        a->measuring = false;
    }
    a->used = 0;
}

void arena_rewind(Arena *a, size_t mark) {
    NL_NONNULL(a);
    NL_CHECK(mark <= a->used, "arena '%s': rewind to %zu past the top %zu", a->name, mark, a->used);
    // While measuring, chunk memory after the mark is not reused; the peak is what counts.
    a->used = mark;
}
