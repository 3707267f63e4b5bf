// Arenas: bump allocators that own all tensor memory. Freed all at once (reset), never piecewise.
// A fixed arena has its capacity from the start (parameters: the size is known from the parameter
// table). A measured arena (capacity 0 at init) serves its first use from temporary chunks while
// recording the peak, then at its first reset allocates one block of exactly that size; from then on
// it never grows, and running out is reported as needed-vs-available.
#pragma once
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>

#define ARENA_ALIGN 64 // a cache line; also the widest SIMD load (AVX-512)

typedef struct ArenaChunk ArenaChunk;

// Where an arena goes when the system will not give it memory, instead of aborting: back to the
// caller that set it (setjmp(f->env) returned nonzero), with f->msg naming the arena and the bytes.
// What the arena and its tape hold after that is unusable until arena_reset; the caller stops.
typedef struct ArenaFail {
    jmp_buf env;
    char msg[256];
} ArenaFail;

typedef struct Arena {
    const char *name;    // for messages
    unsigned char *base; // the one block (NULL while measuring)
    size_t cap;          // bytes in base
    size_t used;         // bytes handed out since the last reset (aligned sizes)
    size_t peak;         // the most ever used
    bool measuring;      // first use: serve from chunks, record the peak
    ArenaChunk *chunks;  // measuring only
    ArenaFail *fail;     // NULL: no memory aborts with file:line; else where to go (ArenaFail)
} Arena;

// cap > 0: a fixed arena of cap bytes. cap == 0: measured on first use.
// Returns 0, or -1 when the block cannot be allocated.
int arena_init(Arena *a, const char *name, size_t cap);
void arena_free(Arena *a);
// Memory is ARENA_ALIGN-aligned and uninitialised (arena_calloc: zeroed).
void *arena_alloc(Arena *a, size_t bytes);
void *arena_calloc(Arena *a, size_t bytes);
// Forget everything allocated. The first reset of a measured arena fixes its size to the peak.
void arena_reset(Arena *a);
// Mark and rewind: forget only what was allocated after the mark.
static inline size_t arena_mark(const Arena *a) { return a->used; }
void arena_rewind(Arena *a, size_t mark);
