// A training session (normlab/session.h): setup, the step, evaluation, sampling and the log.
// Checkpoints and --dump-step are in session_checkpoint.c.
#include "normlab/check.h"
#include "normlab/session.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "normlab/blas.h"
#include "normlab/train.h"

void session_seed(Rng *r, long seed, int stream) {
    NL_NONNULL(r);
    rng_seed(r, (uint64_t)seed + 0x9e3779b97f4a7c15ull * (uint64_t)(stream + 1));
}

// Dropout masks: a stream per process. Rank 0's is one process's (a checkpoint keeps it), every
// other rank's is derived from it, once, at the first step (after any restore).
static void dropout_per_rank(Session *s) {
    s->started = true;
    if (!s->dist || s->dist->rank == 0) return;
    Rng from = s->dropout_rng;
    session_seed(&s->dropout_rng, (long)(rng_u64(&from) >> 1) + s->dist->rank, SESSION_STREAM_DROPOUT);
}

static int tape_open(SessionTape *t, const char *name, int nodes, bool grad) {
    if (arena_init(&t->arena, name, 0) || tape_init(&t->tape, &t->arena, nodes)) return -1;
    tape_set_grad_enabled(&t->tape, grad);
    return 0;
}

static void tape_close(SessionTape *t) { tape_free(&t->tape), arena_free(&t->arena); }

int session_init(Session *s, const SessionConfig *cfg, Model *model, const DataSource *data, Dist *dist, char *err,
                 size_t errlen) {
    NL_NONNULL(s, cfg, model, data, err);
    *s = (Session){.cfg = *cfg, .model = model, .data = *data, .dist = dist};
    session_seed(&s->data_rng, cfg->seed, SESSION_STREAM_DATA);
    session_seed(&s->dropout_rng, cfg->seed, SESSION_STREAM_DROPOUT);
    size_t B = (size_t)cfg->batch_size;
    int nodes = model->tape_nodes;
    if (optim_init(&s->opt, &cfg->optim, model->params->numel) || optim_prepare(&s->opt, model->params) || !(s->idx = malloc(B * data->width * sizeof(int32_t))) ||
        !(s->targets = malloc(B * data->target_width * sizeof(int32_t))) || tape_open(&s->train, "train step", nodes, true) ||
        tape_open(&s->eval, "eval", nodes, false) || tape_open(&s->sample, "sample", nodes, false))
        return snprintf(err, errlen, "out of memory building the model"), -1;
    if (stats_init(&s->stats, model)) return snprintf(err, errlen, "out of memory for the instruments"), -1;
    if (dist && dist_buckets_init(dist, model->params, cfg->bucket_bytes, cfg->overlap))
        return snprintf(err, errlen, "out of memory for the data parallel buckets"), -1;
    if (cfg->auto_threads > 0) train_threads_init(&s->team, cfg->auto_threads);
    return 0;
}

void session_free(Session *s) {
    NL_NONNULL(s);
    stats_free(&s->stats);
    if (s->dist) dist_buckets_free(s->dist);
    tape_close(&s->train), tape_close(&s->eval), tape_close(&s->sample);
    optim_free(&s->opt);
    free(s->idx), free(s->targets);
    *s = (Session){0};
}

// ---- the step ------------------------------------------------------------------------------------
static TrainStep session_train_step(Session *s) {
    return (TrainStep){.model = s->model, .opt = &s->opt, .tape = &s->train.tape, .dropout_rng = &s->dropout_rng,
                       .grad_clip = s->cfg.grad_clip, .accum = s->cfg.grad_accum, .dist = s->dist};
}

// The whole step's batch, freshly drawn: every process draws all of it (the same stream as one
// process) and takes its own rows.
static Batch session_next_batch(Session *s) {
    int B = s->cfg.batch_size, size = s->dist ? s->dist->size : 1;
    data_draw(&s->data, false, B, &s->data_rng, s->idx, s->targets);
    Batch all = {.rows = B, .width = s->data.width, .target_width = s->data.target_width, .tokens = s->idx,
                 .targets = s->targets};
    int rows = B / size;
    return batch_rows(&all, (s->dist ? s->dist->rank : 0) * rows, rows);
}

// A step that was not finite: skipped (1) or the end of the run (-1).
static int session_step_fault(Session *s, SessionStepInfo *info) {
    tape_reset(&s->train.tape);
    info->loss = info->grad_norm = NAN;
    info->skips_exhausted = ++s->skips_in_a_row > SESSION_MAX_SKIPS_IN_A_ROW;
    if (!s->cfg.skip_nonfinite || info->skips_exhausted) {
        s->step++; // its row names the step that failed, as a train row names the step it took
        session_log_row(s, "train", NAN, NAN, info->lr, NAN, 0, false);
        s->step--; // not taken: a checkpoint and the summary count the steps done
        return -1;
    }
    s->skipped++, s->step++; // the batch is used up; parameters and moments stay as they were
    session_log_row(s, "train", NAN, NAN, info->lr, NAN, 0, false);
    return 1;
}

