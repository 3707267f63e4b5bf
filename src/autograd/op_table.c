// The table of primitive ops. One row per OpId; the compile-time check below catches a row added
// to the enum but not here (a missing row in the middle is caught by test_tape's table test).
#include "ops_internal.h"

const OpDef OP_TABLE[] = {
    [OP_MATMUL] = {"matmul", matmul_backward},
    [OP_ADD] = {"add", add_backward},
    [OP_MUL] = {"mul", mul_backward},
    [OP_AFFINE] = {"affine", affine_backward},
    [OP_TANH] = {"tanh", tanh_op_backward},
    [OP_ERF] = {"erf", erf_op_backward},
    [OP_GELU] = {"gelu", gelu_op_backward},
    [OP_SOFTPLUS] = {"softplus", softplus_op_backward},
    [OP_RSQRT] = {"rsqrt", rsqrt_op_backward},
    [OP_TRANSPOSE] = {"transpose", transpose_backward},
    [OP_SUM] = {"sum", sum_backward},
    [OP_SOFTMAX] = {"softmax", softmax_op_backward},
    [OP_CROSS_ENTROPY] = {"cross_entropy", cross_entropy_op_backward},
    [OP_EMBEDDING] = {"embedding", embedding_backward},
    [OP_DROPOUT] = {"dropout", dropout_backward},
    [OP_ATTENTION] = {"attention", attention_backward},
};
_Static_assert(sizeof OP_TABLE / sizeof OP_TABLE[0] == OP_COUNT,
               "OP_TABLE needs exactly one row per OpId");
