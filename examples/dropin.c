// The drop-in test of the seed paper's claim (docs/stability.md, "The drop-in test"). The paper
// says DyISRU reproduces a normalization layer better than DyT, from one fit to an outlier's
// points; this asks it of a trained model. From a checkpoint of an LN or RMSNorm GPT:
//   1. record every norm's input on validation batches (the train program's evaluation batches);
//   2. fit, per norm, DyT's alpha in sqrt(C') tanh(alpha x) and DyISRU's beta in
//      sqrt(C') x / sqrt(beta + x^2) to the norm's own output before its weight (least squares in
//      double; C' = C - 1 for LN, C for RMSNorm: each layer's bound);
//   3. build the model again with each norm replaced by the fitted DyT (then DyISRU), its weight
//      times sqrt(C') and no other change, no retraining, no embedding scale;
//   4. evaluate all three on the whole val split.
//   dropin CHECKPOINT [--batches N] [--csv PATH] [--data PATH] [--threads N]
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dropin_fit.h"
#include "normlab/blas.h"
#include "normlab/checkpoint.h"
#include "train.h"

enum { MAX_POS = 2 * 64 + 1 };

// The norms' recorded inputs: position p's rows in x[p] (batches * B * T rows of C), in forward order.
typedef struct Recorder {
    const Gpt *m;
    int n_pos;
    const Norm *norm[MAX_POS];
    char name[MAX_POS][48];
    nl_real *x[MAX_POS];
    size_t rows_per_batch, rows[MAX_POS], cap_rows;
} Recorder;

static void record_input(void *ctx, const void *layer, const Tensor *x) {
    Recorder *rec = ctx;
    int C = rec->m->cfg.n_embd;
    for (int p = 0; p < rec->n_pos; p++) {
        if (layer != rec->norm[p] || rec->rows[p] + rec->rows_per_batch > rec->cap_rows) continue;
        memcpy(rec->x[p] + rec->rows[p] * C, x->data, rec->rows_per_batch * C * sizeof(nl_real));
        rec->rows[p] += rec->rows_per_batch;
    }
}

static int usage(const char *why) {
    if (why) fprintf(stderr, "dropin: error: %s\n", why);
    fprintf(why ? stderr : stdout,
            "usage: dropin CHECKPOINT [--batches N] [--csv PATH] [--data PATH] [--threads N]\n"
            "Replaces every norm of a trained LN or RMSNorm model (a ./train --save checkpoint) by DyT\n"
            "and by DyISRU fitted to it, and evaluates the three models on the whole val split.\n"
            "  --batches N   validation batches recorded for the fits (default 8: the eval batches)\n"
            "  --csv PATH    also write the per-layer fits and the losses as CSV rows\n"
            "  --data PATH   the text (default: the dataset the checkpoint names)\n"
            "  --threads N   threads (default: all cores)\n");
    return why ? 2 : 0;
}

// The model with every norm replaced by kind (dyt or dyisru) at the fitted values: every parameter
// of src copied by name, the norms' weights times the bound.
static int swapped_model(const Run *r, NormKind kind, const DropinFit *fits, int n_pos, Gpt *out) {
    TrainOptions o = r->o;
    o.norm = kind, o.emb_scale_mode = EMB_SCALE_OFF;
    GptConfig cfg = options_gpt_config(&o, r->model.cfg.vocab_size);
    for (int p = 0; p < GPT_NORM_POSITIONS; p++) cfg.scalar0[p] = 1; // each set below
    Rng rng;
    rng_seed(&rng, 1);
    if (gpt_init(out, &cfg, &rng)) return -1;
    const ParamSet *src = &r->model.params, *dst = &out->params;
    for (int i = 0; i < dst->n; i++)
        for (int j = 0; j < src->n; j++)
            if (!strcmp(dst->list[i].spec.name, src->list[j].spec.name))
                memcpy(dst->list[i].t->data, src->list[j].t->data, tensor_numel(src->list[j].t) * sizeof(nl_real));
    for (int p = 0; p < n_pos; p++) {
        int l = p / 2;
        Norm *n = p == n_pos - 1 ? &out->ln_f : p % 2 ? &out->blocks[l].ln_2 : &out->blocks[l].ln_1;
        double bound = sqrt(r->model.cfg.norm == NORM_LN ? cfg.n_embd - 1.0 : cfg.n_embd);
        for (size_t c = 0; c < tensor_numel(n->weight); c++) n->weight->data[c] *= (nl_real)bound;
        // dyt: alpha as fitted; dyisru computes x / sqrt(beta + x^2 + eps): store beta - eps
        n->scalar->data[0] = (nl_real)(kind == NORM_DYT ? fits[p].fit.param : fits[p].fit.param - n->eps);
    }
    return 0;
}

