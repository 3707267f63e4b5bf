// Multi-head self-attention, causal (the GPT's) or not (the ViT's), fused into one op. Per (batch b, head h), on that head's q, k, v
// read in place from the packed q|k|v rows c_attn produces (no split, no transposes, nothing
// allocated per head; every product a gemm_small on strided views):
//   s = q k^T / sqrt(hd)                      (T,T)
//   s = cap tanh(s / cap)                     (with a soft cap: Gemma 2's, against logit growth)
//   p = softmax(s), row i over columns j <= i (causal; the rest exactly 0) or all, then dropout
//   y = p v                                   (T,hd), written into this head's columns of y (B,T,C)
// Saved for backward: the log-sum-exp of each row of s (B,H,T), from which backward rebuilds p after
// recomputing s: one more small gemm per head instead of keeping B*H*T*T probabilities (100 MB per
// layer at nanoGPT's 6L/384 shape). The (b,h) blocks are independent and run in parallel.
// When the tape's observer asks (the instruments), the forward writes p beside s instead of over it
// and measures each row's entropy (lse - sum_j p_j s_j) and the largest logit on the way.
#include "normlab/check.h"
#include "ops_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/kernels.h"
#include "normlab/observe.h"

// One op's dims, and where head h of batch b lives in q|k|v (rows of 3C) and in y (rows of C).
typedef struct AttnDims {
    int B, T, C, H, hd;
    nl_real scale; // 1 / sqrt(hd)
    double p;   // dropout
    bool causal;
    double cap; // the scores' soft cap (0: none)
} AttnDims;

// The columns row i sees.
static inline int attn_visible(const AttnDims *d, int i) { return d->causal ? i + 1 : d->T; }

static AttnDims attn_dims(const Tensor *qkv, int n_head, bool causal, double p, double cap) {
    char buf[64];
    Shape s = qkv->shape;
    NL_CHECK(s.ndim == 3 && s.d[2] % 3 == 0 && (s.d[2] / 3) % n_head == 0,
          "attention needs q|k|v as (B,T,3C) with C divisible by %d heads, got %s", n_head,
          shape_str(s, buf));
    AttnDims d = {.B = s.d[0], .T = s.d[1], .C = s.d[2] / 3, .H = n_head, .p = p, .causal = causal, .cap = cap};
    d.hd = d.C / n_head;
    d.scale = (nl_real)(1 / sqrt((double)d.hd));
    return d;
}
// The soft cap on the visible scores of a (T,T) block, in place: s = cap tanh(s / cap). Backward
// multiplies by its slope, 1 - (s_capped / cap)^2, from the capped scores.
static void attn_cap(nl_real *s, const AttnDims *d) {
    if (d->cap == 0) return;
    nl_real cap = (nl_real)d->cap, inv = (nl_real)(1 / d->cap);
    for (int i = 0; i < d->T; i++)
        for (int j = 0; j < attn_visible(d, i); j++) s[i * d->T + j] = cap * (nl_real)tanh((double)(s[i * d->T + j] * inv));
}

// Every per-head product is gemm_small's (src/tensor/small_gemm.c: register tiles in L1, no call
// cost, and, causal, only the triangle: the scores' lower half, and p v, p^T dy, ds k, ds^T q over
// the k where p or ds is not 0): half the work of BLAS, which cannot skip it.
static inline GemmTri attn_tri(const AttnDims *d, GemmTri causal) { return d->causal ? causal : GEMM_FULL; }
// Zeros after row i's visible entries where a triangle's products read them (GEMM_SMALL_ROWS - 1
// past the diagonal); a fixed count, where a loop to the row's end would be a memset call per row.
static inline void attn_zero_reach(nl_real *row, int visible, int T) {
    for (int m = 0; m < GEMM_SMALL_ROWS - 1; m++)
        if (visible + m < T) row[visible + m] = 0;
}

static inline size_t q_at(const AttnDims *d, int b, int h) { return (size_t)b * d->T * 3 * d->C + (size_t)h * d->hd; }
static inline size_t y_at(const AttnDims *d, int b, int h) { return (size_t)b * d->T * d->C + (size_t)h * d->hd; }

// Dropout's keep/drop draws for block bh: a generator of its own, seeded from the op's one draw, so
// blocks can run in any order and backward can draw the same mask again instead of storing it.
// Multiplies the visible entries of p (T,T) by 0 or 1/(1-p).
static void attn_dropout(nl_real *p, const AttnDims *d, uint64_t seed, int bh) {
    if (d->p == 0) return;
    Rng r;
    rng_seed(&r, seed + (uint64_t)bh);
    nl_real keep = (nl_real)(1 / (1 - d->p));
    for (int i = 0; i < d->T; i++)
        for (int j = 0; j < attn_visible(d, i); j++) p[i * d->T + j] *= rng_uniform(&r) < d->p ? 0 : keep;
}

typedef struct AttnCtx {
    nl_real *lse;     // (B,H,T) log sum_j exp(s_ij) over the visible j
    nl_real *scratch; // per thread: 4 (T,T) matrices (the forward uses the first two)
    int team;         // threads the scratch has room for
    uint64_t seed; // dropout's draw for this op
} AttnCtx;

