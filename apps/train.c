// The train program: a character-level GPT trained from scratch with the norm of your choice.
//   ./train --norm=dyt tinyshakespeare        (./train --help for everything)
// This file: setup, the loop around the library's session (normlab/session.h), progress, sampling
// and signals. Options live in train_options.c, the options in a checkpoint in train_checkpoint.c.
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include "normlab/blas.h"
#include "normlab/cpu.h"
#include "train.h"

#ifndef NORMLAB_DATA_DIR
#define NORMLAB_DATA_DIR "data"
#endif

// Prints "train: error: ..." and returns the exit status (1: runtime failure, 2: bad usage).
static int fail(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout); // what was printed before the error comes before it in a shared log
    fprintf(stderr, "train: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return status;
}

// ---- progress ----------------------------------------------------------------------------------
static void format_time(double s, char *buf) {
    long t = (long)(s + 0.5);
    if (t >= 3600) sprintf(buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else sprintf(buf, "%ld:%02ld", t / 60, t % 60);
}

// What the loop keeps between steps: the best evaluation, and the times behind the ETA.
typedef struct Loop {
    double eval_s, last_line; // eval_s: seconds in evaluations so far
    long evals, start;
    bool tty; // progress rewrites one line on a terminal
} Loop;

// The ETA counts the evaluations still to come at the mean time of those so far.
static void progress(const TrainApp *a, const Loop *L, const SessionStepInfo *info) {
    const Session *s = &a->s;
    char el[32], eta[32];
    long ei = a->o.run.eval_interval, evals = a->o.run.steps / ei - s->step / ei + (a->o.run.steps % ei != 0);
    double per_step = s->train_s / (s->step - L->start), eval_s = L->evals ? L->eval_s / L->evals : 0;
    format_time(tape_clock() - s->cfg.t0, el);
    format_time(per_step * (a->o.run.steps - s->step) + eval_s * evals, eta);
    printf("%sstep %*ld/%ld  loss %.4f  lr %.2e  %6.0f %s/s  %s elapsed  ETA %s%s", L->tty ? "\r" : "",
           (int)snprintf(NULL, 0, "%ld", a->o.run.steps), s->step, a->o.run.steps, info->loss, info->lr,
           info->tokens_per_sec, s->data.unit, el, eta, L->tty ? "\033[K" : "\n");
    fflush(stdout);
}

// A session call's failure: a configuration that does not fit in memory (SESSION_NO_MEMORY) is the
// user's to change (exit 2); anything else a runtime failure (exit 1). Returns the exit status.
static int session_failed(int rc, const char *err) {
    if (rc == SESSION_NO_MEMORY)
        return fail(2, "%s: this configuration does not fit in this machine's memory: lower --batch-size, "
                    "--block-size or the model's size", err);
    return fail(1, "%s", err);
}

// ---- sampling ----------------------------------------------------------------------------------
// A file beside the --log file: its path with the extension replaced by suffix (runs/x.csv,
// ".config" -> runs/x.config).
static void beside_log(const char *log, const char *suffix, char *out, size_t len) {
    const char *dot = strrchr(log, '.'), *slash = strrchr(log, '/');
    int stem = dot && (!slash || dot > slash) ? (int)(dot - log) : (int)strlen(log);
    snprintf(out, len, "%.*s%s", stem, log, suffix);
}

// With --log, the sample beside it as <log>.samples.csv (test image, predicted, probability, true,
// their names, the image set's folder): the report draws the images with their labels. 0, or 1 after the message.
static int samples_write(const TrainApp *a, int n, const int *pred, const double *p, const int *truth) {
    char path[4200], err[1024];
    beside_log(a->o.files.log, ".samples.csv", path, sizeof path);
    int fd = outfile_open(path, false, err, sizeof err);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) return fail(1, "%s", fd >= 0 ? strerror(errno) : err);
    const char *const *names = a->s.data.labels;
    fprintf(f, "test_image,predicted,probability,true,predicted_label,true_label,images\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%d,%d,%.4f,%d,\"%s\",\"%s\",\"%s\"\n", i, pred[i], p[i], truth[i], names[pred[i]], names[truth[i]],
                a->data.path);
    return fclose(f) ? fail(1, "%s: %s", path, strerror(errno)) : 0;
}

// The sample of an image set: the first --sample test images, each with its predicted label (and
// the model's probability for it) beside its true one.
static int sample_images(TrainApp *a) {
    const DataSource *d = a->s.data.test ? a->s.data.test : &a->s.data; // session_classify's split
    int n = a->o.sample.n < (long)d->eval_rows ? (int)a->o.sample.n : (int)d->eval_rows, *pred = malloc(n * sizeof(int)),
        *truth = malloc(n * sizeof(int));
    double *p = malloc(n * sizeof(double));
    int rc = pred && truth && p ? session_classify(&a->s, 0, n, pred, p, truth) : -1;
    if (rc) session_failed(rc == SESSION_NO_MEMORY ? rc : -1, "out of memory for the sample");
    else
        for (int i = 0; i < n; i++)
            printf("test image %d: predicted %-12s (%4.1f%%), true %s%s\n", i, d->labels[pred[i]], 100 * p[i],
                   d->labels[truth[i]], pred[i] == truth[i] ? "" : "   <- wrong");
    if (!rc && a->o.files.log) rc = samples_write(a, n, pred, p, truth);
    free(pred), free(truth), free(p);
    return rc ? 1 : 0;
}

// A sampled byte, as it is; on a terminal, control bytes (and, for a text that looked binary, every
// byte above 0x7e) as \xHH, so that a sample never sends the terminal escape sequences.
static void put_symbol(const TrainData *text, unsigned char b) {
    static int tty = -1;
    if (tty < 0) tty = isatty(STDOUT_FILENO);
    bool control = (b < 0x20 && b != '\n' && b != '\t') || b == 0x7f || (text->binary && b > 0x7e);
    if (tty && control) printf("\\x%02x", b);
    else putchar(b);
}

static void emit_symbol(void *data, int id) { put_symbol(data, ((TrainData *)data)->text.vocab[id]); }

