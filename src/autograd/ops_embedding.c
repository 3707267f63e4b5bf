// Embedding lookup: rows of a table picked by integer indices.
#include "normlab/check.h"
#include "ops_internal.h"

#include <string.h>

// y[i,:] = table[idx[i],:];  dtable[idx[i],:] += dy[i,:]  (an index may repeat: grads add up)
Tensor *op_embedding(Tape *t, Tensor *table, const int32_t *idx, int n) {
    NL_NONNULL(t, table, idx);
    char buf[64];
    NL_CHECK(table->shape.ndim == 2, "embedding table must be (V, C), got %s",
          shape_str(table->shape, buf));
    int V = table->shape.d[0], C = table->shape.d[1];
    Tensor *y = tape_output(t, NL_SHAPE(n, C), 1, &table);
    for (int i = 0; i < n; i++) {
        NL_CHECK(idx[i] >= 0 && idx[i] < V, "embedding index %d at position %d is outside [0, %d)",
              idx[i], i, V);
        memcpy(y->data + (size_t)i * C, table->data + (size_t)idx[i] * C, C * sizeof(nl_real));
    }
    TapeNode *nd = record(t, OP_EMBEDDING, y, 1, &table);
    if (nd) {
        int32_t *saved = arena_alloc(t->arena, (size_t)n * sizeof(int32_t));
        memcpy(saved, idx, (size_t)n * sizeof(int32_t));
        nd->ctx = saved;
    }
    return y;
}
void embedding_backward(TapeNode *n) {
    Tensor *table = n->in[0];
    if (!table->grad) return;
    const int32_t *idx = n->ctx;
    int rows = n->out->shape.d[0], C = n->out->shape.d[1];
    for (int i = 0; i < rows; i++) {
        nl_real *dst = table->grad + (size_t)idx[i] * C;
        const nl_real *src = n->out->grad + (size_t)i * C;
        for (int j = 0; j < C; j++) dst[j] += src[j];
    }
}
