// The normalization layers and their element-wise surrogates, over the last dim of (..., C):
//   ln        y = w * (x - mean) / sqrt(var + eps) + b        (var: population, divide by C)
//   rmsnorm   y = w * x / sqrt(mean(x^2) + eps) + b
//   dyt       y = w * tanh(alpha * x) + b
//   dyisru    y = w * x / sqrt(beta + x^2 + eps) + b
//   dytsp     dyt with alpha = softplus(stored alpha)
//   dyisrusp  dyisru with beta = softplus(stored beta)
//   derf      y = w * erf(alpha * x + s) + b
// w per channel; b per channel and optional; alpha/beta and derf's shift s one scalar per layer
// instance (shape [1]).
// Each has a fused op with a hand-derived backward and a composite form built from primitive ops,
// which the tape differentiates, in its own file (src/layers/norm_<name>.c; docs/derivations.md).
#pragma once
#include <stdbool.h>

#include "normlab/tape.h"

// The registry of kinds, in order: X(ENUM, name). A new kind is one line here and its file
// src/layers/norm_<file>.c, which defines the kind's row `const NormInfo NORM_INFO_<name>` (below: its
// scalars, fused op, forward, composite form and training recipe) and is listed in src/meson.build.
#define NORM_KINDS(X)                                                                      \
    X(LN, ln) X(RMSNORM, rmsnorm) X(DYT, dyt) X(DYISRU, dyisru) X(DYTSP, dytsp) X(DYISRUSP, dyisrusp) \
    X(DERF, derf)
#define NORM_KIND_ENUM_(E, name) NORM_##E,
typedef enum NormKind { NORM_KINDS(NORM_KIND_ENUM_) NORM_COUNT } NormKind;

#define NORM_EPS 1e-5

// The scalar a kind scales its input with: alpha multiplies x (dyt, derf), beta is added to x^2
// (dyisru); ln and rmsnorm have none.
typedef enum NormScalar { NORM_SCALAR_NONE, NORM_SCALAR_ALPHA, NORM_SCALAR_BETA } NormScalar;
extern const char *const NORM_SCALAR_NAMES[]; // indexed by NormScalar: NULL, "alpha", "beta"

typedef struct Norm Norm;

// How a kind is trained in the GPT by default (the train program's defaults for it; docs/training.md,
// "Defaults", has the search behind each): the embedding scale's initial value in units of
// sqrt(n_embd) (0: off), alpha0 at ln_1, ln_2, ln_f (the beta kinds start at beta0 = 1/alpha0^2),
// the peak lr (the kind's best on the stability study's frontier), and the lr multiplier of the
// norms' scalars and the embedding scale.
typedef struct NormRecipe {
    double emb_scale, alpha0[3], lr, scalar_lr_mult;
    // What ./train --norm=<kind> tinyshakespeare ends at with every other option at its default: the
    // whole val split's loss, the range 95% of such runs fall in (seeds, BLAS builds; the README's
    // defaults table, checked against results/defaults by tools/tests/test_studies.py). 0: unmeasured.
    double expected[2];
} NormRecipe;

// The recipe's rules, written once: what a model of width n_embd with norm kind k starts from.
//   emb_scale0   the embedding scale's initial value, recipe x sqrt(n_embd), for the element-wise
//                norms whose recipe has one; 0: none (LN and RMSNorm never take one)
//   alpha0[p]    the recipe's alpha0 per position; beta0[p] = 1 / alpha0[p]^2 (the same slope at 0)
typedef struct NormRecipeInit {
    double emb_scale0;
    double alpha0[3], beta0[3];
} NormRecipeInit;
NormRecipeInit norm_recipe_init(NormKind k, const NormRecipe *rc, int n_embd);
// beta0 with DyT's slope at 0 for alpha0: 1 / alpha0^2 (inf for 0).
static inline double norm_beta0_of(double alpha0) { return 1 / (alpha0 * alpha0); }

// A kind's row in the registry, defined in the kind's own file.
typedef struct NormInfo {
    const char *name;  // as given to --norm=
    NormScalar scalar; // its scalar parameter (named by NORM_SCALAR_NAMES), if any
    bool shift;        // a second scalar, the shift s added inside the function (derf)
    bool softplus;     // the stored scalar is passed through softplus before use
    const OpDef *op;   // the fused op
    Tensor *(*forward)(Tape *t, const Norm *n, Tensor *x);   // the fused forward: y (..., C)
    Tensor *(*composite)(Tape *t, const Norm *n, Tensor *x); // from primitive ops: u, before w and b
    NormRecipe recipe;
    // A squashing kind's |argument| (alpha x + s) past which its output is within 1% of its bound:
    // the instruments' .sat column counts those outputs, .sat2 those past 2. 0: not a squashing.
    double saturates_at;
    // The kind a study starts this one from where it has no lr of its own yet (its nearest: RMSNorm
    // LN, DyTsp DyT, the DyISRU kinds Derf, whose recipe lr they share); NULL: none, a study's own.
    const char *kin;
} NormInfo;
#define NORM_SATURATES_TANH 2.6466524123622461 // atanh(0.99)
#define NORM_SATURATES_ERF 1.8213863677184496  // erfinv(0.99)
// The rows, indexed by NormKind (norm.c gathers them from NORM_KINDS).
extern const NormInfo *const NORM_TABLE[NORM_COUNT];
// The name of kind k's scalar parameter ("alpha", "beta"), or NULL.
static inline const char *norm_scalar_name(NormKind k) { return NORM_SCALAR_NAMES[NORM_TABLE[k]->scalar]; }
// Whether kind k is element-wise (a surrogate: dyt, dyisru, their softplus forms, derf).
static inline bool norm_is_elementwise(NormKind k) { return NORM_TABLE[k]->scalar != NORM_SCALAR_NONE; }

// One layer instance: the kind and its parameters (views into the model's parameter block).
struct Norm {
    NormKind kind;
    bool composite; // build from primitive ops instead of the fused op (teaching, checking)
    double eps;     // NORM_EPS in the model; 0 for the exactness identities
    Tensor *weight; // (C)
    Tensor *bias;   // (C), or NULL
    Tensor *scalar; // [1]: alpha or beta as stored (raw, for the softplus kinds), or NULL
    Tensor *shift;  // [1]: derf's s, or NULL
};

// y = norm(x) over the last dim. x (..., C) -> (..., C).
Tensor *norm_forward(Tape *t, const Norm *n, Tensor *x);

// The kind named s, or -1.
int norm_kind_parse(const char *s);
// The effective alpha or beta: the stored value, or its softplus for the softplus kinds.
double norm_scalar_effective(NormKind k, double stored);
// The stored value that gives an effective alpha or beta (inverse softplus for the softplus kinds).
double norm_scalar_stored(NormKind k, double effective);