// Generates o.sample.n characters after the prompt (checked against the vocabulary in setup).
static int sample_text(TrainApp *a) {
    const TrainOptions *o = &a->o;
    int32_t *prompt = malloc((strlen(o->sample.prompt) + 1) * sizeof(int32_t));
    if (!prompt) return fail(1, "out of memory for sampling");
    int bad, n = dataset_encode(&a->data.text, o->sample.prompt, prompt, (int)strlen(o->sample.prompt), &bad);
    if (!o->sample.only) printf("\n---- sample (%ld characters, temperature %g) ----\n", o->sample.n, o->sample.temperature);
    for (const char *c = o->sample.prompt; *c; c++) put_symbol(&a->data, (unsigned char)*c);
    SessionSampling how = {o->sample.n, o->sample.temperature, (int)o->sample.top_k, o->run.seed};
    int rc = session_sample(&a->s, prompt, n, &how, emit_symbol, &a->data);
    free(prompt);
    if (rc == -2)
        return printf("\n"), fail(1, "the model's outputs are not finite (NaN or Inf: its parameters diverged): "
                                     "no sample can be drawn");
    if (rc) return session_failed(rc == SESSION_NO_MEMORY ? rc : -1, "out of memory for sampling");
    printf("\n");
    return 0;
}

// ---- setup -------------------------------------------------------------------------------------
// Creates the folders above path that do not exist yet (as mkdir -p), saying so. 0, or 1 after an
// error message naming the folder that could not be made.
static int make_parents(const char *what, const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = 0;
    struct stat st;
    if (stat(dir, &st) == 0) return 0;
    for (char *p = dir + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(dir, 0777) && errno != EEXIST)
                return fail(1, "%s %s: cannot create the folder %s: %s", what, path, dir, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    fprintf(stderr, "train: created the folder %s for %s\n", dir, what);
    return 0;
}

// Before any training: the run's outputs (--save, --log and the .config beside it) can be written
// (folders made, no directory, link or device in the way), are not one another, do not overwrite
// --resume's checkpoint with a log, and no other live run writes them (a lock each, held until the
// end). 0, or the exit status (2 for outputs that collide, 1 otherwise) after the message.
static int outputs_claim(TrainApp *a) {
    const TrainOptions *o = &a->o;
    char err[1024];
    if (o->files.log) beside_log(o->files.log, ".config", a->out.config_path, sizeof a->out.config_path);
    const struct { const char *what, *path; } out[] = {{"--save", o->files.save}, {"--log", o->files.log},
                                                       {"--save-best", o->files.save_best},
                                                       {"--log's .config", o->files.log ? a->out.config_path : NULL}};
    for (int i = 0; i < 4; i++) {
        if (!out[i].path) continue;
        if (make_parents(out[i].what, out[i].path)) return 1;
        if (outfile_check(out[i].what, out[i].path, err, sizeof err)) return fail(1, "%s", err);
        for (int j = 0; j < i; j++)
            if (out[j].path && outfile_same(out[i].path, out[j].path))
                return fail(2, "%s %s and %s %s are the same file: give each output its own path", out[j].what,
                            out[j].path, out[i].what, out[i].path);
    }
    for (int i = 0; i < 2; i++) // --save may be --resume's checkpoint (a run goes on where it left off)
        if (out[i + 1].path && o->files.resume && outfile_same(out[i + 1].path, o->files.resume))
            return fail(2, "%s %s is the checkpoint --resume reads: it would be overwritten", out[i + 1].what,
                        out[i + 1].path);
    for (int i = 0; i < 3; i++)
        if (a->dist.rank == 0 && out[i].path && outfile_lock(&a->out.locks[i], out[i].what, out[i].path, err, sizeof err))
            return fail(1, "%s", err);
    return 0;
}

static bool log_is_json(const char *log) {
    size_t n = log ? strlen(log) : 0;
    return n >= 5 && (!strcmp(log + n - 5, ".json") || (n >= 6 && !strcmp(log + n - 6, ".jsonl")));
}

// Opens --log (a resumed run appends, after cutting it back to its checkpoint) and writes the run's options beside it (runs/x.csv ->
// runs/x.config). 0, or the exit status after the message.
static int outputs_open(TrainApp *a, const StFile *ckpt) {
    const TrainOptions *o = &a->o;
    char err[1024];
    int claimed = outputs_claim(a);
    if (claimed || !o->files.log) return claimed;
    if (o->files.resume) { // the rows logged after the checkpoint was saved: its resumed run writes them again
        const char *at = st_meta(ckpt, "step");
        long cut, step = at ? strtol(at, NULL, 10) : 0;
        bool again = step >= o->run.steps; // the resumed run's last step: it evaluates there again
        if (session_log_cut(o->files.log, step, again, log_is_json(o->files.log), &cut, err, sizeof err))
            return fail(1, "--log %s", err);
        if (cut)
            fprintf(stderr, "train: --log %s: %ld row%s after the checkpoint's step %ld removed (this run logs them "
                    "again)\n", o->files.log, cut, cut == 1 ? "" : "s", step);
    }
    int fd = outfile_open(o->files.log, o->files.resume != NULL, err, sizeof err);
    if (fd < 0 || !(a->out.log = fdopen(fd, "w"))) return fail(1, "--log %s", fd < 0 ? err : strerror(errno));
    if (options_write_config(o, a->out.config_path, err, sizeof err)) return fail(1, "%s", err);
    return 0;
}

// A text whose bytes are more than 1% control bytes (not tab, newline, carriage return or form
// feed) is probably not text: say so (training on bytes goes on).
static void warn_if_binary(TrainData *t) {
    size_t control = 0;
    bool nul = false;
    for (size_t i = 0; i < t->text.n; i++) {
        unsigned char b = t->text.vocab[t->text.tokens[i]];
        control += (b < 0x20 && !strchr("\t\n\r\f", b)) || b == 0x7f;
        nul |= b == 0;
    }
    if (control * 100 <= t->text.n) return;
    t->binary = true;
    fprintf(stderr, "train: warning: %s does not look like text: %.0f%% of its bytes are control bytes%s (%d "
            "symbols). Training goes on, byte by byte; samples show such bytes as \\xHH on a terminal.\n",
            t->path, 100.0 * control / t->text.n, nul ? ", NUL among them" : "", t->text.vocab_size);
}

// Whether a dataset argument names the file or folder at path (a checkpoint's): 1, 0, or -1 when the
// argument does not resolve (loading it says why).
static int dataset_same(const char *arg, const char *path) {
    char mine[4096], err[1024];
    if (!idx_resolve(arg, NORMLAB_DATA_DIR, mine, sizeof mine) &&
        dataset_resolve(arg, NORMLAB_DATA_DIR, mine, sizeof mine, err, sizeof err))
        return -1;
    return outfile_same(mine, path);
}

// The data, when the run needs it (training, --dump-step, an image set's sample; not a text's
// sample from a checkpoint): an image set (fashion-mnist, or a folder of IDX files) or a text.
static int data_load(TrainApp *a, const StFile *ckpt) {
    const TrainOptions *o = &a->o;
    TrainData *t = &a->data;
    char err[1024];
    const char *dataset = o->files.dataset, *named = o->files.resume ? st_meta(ckpt, "dataset") : NULL;
    bool vit = o->model.kind == MODEL_VIT;
    bool text_sample = o->files.resume && o->run.steps == 0 && !o->files.dump_step && !vit; // needs no data
    if (text_sample && !o->files.dataset_named) return 0; // its vocabulary is in the checkpoint
    if (named && !o->files.dataset_named) {
        if (access(named, F_OK) != 0)
            return fail(1, "--resume %s trained on %s, which is not there any more: name the dataset (its new path) "
                        "to go on", o->files.resume, named);
        dataset = named; // resumed without a dataset: the checkpoint's own
    } else if (named && dataset_same(o->files.dataset, named) == 0) {
        return fail(2, "--resume %s trained on %s, and the command line names %s: name that dataset, or none, to go "
                    "on training it", o->files.resume, named, o->files.dataset);
    }
    if (text_sample) return 0;
    if ((t->is_images = idx_resolve(dataset, NORMLAB_DATA_DIR, t->path, sizeof t->path))) {
        if (idx_set_load(&t->images, t->path, err, sizeof err)) return fail(1, "%s", err);
        if (t->images.train.rows != t->images.train.cols)
            return fail(1, "%s: its images are %d x %d; the ViT takes square images", t->path, t->images.train.rows,
                        t->images.train.cols);
        if (o->model.kind != MODEL_VIT) return fail(2, "%s is an image set: train it with --model=vit", t->path);
        return t->have = true, 0;
    }
    if (o->model.kind == MODEL_VIT) return fail(2, "--model=vit trains on an image set (fashion-mnist), not a text");
    if (dataset_resolve(dataset, NORMLAB_DATA_DIR, t->path, sizeof t->path, err, sizeof err) ||
        dataset_load(&t->text, t->path, err, sizeof err))
        return fail(1, "%s", err);
    t->have = true;
    if (a->dist.rank == 0) warn_if_binary(t);
    if (dataset_check_context(&t->text, (int)o->model.block_size, err, sizeof err)) return fail(1, "%s", err);
    return 0;
}

// ---- the processes of one run ------------------------------------------------------------------------
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
    return h;
}

