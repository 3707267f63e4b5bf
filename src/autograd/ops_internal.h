// Shared by the op sources: the backward functions the op table points to.
#pragma once
#include "normlab/ops.h"

void matmul_backward(TapeNode *n);
void linear_backward(TapeNode *n);
void add_backward(TapeNode *n);
void mul_backward(TapeNode *n);
void affine_backward(TapeNode *n);
void tanh_op_backward(TapeNode *n);
void erf_op_backward(TapeNode *n);
void gelu_op_backward(TapeNode *n);
void softplus_op_backward(TapeNode *n);
void rsqrt_op_backward(TapeNode *n);
void transpose_backward(TapeNode *n);
void sum_backward(TapeNode *n);
void softmax_op_backward(TapeNode *n);
void cross_entropy_op_backward(TapeNode *n);
void logsumexp_op_backward(TapeNode *n);
void embedding_backward(TapeNode *n);
void dropout_backward(TapeNode *n);
void attention_backward(TapeNode *n);
void concat_rows_backward(TapeNode *n);
void rows_backward(TapeNode *n);

// Whether x's grad is fresh (OpDef.writes_fresh): the caller then writes it whole. Clears the flag,
// so a second use of the same tensor in the op adds to what the first wrote.
static inline bool grad_take_fresh(Tensor *x) {
    bool fresh = x->grad_fresh;
    x->grad_fresh = false;
    return fresh;
}

// Record a node of a primitive op.
static inline TapeNode *record(Tape *t, OpId op, Tensor *out, int n_in, Tensor *const *in) {
    return tape_record(t, &OP_TABLE[op], out, n_in, in);
}
