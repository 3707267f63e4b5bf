// The primitive ops: their ids, their table, and the functions that build them on a tape.
// Every op computes its forward at once and, when its output needs grad, records a node whose
// backward sits beside the forward in the op's source file (ops_*.c).
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "normlab/rng.h"
#include "normlab/tape.h"

typedef enum OpId {
    OP_MATMUL,
    OP_LINEAR,
    OP_ADD,
    OP_MUL,
    OP_AFFINE,
    OP_TANH,
    OP_ERF,
    OP_GELU,
    OP_SOFTPLUS,
    OP_RSQRT,
    OP_TRANSPOSE,
    OP_SUM,
    OP_SOFTMAX,
    OP_CROSS_ENTROPY,
    OP_LOGSUMEXP,
    OP_EMBEDDING,
    OP_DROPOUT,
    OP_ATTENTION,
    OP_CONCAT_ROWS,
    OP_ROWS,
    OP_COUNT
} OpId;

// Indexed by OpId; its size is checked against OP_COUNT at compile time (op_table.c).
extern const OpDef OP_TABLE[];

// op(a) op(b), op = transpose when ta/tb. a: (..., M, K) (or (K, M) with ta); b: (K, N) (or (N, K)).
// b 2-D: a's leading dims are rows of one gemm (a linear layer). b with leading dims: a has the same
// leading dims and each (M,K)x(K,N) is one gemm (attention). -> (..., M, N)
Tensor *op_matmul(Tape *t, Tensor *a, Tensor *b, bool ta, bool tb);
// A linear layer: x W^T + b. x (..., K), w (N, K), b (N) or NULL. -> (..., N)
Tensor *op_linear(Tape *t, Tensor *x, Tensor *w, Tensor *b);

// Element-wise with numpy broadcasting (trailing dims aligned; a dim of 1 stretches).
Tensor *op_add(Tape *t, Tensor *a, Tensor *b);
Tensor *op_mul(Tape *t, Tensor *a, Tensor *b);
// y = s * x + c for scalars s, c. op_scale and op_add_scalar are its two common cases.
Tensor *op_affine(Tape *t, Tensor *x, double s, double c);
static inline Tensor *op_scale(Tape *t, Tensor *x, double s) { return op_affine(t, x, s, 0); }
static inline Tensor *op_add_scalar(Tape *t, Tensor *x, double c) { return op_affine(t, x, 1, c); }

Tensor *op_tanh(Tape *t, Tensor *x);
Tensor *op_erf(Tape *t, Tensor *x);
Tensor *op_gelu(Tape *t, Tensor *x); // exact, with erf
Tensor *op_softplus(Tape *t, Tensor *x);
Tensor *op_rsqrt(Tape *t, Tensor *x); // 1 / sqrt(x)

// A view with another shape (same numel). Shares data and grad, so it records no node.
Tensor *op_reshape(Tape *t, Tensor *x, Shape s);
// Swaps dims d0 and d1 (negative counts from the end); copies.
Tensor *op_transpose(Tape *t, Tensor *x, int d0, int d1);
// a (B or 1, Ta, C) then b (B, Tb, C) along the rows -> (B, Ta+Tb, C); a of batch 1 is every batch's.
Tensor *op_concat_rows(Tape *t, Tensor *a, Tensor *b);
// Rows [first, first + n) of each batch: x (B,T,C) -> (B,n,C)
Tensor *op_rows(Tape *t, Tensor *x, int first, int n);

Tensor *op_sum(Tape *t, Tensor *x);       // -> [1]
Tensor *op_mean(Tape *t, Tensor *x);      // -> [1]
Tensor *op_sum_last(Tape *t, Tensor *x);  // over the last dim -> (..., 1)
Tensor *op_mean_last(Tape *t, Tensor *x); // over the last dim -> (..., 1)

// Softmax over the last dim. causal: x is (..., T, T) and row i sees only columns <= i.
Tensor *op_softmax(Tape *t, Tensor *x, bool causal);
// Mean over rows of -log softmax(logits)[target]. logits (..., V), targets one per row. -> [1]
Tensor *op_cross_entropy(Tape *t, Tensor *logits, const int32_t *targets);

// log sum_j exp(x_j) over the last dim (log Z of logits: what z-loss squares). x (..., V) -> (..., 1)
Tensor *op_logsumexp(Tape *t, Tensor *x);

// Rows of table (V, C) picked by idx (n values in [0, V)). -> (n, C)
Tensor *op_embedding(Tape *t, Tensor *table, const int32_t *idx, int n);

// Zeroes each element with probability p and scales the rest by 1/(1-p), drawing from rng.
// Identity (returns x itself) when p == 0 or grad is disabled.
Tensor *op_dropout(Tape *t, Tensor *x, double p, Rng *rng);

// Multi-head self-attention on c_attn's packed output qkv (B,T,3C), C = n_head * hd: per head,
// softmax(q k^T / sqrt(hd)) v, each position seeing those up to itself (causal: the GPT's) or all of
// them (the ViT's), the scores soft-capped (cap tanh(s / cap)) when softcap > 0, with dropout on the
// probabilities (training only). -> (B,T,C)
typedef struct AttnSpec {
    int n_head;
    bool causal;
    double dropout; // on the probabilities, in [0, 1)
    double softcap; // 0: none
} AttnSpec;
Tensor *op_attention(Tape *t, Tensor *qkv, const AttnSpec *a, Rng *rng);
