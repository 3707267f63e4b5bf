// A tiny MLP learns two interleaved spirals (not linearly separable) with a hand-written SGD loop.
// The model is five lines; everything else is data and bookkeeping. Usage: mlp [steps] [seed]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/ops.h"

enum { N_POINTS = 200, HIDDEN = 32, CLASSES = 2 };

typedef struct Mlp {
    Tensor *w1, *b1, *w2, *b2, *w3, *b3;
} Mlp;

static Tensor *param(Arena *a, Shape s, const char *name, double std, Rng *rng) {
    Tensor *p = tensor_new(a, s, true);
    p->name = name;
    for (size_t i = 0; i < tensor_numel(p); i++) p->data[i] = (nl_real)(std * rng_normal(rng));
    return p;
}

// x (N,2) -> logits (N,2); weights are stored [out, in] like a linear layer's
static Tensor *mlp_forward(Tape *t, const Mlp *m, Tensor *x) {
    Tensor *h = op_tanh(t, op_add(t, op_matmul(t, x, m->w1, false, true), m->b1)); // (N,H)
    h = op_tanh(t, op_add(t, op_matmul(t, h, m->w2, false, true), m->b2));         // (N,H)
    return op_add(t, op_matmul(t, h, m->w3, false, true), m->b3);                  // (N,2)
}

// Two spirals, one per class, with a little noise.
static void make_spirals(nl_real *x, int32_t *y, Rng *rng) {
    for (int i = 0; i < N_POINTS; i++) {
        int c = i % 2;
        int pair = i / 2; // both classes take the same radii
        double r = 0.1 + 0.9 * pair / (N_POINTS / 2.0), a = 4 * M_PI * r + M_PI * c; // two turns each
        x[2 * i] = (nl_real)(r * cos(a) + 0.03 * rng_normal(rng));
        x[2 * i + 1] = (nl_real)(r * sin(a) + 0.03 * rng_normal(rng));
        y[i] = c;
    }
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 2000;
    unsigned long seed = argc > 2 ? strtoul(argv[2], NULL, 10) : 1;
    if (steps < 1) {
        fprintf(stderr, "usage: mlp [steps >= 1] [seed]\n");
        return 2;
    }
    Arena params, step;
    Tape tape;
    if (arena_init(&params, "params", 1 << 20) || arena_init(&step, "step", 0) ||
        tape_init(&tape, &step, 64)) {
        fprintf(stderr, "mlp: out of memory\n");
        return 1;
    }
    Rng rng;
    rng_seed(&rng, seed);
    Mlp m = {param(&params, NL_SHAPE(HIDDEN, 2), "w1", 1.0, &rng),
             param(&params, NL_SHAPE(HIDDEN), "b1", 0.0, &rng),
             param(&params, NL_SHAPE(HIDDEN, HIDDEN), "w2", 1.0 / sqrt(HIDDEN), &rng),
             param(&params, NL_SHAPE(HIDDEN), "b2", 0.0, &rng),
             param(&params, NL_SHAPE(CLASSES, HIDDEN), "w3", 1.0 / sqrt(HIDDEN), &rng),
             param(&params, NL_SHAPE(CLASSES), "b3", 0.0, &rng)};
    Tensor *all[] = {m.w1, m.b1, m.w2, m.b2, m.w3, m.b3};
    Tensor *x = tensor_new(&params, NL_SHAPE(N_POINTS, 2), false);
    int32_t y[N_POINTS];
    make_spirals(x->data, y, &rng);

    const double lr = 0.5;
    printf("two spirals, %d points; MLP 2-%d-%d-2 (tanh); full-batch SGD, lr %g\n", N_POINTS,
           HIDDEN, HIDDEN, lr);
    for (int s = 0; s <= steps; s++) {
        for (int i = 0; i < 6; i++) tensor_zero_grad(all[i]);
        Tensor *logits = mlp_forward(&tape, &m, x);
        Tensor *loss = op_cross_entropy(&tape, logits, y);
        tape_backward(&tape, loss);
        if (s % (steps / 10 > 0 ? steps / 10 : 1) == 0 || s == steps) {
            int correct = 0;
            for (int i = 0; i < N_POINTS; i++)
                correct += (logits->data[2 * i + 1] > logits->data[2 * i]) == y[i];
            printf("step %5d  loss %.4f  accuracy %5.1f%%\n", s, loss->data[0],
                   100.0 * correct / N_POINTS);
        }
        for (int i = 0; i < 6; i++) // p -= lr * dp
            for (size_t j = 0; j < tensor_numel(all[i]); j++)
                all[i]->data[j] -= (nl_real)lr * all[i]->grad[j];
        tape_reset(&tape);
    }
    tape_free(&tape);
    arena_free(&step);
    arena_free(&params);
    return 0;
}
