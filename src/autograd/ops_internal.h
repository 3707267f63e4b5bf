// Shared by the op sources: the backward functions the op table points to.
#pragma once
#include "normlab/ops.h"

void matmul_backward(TapeNode *n);
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
void embedding_backward(TapeNode *n);
void dropout_backward(TapeNode *n);
void attention_backward(TapeNode *n);

// Record a node of a primitive op.
static inline TapeNode *record(Tape *t, OpId op, Tensor *out, int n_in, Tensor *const *in) {
    return tape_record(t, &OP_TABLE[op], out, n_in, in);
}
