// A program outside normlab's tree, built against an installed copy (see this folder's Makefile):
// a 1-32-32-1 MLP fits y = sin(3x) on [-1, 1] with AdamW. It uses only the public API: a parameter
// table (normlab/params.h), linear layers (normlab/layers.h), ops and the tape, the optimizer.
// It also defines names a program might well have (CHECK, SHAPE, Node, real): normlab's headers
// leave them free. Usage: fit [steps]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <normlab/normlab.h>

#define CHECK(x) ((x) ? 0 : 1) // the program's own macros and types, not normlab's
#define SHAPE "circle"
typedef double real;
typedef struct Node {
    int id;
} Node;

enum { N = 64, H = 32 };

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 1500;
    // One table declares every parameter: name, shape, init, learning-rate multiplier, and whether it is
    // a hidden matrix (the weights between hidden layers: the ones --optim=muon would orthogonalize).
    const ParamSpec specs[] = {
        {"l1.weight", NL_SHAPE(H, 1), PARAM_INIT_NORMAL, 1.0, 1, false}, {"l1.bias", NL_SHAPE(H), PARAM_INIT_CONST, 0, 1, false},
        {"l2.weight", NL_SHAPE(H, H), PARAM_INIT_NORMAL, 0.2, 1, true}, {"l2.bias", NL_SHAPE(H), PARAM_INIT_CONST, 0, 1, false},
        {"l3.weight", NL_SHAPE(1, H), PARAM_INIT_NORMAL, 0.2, 1, false}, {"l3.bias", NL_SHAPE(1), PARAM_INIT_CONST, 0, 1, false},
    };
    ParamSet ps;
    Arena data, step;
    Tape tape;
    Optimizer opt;
    OptimConfig oc = {.kind = OPTIM_ADAMW, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    if (paramset_alloc(&ps, specs, 6) || arena_init(&data, "data", 1 << 16) || arena_init(&step, "step", 0) ||
        tape_init(&tape, &step, 64) || optim_init(&opt, &oc, ps.numel)) {
        fprintf(stderr, "fit: out of memory\n");
        return 1;
    }
    Rng rng;
    rng_seed(&rng, 7);
    paramset_init(&ps, &rng);
    LayerLinear l1 = {ps.list[0].t, ps.list[1].t}, l2 = {ps.list[2].t, ps.list[3].t}, l3 = {ps.list[4].t, ps.list[5].t};

    Tensor *x = tensor_new(&data, NL_SHAPE(N, 1), false), *y = tensor_new(&data, NL_SHAPE(N, 1), false);
    for (int i = 0; i < N; i++) {
        x->data[i] = (nl_real)(-1 + 2.0 * i / (N - 1));
        y->data[i] = (nl_real)-sin(3 * x->data[i]); // the target, negated: the loss adds it to the output
    }
    double first = 0, loss = 0;
    for (int s = 0; s < steps; s++) {
        paramset_zero_grad(&ps);
        Tensor *h = op_gelu(&tape, layer_linear_forward(&tape, &l1, x));      // (N,H)
        h = op_gelu(&tape, layer_linear_forward(&tape, &l2, h));              // (N,H)
        Tensor *d = op_add(&tape, layer_linear_forward(&tape, &l3, h), y);    // (N,1) prediction - target
        Tensor *mse = op_mean(&tape, op_mul(&tape, d, d));
        tape_backward(&tape, mse);
        loss = mse->data[0];
        if (s == 0) first = loss;
        optim_step(&opt, &ps, 3e-3, 1); // grads taken as they are (no clip)
        tape_reset(&tape);
    }
    Node n = {CHECK(loss < first)};
    real r = loss;
    printf("normlab %s (%s): MSE %.5f after %d AdamW steps (from %.5f); %s %d\n", NL_VERSION, NL_REAL_NAME, r,
           steps, first, SHAPE, n.id);
    optim_free(&opt), tape_free(&tape), arena_free(&step), arena_free(&data), paramset_free(&ps);
    return loss < 0.01 * first ? 0 : 1; // it must have learned
}