static int first_difference(void *dist, const uint64_t *h, int n) { return dist_first_difference(dist, h, n); }

// Under mpirun every process must train the same run: the same options (but those that may differ:
// OPT_LOCAL, paths and threads), the same data (its bytes, wherever it lies) and the same checkpoint
// step. Mismatched --n-embd was blamed on "this MPI's allreduce" and mismatched --steps ended in a raw
// MPI_ERR_TRUNCATE. 0, or 2 after each process names the first thing that differs, with its value.
static int ranks_check(TrainApp *a, const StFile *ckpt) {
    if (a->dist.size == 1) return 0;
    const char *name;
    char value[4096];
    if (options_first_disagreement(&a->o, first_difference, &a->dist, &name, value, sizeof value) >= 0)
        return fail(2, "rank %d: --%s is %s here, and not the same on every process: give every process the same "
                    "options (this is the first that differs)", a->dist.rank, name, value);
    const TrainData *t = &a->data;
    uint64_t h[2] = {0xcbf29ce484222325ull, 0};
    if (t->is_images) {
        const ImageSet *s = &t->images;
        size_t P = (size_t)s->train.rows * s->train.cols, n = s->train.n + s->val.n; // val is the file's tail
        h[0] = fnv(fnv(fnv(fnv(h[0], s->train.pixels, n * P), s->train.labels, n), s->test.pixels, s->test.n * P),
                   s->test.labels, s->test.n);
    } else if (t->have) {
        h[0] = fnv(h[0], t->text.tokens, t->text.n * sizeof *t->text.tokens);
    }
    const char *step = a->o.files.resume ? st_meta(ckpt, "step") : NULL;
    h[1] = step ? fnv(h[1], step, strlen(step)) : 0;
    int i = dist_first_difference(&a->dist, h, 2);
    if (i == 0)
        return fail(2, "rank %d: the data (%s here) is not the same on every process: every process must read the "
                    "same bytes", a->dist.rank, t->path);
    if (i == 1)
        return fail(2, "rank %d: --resume %s is at step %s here, and not the same on every process", a->dist.rank,
                    a->o.files.resume, step ? step : "0");
    return 0;
}

// The usage the options allow but the run does not: 0, or 2 after the message.
static int usage_check(TrainApp *a) {
    TrainOptions *o = &a->o;
    const Dist *d = &a->dist;
    if (d->rank == 0) options_warn_unused(o);
    if (o->run.batch_size % (d->size * o->run.grad_accum))
        return fail(2, "--batch-size %ld does not split into %d process%s x --grad-accum %ld: give a multiple of "
                    "%ld (the batch is the whole step's, over every process)", o->run.batch_size, d->size,
                    d->size > 1 ? "es" : "", o->run.grad_accum, d->size * o->run.grad_accum);
    if (d->size > 1 && o->files.dump_step) return fail(2, "--dump-step records one process's step: run it without mpirun");
    if (d->rank > 0) o->files.log = o->files.save = o->files.save_best = NULL, o->sample.n = 0; // rank 0 alone writes
    return 0;
}

