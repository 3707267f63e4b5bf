// --dump-step: one forward, backward, clip and optimizer step on the first training batch, and
// everything it touched in one safetensors file, for checking against another implementation:
//   <name>        every parameter before the step       batch.idx, batch.targets  I32 [B,T]
//   grad.<name>   its gradient, before clipping          loss                      F32 [1]
//   after.<name>  the parameter after the step
//   __metadata__  norm n_layer n_head n_embd block_size bias lr (this step's) weight_decay beta1
//                 beta2 adam_eps grad_clip scalar_lr_mult (the norms' scalars and the embedding
//                 scale, transformer.emb_scale when present, learn at lr x scalar_lr_mult)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/checkpoint.h"
#include "train.h"

int dump_step(Run *r, const char *path, char *err, size_t errlen) {
    ParamSet *ps = &r->gpt.params;
    const TrainOptions *o = &r->o;
    nl_real *before = malloc(ps->numel * sizeof(nl_real)), *grads = malloc(ps->numel * sizeof(nl_real));
    StEntry *e = malloc((3 * ps->n + 3) * sizeof *e);
    char *names = malloc((size_t)3 * ps->n * 128);
    if (!before || !grads || !e || !names) {
        free(before), free(grads), free(e), free(names);
        return snprintf(err, errlen, "out of memory for the dump"), -1;
    }
    memcpy(before, ps->data, ps->numel * sizeof(nl_real));
    double lr = optim_lr(&r->opt.cfg, r->step), gnorm;
    dataset_batch(&r->data, false, (int)o->batch_size, (int)o->block_size, &r->data_rng, r->idx, r->targets);
    TrainStep st = {.model = &r->gpt.model, .opt = &r->opt, .tape = &r->train, .dropout_rng = &r->dropout_rng,
                    .grad_clip = o->grad_clip};
    double loss;
    Batch b = run_batch(r);
    if (train_forward_backward(&st, &b, r->step, &loss, &gnorm, err, errlen)) // grads before clipping
        return free(before), free(grads), free(e), free(names), -1;
    memcpy(grads, ps->grad, ps->numel * sizeof(nl_real));
    train_update(&st, gnorm, lr);

    int k = params_entries(ps, before, "", e, names);
    k += params_entries(ps, grads, "grad.", e + k, names + (size_t)k * 128);
    k += params_entries(ps, ps->data, "after.", e + k, names + (size_t)k * 128);
    float loss32 = (float)loss;
    int64_t B = o->batch_size, T = o->block_size;
    e[k++] = (StEntry){"batch.idx", ST_I32, 2, {B, T}, r->idx};
    e[k++] = (StEntry){"batch.targets", ST_I32, 2, {B, T}, r->targets};
    e[k++] = (StEntry){"loss", ST_F32, 1, {1}, &loss32};

    char v[13][40];
    snprintf(v[0], 40, "%s", NORM_TABLE[o->norm]->name);
    snprintf(v[1], 40, "%ld", o->n_layer);
    snprintf(v[2], 40, "%ld", o->n_head);
    snprintf(v[3], 40, "%ld", o->n_embd);
    snprintf(v[4], 40, "%ld", o->block_size);
    snprintf(v[5], 40, "%s", o->bias ? "true" : "false");
    snprintf(v[6], 40, "%.17g", lr);
    snprintf(v[7], 40, "%.17g", o->weight_decay);
    snprintf(v[8], 40, "%.17g", o->beta1);
    snprintf(v[9], 40, "%.17g", o->beta2);
    snprintf(v[10], 40, "%.17g", r->opt.cfg.eps);
    snprintf(v[11], 40, "%.17g", o->grad_clip);
    snprintf(v[12], 40, "%.17g", o->scalar_lr_mult);
    const char *meta[] = {"norm", v[0], "n_layer", v[1], "n_head", v[2], "n_embd", v[3],
                          "block_size", v[4], "bias", v[5], "lr", v[6], "weight_decay", v[7],
                          "beta1", v[8], "beta2", v[9], "adam_eps", v[10], "grad_clip", v[11],
                          "scalar_lr_mult", v[12]};
    int rc = st_write(path, e, k, meta, 13, err, errlen);
    free(before), free(grads), free(e), free(names);
    return rc;
}
