// Tensor: a non-owning view of a contiguous row-major array of reals (and of its gradient).
// Arenas own the memory; a Tensor only points into it. Up to 4 dims.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "normlab/arena.h"
#include "normlab/check.h"
#include "normlab/real.h"

#define TENSOR_MAX_DIMS 4

typedef struct Shape {
    int ndim;
    int d[TENSOR_MAX_DIMS];
} Shape;

typedef struct Tensor {
    nl_real *data;       // (numel)
    nl_real *grad;       // (numel), NULL when needs_grad is false, or while a tape defers it
    Shape shape;
    bool needs_grad;
    bool grad_fresh; // grad holds no values yet: the backward that reaches it first writes it (OpDef)
    const char *name; // for reports (gradcheck, non-finite detection); may be NULL
    // A view or slice: the tensor it views, and where in it (in elements). Its grad is base's grad
    // from there on, even when base's grad is only allocated later (autograd/tape.c).
    struct Tensor *base;
    size_t base_offset;
} Tensor;

// NL_SHAPE(B, T, C) builds a Shape from 1 to 4 dimensions.
#define NL_SHAPE(...) \
    shape_of((int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__})

Shape shape_of(int ndim, const int *d);
size_t shape_numel(Shape s);
bool shape_equal(Shape a, Shape b);
// Writes e.g. "[2,3,4]" into buf (at least 64 bytes) and returns buf.
const char *shape_str(Shape s, char *buf);
// Product of all dims but the last: the number of rows when the last dim is a row.
size_t shape_rows(Shape s);
static inline int shape_last(Shape s) { return s.d[s.ndim - 1]; }

static inline size_t tensor_numel(const Tensor *t) { return shape_numel(t->shape); }

// Allocates a tensor (struct, data, and a zeroed grad when needs_grad) from an arena.
// (A tape's op outputs get their grads later, in backward: tape_output.)
// Data is left uninitialised.
Tensor *tensor_new(Arena *a, Shape s, bool needs_grad);
// A view of the same data and grad with another shape of the same numel.
Tensor *tensor_view(Arena *a, const Tensor *t, Shape s);
// A view of numel(s) consecutive elements of t starting at element `first` (e.g. a block of rows of a
// weight). It shares t's data and grad, so gradients accumulated through it land in t.
Tensor *tensor_slice(Arena *a, const Tensor *t, size_t first, Shape s);
void tensor_fill(Tensor *t, nl_real v);
void tensor_zero_grad(Tensor *t);
