// Recording nodes and the reverse sweep.
#include "normlab/check.h"
#include "normlab/tape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tape_init(Tape *t, Arena *step_arena, int max_nodes) {
    NL_NONNULL(t, step_arena);
    *t = (Tape){.arena = step_arena, .cap = max_nodes, .grad_enabled = true};
    t->nodes = malloc((size_t)max_nodes * sizeof(TapeNode));
    return t->nodes ? 0 : -1;
}

void tape_free(Tape *t) {
    NL_NONNULL(t);
    free(t->nodes);
    *t = (Tape){0};
}

void tape_reset(Tape *t) {
    NL_NONNULL(t);
    t->n = 0;
    t->n_free_sizes = 0;
    arena_reset(t->arena);
}

void tape_rewind(Tape *t, int n_nodes, size_t arena_mark) {
    NL_NONNULL(t);
    t->n = n_nodes;
    t->n_free_sizes = 0; // free grads may lie past the mark
    arena_rewind(t->arena, arena_mark);
}

void tape_set_scope(Tape *t, const char *scope) {
    NL_NONNULL(t);
    t->scope = scope;
}

bool tape_set_grad_enabled(Tape *t, bool enabled) {
    NL_NONNULL(t);
    bool was = t->grad_enabled;
    t->grad_enabled = enabled;
    return was;
}

double tape_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

void tape_profile_mark(Tape *t) {
    NL_NONNULL(t);
    if (t->profile) t->profile->mark = tape_clock();
}

// The profile's slot for def (added on first use).
static double *profile_slot(TapeProfile *p, const OpDef *def, bool backward) {
    int i = 0;
    while (i < p->n && p->op[i].def != def) i++;
    NL_CHECK(i < TAPE_PROFILE_OPS, "more than %d distinct ops in a profile", TAPE_PROFILE_OPS);
    if (i == p->n) p->op[p->n++] = (TapeOpTime){.def = def};
    return backward ? &p->op[i].bwd : &p->op[i].fwd;
}

static bool any_needs_grad(int n_in, Tensor *const *in) {
    for (int i = 0; i < n_in; i++)
        if (in[i]->needs_grad) return true;
    return false;
}

Tensor *tape_output(Tape *t, Shape s, int n_in, Tensor *const *in) {
    NL_NONNULL(t);
    Tensor *y = tensor_new(t->arena, s, false);
    y->needs_grad = t->grad_enabled && any_needs_grad(n_in, in); // its grad: grad_ensure
    return y;
}

// ---- grads of op outputs: allocated when backward first needs them, reused once dead ------------
static TapeFreeGrads *free_list(Tape *t, size_t bytes) {
    for (int i = 0; i < t->n_free_sizes; i++)
        if (t->free_grads[i].bytes == bytes) return &t->free_grads[i];
    if (t->n_free_sizes == TAPE_GRAD_SIZES) return NULL; // a rare size: not reused
    t->free_grads[t->n_free_sizes] = (TapeFreeGrads){.bytes = bytes};
    return &t->free_grads[t->n_free_sizes++];
}

// Gives x a zeroed grad if it needs one and has none yet; a view's is its base's. With fresh_ok,
// the grad is not zeroed but flagged grad_fresh, for a backward that writes it whole (OpDef).
static void grad_ensure(Tape *t, Tensor *x, bool fresh_ok) {
    if (!x->needs_grad || x->grad) return;
    if (x->base) {
        grad_ensure(t, x->base, false);
        x->grad = x->base->grad + x->base_offset;
        return;
    }
    size_t bytes = tensor_numel(x) * sizeof(nl_real);
    TapeFreeGrads *f = free_list(t, bytes);
    if (f && f->head) {
        x->grad = f->head;
        f->head = *(void **)f->head;
        if (!fresh_ok) memset(x->grad, 0, bytes);
    } else {
        x->grad = fresh_ok ? arena_alloc(t->arena, bytes) : arena_calloc(t->arena, bytes);
    }
    x->grad_fresh = fresh_ok;
}

static void grad_release(Tape *t, Tensor *x) {
    size_t bytes = tensor_numel(x) * sizeof(nl_real);
    TapeFreeGrads *f = bytes >= sizeof(void *) ? free_list(t, bytes) : NULL;
    if (f) {
        *(void **)x->grad = f->head;
        f->head = x->grad;
    }
    x->grad = NULL;
}

