// A model's parameters: declared once in a table (name, shape, init), they live in one contiguous
// data block with a grad block of the same layout, so zero-grad is one memset, the optimizer walks
// flat arrays and a checkpoint writes each parameter from the block.
#pragma once
#include <stdbool.h>

#include "normlab/rng.h"
#include "normlab/tensor.h"

#define PARAM_NAME_MAX 80

typedef enum ParamInit {
    PARAM_INIT_NORMAL, // N(0, value^2)
    PARAM_INIT_CONST,  // every element = value
} ParamInit;

// One row of a parameter table.
typedef struct ParamSpec {
    char name[PARAM_NAME_MAX];
    Shape shape;
    ParamInit init;
    double value;
    double lr_mult; // the optimizer's learning rate for this parameter is lr * lr_mult (1: plain; > 0)
    bool hidden;    // a weight matrix inside the blocks (not an embedding or the head): Muon's
} ParamSpec;

typedef struct Param {
    ParamSpec spec;
    Tensor *t;     // a view into the blocks
    size_t offset; // of t's first element in the blocks
} Param;

typedef struct ParamSet {
    Param *list; // (n), in table order
    int n;
    size_t numel;     // block length: every parameter, each padded to a 64-byte boundary
    nl_real *data, *grad; // (numel) each; padding is zero and stays zero
    Tensor *tensors;   // (n) the Tensor structs the list points to
} ParamSet;

// Allocates the blocks for the table (grads zeroed, data uninitialised). Returns 0, or -1 when out
// of memory.
int paramset_alloc(ParamSet *ps, const ParamSpec *specs, int n);
void paramset_free(ParamSet *ps);
// Draws every parameter from its init, in table order, from rng.
void paramset_init(ParamSet *ps, Rng *rng);
void paramset_zero_grad(ParamSet *ps);
// The parameter of that name, or NULL.
Param *paramset_find(const ParamSet *ps, const char *name);
// Parameters with 2+ dims get weight decay (matrices and embeddings; not norms, biases, scalars).
static inline bool param_decays(const Param *p) { return p->spec.shape.ndim >= 2; }
// The number of real parameters (without padding).
size_t paramset_count(const ParamSet *ps);
