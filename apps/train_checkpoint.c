// The program's side of checkpoints and --dump-step: the options (and the text's path) a checkpoint
// records and restores, and the GPT's shape checked before it is built. The files themselves are
// the session's (src/train/session_checkpoint.c).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/checkpoint.h"
#include "train.h"

int checkpoint_write(const TrainApp *a, const char *path, char *err, size_t errlen) {
    const char *meta[2 * 64];
    char buf[8192], best[64];
    int m = 0;
    options_to_meta(&a->o, meta, &m, buf, sizeof buf);
    meta[2 * m] = "dataset", meta[2 * m + 1] = a->data.path, m++;
    snprintf(best, sizeof best, "%a %ld", a->out.best, a->out.best_step); // exact: --save-best goes on from it
    meta[2 * m] = "best_val_loss", meta[2 * m + 1] = best, m++;
    return session_save(&a->s, path, meta, m, err, errlen);
}

void checkpoint_best(const StFile *f, double *best, long *step) {
    const char *v = st_meta(f, "best_val_loss");
    if (!v || sscanf(v, "%la %ld", best, step) != 2) *best = INFINITY, *step = -1; // older checkpoints
}

static const char *meta_lookup(void *f, const char *key) { return st_meta(f, key); }

int checkpoint_open(TrainOptions *o, const char *path, StFile *f, char *err, size_t errlen) {
    if (session_checkpoint_open(f, path, err, errlen)) return -1;
    char why[512];
    if (options_from_meta(o, meta_lookup, f, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", path, why);
        return st_close(f), -1;
    }
    return 0;
}

int checkpoint_check_model(const StFile *f, const ModelInfo *mi, const ModelConfig *cfg, OptimKind optim, char *err,
                           size_t errlen) {
    StTensor t;
    int rc = session_checkpoint_check(f, mi, cfg, optim, err, errlen);
    if (!rc && !cfg->emb_scale && st_find(f, "transformer.emb_scale", &t) == 0) // it would be dropped unseen
        rc = -1, snprintf(err, errlen, "the checkpoint's model has an embedding scale: resume it without --emb-scale=off");
    return rc;
}

// --dump-step's file names the model's shape and the scalars' lr multiplier beside the step's own
// values (session_dump_step): check_dump.py rebuilds the model from them.
int dump_step(TrainApp *a, const char *path, char *err, size_t errlen) {
    const TrainOptions *o = &a->o;
    char v[7][40];
    snprintf(v[0], 40, "%s", NORM_TABLE[o->model.norm]->name);
    snprintf(v[1], 40, "%ld", o->model.n_layer);
    snprintf(v[2], 40, "%ld", o->model.n_head);
    snprintf(v[3], 40, "%ld", o->model.n_embd);
    snprintf(v[4], 40, "%ld", o->model.block_size);
    snprintf(v[5], 40, "%s", o->model.bias ? "true" : "false");
    snprintf(v[6], 40, "%.17g", o->init.scalar_lr_mult);
    const char *meta[] = {"norm", v[0], "n_layer", v[1], "n_head", v[2], "n_embd", v[3], "block_size", v[4],
                          "bias", v[5], "scalar_lr_mult", v[6]};
    return session_dump_step(&a->s, path, meta, 7, err, errlen);
}