// More threads than cores only slows a step, and may not start. Returns the most threads the run
// takes (the team --threads auto follows).
static long threads_set(TrainOptions *o, const Dist *d) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN) / d->local_size; // this host's cores, shared by its processes
    if (cores < 1) cores = 1;
    if (o->run.threads > cores) {
        if (d->rank == 0)
            fprintf(stderr, "train: warning: --threads %ld is more than the %ld cores %s: using %ld\n", o->run.threads,
                    cores, d->local_size > 1 ? "this process has" : "here", cores);
        o->run.threads = cores;
    }
    blas_threads_set((int)(o->run.threads ? o->run.threads : cores));
    cpu_flush_subnormals(); // on the whole team
    return o->run.threads ? o->run.threads : cores;
}

// The GPT the options describe (its vocabulary the text's, or the checkpoint's without text),
// checked against the checkpoint and this machine's memory before it is built.
static int model_build(TrainApp *a, const StFile *ckpt) {
    const TrainOptions *o = &a->o;
    char err[1024];
    int vocab = a->data.have ? a->data.text.vocab_size : 0;
    if (o->files.resume && !a->data.have) {
        const char *v = st_meta(ckpt, "vocab");
        vocab = v ? (int)strlen(v) / 2 : 0;
    }
    const ModelInfo *mi = MODEL_TABLE[o->model.kind];
    ModelConfig cfg = options_model_config(o, vocab);
    if (a->data.is_images) {
        const ImageSet *im = &a->data.images;
        cfg.image_size = im->train.rows, cfg.n_classes = im->classes, cfg.patch_size = (int)o->model.patch_size;
    }
    if (mi->check(&cfg, err, sizeof err)) return fail(2, "%s", err);
    if (o->files.resume && checkpoint_check_model(ckpt, mi, &cfg, o->optim.kind, err, sizeof err))
        return fail(1, "%s: %s", o->files.resume, err);
    double need = mi->memory_estimate(&cfg, (int)o->run.batch_size, (int)o->model.block_size),
           have = (double)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
    if (have > 0 && need > have)
        return fail(2, "this configuration needs about %.3g GB to train (parameters, grads, AdamW moments and a "
                    "step's activations); this machine has %.3g GB", need / 1e9, have / 1e9);
    Rng init;
    session_seed(&init, o->run.seed, SESSION_STREAM_INIT);
    if (!(a->model = mi->create(&cfg, &init))) return fail(1, "out of memory building the model");
    if (o->run.recompute && model_recompute(a->model, true)) return fail(1, "out of memory for --recompute");
    return 0;
}

static SessionConfig session_config(const TrainOptions *o, long max_threads, double t0) {
    OptimConfig oc = {.kind = o->optim.kind, .lr = o->optim.lr, .min_lr = o->optim.min_lr, .warmup = (int)o->optim.warmup,
                      .decay_steps = (int)o->optim.lr_decay_steps, .beta1 = o->optim.beta1, .beta2 = o->optim.beta2,
                      .eps = 1e-8, .weight_decay = o->optim.weight_decay, .muon_lr = o->stability.muon_lr};
    return (SessionConfig){.optim = oc, .batch_size = (int)o->run.batch_size, .block_size = (int)o->model.block_size,
                           .grad_accum = (int)o->run.grad_accum, .seed = o->run.seed, .grad_clip = o->optim.grad_clip,
                           .eval_iters = o->run.eval_iters, .stats_every = o->guard.stats_every,
                           .spike_factor = o->guard.spike_factor, .skip_nonfinite = o->guard.on_nonfinite == NONFINITE_SKIP,
                           .auto_threads = o->run.threads == 0 ? (int)max_threads : 0,
                           .bucket_bytes = (size_t)(o->run.parallel.bucket_mb * 1e6), .overlap = !o->run.parallel.no_overlap, .t0 = t0};
}

// Every byte of --prompt must be in the vocabulary (before training, not after).
static int prompt_check(const TrainApp *a) {
    for (const char *c = a->o.sample.prompt; a->o.sample.n > 0 && !a->data.is_images && *c; c++) {
        unsigned char b = (unsigned char)*c;
        char shown[8] = "";
        if (isprint(b)) snprintf(shown, sizeof shown, ", '%c'", b);
        if (a->data.text.id_of[b] < 0)
            return fail(2, "--prompt: byte %d (0x%02x%s) is not in the vocabulary of the training text",
                        (int)(c - a->o.sample.prompt), b, shown);
    }
    return 0;
}

// The session around the model, resumed from the checkpoint when there is one.
static int session_open(TrainApp *a, StFile *ckpt, long max_threads, double t0) {
    char err[1024];
    SessionConfig sc = session_config(&a->o, max_threads, t0);
    DataSource src = a->data.is_images ? idx_source(&a->data.images) : dataset_source(&a->data.text, (int)a->o.model.block_size);
    a->dist.watch.timeout_s = a->o.run.parallel.timeout_s;
    if (session_init(&a->s, &sc, a->model, &src, &a->dist, err, sizeof err)) return fail(1, "%s", err);
    session_log_start(&a->s, a->out.log, log_is_json(a->o.files.log));
    if (a->o.files.resume && session_restore(&a->s, ckpt, err, sizeof err)) return fail(1, "%s: %s", a->o.files.resume, err);
    return prompt_check(a);
}

