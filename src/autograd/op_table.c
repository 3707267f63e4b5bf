// The table of primitive ops. One row per OpId; the compile-time check below catches a row added
// to the enum but not here (a missing row in the middle is caught by test_tape's table test).
#include "ops_internal.h"

// writes_fresh: the backward writes its inputs' grads whole when the tape left them unzeroed (tape.h).
const OpDef OP_TABLE[] = {
    [OP_MATMUL] = {.name = "matmul", .backward = matmul_backward, .writes_fresh = true},
    [OP_LINEAR] = {.name = "linear", .backward = linear_backward, .writes_fresh = true},
    [OP_ADD] = {.name = "add", .backward = add_backward, .writes_fresh = true},
    [OP_MUL] = {.name = "mul", .backward = mul_backward, .writes_fresh = true},
    [OP_AFFINE] = {.name = "affine", .backward = affine_backward},
    [OP_TANH] = {.name = "tanh", .backward = tanh_op_backward},
    [OP_ERF] = {.name = "erf", .backward = erf_op_backward},
    [OP_GELU] = {.name = "gelu", .backward = gelu_op_backward, .writes_fresh = true},
    [OP_SOFTPLUS] = {.name = "softplus", .backward = softplus_op_backward},
    [OP_RSQRT] = {.name = "rsqrt", .backward = rsqrt_op_backward},
    [OP_TRANSPOSE] = {.name = "transpose", .backward = transpose_backward},
    [OP_SUM] = {.name = "sum", .backward = sum_backward},
    [OP_SOFTMAX] = {.name = "softmax", .backward = softmax_op_backward},
    [OP_CROSS_ENTROPY] = {.name = "cross_entropy", .backward = cross_entropy_op_backward},
    [OP_LOGSUMEXP] = {.name = "logsumexp", .backward = logsumexp_op_backward},
    [OP_EMBEDDING] = {.name = "embedding", .backward = embedding_backward},
    [OP_DROPOUT] = {.name = "dropout", .backward = dropout_backward},
    [OP_ATTENTION] = {.name = "attention", .backward = attention_backward, .writes_fresh = true},
    [OP_CONCAT_ROWS] = {.name = "concat_rows", .backward = concat_rows_backward},
    [OP_ROWS] = {.name = "rows", .backward = rows_backward},
};
_Static_assert(sizeof OP_TABLE / sizeof OP_TABLE[0] == OP_COUNT,
               "OP_TABLE needs exactly one row per OpId");
