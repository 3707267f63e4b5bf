// The smallest tape demo: y = tanh(w x + b) for one number, then backward.
// The printed gradients match the chain rule worked by hand in the comments.
#include <math.h>
#include <stdio.h>

#include "normlab/ops.h"

int main(void) {
    Arena params, step;
    Tape tape;
    if (arena_init(&params, "params", 1 << 12) || arena_init(&step, "step", 0) ||
        tape_init(&tape, &step, 16)) {
        fprintf(stderr, "tape_demo: out of memory\n");
        return 1;
    }
    Tensor *x = tensor_new(&params, NL_SHAPE(1), false), *w = tensor_new(&params, NL_SHAPE(1), true),
           *b = tensor_new(&params, NL_SHAPE(1), true);
    x->data[0] = 2, w->data[0] = 0.5, b->data[0] = -0.25;

    Tensor *z = op_add(&tape, op_mul(&tape, w, x), b); // z = w x + b = 0.75
    Tensor *y = op_tanh(&tape, z);                      // y = tanh(z)
    tape_backward(&tape, y);                            // dy/dy = 1, then the nodes in reverse

    double dz = 1 - tanh(0.75) * tanh(0.75); // dy/dz = 1 - tanh(z)^2
    printf("recorded %d nodes: %s, %s, %s\n", tape.n, tape.nodes[0].def->name,
           tape.nodes[1].def->name, tape.nodes[2].def->name);
    printf("y     = %.6f  (tanh(0.75) = %.6f)\n", y->data[0], tanh(0.75));
    printf("dy/dw = %.6f  (by hand: x (1 - y^2) = %.6f)\n", w->grad[0], 2 * dz);
    printf("dy/db = %.6f  (by hand:    1 - y^2  = %.6f)\n", b->grad[0], dz);
    tape_free(&tape);
    arena_free(&step);
    arena_free(&params);
    return 0;
}