// 0, -1 after --help, or the exit status after the message.
static int setup(TrainApp *a, int argc, char **argv, double t0) {
    TrainOptions *o = &a->o;
    int rc = options_parse(o, argc, argv);
    if (rc) return rc == 1 ? -1 : 2;
    o->run.parallel.processes = a->dist.size;
    char err[1024];
    StFile ckpt = {0};
    if (o->files.resume && checkpoint_open(o, o->files.resume, &ckpt, err, sizeof err)) return fail(1, "%s", err);
    if (o->files.resume) checkpoint_best(&ckpt, &a->out.best, &a->out.best_step);
    options_derive(o);
    long max_threads = 1;
    if (!(rc = usage_check(a)) && !(rc = data_load(a, &ckpt)) && !(rc = ranks_check(a, &ckpt)) &&
        !(rc = outputs_open(a, &ckpt)) &&
        (max_threads = threads_set(o, &a->dist)) && !(rc = model_build(a, &ckpt)))
        rc = session_open(a, &ckpt, max_threads, t0);
    st_close(&ckpt);
    return rc;
}

static void teardown(TrainApp *a) {
    for (int i = 0; i < 3; i++) outfile_unlock(&a->out.locks[i]);
    options_free(&a->o);
    if (a->out.log) fclose(a->out.log);
    session_free(&a->s);
    model_destroy(a->model);
    dataset_free(&a->data.text);
    idx_set_free(&a->data.images);
}

static int save(TrainApp *a) {
    char err[1024];
    if (checkpoint_write(a, a->o.files.save, err, sizeof err)) return fail(1, "%s", err);
    a->out.saved_step = a->s.step;
    return 0;
}

// The name a norm's position goes by: its name after the last dot ("h3.ln_1" -> "ln_1").
static const char *norm_position(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

// One line per norm position (the positions in the order the model's norms first show them, the
// layers in forward order): what alpha or beta (or derf's shift) learned, beside where it started.
// Each norm's own kind says its scalar (the final norm's may be another than the blocks').
static void print_position(const TrainApp *a, bool shift, int p, const char *pos) {
    const TrainOptions *o = &a->o;
    const Model *m = a->model;
    int layers = 0;
    NormKind kind = o->model.norm;
    for (int i = 0; i < m->norms.n; i++) {
        const Norm *n = m->norm[i];
        if (strcmp(norm_position(m->norms.name[i]), pos) || !(shift ? n->shift : n->scalar)) continue;
        if (!layers) kind = n->kind, printf("%s %s:", shift ? "shift" : norm_scalar_name(kind), pos);
        printf(" %.4g", shift ? n->shift->data[0] : norm_scalar_effective(n->kind, n->scalar->data[0]));
        layers++;
    }
    if (!layers) return;
    bool alpha = NORM_TABLE[kind]->scalar == NORM_SCALAR_ALPHA;
    double started = shift ? o->init.shift0 : p >= MODEL_NORM_POSITIONS ? NAN
                     : alpha ? o->init.alpha0_pos[p] : o->init.beta0_pos[p];
    printf("%s (started at %g)\n", layers > 1 ? " (layers 0..)" : "", started);
}

// What the model's own scalars (the embedding scale) and its norms' scalars learned.
static void print_learned_scalars(const TrainApp *a) {
    const TrainOptions *o = &a->o;
    const Model *m = a->model;
    for (int i = 0; i < m->scalars.n; i++)
        printf("%s: %.4g (started at %g)\n", m->scalars.name[i], m->scalar[i]->data[0], o->init.emb_scale);
    for (int shift = 0; shift < 2; shift++) {
        const char *seen[MODEL_NORM_POSITIONS + 8];
        int n = 0;
        for (int i = 0; i < m->norms.n && n < (int)(sizeof seen / sizeof seen[0]); i++) {
            const char *pos = norm_position(m->norms.name[i]);
            bool old = false;
            for (int j = 0; j < n; j++) old |= !strcmp(seen[j], pos);
            if (!old) print_position(a, shift, n, pos), seen[n++] = pos;
        }
    }
}

// ---- interrupts --------------------------------------------------------------------------------
// The first SIGINT or SIGTERM says at once what happens next, lets the current step finish; the
// loop then writes a checkpoint and prints how to resume. A second one leaves at once, removing the
// checkpoint's temp file if a write was under way (the checkpoint itself is replaced only by rename,
// so it is never half-written). The checkpoint goes to --save; without it, beside the --log file
// (its name with .interrupted.safetensors); without either, into runs/ with the time in its name.
// A signal handler sees only globals: this one struct.
static struct {
    volatile sig_atomic_t signal; // the first signal's number
    char save[4200];              // where the checkpoint goes
    char tmp[4200];               // the temp file of the checkpoint being written
    char note[4400];              // printed by the handler itself, at once
} interrupt;

static void on_signal(int sig) {
    if (interrupt.signal) {
        if (interrupt.tmp[0]) unlink(interrupt.tmp);
        _exit(128 + sig);
    }
    interrupt.signal = sig;
    ssize_t w = write(STDERR_FILENO, interrupt.note, strlen(interrupt.note)); // async-signal-safe
    (void)w;
}

// Under mpirun, which passes an interrupt on to every process as SIGTERM, rank 0 alone speaks (say).
static void interrupts_install(const TrainOptions *o, bool say) {
    if (o->files.save) {
        snprintf(interrupt.save, sizeof interrupt.save, "%s", o->files.save);
    } else if (o->files.log) {
        beside_log(o->files.log, ".interrupted.safetensors", interrupt.save, sizeof interrupt.save);
    } else {
        char when[32];
        time_t now = time(NULL);
        strftime(when, sizeof when, "%Y%m%d-%H%M%S", localtime(&now));
        snprintf(interrupt.save, sizeof interrupt.save, "runs/interrupted-%s-%s.safetensors",
                 NORM_TABLE[o->model.norm]->name, when);
    }
    if (say) {
        snprintf(interrupt.note, sizeof interrupt.note,
                 "\ninterrupt: finishing this step, then writing a checkpoint to %s (interrupt again to "
                 "leave at once, without it)\n", interrupt.save);
        st_temp_path(interrupt.save, interrupt.tmp, sizeof interrupt.tmp);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL); // the terminal went away (an ssh session dropped): save, as for ^C
}

// Prints an argument so a shell reads it back as it is.
static void print_quoted(const char *a) {
    if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,+@%") == strlen(a)) {
        printf(" %s", a);
        return;
    }
    printf(" '");
    for (; *a; a++) *a == '\'' ? printf("'\\''") : putchar(*a);
    printf("'");
}

