// The normalization layers and their element-wise surrogates, over the last dim of (..., C):
//   ln        y = w * (x - mean) / sqrt(var + eps) + b        (var: population, divide by C)
//   rmsnorm   y = w * x / sqrt(mean(x^2) + eps) + b
//   dyt       y = w * tanh(alpha * x) + b
//   dyisru    y = w * x / sqrt(beta + x^2 + eps) + b
//   dytsp     dyt with alpha = softplus(stored alpha)
//   dyisrusp  dyisru with beta = softplus(stored beta)
// w per channel; b per channel and optional; alpha/beta one scalar per layer instance (shape [1]).
// Each has a fused op with a hand-derived backward (norm_<name>.c; docs/derivations.md) and a
// composite form built from primitive ops (norm_composite.c), which the tape differentiates.
#pragma once
#include <stdbool.h>

#include "../autograd/tape.h"

typedef enum NormKind {
    NORM_LN,
    NORM_RMSNORM,
    NORM_DYT,
    NORM_DYISRU,
    NORM_DYTSP,
    NORM_DYISRUSP,
    NORM_COUNT
} NormKind;

#define NORM_EPS 1e-5

// One row per kind, indexed by NormKind (size checked against NORM_COUNT in norm.c).
typedef struct NormInfo {
    const char *name;   // as given to --norm=
    const char *scalar; // "alpha", "beta", or NULL: the name of the layer's scalar parameter
    bool softplus;      // the stored scalar is passed through softplus before use
    const OpDef *op;    // the fused op
} NormInfo;
extern const NormInfo NORM_TABLE[];

// One layer instance: the kind and its parameters (views into the model's parameter block).
typedef struct Norm {
    NormKind kind;
    bool composite; // build from primitive ops instead of the fused op (teaching, checking)
    double eps;     // NORM_EPS in the model; 0 for the exactness identities
    Tensor *weight; // (C)
    Tensor *bias;   // (C), or NULL
    Tensor *scalar; // [1]: alpha or beta as stored (raw, for the softplus kinds), or NULL
} Norm;

// y = norm(x) over the last dim. x (..., C) -> (..., C).
Tensor *norm_forward(Tape *t, const Norm *n, Tensor *x);

// The kind named s, or -1.
int norm_kind_parse(const char *s);
// The effective alpha or beta: the stored value, or its softplus for the softplus kinds.
double norm_scalar_effective(NormKind k, double stored);
// The stored value that gives an effective alpha or beta (inverse softplus for the softplus kinds).
double norm_scalar_stored(NormKind k, double effective);
