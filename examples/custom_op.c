// Writing your own op and checking its gradient. The op is y = x^3: a forward, a backward beside
// it, an OpDef naming the two, and gradcheck comparing the backward with finite differences.
// `custom_op --broken` checks a wrong backward (2x^2 instead of 3x^2) to show what a failure
// looks like. Exit status: 0 when the check passes, 1 when it fails.
#include <stdio.h>
#include <string.h>

#include "normlab/gradcheck.h"
#include "normlab/ops.h"

// y = x^3;  dx += dy * 3 x^2
static void cube_backward(TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->grad) return;
    for (size_t i = 0; i < tensor_numel(x); i++)
        x->grad[i] += n->out->grad[i] * 3 * x->data[i] * x->data[i];
}
static void cube_backward_broken(TapeNode *n) { // drops the factor 3/2: must be caught
    Tensor *x = n->in[0];
    for (size_t i = 0; i < tensor_numel(x); i++)
        x->grad[i] += n->out->grad[i] * 2 * x->data[i] * x->data[i];
}
static const OpDef CUBE = {.name = "cube", .backward = cube_backward};
static const OpDef CUBE_BROKEN = {.name = "cube (broken)", .backward = cube_backward_broken};

static Tensor *op_cube(Tape *t, Tensor *x, const OpDef *def) {
    Tensor *y = tape_output(t, x->shape, 1, &x); // 1. allocate the output
    for (size_t i = 0; i < tensor_numel(x); i++) // 2. compute the forward
        y->data[i] = x->data[i] * x->data[i] * x->data[i];
    tape_record(t, def, y, 1, &x); // 3. record the node (a no-op when no grad is needed)
    return y;
}

// What gradcheck differentiates: the function from inputs to an output tensor.
static Tensor *f(Tape *t, Tensor *const *in, void *ctx) {
    return op_cube(t, in[0], (const OpDef *)ctx);
}

int main(int argc, char **argv) {
    bool broken = argc > 1 && strcmp(argv[1], "--broken") == 0;
    Arena arena;
    Tape tape;
    if (arena_init(&arena, "step", 0) || tape_init(&tape, &arena, 64)) return 1;
    Tensor *x = tensor_new(&arena, NL_SHAPE(2, 3), true);
    x->name = "x";
    for (int i = 0; i < 6; i++) x->data[i] = (nl_real)(0.3 * i - 0.8);

    GradcheckResult res;
    int failed = gradcheck(&tape, f, (void *)(broken ? &CUBE_BROKEN : &CUBE), &x, 1, NULL, &res);
    printf("%s: %zu elements checked, %zu failed, max error %.3g (tolerance %.0e, %s build)\n",
           broken ? "cube (broken backward)" : "cube", res.n_checked, res.n_failed, res.max_err,
           gradcheck_default_tol(), NL_REAL_NAME);
    tape_free(&tape);
    arena_free(&arena);
    return failed;
}
