// Shared by the op sources: the backward functions the op table points to.
#pragma once
#include "ops.h"

void matmul_backward(Node *n);
void add_backward(Node *n);
void mul_backward(Node *n);
void affine_backward(Node *n);
void tanh_op_backward(Node *n);
void erf_op_backward(Node *n);
void gelu_op_backward(Node *n);
void softplus_op_backward(Node *n);
void rsqrt_op_backward(Node *n);
void transpose_backward(Node *n);
void sum_backward(Node *n);
void softmax_op_backward(Node *n);
void cross_entropy_op_backward(Node *n);
void embedding_backward(Node *n);
void dropout_backward(Node *n);
void attention_backward(Node *n);

// Record a node of a primitive op.
static inline Node *record(Tape *t, OpId op, Tensor *out, int n_in, Tensor *const *in) {
    return tape_record(t, &OP_TABLE[op], out, n_in, in);
}