static int step(Session *s, SessionStepInfo *info, char *err, size_t errlen) {
    double t = tape_clock();
    if (!s->started) dropout_per_rank(s);
    if (s->dist) s->dist->watch.step = s->step;
    *info = (SessionStepInfo){.lr = optim_lr(&s->opt.cfg, s->step)};
    Batch b = session_next_batch(s);
    bool measure = s->log && s->cfg.stats_every > 0 && s->step % s->cfg.stats_every == 0;
    TrainStep st = session_train_step(s);
    if (measure) stats_attach(&s->stats, &s->train.tape);
    int bad = train_forward_backward(&st, &b, s->step, &info->loss, &info->grad_norm, err, errlen);
    if (measure) stats_measure(&s->stats, &s->train.tape);
    info->fault_here = st.fault_here;
    if (bad) return session_step_fault(s, info);
    s->skips_in_a_row = 0;
    if (measure) stats_before_update(&s->stats);
    train_update(&st, info->grad_norm, info->lr);
    if (measure) stats_after_update(&s->stats);
    s->step++; // from here on, the step counts as done
    s->spikes += stats_spike(&s->stats, info->loss, s->cfg.spike_factor);
    info->seconds = tape_clock() - t;
    if (s->cfg.auto_threads > 0) train_threads_step(&s->team, info->seconds);
    s->train_s += info->seconds;
    info->tokens_per_sec = (double)s->cfg.batch_size * s->data.units_per_row / info->seconds;
    session_log_row(s, "train", info->loss, NAN, info->lr, info->grad_norm, info->tokens_per_sec, measure);
    return 0;
}

// ---- evaluation ----------------------------------------------------------------------------------
// The same eval_iters batches every time; or, for data whose evaluation is always whole, all of it.
static int session_eval_split(Session *s, bool eval, TrainEval *e) {
    if (eval && s->data.eval_whole)
        return train_eval_split(&s->eval.tape, s->model, &s->data, s->cfg.batch_size, s->idx, s->targets, e);
    Rng rng;
    session_seed(&rng, s->cfg.seed, SESSION_STREAM_EVAL + eval);
    return train_eval_batches(&s->eval.tape, s->model, &s->data, eval, s->cfg.batch_size, s->cfg.eval_iters, &rng,
                              s->idx, s->targets, e);
}

static int evaluate(Session *s, TrainEval *train, TrainEval *eval, char *err, size_t errlen) {
    if (s->dist) s->dist->watch.step = s->step;
    if (s->dist && !dist_params_agree(s->dist, s->model->params)) // cheap, and it would break everything after
        return snprintf(err, errlen, "step %ld: the processes' parameters differ (they must stay identical: the "
                        "same averaged grads, the same update); this MPI's allreduce gave ranks different sums",
                        s->step), -1;
    *train = *eval = (TrainEval){.loss = NAN, .accuracy = NAN};
    if (s->dist && s->dist->rank > 0) return 0;
    if (session_eval_split(s, false, train) || session_eval_split(s, true, eval))
        return snprintf(err, errlen, "out of memory for the evaluation"), -1;
    session_log_row(s, "eval_train", train->loss, train->accuracy, 0, 0, 0, false);
    session_log_row(s, "eval_val", eval->loss, eval->accuracy, 0, 0, 0, false);
    return 0;
}

// One whole split's evaluation, logged as a row of kind.
static int eval_whole(Session *s, const DataSource *d, const char *kind, TrainEval *e, char *err, size_t errlen) {
    if (train_eval_split(&s->eval.tape, s->model, d, s->cfg.batch_size, s->idx, s->targets, e))
        return snprintf(err, errlen, "out of memory for the whole %s split's evaluation", d->eval_name), -1;
    session_log_row(s, kind, e->loss, e->accuracy, 0, 0, 0, false);
    return 0;
}

// ---- the calls that run the model: their arenas' lack of memory comes back as an error -----------
static int classify(Session *s, size_t first, int n, int *pred, double *p, int *truth);
static int sample(Session *s, const int32_t *prompt, int n_prompt, const SessionSampling *how,
                  void (*emit)(void *ctx, int id), void *ctx);

static void arenas_fail_to(Session *s, ArenaFail *f) {
    s->train.arena.fail = s->eval.arena.fail = s->sample.arena.fail = f;
}