bool tape_grad_adopt(TapeNode *n, Tensor *x) {
    NL_NONNULL(n, x);
    Tensor *y = n->out;
    size_t numel = tensor_numel(y);
    // numel 1: the loss, whose grad the tape keeps (backward); views share their base's grad
    if (!x->grad || !x->grad_fresh || x->base || y->base || !y->grad || tensor_numel(x) != numel || numel < 2)
        return false;
    nl_real *unwritten = x->grad;
    x->grad = y->grad, y->grad = unwritten;
    x->grad_fresh = false;
    return true;
}

TapeNode *tape_record(Tape *t, const OpDef *def, Tensor *out, int n_in, Tensor *const *in) {
    NL_NONNULL(t, def, out);
    if (!out->needs_grad) return NULL;
    NL_CHECK(n_in >= 1 && n_in <= TAPE_MAX_INPUTS, "op %s: %d inputs (1..%d allowed)", def->name, n_in,
          TAPE_MAX_INPUTS);
    NL_CHECK(t->n < t->cap, "tape full at %d nodes (op %s): pass a larger max_nodes to tape_init",
          t->cap, def->name);
    if (t->profile) {
        double now = tape_clock();
        *profile_slot(t->profile, def, false) += now - t->profile->mark;
        t->profile->mark = now;
    }
    TapeNode *n = &t->nodes[t->n++];
    *n = (TapeNode){.def = def, .n_in = n_in, .out = out, .scope = t->scope};
    for (int i = 0; i < n_in; i++) n->in[i] = in[i];
    return n;
}

static bool all_finite(const nl_real *x, size_t n) {
    nl_real acc = 0; // NaN or Inf anywhere makes x[i] * 0 NaN, and the sum with it
#pragma omp simd reduction(+ : acc)
    for (size_t i = 0; i < n; i++) acc += x[i] * 0;
    return acc == 0;
}

int tape_find_nonfinite(const Tape *t) {
    NL_NONNULL(t);
    for (int i = 0; i < t->n; i++)
        if (!all_finite(t->nodes[i].out->data, tensor_numel(t->nodes[i].out))) return i;
    return -1;
}

// The reverse sweep from d loss = seed; with check, stops at the first node whose backward wrote a
// non-finite grad into one of its inputs and returns its index (-1: none, or no check); the hook is
// told of each node otherwise.
static int backward(Tape *t, Tensor *loss, double seed, bool check) {
    NL_CHECK(tensor_numel(loss) == 1, "backward starts from a scalar loss; this tensor has %zu elements",
          tensor_numel(loss));
    NL_CHECK(loss->needs_grad, "the loss needs no grad: no parameter fed it, or grad was disabled");
    grad_ensure(t, loss, false);
    loss->grad[0] = (nl_real)seed;
    for (int i = t->n - 1; i >= 0; i--) {
        TapeNode *n = &t->nodes[i];
        if (!n->out->grad) continue; // nothing downstream of this output reached the loss
        double t0 = t->profile ? tape_clock() : 0;
        for (int k = 0; k < n->n_in; k++) grad_ensure(t, n->in[k], n->def->writes_fresh);
        n->def->backward(n);
        for (int k = 0; k < n->n_in; k++)
            NL_CHECK(!n->in[k]->grad_fresh, "the backward of %s left the grad of its input %d unwritten",
                     n->def->name, k);
        for (int k = 0; check && k < n->n_in; k++)
            if (n->in[k]->grad && !all_finite(n->in[k]->grad, tensor_numel(n->in[k]))) return i;
        // the loss's grad (one element: too small for the free lists) is kept for a second sweep
        // (tape_backward_find_nonfinite), which would otherwise take it anew from a measured arena
        if (n->out != loss) grad_release(t, n->out);
        if (t->profile) *profile_slot(t->profile, n->def, true) += tape_clock() - t0;
        if (t->hook && !check) t->hook->after_node(t->hook->ctx, i);
    }
    return -1;
}

void tape_backward(Tape *t, Tensor *loss) {
    NL_NONNULL(t, loss);
    backward(t, loss, 1, false);
}
void tape_backward_seeded(Tape *t, Tensor *loss, double seed) {
    NL_NONNULL(t, loss);
    backward(t, loss, seed, false);
}
int tape_backward_find_nonfinite(Tape *t, Tensor *loss) {
    NL_NONNULL(t, loss);
    return backward(t, loss, 1, true);
}
