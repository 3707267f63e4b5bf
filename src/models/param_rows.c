// The walk over a model's parameter rows (param_rows.h).
#include "param_rows.h"

#include <stdbool.h>
#include <stdio.h>

#include "normlab/check.h"
#include "normlab/norm.h"

const ParamRow PARAM_NORM_ROWS[5] = {
    {"weight", ROW_DIM_NORM_C, 0, 0, ROW_ONE, ROW_ALWAYS, offsetof(Norm, weight), false},
    {"bias", ROW_DIM_NORM_C, 0, 0, ROW_ZERO, ROW_IF_BIAS, offsetof(Norm, bias), false},
    {"alpha", ROW_DIM_ONE, 0, 0, ROW_SCALAR, ROW_IF_ALPHA, offsetof(Norm, scalar), false},
    {"beta", ROW_DIM_ONE, 0, 0, ROW_SCALAR, ROW_IF_BETA, offsetof(Norm, scalar), false},
    {"shift", ROW_DIM_ONE, 0, 0, ROW_SHIFT, ROW_IF_SHIFT, offsetof(Norm, shift), false},
};

static bool row_exists(const ModelConfig *c, const ParamRow *r, const RowNorm *norm) {
    NL_CHECK(norm || (r->when != ROW_IF_ALPHA && r->when != ROW_IF_BETA && r->when != ROW_IF_SHIFT),
             "a norm's row outside a norm group");
    switch (r->when) {
    case ROW_IF_BIAS: return c->bias;
    case ROW_IF_ALPHA: return NORM_TABLE[norm->kind]->scalar == NORM_SCALAR_ALPHA;
    case ROW_IF_BETA: return NORM_TABLE[norm->kind]->scalar == NORM_SCALAR_BETA;
    case ROW_IF_SHIFT: return NORM_TABLE[norm->kind]->shift;
    case ROW_IF_EMB_SCALE: return c->emb_scale;
    default: return true;
    }
}

static int row_dim(const RowWalk *w, int d, const RowNorm *norm) {
    return d == ROW_DIM_NORM_C && norm && norm->width ? norm->width : w->dim(w->c, d);
}

static void row_spec(const RowWalk *w, const ParamRow *r, const char *prefix, const RowNorm *norm, ParamSpec *s) {
    const ModelConfig *c = w->c;
    snprintf(s->name, sizeof s->name, "%s%s", prefix, r->name);
    s->hidden = r->hidden;
    s->shape = r->d1 == 0   ? NL_SHAPE(row_dim(w, r->d0, norm))
               : r->d2 == 0 ? NL_SHAPE(w->dim(c, r->d0), w->dim(c, r->d1))
                            : NL_SHAPE(w->dim(c, r->d0), w->dim(c, r->d1), w->dim(c, r->d2));
    bool scalar = r->init == ROW_SCALAR || r->init == ROW_SHIFT || r->init == ROW_EMB_SCALE;
    s->lr_mult = scalar && c->scalar_lr_mult > 0 ? c->scalar_lr_mult : 1;
    switch (r->init) {
    case ROW_NORMAL: s->init = PARAM_INIT_NORMAL, s->value = w->std; break;
    case ROW_NORMAL_PROJ: s->init = PARAM_INIT_NORMAL, s->value = w->proj_std; break;
    case ROW_ZERO: s->init = PARAM_INIT_CONST, s->value = 0; break;
    case ROW_ONE: s->init = PARAM_INIT_CONST, s->value = 1; break;
    case ROW_SCALAR: s->init = PARAM_INIT_CONST, s->value = norm_scalar_stored(norm->kind, norm->scalar0); break;
    case ROW_SHIFT: s->init = PARAM_INIT_CONST, s->value = c->shift0; break;
    case ROW_EMB_SCALE: s->init = PARAM_INIT_CONST, s->value = c->emb_scale0; break;
    }
}

void param_rows_walk(RowWalk *w, int group, const char *prefix, const ParamRow *rows, int n, void *base,
                     const RowNorm *norm) {
    for (int i = 0; i < n; i++) {
        if (!row_exists(w->c, &rows[i], norm)) continue;
        if (w->specs) row_spec(w, &rows[i], prefix, norm, &w->specs[w->k]);
        if (w->bound) {
            *(Tensor **)((char *)base + rows[i].field) = w->bound->list[w->k].t;
            w->param_group[w->k] = group;
        }
        w->k++;
    }
}