// Runs CALL (an int) with the session's arenas sent back here when the system gives them no memory
// (arena.h's ArenaFail): then SESSION_NO_MEMORY, with the arena's message in err (when there is one).
#define SESSION_GUARDED(s, err, errlen, call)                                                                         \
    do {                                                                                                              \
        ArenaFail fail_;                                                                                              \
        if (setjmp(fail_.env)) {                                                                                      \
            arenas_fail_to(s, NULL);                                                                                  \
            if (errlen) snprintf(err, errlen, "%s", fail_.msg);                                                       \
            return SESSION_NO_MEMORY;                                                                                 \
        }                                                                                                             \
        arenas_fail_to(s, &fail_);                                                                                    \
        int rc_ = (call);                                                                                             \
        arenas_fail_to(s, NULL);                                                                                      \
        return rc_;                                                                                                   \
    } while (0)

int session_step(Session *s, SessionStepInfo *info, char *err, size_t errlen) {
    NL_NONNULL(s, info, err);
    SESSION_GUARDED(s, err, errlen, step(s, info, err, errlen));
}

int session_evaluate(Session *s, TrainEval *train, TrainEval *eval, char *err, size_t errlen) {
    NL_NONNULL(s, train, eval, err);
    SESSION_GUARDED(s, err, errlen, evaluate(s, train, eval, err, errlen));
}

int session_eval_whole(Session *s, TrainEval *e, char *err, size_t errlen) {
    NL_NONNULL(s, e, err);
    SESSION_GUARDED(s, err, errlen, eval_whole(s, &s->data, "eval_val_full", e, err, errlen));
}

int session_eval_test(Session *s, TrainEval *e, char *err, size_t errlen) {
    NL_NONNULL(s, e, err);
    SESSION_GUARDED(s, err, errlen, eval_whole(s, s->data.test, "eval_test_full", e, err, errlen));
}

int session_classify(Session *s, size_t first, int n, int *pred, double *p, int *truth) {
    NL_NONNULL(s, pred, p, truth);
    char *none = NULL;
    SESSION_GUARDED(s, none, 0, classify(s, first, n, pred, p, truth));
}

int session_sample(Session *s, const int32_t *prompt, int n_prompt, const SessionSampling *how,
                   void (*emit)(void *ctx, int id), void *ctx) {
    NL_NONNULL(s, how, emit);
    char *none = NULL;
    SESSION_GUARDED(s, none, 0, sample(s, prompt, n_prompt, how, emit, ctx));
}

static int classify(Session *s, size_t first, int n, int *pred, double *p, int *truth) {
    const DataSource *d = s->data.test ? s->data.test : &s->data;
    int B = s->cfg.batch_size, V = d->classes;
    if (d->target_width != 1 || first + n > d->eval_rows) return -1;
    for (int done = 0; done < n; done += B) {
        int rows = n - done < B ? n - done : B;
        data_rows(d, first + done, rows, s->idx, s->targets);
        Batch b = {.rows = rows, .width = d->width, .target_width = 1, .tokens = s->idx};
        const nl_real *out = model_forward(&s->eval.tape, s->model, &b, NULL)->data; // (rows, 1, V)
        for (int r = 0; r < rows; r++) {
            const nl_real *z = out + (size_t)r * V;
            int best = 0;
            double sum = 0;
            for (int j = 1; j < V; j++)
                if (z[j] > z[best]) best = j;
            for (int j = 0; j < V; j++) sum += exp((double)z[j] - z[best]);
            pred[done + r] = best, p[done + r] = 1 / sum, truth[done + r] = s->targets[r];
        }
        tape_reset(&s->eval.tape);
    }
    return 0;
}

// ---- sampling ------------------------------------------------------------------------------------
static int descending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

// The next id, drawn from softmax(logits / temperature) over the top_k largest logits (0: all), with
// u uniform in [0, 1); p and sorted: V doubles each.
static int sample_draw(const nl_real *logits, int V, const SessionSampling *how, double u, double *p, double *sorted) {
    double mx = -INFINITY, sum = 0, floor = -INFINITY;
    for (int j = 0; j < V; j++) {
        if (!isfinite(logits[j])) return -1; // a diverged model: there is nothing to draw from
        mx = fmax(mx, logits[j] / how->temperature);
        sorted[j] = logits[j];
    }
    if (how->top_k > 0 && how->top_k < V) {
        qsort(sorted, V, sizeof(double), descending);
        floor = sorted[how->top_k - 1];
    }
    for (int j = 0; j < V; j++) sum += p[j] = logits[j] >= floor ? exp(logits[j] / how->temperature - mx) : 0;
    for (int j = 0; j < V; j++)
        if ((u -= p[j] / sum) < 0) return j;
    return V - 1;
}