// The loss of m on the whole val split, on a tape of its own (a measured arena fits one model).
static double whole_val(const Run *r, const Gpt *m, size_t *n_tokens) {
    Arena a;
    Tape t;
    if (arena_init(&a, "dropin eval", 0) || tape_init(&t, &a, 4096 + 64 * m->cfg.n_layer)) return NAN;
    tape_set_grad_enabled(&t, false);
    double loss = train_eval_full_val(&t, m, &r->data, (int)r->o.batch_size, (int)r->o.block_size, r->idx,
                                      r->targets, n_tokens);
    tape_free(&t), arena_free(&a);
    return loss;
}

int main(int argc, char **argv) {
    long batches = 8, threads = 0;
    const char *csv = NULL, *data = NULL;
    static const struct option longs[] = {{"batches", 1, 0, 'b'}, {"csv", 1, 0, 'c'}, {"data", 1, 0, 'd'},
                                          {"threads", 1, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "h", longs, NULL)) != -1;) {
        char *end = NULL;
        if (c == 'h') return usage(NULL);
        if (c == 'b' && ((batches = strtol(optarg, &end, 10)) < 1 || batches > 1000 || *end)) return usage("--batches takes 1..1000");
        if (c == 't' && ((threads = strtol(optarg, &end, 10)) < 1 || threads > 1024 || *end)) return usage("--threads takes 1..1024");
        if (c == 'c') csv = optarg;
        if (c == 'd') data = optarg;
        if (c == '?') return usage("unknown option");
    }
    if (optind != argc - 1) return usage("one checkpoint, please");
    const char *path = argv[optind];
    if (threads) blas_threads_set((int)threads);

    static Run r;
    char err[1024];
    char *defaults[] = {"dropin", NULL};
    optind = 1;
    if (options_parse(&r.o, 1, defaults)) return 2;
    StFile f = {0};
    if (checkpoint_open(&r, path, &f, err, sizeof err)) return fprintf(stderr, "dropin: error: %s\n", err), 1;
    options_derive(&r.o);
    if (r.o.norm != NORM_LN && r.o.norm != NORM_RMSNORM) {
        fprintf(stderr, "dropin: error: %s is a %s model; the drop-in test replaces LN or RMSNorm\n", path,
                NORM_TABLE[r.o.norm]->name);
        return st_close(&f), 2;
    }
    if (dataset_resolve(data ? data : r.o.dataset, NORMLAB_DATA_DIR, r.data_path, sizeof r.data_path, err, sizeof err) ||
        dataset_load(&r.data, r.data_path, err, sizeof err))
        return st_close(&f), fprintf(stderr, "dropin: error: %s\n", err), 1;
    r.have_text = true;
    GptConfig cfg = options_gpt_config(&r.o, r.data.vocab_size);
    OptimConfig oc = {.kind = r.o.optim, .lr = r.o.lr};
    int B = (int)r.o.batch_size, T = (int)r.o.block_size, C = cfg.n_embd;
    Rng init;
    rng_seed(&init, 1);
    const char *bad = gpt_config_check(&cfg);
    if (bad || checkpoint_check_model(&f, &cfg, r.o.optim, err, sizeof err))
        return st_close(&f), fprintf(stderr, "dropin: error: %s: %s\n", path, bad ? bad : err), 1;
    if (gpt_init(&r.model, &cfg, &init) || optim_init(&r.opt, &oc, r.model.params.numel) ||
        !(r.idx = malloc((size_t)B * T * sizeof(int32_t))) || !(r.targets = malloc((size_t)B * T * sizeof(int32_t))) ||
        arena_init(&r.eval_arena, "eval", 0) || tape_init(&r.eval, &r.eval_arena, 4096 + 64 * cfg.n_layer))
        return st_close(&f), fprintf(stderr, "dropin: error: out of memory\n"), 1;
    int rc = checkpoint_restore(&r, &f, err, sizeof err);
    st_close(&f);
    if (rc) return fprintf(stderr, "dropin: error: %s: %s\n", path, err), 1;
    tape_set_grad_enabled(&r.eval, false);

    // 1. the norms' inputs on the val batches
    Recorder rec = {.m = &r.model, .n_pos = 2 * cfg.n_layer + 1, .rows_per_batch = (size_t)B * T};
    rec.cap_rows = rec.rows_per_batch * batches;
    for (int l = 0; l < cfg.n_layer; l++) {
        rec.norm[2 * l] = &r.model.blocks[l].ln_1, rec.norm[2 * l + 1] = &r.model.blocks[l].ln_2;
        snprintf(rec.name[2 * l], sizeof rec.name[0], "h%d.ln_1", l);
        snprintf(rec.name[2 * l + 1], sizeof rec.name[0], "h%d.ln_2", l);
    }
    rec.norm[rec.n_pos - 1] = &r.model.ln_f;
    snprintf(rec.name[rec.n_pos - 1], sizeof rec.name[0], "ln_f");
    for (int p = 0; p < rec.n_pos; p++)
        if (!(rec.x[p] = malloc(rec.cap_rows * C * sizeof(nl_real)))) return fprintf(stderr, "dropin: error: out of memory\n"), 1;
    TapeObserver obs = {.ctx = &rec, .norm_input = record_input};
    Rng eval_rng;
    run_seed(&eval_rng, r.o.seed, STREAM_EVAL + 1); // the train program's val batches
    r.eval.observer = &obs;
    double recorded_loss = train_eval_batches(&r.eval, &r.model, &r.data, true, B, T, batches, &eval_rng, r.idx, r.targets);
    r.eval.observer = NULL;

    // 2. the fits
    DropinTarget target = r.o.norm == NORM_LN ? DROPIN_LN : DROPIN_RMSNORM;
    DropinFit dyt[MAX_POS], isru[MAX_POS];
    FILE *out = csv ? fopen(csv, "w") : NULL;
    if (csv && !out) return fprintf(stderr, "dropin: error: --csv %s cannot be written\n", csv), 1;
    if (out) fprintf(out, "model,row,position,dyt_alpha,dyt_mar,dyt_mar_tail,dyisru_beta,dyisru_mar,dyisru_mar_tail,tail_from,val_loss\n");
    printf("%s: %s model, %d layers, C %d; fits on %ld val batches (%zu values per norm; their loss %.4f)\n",
           path, NORM_TABLE[r.o.norm]->name, cfg.n_layer, C, batches, rec.cap_rows * C, recorded_loss);
    printf("%-9s %12s %10s %12s | %12s %10s %12s | %s\n", "norm", "DyT alpha", "MAR", "MAR top 1%", "DyISRU beta",
           "MAR", "MAR top 1%", "top 1% from |x| =");
    for (int p = 0; p < rec.n_pos; p++) {
        OutlierPoints pts;
        if (dropin_points(rec.x[p], rec.rows[p], C, 0, C, target, rec.norm[p]->eps, &pts))
            return fprintf(stderr, "dropin: error: out of memory\n"), 1;
        dyt[p] = dropin_fit(FIT_DYT, &pts), isru[p] = dropin_fit(FIT_DYISRU, &pts);
        outlier_points_free(&pts);
        printf("%-9s %12.6g %10.4f %12.4f | %12.6g %10.4f %12.4f | %.4g\n", rec.name[p], dyt[p].fit.param, dyt[p].mar,
               dyt[p].mar_tail, isru[p].fit.param, isru[p].mar, isru[p].mar_tail, dyt[p].tail_from);
        if (out)
            fprintf(out, "%s,fit,%s,%.9g,%.6g,%.6g,%.9g,%.6g,%.6g,%.6g,\n", NORM_TABLE[r.o.norm]->name, rec.name[p],
                    dyt[p].fit.param, dyt[p].mar, dyt[p].mar_tail, isru[p].fit.param, isru[p].mar, isru[p].mar_tail,
                    dyt[p].tail_from);
    }

    // 3 and 4. the swapped models, and the whole val split
    size_t n_tokens;
    double loss[3];
    loss[0] = whole_val(&r, &r.model, &n_tokens);
    const NormKind kinds[2] = {NORM_DYT, NORM_DYISRU};
    for (int k = 0; k < 2; k++) {
        Gpt m;
        if (swapped_model(&r, kinds[k], k == 0 ? dyt : isru, rec.n_pos, &m)) return fprintf(stderr, "dropin: error: out of memory\n"), 1;
        loss[1 + k] = whole_val(&r, &m, &n_tokens);
        gpt_free(&m);
    }
    printf("whole val split (%zu tokens): %s %.4f, DyT in its place %.4f, DyISRU in its place %.4f\n", n_tokens,
           NORM_TABLE[r.o.norm]->name, loss[0], loss[1], loss[2]);
    const char *model[3] = {NORM_TABLE[r.o.norm]->name, "dyt", "dyisru"};
    for (int k = 0; out && k < 3; k++) fprintf(out, "%s,loss,%s,,,,,,,,%.6f\n", NORM_TABLE[r.o.norm]->name, model[k], loss[k]);
    if (out && fclose(out)) return fprintf(stderr, "dropin: error: --csv %s: write failed\n", csv), 1;
    for (int p = 0; p < rec.n_pos; p++) free(rec.x[p]);
    return 0;
}