// The checkpoint and the command that resumes (rank 0), for a run that stops early (WHY: what stopped it).
static void interrupt_save_checkpoint(const TrainApp *a, const char *why) {
    const char *path = interrupt.save;
    char err[1024];
    printf("\n%s after step %ld: writing %s\n", why, a->s.step, path);
    if (make_parents("the interrupt's checkpoint", path) == 0 && checkpoint_write(a, path, err, sizeof err)) {
        fail(1, "%s; no checkpoint was written", err);
        return;
    }
    printf("to resume:\n  ");
    if (a->dist.size > 1) printf("mpirun -np %d ", a->dist.size); // or any other number of processes
    printf("./train");
    for (int i = 1; i < a->argc; i++) {
        const char *arg = a->argv[i];
        if (!strcmp(arg, "--resume")) { i++; continue; } // replaced by the new checkpoint
        if (!strncmp(arg, "--resume=", 9)) continue;
        print_quoted(arg);
    }
    printf(" --resume");
    print_quoted(path);
    printf("\n");
    fflush(stdout);
}

// Under mpirun: interrupted on every process when it is on any (the processes act together).
static bool interrupts_agree(TrainApp *a) {
    if (a->dist.size > 1) {
        double any = interrupt.signal;
        a->dist.watch.step = a->s.step;
        dist_sum(&a->dist, &any, 1, "the interrupt check");
        if (any && !interrupt.signal) interrupt.signal = SIGTERM;
    }
    return interrupt.signal != 0;
}

// After the step in flight: rank 0 saves, the others wait for it (mpirun ends every process as soon
// as one exits with an error); exit status 128 + signal.
static int interrupt_exit(TrainApp *a) {
    char why[64];
    snprintf(why, sizeof why, "interrupted (signal %d)", (int)interrupt.signal);
    if (a->dist.rank == 0) interrupt_save_checkpoint(a, why);
    double done = 0;
    dist_sum(&a->dist, &done, 1, "the wait for rank 0's checkpoint");
    return 128 + interrupt.signal;
}

// A row the log could not take (a full disk) ends the run: going on would leave a log that silently
// lacks rows. The checkpoint is written as for an interrupt, if it can be; its resumed run cuts the
// log back to it. Rank 0 alone logs; the others end on its exit (dist_watch). 0, or the exit status.
static int log_check(TrainApp *a) {
    int e = a->dist.rank == 0 ? session_log_failed(&a->s) : 0;
    if (!e) return 0;
    fail(1, "--log %s: a row could not be written at step %ld: %s; the run stops here", a->o.files.log, a->s.step,
         strerror(e));
    interrupt_save_checkpoint(a, "the log failed");
    return 1;
}

// ---- the loop ----------------------------------------------------------------------------------
// Evaluates (every process checks the parameters agree; rank 0 prints). 0, or the exit status.
static int loop_evaluate(TrainApp *a, Loop *L) {
    double te = tape_clock();
    TrainEval tl, vl;
    char err[1024], acc[64] = "";
    int rc = session_evaluate(&a->s, &tl, &vl, err, sizeof err);
    if (rc) return session_failed(rc, err);
    if (a->dist.rank > 0) return 0;
    L->eval_s += tape_clock() - te, L->evals++;
    bool best = vl.loss < a->out.best;
    if (best) a->out.best = vl.loss, a->out.best_step = a->s.step;
    if (L->tty && !a->o.run.quiet) printf("\r\033[K");
    if (a->s.data.labels) snprintf(acc, sizeof acc, ", %s accuracy %.2f%%", a->s.data.eval_name, 100 * vl.accuracy);
    printf("step %ld: train loss %.4f, %s loss %.4f%s%s\n", a->s.step, tl.loss, a->s.data.eval_name, vl.loss, acc,
           best ? " (best)" : "");
    if (best && a->o.files.save_best && checkpoint_write(a, a->o.files.save_best, err, sizeof err))
        return fail(1, "--save-best: %s", err);
    return 0;
}

// A step that was not finite (session_step's err): skipped and said, or the end of the run.
// 0 to go on, or the exit status.
static int loop_fault(const TrainApp *a, const Loop *L, int rc, const SessionStepInfo *info, const char *err) {
    bool line = L->tty && !a->o.run.quiet;
    if (rc > 0) {
        printf("%s%s: update skipped (%ld so far)\n", line ? "\r\033[K" : "", err, a->s.skipped);
        return 0;
    }
    if (line) printf("\r\033[K");
    if (rc == SESSION_NO_MEMORY) return session_failed(rc, err);
    if (a->dist.rank > 0) { // rank 0 says it; this rank says where, if its rows showed it
        if (info->fault_here) fprintf(stderr, "train: rank %d: %s\n", a->dist.rank, err);
        return 1;
    }
    char kept[600] = "";
    if (a->out.saved_step >= 0)
        snprintf(kept, sizeof kept, "; %s, written at step %ld, is untouched", a->o.files.save, a->out.saved_step);
    else if (a->o.files.save)
        snprintf(kept, sizeof kept, "; this run wrote no checkpoint to %s (--save-every had not come round)",
                 a->o.files.save);
    return fail(1, "%s. %sThe run stops here%s.", err,
                info->skips_exhausted ? "Too many non-finite steps in a row (skipped). " : "", kept);
}

// After a step taken: progress (off a terminal, every eval_interval/5 steps and at least every 10 s).
static void loop_after_step(TrainApp *a, Loop *L, const SessionStepInfo *info) {
    const TrainOptions *o = &a->o;
    long every = o->run.eval_interval / 5 > 0 ? o->run.eval_interval / 5 : 1;
    if (!o->run.quiet && (L->tty || a->s.step % every == 0 || tape_clock() - L->last_line >= 10)) {
        progress(a, L, info);
        L->last_line = tape_clock();
    }
}