// The window: the last T tokens of the prompt and what was generated (causal attention: position i
// sees only 0..i, so a full window always runs and the sample arena keeps one size).
static void window_push(int32_t *ctx, int *len, int T, int32_t id) {
    if (*len == T) memmove(ctx, ctx + 1, (T - 1) * sizeof(int32_t)), (*len)--;
    ctx[(*len)++] = id;
}

static int sample(Session *s, const int32_t *prompt, int n_prompt, const SessionSampling *how,
                  void (*emit)(void *ctx, int id), void *ctx) {
    int T = s->data.width, V = s->data.classes, len = 0;
    if (!s->data.text || T < 1 || V < 1) return -1;
    int32_t *window = calloc(T, sizeof(int32_t));
    double *p = malloc(2 * V * sizeof(double));
    if (!window || !p) return free(window), free(p), -1;
    Rng rng;
    session_seed(&rng, how->seed, SESSION_STREAM_SAMPLE);
    for (int i = 0; i < n_prompt; i++) window_push(window, &len, T, prompt[i]);
    if (len == 0) window_push(window, &len, T, 0); // an empty prompt starts from the first symbol
    Batch b = {.rows = 1, .width = T, .target_width = T, .tokens = window};
    for (long c = 0; c < how->n; c++) {
        Tensor *logits = model_forward(&s->sample.tape, s->model, &b, NULL); // (1,T,V)
        int next = sample_draw(logits->data + (size_t)(len - 1) * V, V, how, rng_uniform(&rng), p, p + V);
        tape_reset(&s->sample.tape);
        if (next < 0) return free(window), free(p), -2;
        emit(ctx, next);
        window_push(window, &len, T, next);
    }
    free(window), free(p);
    return 0;
}

// ---- the log -------------------------------------------------------------------------------------
// One row's values; the column table below says how each is named and printed.
typedef struct LogRow {
    long step;
    const char *kind;
    double loss, accuracy, lr, grad_norm, tokens_per_sec, elapsed_sec;
    long skipped, spikes;
} LogRow;

typedef enum { COL_LONG, COL_TEXT, COL_G6, COL_F1, COL_F3 } LogFormat;

static const struct LogColumn {
    const char *name;
    LogFormat format;
    size_t offset; // in LogRow
    const char *help;
} LOG_COLUMNS[] = {
    {"step", COL_LONG, offsetof(LogRow, step), "steps done"},
    {"kind", COL_TEXT, offsetof(LogRow, kind), "train, eval_train, eval_val or eval_val_full"},
    {"loss", COL_G6, offsetof(LogRow, loss), "the step's loss, or the evaluation's mean"},
    {"accuracy", COL_G6, offsetof(LogRow, accuracy),
     "evaluations: the share of targets the outputs' argmax gets right (the next character, the label)"},
    {"lr", COL_G6, offsetof(LogRow, lr), "the step's learning rate"},
    {"grad_norm", COL_G6, offsetof(LogRow, grad_norm), "the global grad norm, before clipping"},
    {"tokens_per_sec", COL_F1, offsetof(LogRow, tokens_per_sec), "the step's speed (tokens, or images, per second)"},
    {"elapsed_sec", COL_F3, offsetof(LogRow, elapsed_sec), "wall time since the start"},
    {"skipped", COL_LONG, offsetof(LogRow, skipped), "non-finite steps skipped so far"},
    {"spikes", COL_LONG, offsetof(LogRow, spikes), "loss spikes so far"},
};
#define N_LOG_COLUMNS (int)(sizeof LOG_COLUMNS / sizeof LOG_COLUMNS[0])

// One value: CSV as C prints it (NaN as nan), JSON with the name (a non-finite number as null).
static void log_value(FILE *f, const struct LogColumn *c, const LogRow *row, bool json) {
    const char *at = (const char *)row + c->offset, *text;
    long n;
    double v;
    if (json) fprintf(f, "\"%s\": ", c->name);
    if (c->format == COL_LONG) memcpy(&n, at, sizeof n), fprintf(f, "%ld", n);
    else if (c->format == COL_TEXT) memcpy(&text, at, sizeof text), fprintf(f, json ? "\"%s\"" : "%s", text);
    else if (memcpy(&v, at, sizeof v), json && !isfinite(v)) fprintf(f, "null");
    else fprintf(f, c->format == COL_G6 ? "%.6g" : c->format == COL_F1 ? "%.1f" : "%.3f", v);
}

