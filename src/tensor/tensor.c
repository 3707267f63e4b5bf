// Shapes and tensor views.
#include "normlab/check.h"
#include "normlab/tensor.h"

#include <stdio.h>
#include <string.h>

Shape shape_of(int ndim, const int *d) {
    NL_NONNULL(d);
    NL_CHECK(ndim >= 1 && ndim <= TENSOR_MAX_DIMS, "a shape has 1 to %d dims, got %d",
          TENSOR_MAX_DIMS, ndim);
    Shape s = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) {
        NL_CHECK(d[i] >= 1, "dim %d of a shape is %d; every dim must be >= 1", i, d[i]);
        s.d[i] = d[i];
    }
    return s;
}

size_t shape_numel(Shape s) {
    size_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= (size_t)s.d[i];
    return n;
}

size_t shape_rows(Shape s) { return shape_numel(s) / (size_t)shape_last(s); }

bool shape_equal(Shape a, Shape b) {
    if (a.ndim != b.ndim) return false;
    for (int i = 0; i < a.ndim; i++)
        if (a.d[i] != b.d[i]) return false;
    return true;
}

const char *shape_str(Shape s, char *buf) {
    NL_NONNULL(buf);
    int k = sprintf(buf, "[");
    for (int i = 0; i < s.ndim; i++) k += sprintf(buf + k, i ? ",%d" : "%d", s.d[i]);
    sprintf(buf + k, "]");
    return buf;
}

Tensor *tensor_new(Arena *a, Shape s, bool needs_grad) {
    NL_NONNULL(a);
    Tensor *t = arena_alloc(a, sizeof(Tensor));
    size_t n = shape_numel(s);
    *t = (Tensor){.data = arena_alloc(a, n * sizeof(nl_real)), .shape = s, .needs_grad = needs_grad};
    if (needs_grad) t->grad = arena_calloc(a, n * sizeof(nl_real));
    return t;
}

Tensor *tensor_view(Arena *a, const Tensor *t, Shape s) {
    NL_NONNULL(a, t);
    char b1[64], b2[64];
    NL_CHECK(shape_numel(s) == tensor_numel(t), "cannot view %s as %s: element counts differ",
          shape_str(t->shape, b1), shape_str(s, b2));
    return tensor_slice(a, t, 0, s);
}

Tensor *tensor_slice(Arena *a, const Tensor *t, size_t first, Shape s) {
    NL_NONNULL(a, t);
    char b1[64], b2[64];
    NL_CHECK(first + shape_numel(s) <= tensor_numel(t), "slice %s at %zu is outside %s", shape_str(s, b1),
          first, shape_str(t->shape, b2));
    Tensor *v = arena_alloc(a, sizeof(Tensor));
    *v = *t;
    v->data += first;
    if (v->grad) v->grad += first;
    v->shape = s;
    v->base = t->base ? t->base : (Tensor *)t;
    v->base_offset = t->base_offset + first;
    return v;
}

void tensor_fill(Tensor *t, nl_real v) {
    NL_NONNULL(t);
    size_t n = tensor_numel(t);
    for (size_t i = 0; i < n; i++) t->data[i] = v;
}

void tensor_zero_grad(Tensor *t) {
    NL_NONNULL(t);
    if (t->grad) memset(t->grad, 0, tensor_numel(t) * sizeof(nl_real));
}
