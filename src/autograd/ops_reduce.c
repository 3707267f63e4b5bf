// Sums and means: over everything, or over the last dim. One op: x is cut into equal contiguous
// groups, and y[g] = scale * sum of group g (scale = 1 for a sum, 1/group for a mean).
#include "normlab/check.h"
#include "ops_internal.h"

// y[g] = scale * sum_i x[g*G + i];  dx[g*G + i] += scale * dy[g]
static Tensor *group_sum(Tape *t, Tensor *x, Shape out_shape, bool mean) {
    Tensor *y = tape_output(t, out_shape, 1, &x);
    size_t groups = shape_numel(out_shape), G = tensor_numel(x) / groups;
    double scale = mean ? 1.0 / (double)G : 1.0;
    for (size_t g = 0; g < groups; g++) {
        double acc = 0;
        for (size_t i = 0; i < G; i++) acc += x->data[g * G + i];
        y->data[g] = (nl_real)(scale * acc);
    }
    TapeNode *n = record(t, OP_SUM, y, 1, &x);
    if (n) n->arg[0] = scale;
    return y;
}
void sum_backward(TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->grad) return;
    size_t groups = tensor_numel(n->out), G = tensor_numel(x) / groups;
    nl_real scale = (nl_real)n->arg[0];
    for (size_t g = 0; g < groups; g++) {
        nl_real d = scale * n->out->grad[g];
        for (size_t i = 0; i < G; i++) x->grad[g * G + i] += d;
    }
}

static Shape last_reduced(Shape s) {
    s.d[s.ndim - 1] = 1;
    return s;
}

Tensor *op_sum(Tape *t, Tensor *x) {
    NL_NONNULL(t, x);
    return group_sum(t, x, NL_SHAPE(1), false);
}
Tensor *op_mean(Tape *t, Tensor *x) {
    NL_NONNULL(t, x);
    return group_sum(t, x, NL_SHAPE(1), true);
}
Tensor *op_sum_last(Tape *t, Tensor *x) {
    NL_NONNULL(t, x);
    return group_sum(t, x, last_reduced(x->shape), false);
}
Tensor *op_mean_last(Tape *t, Tensor *x) {
    NL_NONNULL(t, x);
    return group_sum(t, x, last_reduced(x->shape), true);
}