static int attn_team(const AttnCtx *ctx) {
    int n = omp_get_max_threads();
    return n < ctx->team ? n : ctx->team;
}

// The instruments' measures of one row of a (b,h) block, from its visible scores s, probabilities p
// and log-sum-exp: the entropy -sum_j p_j log p_j = lse - sum_j p_j s_j, since log p_j = s_j - lse.
// seen[0] sums the block's entropies over rows, seen[1] keeps its largest score.
// With a soft cap the largest logit is the one before it (attn_seen_raw_max), which the cap hides.
static void attn_seen_row(double *seen, const nl_real *s, const nl_real *p, int visible, double lse, bool capped) {
    double dot = 0, mx = seen[1];
    for (int j = 0; j < visible; j++) dot += (double)p[j] * s[j], mx = fmax(mx, s[j]);
    seen[0] += fmax(lse - dot, 0); // rounding can take a one-column row below 0
    if (!capped) seen[1] = mx;
}
static void attn_seen_raw_max(double *seen, const nl_real *s, const AttnDims *d) {
    for (int i = 0; i < d->T; i++)
        for (int j = 0; j < attn_visible(d, i); j++) seen[1] = fmax(seen[1], s[i * d->T + j]);
}

// Sums the blocks' measures in a fixed order and reports them; frees seen.
static void attn_seen_report(Tape *t, double *seen, const AttnDims *d) {
    AttentionSeen a = {.entropy_min = INFINITY, .max_logit = -INFINITY};
    for (int h = 0; h < d->H; h++) {
        double head = 0;
        for (int b = 0; b < d->B; b++) {
            const double *v = seen + 2 * ((size_t)b * d->H + h);
            head += v[0], a.max_logit = fmax(a.max_logit, v[1]);
        }
        head /= (double)d->B * d->T;
        a.entropy += head / d->H, a.entropy_min = fmin(a.entropy_min, head);
    }
    free(seen);
    t->observer->attention(t->observer->ctx, &a);
}

Tensor *op_attention(Tape *t, Tensor *qkv, const AttnSpec *a, Rng *rng) {
    NL_NONNULL(t, qkv, a);
    NL_CHECK(a->dropout >= 0 && a->dropout < 1, "dropout probability %g is outside [0, 1)", a->dropout);
    NL_CHECK(a->softcap >= 0, "the attention's soft cap %g is negative", a->softcap);
    AttnDims d = attn_dims(qkv, a->n_head, a->causal, t->grad_enabled ? a->dropout : 0, a->softcap);
    int T = d.T, C = d.C, C3 = 3 * C;
    Tensor *y = tape_output(t, NL_SHAPE(d.B, T, C), 1, &qkv);
    AttnCtx *ctx = arena_alloc(t->arena, sizeof *ctx);
    ctx->lse = arena_alloc(t->arena, (size_t)d.B * d.H * T * sizeof(nl_real));
    // Room for a thread per core, whatever the team now: the team may change between steps (train's
    // --threads auto) and a measured arena must not grow after its first step. A larger team (more
    // threads than cores) runs this op with one thread per core.
    ctx->team = omp_get_num_procs();
    ctx->scratch = arena_alloc(t->arena, (size_t)ctx->team * 4 * T * T * sizeof(nl_real));
    ctx->seed = d.p > 0 ? rng_u64(rng) : 0;
    const nl_real *x = qkv->data;
    // Asked by an observer: each (b,h) block's entropy summed over rows and its largest logit
    double *seen = t->observer && t->observer->attention ? malloc(2 * (size_t)d.B * d.H * sizeof(double)) : NULL;
#pragma omp parallel for schedule(static) num_threads(attn_team(ctx))
    for (int bh = 0; bh < d.B * d.H; bh++) {
        int b = bh / d.H, h = bh % d.H;
        nl_real *s = ctx->scratch + (size_t)omp_get_thread_num() * 4 * T * T; // (T,T)
        nl_real *p = seen ? s + (size_t)T * T : s; // observed: keep s beside p
        const nl_real *q = x + q_at(&d, b, h), *k = q + C, *v = q + 2 * C;
        gemm_small(false, true, T, T, d.hd, d.scale, q, C3, k, C3, 0, s, T, attn_tri(&d, GEMM_C_LOWER));
        if (seen) seen[2 * bh] = 0, seen[2 * bh + 1] = -INFINITY;
        if (seen && d.cap) attn_seen_raw_max(seen + 2 * (size_t)bh, s, &d); // the logit before its cap
        attn_cap(s, &d);
        for (int i = 0; i < T; i++) { // row i sees columns 0..i (causal) or all
            int vis = attn_visible(&d, i);
            double lse = softmax_row(p + (size_t)i * T, s + (size_t)i * T, vis, vis);
            attn_zero_reach(p + (size_t)i * T, vis, T);
            ctx->lse[(size_t)bh * T + i] = (nl_real)lse;
            if (seen) attn_seen_row(seen + 2 * (size_t)bh, s + (size_t)i * T, p + (size_t)i * T, vis, lse, d.cap > 0);
        }
        attn_dropout(p, &d, ctx->seed, bh);
        gemm_small(false, false, T, d.hd, T, 1, p, T, v, C3, 0, y->data + y_at(&d, b, h), C, attn_tri(&d, GEMM_A_LOWER));
    }
    if (seen) attn_seen_report(t, seen, &d);
    TapeNode *n = record(t, OP_ATTENTION, y, 1, &qkv);
    if (n) n->ctx = ctx, n->iarg[0] = a->n_head, n->iarg[1] = a->causal, n->arg[0] = d.p, n->arg[1] = d.cap;
    return y;
}