void session_log_start(Session *s, FILE *f, bool json) {
    NL_NONNULL(s);
    s->log = f, s->log_json = json;
    // JSON lines name their values; a resumed CSV has its header. (A stream on a descriptor opened for
    // appending reports position 0 until it writes: ask where the end is.)
    if (!f || json || (fseek(f, 0, SEEK_END) == 0 && ftell(f) != 0)) return;
    for (int i = 0; i < N_LOG_COLUMNS; i++) fprintf(f, "%s%s", i ? "," : "", LOG_COLUMNS[i].name);
    stats_header(&s->stats, f);
    fputc('\n', f);
}

// The step a log line names (CSV: its first field; JSON: its "step"), or -1 when it names none.
static long line_step(const char *line, bool json) {
    const char *at = json ? strstr(line, "\"step\":") : line;
    if (!at) return -1;
    at += json ? strlen("\"step\":") : 0;
    char *end;
    errno = 0;
    long step = strtol(at, &end, 10);
    return end == at || errno || step < 0 ? -1 : step;
}

// Whether a log line is a training step's row (CSV: its second field; JSON: its "kind").
static bool line_is_train(const char *line, bool json) {
    const char *at = json ? strstr(line, "\"kind\":") : strchr(line, ',');
    if (!at) return false;
    at += json ? strlen("\"kind\":") : 1;
    while (*at == ' ' || *at == '"') at++;
    return !strncmp(at, "train", 5) && (at[5] == '"' || at[5] == ',');
}

int session_log_cut(const char *path, long step, bool evals_again, bool json, long *cut, char *err, size_t errlen) {
    NL_NONNULL(path, cut, err);
    *cut = 0;
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0) return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1);
    if (fstat(fd, &st) || !S_ISREG(st.st_mode))
        return snprintf(err, errlen, "%s is not a regular file", path), close(fd), -1;
    FILE *f = fdopen(dup(fd), "r");
    if (!f) return snprintf(err, errlen, "%s: %s", path, strerror(errno)), close(fd), -1;
    char *line = NULL;
    size_t cap = 0;
    long keep = -1, at = 0; // keep: where the first row past STEP (or a torn line) starts
    ssize_t n;
    for (long row = 0; (n = getline(&line, &cap, f)) > 0; at += n, row++) {
        if (!json && row == 0) continue; // the CSV's header
        bool whole = line[n - 1] == '\n';
        long at_step = line_step(line, json);
        bool again = at_step == step && evals_again && !line_is_train(line, json);
        if (keep < 0 && (!whole || at_step > step || at_step < 0 || again)) keep = at;
        *cut += keep >= 0;
    }
    bool failed = ferror(f);
    free(line), fclose(f);
    if (failed) return snprintf(err, errlen, "%s cannot be read: %s", path, strerror(errno)), close(fd), -1;
    if (keep >= 0 && ftruncate(fd, keep))
        return snprintf(err, errlen, "%s cannot be cut back: %s", path, strerror(errno)), close(fd), -1;
    close(fd);
    return 0;
}

int session_log_failed(const Session *s) {
    NL_NONNULL(s);
    return s->log_errno;
}

void session_log_row(Session *s, const char *kind, double loss, double accuracy, double lr, double grad_norm,
                     double tps, bool stats) {
    NL_NONNULL(s, kind);
    if (!s->log || s->log_errno) return;
    LogRow row = {s->step, kind, loss, accuracy, lr, grad_norm, tps, tape_clock() - s->cfg.t0, s->skipped, s->spikes};
    if (s->log_json) fputc('{', s->log);
    for (int i = 0; i < N_LOG_COLUMNS; i++) {
        if (i) fputs(s->log_json ? ", " : ",", s->log);
        log_value(s->log, &LOG_COLUMNS[i], &row, s->log_json);
    }
    if (stats) stats_write(&s->stats, s->log, s->log_json);
    else if (!s->log_json) stats_write_empty(&s->stats, s->log);
    fputs(s->log_json ? "}\n" : "\n", s->log);
    if (fflush(s->log) || ferror(s->log)) s->log_errno = errno ? errno : EIO;
}

void session_log_columns_json(FILE *f) {
    NL_NONNULL(f);
    fprintf(f, "{\"base\": [");
    for (int i = 0; i < N_LOG_COLUMNS; i++)
        fprintf(f, "%s\n  {\"name\": \"%s\", \"help\": \"%s\"}", i ? "," : "", LOG_COLUMNS[i].name, LOG_COLUMNS[i].help);
    fprintf(f, "],\n \"instruments\": ");
    stats_families_json(f);
    fputc('}', f);
}