// The confusion matrix: printed (rows the true labels, columns the predicted), and with --log written
// beside it as <log>.confusion.csv (label, then the counts per predicted label). 0, or 1 after the message.
static int confusion_report(const TrainApp *a, const char *split, const TrainEval *e) {
    const DataSource *d = &a->s.data;
    int V = d->classes;
    if (!e->confusion || !d->labels) return 0; // nothing counted
    printf("confusion on the %s split (rows: true label, columns: predicted; %% of the row)\n%12s", split, "");
    for (int j = 0; j < V; j++) printf(" %5.5s", d->labels[j]);
    for (int i = 0; i < V; i++) {
        long row = 0;
        for (int j = 0; j < V; j++) row += e->confusion[(size_t)i * V + j];
        printf("\n%12.12s", d->labels[i]);
        for (int j = 0; j < V; j++) printf(" %5.1f", row ? 100.0 * e->confusion[(size_t)i * V + j] / row : 0.0);
    }
    putchar('\n');
    if (!a->o.files.log) return 0;
    char path[4200], err[1024];
    beside_log(a->o.files.log, ".confusion.csv", path, sizeof path);
    int fd = outfile_open(path, false, err, sizeof err);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) return fail(1, "%s", fd >= 0 ? strerror(errno) : err);
    fprintf(f, "true");
    for (int j = 0; j < V; j++) fprintf(f, ",%s", d->labels[j]);
    for (int i = 0; i < V; i++) {
        fprintf(f, "\n%s", d->labels[i]);
        for (int j = 0; j < V; j++) fprintf(f, ",%ld", e->confusion[(size_t)i * V + j]);
    }
    fputc('\n', f);
    if (fclose(f)) return fail(1, "%s: %s", path, strerror(errno));
    printf("confusion matrix: %s\n", path);
    return 0;
}

// After a default run (./train --norm=X tinyshakespeare, any seed): the range the README measured for
// it, so a result far from the table is told apart from a broken install.
static void expected_say(const TrainApp *a, double loss) {
    const TrainOptions *o = &a->o;
    const double *x = options_recipe(o)->expected; // {0, 0} where none was measured (the ViT's, a preset's)
    bool data = !o->files.dataset_named || !strcmp(o->files.dataset, "tinyshakespeare");
    if (!x[1] || !data || !options_at_defaults(o)) return;
    printf("expected for these defaults: %.2f-%.2f (95%% of runs: seeds and BLAS builds, README's table)%s\n", x[0],
           x[1], loss < x[0] || loss > x[1] ? "; this run is outside it" : "");
}

// The whole evaluation split at the end; for labelled data its accuracy, then the test split's (an
// image set's: read here once) and the confusion matrix of the last split read (printed, and written
// beside the log as <log>.confusion.csv). 0, or 1 after the message.
static int loop_whole_eval(TrainApp *a) {
    const Session *s = &a->s;
    const DataSource *d = &s->data, *last = d->test ? d->test : d;
    const bool labels = d->labels != NULL, test = d->test != NULL; // what the data is, read once
    int V = d->classes;
    TrainEval e = {0}, t = {0}, *conf = test ? &t : &e;
    char err[1024];
    if (labels && !(conf->confusion = calloc((size_t)V * V, sizeof(long))))
        return fail(1, "out of memory for the confusion matrix");
    int rc = session_eval_whole(&a->s, &e, err, sizeof err);
    if (rc) return free(conf->confusion), session_failed(rc, err);
    printf("best %s loss %.4f at step %ld%s; wall time %.1f s (%.1f s in training steps)\n", d->eval_name, a->out.best,
           a->out.best_step, a->o.files.save_best ? " (its checkpoint: --save-best)" : "", tape_clock() - s->cfg.t0,
           s->train_s);
    if (!labels || !conf->confusion) {
        printf("val loss over the whole val split (%zu tokens): %.4f\n", e.targets, e.loss);
        expected_say(a, e.loss);
        return free(conf->confusion), 0;
    }
    printf("%s loss over the whole %s split (%zu images): %.4f; accuracy %.2f%%\n", d->eval_name, d->eval_name,
           e.targets, e.loss, 100 * e.accuracy);
    if (test && (rc = session_eval_test(&a->s, &t, err, sizeof err))) return free(t.confusion), session_failed(rc, err);
    if (test)
        printf("test loss over the whole test split (%zu images): %.4f; accuracy %.2f%% (choose settings on %s; "
               "report test for the chosen one)\n", t.targets, t.loss, 100 * t.accuracy, d->eval_name);
    rc = confusion_report(a, last->eval_name, conf);
    free(conf->confusion);
    return rc;
}

// The summary after the last step: data parallel's cost, the whole val split, spikes and skips.
static int loop_finish(TrainApp *a, const Loop *L) {
    const Session *s = &a->s;
    const Dist *d = &a->dist;
    if (d->size > 1 && s->step > L->start)
        printf("data parallel: %d processes, %.2f ms per step in MPI calls on rank 0 (%.1f%% of its step time), "
               "%s\n", d->size, 1e3 * d->comm_s / (s->step - L->start), 100 * d->comm_s / s->train_s,
               a->o.run.parallel.no_overlap ? "grads reduced after backward (--no-overlap)" : "overlapped with backward");
    if (L->evals > 0 && loop_whole_eval(a)) return 1; // this run evaluated (rank 0 counts)
    if (log_check(a)) return 1;
    if (s->step > L->start)
        printf("loss spikes (> %g x the running median): %ld; steps skipped (non-finite): %ld\n", a->o.guard.spike_factor,
               s->spikes, s->skipped);
    print_learned_scalars(a);
    return 0;
}

