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
#include "normlab/observe.h"
#include "normlab/model.h"
#include "normlab/session.h"
#include "normlab/train.h"

enum { MAX_POS = 2 * 64 + 1 };

// The norms' recorded inputs: position p's rows in x[p] (batches * B * T rows of C), in forward order.
typedef struct Recorder {
    const Model *m; // its norms, names and layers, are the positions
    int n_pos, C;
    nl_real *x[MAX_POS];
    size_t rows_per_batch, rows[MAX_POS], cap_rows;
} Recorder;

static void record_input(void *ctx, const void *layer, const Tensor *x) {
    Recorder *rec = ctx;
    int C = rec->C;
    for (int p = 0; p < rec->n_pos; p++) {
        if (layer != rec->m->norm[p] || rec->rows[p] + rec->rows_per_batch > rec->cap_rows) continue;
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

// Everything the program holds, freed in one place on every way out.
typedef struct Dropin {
    Dataset data;
    char data_path[4096];
    int kind;        // the checkpoint's model: its row of the model table, its config
    ModelConfig cfg;
    Model *model;
    Session s; // the checkpoint restored: the model's parameters, its tapes and batch buffers
    StFile ckpt;
    Recorder rec;
    FILE *csv;
} Dropin;

// The model with every norm replaced by kind (dyt or dyisru) at the fitted values: every parameter
// of src copied by name, the norms' weights times the bound.
static Model *swapped_model(const Dropin *d, NormKind kind, const DropinFit *fits, int n_pos) {
    ModelConfig cfg = d->cfg;
    cfg.norm = kind, cfg.emb_scale = false, cfg.shift0 = 0;
    for (int p = 0; p < MODEL_NORM_POSITIONS; p++) cfg.scalar0[p] = 1; // each set below
    Rng rng;
    rng_seed(&rng, 1);
    Model *out = MODEL_TABLE[d->kind]->create(&cfg, &rng);
    if (!out) return NULL;
    const ParamSet *src = d->model->params, *dst = out->params;
    for (int i = 0; i < dst->n; i++)
        for (int j = 0; j < src->n; j++)
            if (!strcmp(dst->list[i].spec.name, src->list[j].spec.name))
                memcpy(dst->list[i].t->data, src->list[j].t->data, tensor_numel(src->list[j].t) * sizeof(nl_real));
    for (int p = 0; p < n_pos; p++) {
        const Norm *n = out->norm[p];
        double bound = sqrt(d->cfg.norm == NORM_LN ? cfg.n_embd - 1.0 : cfg.n_embd);
        for (size_t c = 0; c < tensor_numel(n->weight); c++) n->weight->data[c] *= (nl_real)bound;
        // dyt: alpha as fitted; dyisru computes x / sqrt(beta + x^2 + eps): store beta - eps
        n->scalar->data[0] = (nl_real)(kind == NORM_DYT ? fits[p].fit.param : fits[p].fit.param - n->eps);
    }
    return out;
}

// The loss of m on the whole val split, on a tape of its own (a measured arena fits one model).
// 0, or -1 when out of memory.
static int whole_val(Dropin *d, const Model *m, double *loss, size_t *n_tokens) {
    Arena a;
    Tape t;
    if (arena_init(&a, "dropin eval", 0)) return -1;
    if (tape_init(&t, &a, m->tape_nodes)) return arena_free(&a), -1;
    tape_set_grad_enabled(&t, false);
    TrainEval e = {0};
    int rc = train_eval_split(&t, m, &d->s.data, d->s.cfg.batch_size, d->s.idx, d->s.targets, &e);
    *loss = e.loss, *n_tokens = e.targets;
    tape_free(&t), arena_free(&a);
    return rc;
}

static int finish(Dropin *d, int status) {
    st_close(&d->ckpt);
    for (int p = 0; p < d->rec.n_pos; p++) free(d->rec.x[p]);
    if (d->csv) fclose(d->csv);
    session_free(&d->s), model_destroy(d->model), dataset_free(&d->data);
    return status;
}

static int fail(Dropin *d, int status, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "dropin: error: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return finish(d, status);
}

// The checkpoint's model and its text (1-3 above): 0, or the exit status after the message.
static int load(Dropin *d, const char *path, const char *data) {
    char err[1024];
    SessionConfig sc;
    if (session_checkpoint_open(&d->ckpt, path, err, sizeof err) ||
        session_checkpoint_config(&d->ckpt, &d->kind, &d->cfg, &sc, err, sizeof err))
        return fail(d, 1, "%s%s", err, "");
    if (d->cfg.norm != NORM_LN && d->cfg.norm != NORM_RMSNORM)
        return fail(d, 2, "%s is a %s model; the drop-in test replaces LN or RMSNorm", path, NORM_TABLE[d->cfg.norm]->name);
    const char *named = st_meta(&d->ckpt, "dataset"); // the text the train program records
    if (dataset_resolve(data ? data : named ? named : "tinyshakespeare", NORMLAB_DATA_DIR, d->data_path,
                        sizeof d->data_path, err, sizeof err) || dataset_load(&d->data, d->data_path, err, sizeof err))
        return fail(d, 1, "%s%s", err, "");
    const ModelInfo *mi = MODEL_TABLE[d->kind];
    if (mi->check(&d->cfg, err, sizeof err) || session_checkpoint_check(&d->ckpt, mi, &d->cfg, sc.optim.kind, err, sizeof err))
        return fail(d, 1, "%s: %s", path, err);
    Rng init;
    rng_seed(&init, 1);
    if (!(d->model = mi->create(&d->cfg, &init))) return fail(d, 1, "out of memory%s%s", "", "");
    DataSource src = dataset_source(&d->data, sc.block_size);
    if (session_init(&d->s, &sc, d->model, &src, NULL, err, sizeof err) ||
        session_restore(&d->s, &d->ckpt, err, sizeof err))
        return fail(d, 1, "%s: %s", path, err);
    st_close(&d->ckpt);
    return 0;
}

// Records the norms' inputs on the train program's val batches (1).
static int record(Dropin *d, const char *path, long batches) {
    Recorder *rec = &d->rec;
    const Model *m = d->model;
    int B = d->s.cfg.batch_size, T = d->s.cfg.block_size, C = d->cfg.n_embd;
    if (m->norms.n > MAX_POS) return fail(d, 2, "%s has more norms than the drop-in test records%s", path, "");
    *rec = (Recorder){.m = m, .n_pos = m->norms.n, .C = C, .rows_per_batch = (size_t)B * T};
    rec->cap_rows = rec->rows_per_batch * batches;
    for (int p = 0; p < rec->n_pos; p++)
        if (!(rec->x[p] = malloc(rec->cap_rows * C * sizeof(nl_real)))) return fail(d, 1, "out of memory%s%s", "", "");
    TapeObserver obs = {.ctx = rec, .norm_input = record_input};
    Rng eval_rng;
    session_seed(&eval_rng, d->s.cfg.seed, SESSION_STREAM_EVAL + 1); // the train program's val batches
    Tape *t = &d->s.eval.tape;
    t->observer = &obs;
    TrainEval e = {0};
    int rc = train_eval_batches(t, m, &d->s.data, true, B, batches, &eval_rng, d->s.idx, d->s.targets, &e);
    t->observer = NULL;
    if (rc) return fail(d, 1, "out of memory%s%s", "", "");
    double loss = e.loss;
    printf("%s: %s model, %d layers, C %d; fits on %ld val batches (%zu values per norm; their loss %.4f)\n", path,
           NORM_TABLE[d->cfg.norm]->name, d->cfg.n_layer, C, batches, rec->cap_rows * C, loss);
    return 0;
}

// Fits DyT and DyISRU to every norm (2), printed and written to --csv: 0, or the exit status.
static int fit_all(Dropin *d, const char *csv, DropinFit *dyt, DropinFit *isru) {
    const Recorder *rec = &d->rec;
    int C = d->cfg.n_embd;
    DropinTarget target = d->cfg.norm == NORM_LN ? DROPIN_LN : DROPIN_RMSNORM;
    if (csv && !(d->csv = fopen(csv, "w"))) return fail(d, 1, "--csv %s cannot be written%s", csv, "");
    if (d->csv)
        fprintf(d->csv, "model,row,position,dyt_alpha,dyt_mar,dyt_mar_tail,dyisru_beta,dyisru_mar,dyisru_mar_tail,tail_from,val_loss\n");
    printf("%-9s %12s %10s %12s | %12s %10s %12s | %s\n", "norm", "DyT alpha", "MAR", "MAR top 1%", "DyISRU beta",
           "MAR", "MAR top 1%", "top 1% from |x| =");
    const char *name = NORM_TABLE[d->cfg.norm]->name;
    for (int p = 0; p < rec->n_pos; p++) {
        OutlierPoints pts;
        if (dropin_points(rec->x[p], rec->rows[p], C, 0, C, target, rec->m->norm[p]->eps, &pts))
            return fail(d, 1, "out of memory%s%s", "", "");
        dyt[p] = dropin_fit(FIT_DYT, &pts), isru[p] = dropin_fit(FIT_DYISRU, &pts);
        outlier_points_free(&pts);
        printf("%-9s %12.6g %10.4f %12.4f | %12.6g %10.4f %12.4f | %.4g\n", rec->m->norms.name[p], dyt[p].fit.param, dyt[p].fit.mar,
               dyt[p].mar_tail, isru[p].fit.param, isru[p].fit.mar, isru[p].mar_tail, dyt[p].tail_from);
        if (d->csv)
            fprintf(d->csv, "%s,fit,%s,%.9g,%.6g,%.6g,%.9g,%.6g,%.6g,%.6g,\n", name, rec->m->norms.name[p], dyt[p].fit.param,
                    dyt[p].fit.mar, dyt[p].mar_tail, isru[p].fit.param, isru[p].fit.mar, isru[p].mar_tail, dyt[p].tail_from);
    }

    return 0;
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

    static Dropin d;
    int rc = load(&d, path, data);
    if (!rc) rc = record(&d, path, batches);
    if (rc) return rc;
    Recorder *rec = &d.rec;

    // 2. the fits
    DropinFit dyt[MAX_POS] = {0}, isru[MAX_POS] = {0};
    if ((rc = fit_all(&d, csv, dyt, isru))) return rc;
    const char *name = NORM_TABLE[d.cfg.norm]->name;

    // 3 and 4. the swapped models, and the whole val split
    size_t n_tokens;
    double loss[3];
    if (whole_val(&d, d.model, &loss[0], &n_tokens)) return fail(&d, 1, "out of memory%s%s", "", "");
    const NormKind kinds[2] = {NORM_DYT, NORM_DYISRU};
    for (int k = 0; k < 2; k++) {
        Model *m = swapped_model(&d, kinds[k], k == 0 ? dyt : isru, rec->n_pos);
        if (!m) return fail(&d, 1, "out of memory%s%s", "", "");
        int rc = whole_val(&d, m, &loss[1 + k], &n_tokens);
        model_destroy(m);
        if (rc) return fail(&d, 1, "out of memory%s%s", "", "");
    }
    printf("whole val split (%zu tokens): %s %.4f, DyT in its place %.4f, DyISRU in its place %.4f\n", n_tokens, name,
           loss[0], loss[1], loss[2]);
    const char *model[3] = {name, "dyt", "dyisru"};
    for (int k = 0; d.csv && k < 3; k++) fprintf(d.csv, "%s,loss,%s,,,,,,,,%.6f\n", name, model[k], loss[k]);
    if (d.csv) {
        int bad = ferror(d.csv) | fclose(d.csv);
        d.csv = NULL;
        if (bad) return fail(&d, 1, "--csv %s: write failed%s", csv, "");
    }
    return finish(&d, 0);
}