// With P the probabilities, PD = P * mask after dropout (PD = P without) and dY (T,hd) this head's
// output grad:
//   dV += PD^T dY;  dPD = dY V^T;  dP = dPD * mask
//   dS_ij = P_ij (dP_ij - sum_k dP_ik P_ik)          (softmax backward, row by row)
//   dS_ij *= 1 - (S_ij / cap)^2                       (with a soft cap: S the capped scores)
//   dQ += scale dS K;  dK += scale dS^T Q            (s = scale q k^T)
void attention_backward(TapeNode *n) {
    Tensor *qkv = n->in[0];
    if (!qkv->grad) return;
    const AttnCtx *ctx = n->ctx;
    AttnDims d = attn_dims(qkv, n->iarg[0], n->iarg[1], n->arg[0], n->arg[1]);
    int T = d.T, C = d.C, C3 = 3 * C;
    size_t TT = (size_t)T * T;
    const nl_real *x = qkv->data;
    // each head's dq, dk, dv are written by one gemm each: beta 0 when the grad is fresh (tape.h)
    nl_real beta = grad_take_fresh(qkv) ? 0 : 1;
#pragma omp parallel for schedule(static) num_threads(attn_team(ctx))
    for (int bh = 0; bh < d.B * d.H; bh++) {
        int b = bh / d.H, h = bh % d.H;
        nl_real *p = ctx->scratch + (size_t)omp_get_thread_num() * 4 * TT, *dp = p + TT, *pd = p; // (T,T)
        nl_real *capped = p + 3 * TT; // the capped scores, for the cap's slope
        const nl_real *q = x + q_at(&d, b, h), *k = q + C, *v = q + 2 * C;
        nl_real *dq = qkv->grad + q_at(&d, b, h), *dk = dq + C, *dv = dq + 2 * C;
        const nl_real *dy = n->out->grad + y_at(&d, b, h), *lse = ctx->lse + (size_t)bh * T;
        gemm_small(false, true, T, T, d.hd, d.scale, q, C3, k, C3, 0, p, T, attn_tri(&d, GEMM_C_LOWER)); // s again
        attn_cap(p, &d);
        if (d.cap) memcpy(capped, p, TT * sizeof(nl_real));
        for (int i = 0; i < T; i++) {
            int vis = attn_visible(&d, i);
            softmax_row_from_lse(p + (size_t)i * T, vis, lse[i]);
            attn_zero_reach(p + (size_t)i * T, vis, T);
        }
        if (d.p > 0) {
            pd = p + 2 * TT;
            memcpy(pd, p, TT * sizeof(nl_real));
            attn_dropout(pd, &d, ctx->seed, bh);
        }
        gemm_small(true, false, T, d.hd, T, 1, pd, T, dy, C, beta, dv, C3, attn_tri(&d, GEMM_A_UPPER));
        gemm_small(false, true, T, T, d.hd, 1, dy, C, v, C3, 0, dp, T, attn_tri(&d, GEMM_C_LOWER));
        attn_dropout(dp, &d, ctx->seed, bh);
        for (int i = 0; i < T; i++) { // dS, in place of dP
            nl_real *dpr = dp + (size_t)i * T, *pr = p + (size_t)i * T;
            double dot = 0;
            int vis = attn_visible(&d, i);
#pragma omp simd reduction(+ : dot)
            for (int j = 0; j < vis; j++) dot += (double)dpr[j] * pr[j];
#pragma omp simd
            for (int j = 0; j < vis; j++) dpr[j] = pr[j] * (dpr[j] - (nl_real)dot);
            attn_zero_reach(dpr, vis, T); // masked: GEMM_C_LOWER computed or left them, and ds k, ds^T q read them
            if (d.cap) {
                const nl_real *sr = capped + (size_t)i * T;
                nl_real inv = (nl_real)(1 / d.cap);
                for (int j = 0; j < vis; j++) dpr[j] *= 1 - (sr[j] * inv) * (sr[j] * inv);
            }
        }
        gemm_small(false, false, T, d.hd, T, d.scale, dp, T, k, C3, beta, dq, C3, attn_tri(&d, GEMM_A_LOWER));
        gemm_small(true, false, T, d.hd, T, d.scale, dp, T, q, C3, beta, dk, C3, attn_tri(&d, GEMM_A_UPPER));
    }
}