static int train(TrainApp *a) {
    Session *s = &a->s;
    // under mpirun stdout is a pseudo-terminal whatever mpirun's own is: progress lines as for a log
    Loop L = {.start = s->step, .last_line = tape_clock(),
              .tty = isatty(STDOUT_FILENO) && a->dist.size == 1};
    char err[1024];
    for (;;) {
        bool last = s->step >= a->o.run.steps;
        bool eval = a->data.have && (s->step % a->o.run.eval_interval == 0 || last) &&
                    (s->step > L.start || L.start == 0 || last);
        int rc = eval ? loop_evaluate(a, &L) : 0;
        if (rc || (rc = log_check(a))) return rc;
        if (last) break;
        // A checkpoint at this step (--save-every, an interrupt) comes after the step's evaluation,
        // which its resumed run does not repeat: the two logs together are the uninterrupted one.
        if (s->step > L.start) {
            const FileOptions *f = &a->o.files;
            if (f->save && f->save_every > 0 && s->step % f->save_every == 0 && (rc = save(a))) return rc;
            if (interrupts_agree(a)) return interrupt_exit(a); // the processes stop after the same step
        }
        SessionStepInfo info;
        if ((rc = session_step(s, &info, err, sizeof err))) {
            if ((rc = loop_fault(a, &L, rc, &info, err))) return rc;
        } else {
            loop_after_step(a, &L, &info);
        }
    }
    return loop_finish(a, &L);
}

// The header: what runs, on what, from where.
static void print_header(const TrainApp *a) {
    const TrainOptions *o = &a->o;
    const Dist *d = &a->dist;
    const ImageSet *im = &a->data.images;
    if (a->data.is_images)
        printf("normlab train (%s build): %s, %zu training, %zu validation (the training file's last %zu) and %zu "
               "test images of %d x %d, %d classes\n", NL_REAL_NAME, a->data.path, im->train.n, im->val.n, im->val.n,
               im->test.n, im->train.rows, im->train.cols, im->classes);
    else
        printf("normlab train (%s build): %s, %d symbols\n", NL_REAL_NAME, a->data.have ? a->data.path : o->files.resume,
               a->data.text.vocab_size);
    options_print(o, a->s.team.max > 0 ? a->s.team.max : sysconf(_SC_NPROCESSORS_ONLN), stdout);
    if (d->size > 1)
        printf("data parallel: %d processes (%d on this host), each %ld of the %ld %s per step%s; grads "
               "reduced: %.2f MB per step, in %d buckets\n", d->size, d->local_size, o->run.batch_size / d->size,
               o->run.batch_size, a->data.is_images ? "images" : "sequences",
               o->run.grad_accum > 1 ? " (in --grad-accum micro-batches)" : "",
               a->model->params->numel * sizeof(nl_real) / 1e6, o->run.parallel.no_overlap ? 1 : d->n_buckets);
    if (a->out.config_path[0])
        printf("config:   %s (./train --config %s runs it again)\n", a->out.config_path, a->out.config_path);
    printf("params:   %zu%s\n\n", paramset_count(a->model->params), a->s.step ? " (resumed)" : "");
    if (a->s.step) printf("resuming at step %ld\n", a->s.step);
    if (o->files.resume && o->run.steps > 0 && a->s.step >= o->run.steps)
        printf("the checkpoint is at step %ld and --steps is %ld: nothing to train (give --steps above %ld to train "
               "on); evaluating%s only\n", a->s.step, o->run.steps, a->s.step, o->sample.n > 0 ? " and sampling" : "");
    fflush(stdout);
}

static int run_dump(TrainApp *a) {
    char err[1024];
    int rc = dump_step(a, a->o.files.dump_step, err, sizeof err) ? fail(1, "%s", err) : 0;
    if (!rc) printf("wrote %s (one step: parameters before and after, gradients, batch, loss)\n", a->o.files.dump_step);
    return rc;
}

static int run(TrainApp *a, int argc, char **argv) {
    a->argc = argc, a->argv = argv;
    if (a->o.sample.only) return a->data.is_images ? sample_images(a) : sample_text(a);
    interrupts_install(&a->o, a->dist.rank == 0); // before the header, so whoever reads it can signal us
    print_header(a);
    int rc = train(a);
    if (!rc && interrupts_agree(a)) rc = interrupt_exit(a); // an interrupt during the last evaluation
    if (!rc && a->o.files.save && !(rc = save(a))) printf("saved %s (step %ld)\n", a->o.files.save, a->s.step);
    const char *from = a->o.files.resume; // an interrupt's checkpoint, gone on from to the end: say it is spare
    if (!rc && from && strstr(from, "interrupted") && a->o.run.steps > 0 && a->s.step >= a->o.run.steps &&
        !(a->o.files.save && outfile_same(from, a->o.files.save)))
        printf("the run went on from %s to its end; that interrupt's checkpoint is no longer needed (rm %s)\n", from,
               from);
    if (!rc && a->o.sample.n > 0) rc = a->data.is_images ? sample_images(a) : sample_text(a);
    return rc;
}

int main(int argc, char **argv) {
    cpu_env_reexec(argv);
    double t0 = tape_clock();
    static TrainApp a; // large (paths); zeroed
    a.out.saved_step = -1, a.out.best = INFINITY, a.out.best_step = -1;
    char err[1024];
    if (dist_init(&a.dist, &argc, &argv, err, sizeof err)) return fail(1, "%s", err);
    // under mpirun, rank 0 alone prints (the others' errors and warnings still reach stderr)
    if (a.dist.rank > 0 && !freopen("/dev/null", "w", stdout)) return fail(1, "cannot silence stdout: %s", strerror(errno));
    // ./train sample CHECKPOINT ...: the run's arguments rewritten (train_sample.c)
    bool sample_only = argc > 1 && !strcmp(argv[1], "sample");
    static char *sample_argv[256], sample_buf[1 << 16];
    if (sample_only) {
        int n = sample_args(argc, argv, sample_argv, 256, sample_buf, sizeof sample_buf);
        if (n < 0) return n == -1 ? 0 : 2;
        argc = n, argv = sample_argv;
    }
    int rc = setup(&a, argc, argv, t0);
    a.o.sample.only = sample_only;
    if (rc) {
        teardown(&a);
        if (rc < 0) dist_finalize(&a.dist); // --help: every process
        return rc < 0 ? 0 : rc;             // an error: mpirun ends the others
    }
    rc = a.o.files.dump_step ? run_dump(&a) : run(&a, argc, argv);
    teardown(&a);
    if (!rc && !a.o.files.dump_step) dist_finalize(&a.dist);
    return rc;
}
