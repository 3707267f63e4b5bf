// The train program: a character-level GPT trained from scratch with the norm of your choice.
//   ./train --norm=dyt tinyshakespeare        (./train --help for everything)
// This file: setup, the training loop, evaluation, progress and logs, sampling. Options live in
// train_options.c, checkpoints in train_checkpoint.c, --dump-step in train_dump.c.
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include "normlab/ops.h"
#include "tensor/kernels.h"
#include "cpu_env.h"
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

// The step, bound to this run's model, optimizer, tape and options (normlab/train.h).
static TrainStep run_step(Run *r) {
    return (TrainStep){.model = &r->gpt.model, .opt = &r->opt, .tape = &r->train, .dropout_rng = &r->dropout_rng,
                       .grad_clip = r->o.grad_clip, .accum = (int)r->o.grad_accum, .dist = &r->dist};
}

// The same eval_iters batches every time.
static double evaluate(Run *r, bool val) {
    Rng rng;
    run_seed(&rng, r->o.seed, STREAM_EVAL + val);
    return train_eval_batches(&r->eval, &r->gpt.model, &r->data, val, (int)r->o.batch_size, (int)r->o.block_size,
                              r->o.eval_iters, &rng, r->idx, r->targets);
}

// ---- logs and progress -------------------------------------------------------------------------
// One row; stats (the instruments' columns) may be NULL.
static void log_row(Run *r, const char *kind, double loss, double lr, double gnorm, double tps, double elapsed,
                    const TrainStats *stats) {
    if (!r->log) return;
    if (r->log_json) {
        fprintf(r->log, "{\"step\": %ld, \"kind\": \"%s\", \"loss\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g, "
                "\"tokens_per_sec\": %.1f, \"elapsed_sec\": %.3f, \"skipped\": %ld, \"spikes\": %ld", r->step, kind,
                loss, lr, gnorm, tps, elapsed, r->skipped, r->spikes);
        if (stats) stats_write(stats, r->log, true);
        fprintf(r->log, "}\n");
    } else {
        fprintf(r->log, "%ld,%s,%.6g,%.6g,%.6g,%.1f,%.3f,%ld,%ld", r->step, kind, loss, lr, gnorm, tps, elapsed,
                r->skipped, r->spikes);
        stats ? stats_write(stats, r->log, false) : stats_write_empty(&r->stats, r->log);
        fputc('\n', r->log);
    }
    fflush(r->log);
}

static void format_time(double s, char *buf) {
    long t = (long)(s + 0.5);
    if (t >= 3600) sprintf(buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else sprintf(buf, "%ld:%02ld", t / 60, t % 60);
}

// The ETA counts the evaluations still to come at the mean time of those so far (eval_s each).
static void progress(const Run *r, double loss, double lr, double tps, double elapsed, double per_step,
                     double eval_s, bool tty) {
    char el[32], eta[32];
    long ei = r->o.eval_interval, evals = r->o.steps / ei - r->step / ei + (r->o.steps % ei != 0);
    format_time(elapsed, el);
    format_time(per_step * (r->o.steps - r->step) + eval_s * evals, eta);
    printf("%sstep %*ld/%ld  loss %.4f  lr %.2e  %6.0f tok/s  %s elapsed  ETA %s%s", tty ? "\r" : "",
           (int)snprintf(NULL, 0, "%ld", r->o.steps), r->step, r->o.steps, loss, lr, tps, el, eta,
           tty ? "\033[K" : "\n");
    fflush(stdout);
}

// ---- sampling ----------------------------------------------------------------------------------
// A sampled byte, as it is; on a terminal, control bytes (and, for a text that looked binary, every
// byte above 0x7e) as \xHH, so that a sample never sends the terminal escape sequences.
static void put_symbol(const Run *r, unsigned char b) {
    static int tty = -1;
    if (tty < 0) tty = isatty(STDOUT_FILENO);
    bool control = (b < 0x20 && b != '\n' && b != '\t') || b == 0x7f || (r->binary && b > 0x7e);
    if (tty && control) printf("\\x%02x", b);
    else putchar(b);
}

// Generates o.sample characters after the prompt. The forward always runs on a full (1, T) window
// (causal attention: position i sees only 0..i), so the sample arena keeps one size.
static int sample_text(Run *r) {
    int T = (int)r->o.block_size, V = r->data.vocab_size, bad;
    int32_t *ctx = calloc(T, sizeof(int32_t)), *prompt = malloc((strlen(r->o.prompt) + 1) * sizeof(int32_t));
    double *p = malloc(V * sizeof(double));
    if (!ctx || !prompt || !p) return free(ctx), free(prompt), free(p), fail(1, "out of memory for sampling");
    int n = dataset_encode(&r->data, r->o.prompt, prompt, (int)strlen(r->o.prompt), &bad); // checked in setup
    if (n == 0) prompt[n++] = 0; // an empty prompt starts from the first symbol
    Rng rng;
    run_seed(&rng, r->o.seed, STREAM_SAMPLE);
    printf("\n---- sample (%ld characters, temperature %g) ----\n", r->o.sample, r->o.temperature);
    for (const char *c = r->o.prompt; *c; c++) put_symbol(r, (unsigned char)*c);
    int len = 0; // window: the last min(T, all) tokens of prompt + generated
    Batch window = {.rows = 1, .width = T, .target_width = T, .tokens = ctx};
    for (int i = 0; i < n; i++) {
        if (len == T) memmove(ctx, ctx + 1, (T - 1) * sizeof(int32_t)), len--;
        ctx[len++] = prompt[i];
    }
    for (long c = 0; c < r->o.sample; c++) {
        Tensor *logits = model_forward(&r->sample, &r->gpt.model, &window, NULL); // (1,T,V)
        const nl_real *last = logits->data + (size_t)(len - 1) * V;
        double mx = -INFINITY, sum = 0, u = rng_uniform(&rng);
        for (int j = 0; j < V; j++) mx = fmax(mx, last[j] / r->o.temperature);
        for (int j = 0; j < V; j++) sum += p[j] = exp(last[j] / r->o.temperature - mx);
        int next = V - 1;
        for (int j = 0; j < V; j++)
            if ((u -= p[j] / sum) < 0) { next = j; break; }
        tape_reset(&r->sample);
        put_symbol(r, r->data.vocab[next]);
        if (len == T) memmove(ctx, ctx + 1, (T - 1) * sizeof(int32_t)), len--;
        ctx[len++] = next;
    }
    printf("\n");
    free(ctx), free(prompt), free(p);
    return 0;
}

// ---- setup -------------------------------------------------------------------------------------
// A file beside the --log file: its path with the extension replaced by suffix (runs/x.csv,
// ".config" -> runs/x.config).
static void beside_log(const char *log, const char *suffix, char *out, size_t len) {
    const char *dot = strrchr(log, '.'), *slash = strrchr(log, '/');
    int stem = dot && (!slash || dot > slash) ? (int)(dot - log) : (int)strlen(log);
    snprintf(out, len, "%.*s%s", stem, log, suffix);
}

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
static int outputs_claim(Run *r) {
    const TrainOptions *o = &r->o;
    char err[1024];
    if (o->log) beside_log(o->log, ".config", r->config_path, sizeof r->config_path);
    const struct { const char *what, *path; } out[] = {{"--save", o->save}, {"--log", o->log},
                                                       {"--log's .config", o->log ? r->config_path : NULL}};
    for (int i = 0; i < 3; i++) {
        if (!out[i].path) continue;
        if (make_parents(out[i].what, out[i].path)) return 1;
        if (outfile_check(out[i].what, out[i].path, err, sizeof err)) return fail(1, "%s", err);
        for (int j = 0; j < i; j++)
            if (out[j].path && outfile_same(out[i].path, out[j].path))
                return fail(2, "%s %s and %s %s are the same file: give each output its own path", out[j].what,
                            out[j].path, out[i].what, out[i].path);
    }
    if (o->log && o->resume && outfile_same(o->log, o->resume))
        return fail(2, "--log %s is the checkpoint --resume reads: the log would overwrite it", o->log);
    for (int i = 0; i < 2; i++)
        if (r->dist.rank == 0 && out[i].path && outfile_lock(&r->locks[i], out[i].what, out[i].path, err, sizeof err))
            return fail(1, "%s", err);
    return 0;
}

// A text whose bytes are more than 1% control bytes (not tab, newline, carriage return or form
// feed) is probably not text: say so (training on bytes goes on).
static void warn_if_binary(Run *r) {
    size_t control = 0;
    bool nul = false;
    for (size_t i = 0; i < r->data.n; i++) {
        unsigned char b = r->data.vocab[r->data.tokens[i]];
        control += (b < 0x20 && !strchr("\t\n\r\f", b)) || b == 0x7f;
        nul |= b == 0;
    }
    if (control * 100 <= r->data.n) return;
    r->binary = true;
    fprintf(stderr, "train: warning: %s does not look like text: %.0f%% of its bytes are control bytes%s (%d "
            "symbols). Training goes on, byte by byte; samples show such bytes as \\xHH on a terminal.\n",
            r->data_path, 100.0 * control / r->data.n, nul ? ", NUL among them" : "", r->data.vocab_size);
}

static int setup(Run *r, int argc, char **argv) {
    TrainOptions *o = &r->o;
    int rc = options_parse(o, argc, argv);
    if (rc) return rc == 1 ? -1 : 2;
    char err[1024];
    StFile ckpt = {0};
    if (o->resume && checkpoint_open(r, o->resume, &ckpt, err, sizeof err)) return fail(1, "%s", err);
    options_derive(o);
    const Dist *d = &r->dist;
    if (d->rank == 0) options_warn_unused(o);
    if (o->batch_size % (d->size * o->grad_accum))
        return st_close(&ckpt), fail(2, "--batch-size %ld does not split into %d process%s x --grad-accum %ld: give a "
                                     "multiple of %ld (the batch is the whole step's, over every process)",
                                     o->batch_size, d->size, d->size > 1 ? "es" : "", o->grad_accum,
                                     d->size * o->grad_accum);
    if (d->size > 1 && o->dump_step)
        return st_close(&ckpt), fail(2, "--dump-step records one process's step: run it without mpirun");
    if (d->rank > 0) o->log = o->save = NULL, o->sample = 0; // rank 0 alone logs, saves and samples
    bool need_text = !o->resume || o->steps > 0 || o->dump_step;
    if (need_text) {
        if (dataset_resolve(o->dataset, NORMLAB_DATA_DIR, r->data_path, sizeof r->data_path, err, sizeof err) ||
            dataset_load(&r->data, r->data_path, err, sizeof err)) {
            st_close(&ckpt);
            return fail(1, "%s", err);
        }
        r->have_text = true;
        if (r->dist.rank == 0) warn_if_binary(r);
        if (dataset_check_context(&r->data, (int)o->block_size, err, sizeof err)) return st_close(&ckpt), fail(1, "%s", err);
    }
    int claimed = outputs_claim(r);
    if (claimed) return st_close(&ckpt), claimed;
    if (o->log) {
        size_t n = strlen(o->log);
        r->log_json = n >= 5 && (!strcmp(o->log + n - 5, ".json") || (n >= 6 && !strcmp(o->log + n - 6, ".jsonl")));
        int fd = outfile_open(o->log, o->resume != NULL, err, sizeof err); // a resumed run appends
        if (fd < 0 || !(r->log = fdopen(fd, "w"))) return st_close(&ckpt), fail(1, "--log %s", fd < 0 ? err : strerror(errno));
        // the run's effective options beside the log: runs/x.csv -> runs/x.config
        if (options_write_config(o, r->config_path, err, sizeof err)) return st_close(&ckpt), fail(1, "%s", err);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN) / d->local_size; // this host's cores, shared by its processes
    if (o->threads > (cores > 0 ? cores : 1)) { // more threads than cores only slows a step, and may not start
        if (d->rank == 0)
            fprintf(stderr, "train: warning: --threads %ld is more than the %ld cores %s: using %ld\n", o->threads,
                    cores > 0 ? cores : 1, d->local_size > 1 ? "this process has" : "here", cores > 0 ? cores : 1);
        o->threads = cores > 0 ? cores : 1;
    }
    if (o->threads == 0) train_threads_init(&r->team, cores > 0 ? (int)cores : 1); // auto
    else blas_threads_set((int)o->threads);
    cpu_flush_subnormals();

    int vocab = r->have_text ? r->data.vocab_size : 0;
    if (o->resume && !r->have_text) { // the vocabulary comes from the checkpoint
        const char *v = st_meta(&ckpt, "vocab");
        vocab = v ? (int)strlen(v) / 2 : 0;
    }
    GptConfig cfg = options_gpt_config(o, vocab);
    const char *bad = gpt_config_check(&cfg);
    if (bad) return st_close(&ckpt), fail(2, "%s", bad);
    if (o->resume && checkpoint_check_model(&ckpt, &cfg, o->optim, err, sizeof err))
        return st_close(&ckpt), fail(1, "%s: %s", o->resume, err);
    double need = gpt_memory_estimate(&cfg, (int)o->batch_size, (int)o->block_size),
           have = (double)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
    if (have > 0 && need > have)
        return st_close(&ckpt), fail(2, "this configuration needs about %.3g GB to train (parameters, grads, "
                                     "AdamW moments and a step's activations); this machine has %.3g GB",
                                     need / 1e9, have / 1e9);
    Rng init;
    run_seed(&init, o->seed, STREAM_INIT);
    run_seed(&r->data_rng, o->seed, STREAM_DATA);
    run_seed(&r->dropout_rng, o->seed, STREAM_DROPOUT);
    OptimConfig oc = {.kind = o->optim, .lr = o->lr, .min_lr = o->min_lr, .warmup = (int)o->warmup,
                      .decay_steps = (int)o->lr_decay_steps, .beta1 = o->beta1, .beta2 = o->beta2,
                      .eps = 1e-8, .weight_decay = o->weight_decay};
    size_t BT = (size_t)o->batch_size * o->block_size;
    if (gpt_init(&r->gpt, &cfg, &init) || optim_init(&r->opt, &oc, r->gpt.params.numel) ||
        !(r->idx = malloc(BT * sizeof(int32_t))) || !(r->targets = malloc(BT * sizeof(int32_t))) ||
        arena_init(&r->train_arena, "train step", 0) || arena_init(&r->eval_arena, "eval", 0) ||
        arena_init(&r->sample_arena, "sample", 0) || tape_init(&r->train, &r->train_arena, r->gpt.model.tape_nodes) ||
        tape_init(&r->eval, &r->eval_arena, r->gpt.model.tape_nodes) || tape_init(&r->sample, &r->sample_arena, r->gpt.model.tape_nodes))
        return st_close(&ckpt), fail(1, "out of memory building the model");
    if (o->recompute && model_recompute(&r->gpt.model, true))
        return st_close(&ckpt), fail(1, "out of memory for --recompute");
    tape_set_grad_enabled(&r->eval, false);
    tape_set_grad_enabled(&r->sample, false);
    if (stats_init(&r->stats, &r->gpt.model)) return st_close(&ckpt), fail(1, "out of memory for the instruments");
    if (dist_buckets_init(&r->dist, &r->gpt.params, (size_t)(o->bucket_mb * 1e6), !o->no_overlap))
        return st_close(&ckpt), fail(1, "out of memory for the data parallel buckets");
    if (r->log && !r->log_json && ftell(r->log) == 0) {
        fprintf(r->log, "step,kind,loss,lr,grad_norm,tokens_per_sec,elapsed_sec,skipped,spikes");
        stats_header(&r->stats, r->log);
        fputc('\n', r->log);
    }
    if (o->resume) {
        rc = checkpoint_restore(r, &ckpt, err, sizeof err);
        st_close(&ckpt);
        if (rc) return fail(1, "%s: %s", o->resume, err);
    }
    if (d->rank > 0) { // dropout masks: a stream per rank (rank 0's is one process's; a checkpoint keeps it)
        Rng from = r->dropout_rng;
        run_seed(&r->dropout_rng, (long)(rng_u64(&from) >> 1) + d->rank, STREAM_DROPOUT);
    }
    for (const char *c = o->prompt; o->sample > 0 && *c; c++) { // before training, not after
        unsigned char b = (unsigned char)*c;
        char shown[8] = "";
        if (isprint(b)) snprintf(shown, sizeof shown, ", '%c'", b);
        if (r->data.id_of[b] < 0)
            return fail(2, "--prompt: byte %d (0x%02x%s) is not in the vocabulary of the training text",
                        (int)(c - o->prompt), b, shown);
    }
    return 0;
}

static void teardown(Run *r) {
    outfile_unlock(&r->locks[0]), outfile_unlock(&r->locks[1]);
    options_free(&r->o);
    if (r->log) fclose(r->log);
    stats_free(&r->stats);
    dist_buckets_free(&r->dist);
    tape_free(&r->train), tape_free(&r->eval), tape_free(&r->sample);
    arena_free(&r->train_arena), arena_free(&r->eval_arena), arena_free(&r->sample_arena);
    optim_free(&r->opt);
    gpt_free(&r->gpt);
    dataset_free(&r->data);
    free(r->idx), free(r->targets);
}

static int save(Run *r) {
    char err[1024];
    if (checkpoint_write(r, r->o.save, err, sizeof err)) return fail(1, "%s", err);
    return 0;
}

// What alpha or beta (and derf's shift, and the embedding scale) learned, per norm position.
static void print_learned_scalars(const Run *r) {
    const Gpt *m = &r->gpt;
    if (m->emb_scale) printf("emb_scale: %.4g (started at %g)\n", m->emb_scale->data[0], r->o.emb_scale);
    if (!norm_is_elementwise(r->o.norm)) return;
    bool alpha = NORM_TABLE[r->o.norm]->scalar == NORM_SCALAR_ALPHA;
    int scalars = NORM_TABLE[r->o.norm]->shift ? 2 : 1; // alpha or beta, then derf's shift
    for (int shift = 0; shift < scalars; shift++)
        for (int p = 0; p < GPT_NORM_POSITIONS; p++) {
            printf("%s %s:", shift ? "shift" : norm_scalar_name(r->o.norm), GPT_NORM_POSITION_NAMES[p]);
            for (int l = 0; l < (p == GPT_LNF ? 1 : m->cfg.n_layer); l++) {
                const Norm *n = p == GPT_LN1 ? &m->blocks[l].ln_1 : p == GPT_LN2 ? &m->blocks[l].ln_2 : &m->ln_f;
                printf(" %.4g", shift ? n->shift->data[0] : norm_scalar_effective(r->o.norm, n->scalar->data[0]));
            }
            printf("%s (started at %g)\n", p == GPT_LNF ? "" : " (layers 0..)",
                   shift ? r->o.shift0 : alpha ? r->o.alpha0_pos[p] : r->o.beta0_pos[p]);
        }
}

// ---- interrupts --------------------------------------------------------------------------------
// The first SIGINT or SIGTERM says at once what happens next, lets the current step finish; the
// loop then writes a checkpoint and prints how to resume. A second one leaves at once, removing the
// checkpoint's temp file if a write was under way (the checkpoint itself is replaced only by rename,
// so it is never half-written). The checkpoint goes to --save; without it, beside the --log file
// (its name with .interrupted.safetensors); without either, into runs/ with the time in its name.
static volatile sig_atomic_t interrupted; // the first signal's number
static char interrupt_save[4200];          // where the checkpoint goes
static char interrupt_tmp[4200];           // the temp file of the checkpoint being written
static char interrupt_note[4400];          // printed by the handler itself, at once

static void on_signal(int sig) {
    if (interrupted) {
        if (interrupt_tmp[0]) unlink(interrupt_tmp);
        _exit(128 + sig);
    }
    interrupted = sig;
    ssize_t w = write(STDERR_FILENO, interrupt_note, strlen(interrupt_note)); // async-signal-safe
    (void)w;
}

// Under mpirun, which passes an interrupt on to every process as SIGTERM, rank 0 alone speaks (say).
static void interrupts_install(const TrainOptions *o, bool say) {
    if (o->save) {
        snprintf(interrupt_save, sizeof interrupt_save, "%s", o->save);
    } else if (o->log) {
        beside_log(o->log, ".interrupted.safetensors", interrupt_save, sizeof interrupt_save);
    } else {
        char when[32];
        time_t now = time(NULL);
        strftime(when, sizeof when, "%Y%m%d-%H%M%S", localtime(&now));
        snprintf(interrupt_save, sizeof interrupt_save, "runs/interrupted-%s-%s.safetensors",
                 NORM_TABLE[o->norm]->name, when);
    }
    if (say) {
        snprintf(interrupt_note, sizeof interrupt_note,
                 "\ninterrupt: finishing this step, then writing a checkpoint to %s (interrupt again to "
                 "leave at once, without it)\n", interrupt_save);
        st_temp_path(interrupt_save, interrupt_tmp, sizeof interrupt_tmp);
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

// The checkpoint and the command that resumes (rank 0).
static void interrupt_save_checkpoint(Run *r) {
    const char *path = interrupt_save;
    char err[1024];
    printf("\ninterrupted (signal %d) after step %ld: writing %s\n", (int)interrupted, r->step, path);
    if (make_parents("the interrupt's checkpoint", path) == 0 && checkpoint_write(r, path, err, sizeof err)) {
        fail(1, "%s; no checkpoint was written for this interrupt", err);
        return;
    }
    printf("to resume:\n  ");
    if (r->dist.size > 1) printf("mpirun -np %d ", r->dist.size); // or any other number of processes
    printf("./train");
    for (int i = 1; i < r->argc; i++) {
        const char *a = r->argv[i];
        if (!strcmp(a, "--resume")) { i++; continue; } // replaced by the new checkpoint
        if (!strncmp(a, "--resume=", 9)) continue;
        print_quoted(a);
    }
    printf(" --resume");
    print_quoted(path);
    printf("\n");
    fflush(stdout);
}

// Under mpirun: interrupted on every process when it is on any (the processes act together).
static void interrupts_agree(Run *r) {
    if (r->dist.size == 1) return;
    double any = interrupted;
    dist_sum(&r->dist, &any, 1);
    if (any && !interrupted) interrupted = SIGTERM;
}

// After the step in flight: rank 0 saves, the others wait for it (mpirun ends every process as soon
// as one exits with an error); exit status 128 + signal.
static int interrupt_exit(Run *r) {
    if (r->dist.rank == 0) interrupt_save_checkpoint(r);
    double done = 0;
    dist_sum(&r->dist, &done, 1);
    return 128 + interrupted;
}

// ---- the loop ----------------------------------------------------------------------------------
// --on-nonfinite=skip gives up when this many steps in a row go non-finite: the parameters no
// longer change, so the same fault would repeat on every batch.
#define MAX_SKIPS_IN_A_ROW 20

static int train(Run *r, double t0) {
    const TrainOptions *o = &r->o;
    Dist *d = &r->dist;
    // under mpirun stdout is a pseudo-terminal whatever mpirun's own is: progress lines as for a log
    bool tty = isatty(STDOUT_FILENO) && d->size == 1, quiet = o->quiet;
    // off a terminal, a progress line every eval_interval/5 steps, and at least every PROGRESS_S seconds
    long every = o->eval_interval / 5 > 0 ? o->eval_interval / 5 : 1;
    const double PROGRESS_S = 10;
    double best = INFINITY, train_time = 0, tps = 0, eval_time = 0, last_line = tape_clock();
    long evals = 0;
    long best_step = -1, start = r->step, run_of_skips = 0;
    char err[1024];
    for (;;) {
        bool last = r->step >= o->steps;
        bool eval = r->have_text && (r->step % o->eval_interval == 0 || last) && (r->step > start || start == 0 || last);
        if (eval && !dist_params_agree(d, &r->gpt.params)) // cheap, and it would break everything after
            return fail(1, "step %ld: the processes' parameters differ (they must stay identical: the same "
                        "averaged grads, the same update); this MPI's allreduce gave ranks different sums", r->step);
        if (eval && d->rank == 0) {
            double te = tape_clock(), tl = evaluate(r, false), vl = evaluate(r, true), el = tape_clock() - t0;
            eval_time += tape_clock() - te, evals++;
            if (vl < best) best = vl, best_step = r->step;
            if (tty && !quiet) printf("\r\033[K");
            printf("step %ld: train loss %.4f, val loss %.4f%s\n", r->step, tl, vl, vl == best ? " (best)" : "");
            log_row(r, "eval_train", tl, 0, 0, 0, el, NULL);
            log_row(r, "eval_val", vl, 0, 0, 0, el, NULL);
        }
        if (last) break;
        double ts = tape_clock(), lr = optim_lr(&r->opt.cfg, r->step), gnorm = NAN;
        // every process draws the whole batch (the same stream as one process) and takes its rows
        dataset_batch(&r->data, false, (int)o->batch_size, (int)o->block_size, &r->data_rng, r->idx, r->targets);
        int rows = (int)o->batch_size / d->size;
        Batch all = run_batch(r), mine = batch_rows(&all, d->rank * rows, rows);
        bool measure = r->log && o->stats_every > 0 && r->step % o->stats_every == 0;
        TrainStep st = run_step(r);
        if (measure) stats_attach(&r->stats, &r->train);
        double loss;
        int bad = train_forward_backward(&st, &mine, r->step, &loss, &gnorm, err, sizeof err);
        if (measure) stats_measure(&r->stats, &r->train);
        if (bad) {
            tape_reset(&r->train);
            if (d->rank > 0 && st.fault_here) // where it began, seen on this rank's rows
                fprintf(stderr, "train: rank %d: %s\n", d->rank, err);
            if (o->on_nonfinite == NONFINITE_STOP || ++run_of_skips > MAX_SKIPS_IN_A_ROW) {
                log_row(r, "train", NAN, lr, NAN, 0, tape_clock() - t0, NULL);
                if (tty && !quiet) printf("\r\033[K");
                if (d->rank > 0) return 1; // rank 0 says it (and this rank said where, if it saw)
                return fail(1, "%s. %sThe run stops here%s.", err,
                            run_of_skips > MAX_SKIPS_IN_A_ROW ? "Too many non-finite steps in a row (skipped). " : "",
                            o->save ? "; the last checkpoint written is untouched" : "");
            }
            r->skipped++, r->step++; // the batch is used up; parameters and moments stay as they were
            log_row(r, "train", NAN, lr, NAN, 0, tape_clock() - t0, NULL);
            printf("%s%s: update skipped (%ld so far)\n", tty && !quiet ? "\r\033[K" : "", err, r->skipped);
            continue;
        }
        run_of_skips = 0;
        if (measure) stats_before_update(&r->stats);
        train_update(&st, gnorm, lr);
        if (measure) stats_after_update(&r->stats);
        r->step++; // from here on, r->step counts this step as done
        r->spikes += stats_spike(&r->stats, loss, o->spike_factor);
        double dt = tape_clock() - ts;
        if (o->threads == 0) train_threads_step(&r->team, dt);
        train_time += dt;
        tps = (double)o->batch_size * o->block_size / dt;
        log_row(r, "train", loss, lr, gnorm, tps, tape_clock() - t0, measure ? &r->stats : NULL);
        if (!quiet && (tty || r->step % every == 0 || tape_clock() - last_line >= PROGRESS_S)) {
            progress(r, loss, lr, tps, tape_clock() - t0, train_time / (r->step - start),
                     evals ? eval_time / evals : 0, tty);
            last_line = tape_clock();
        }
        if (o->save && o->save_every > 0 && r->step % o->save_every == 0) {
            int rc = save(r);
            if (rc) return rc;
        }
        interrupts_agree(r); // the processes stop after the same step
        if (interrupted) return interrupt_exit(r);
    }
    if (d->size > 1 && r->step > start)
        printf("data parallel: %d processes, %.2f ms per step in MPI calls on rank 0 (%.1f%% of its step time), "
               "%s\n", d->size, 1e3 * d->comm_s / (r->step - start), 100 * d->comm_s / train_time,
               o->no_overlap ? "grads reduced after backward (--no-overlap)" : "overlapped with backward");
    if (best_step >= 0) {
        size_t n;
        double full;
        if (train_eval_full_val(&r->eval, &r->gpt.model, &r->data, (int)o->batch_size, (int)o->block_size, r->idx,
                                r->targets, &full, &n))
            return fail(1, "out of memory for the whole val split's evaluation");
        log_row(r, "eval_val_full", full, 0, 0, 0, tape_clock() - t0, NULL);
        printf("best val loss %.4f at step %ld; wall time %.1f s (%.1f s in training steps)\n"
               "val loss over the whole val split (%zu tokens): %.4f\n", best, best_step, tape_clock() - t0, train_time, n, full);
    }
    if (r->step > start) printf("loss spikes (> %g x the running median): %ld; steps skipped (non-finite): %ld\n",
                                o->spike_factor, r->spikes, r->skipped);
    print_learned_scalars(r);
    return 0;
}

int main(int argc, char **argv) {
    cpu_env_reexec(argv);
    double t0 = tape_clock();
    Run r = {0};
    char err0[1024];
    if (dist_init(&r.dist, &argc, &argv, err0, sizeof err0)) return fail(1, "%s", err0);
    // under mpirun, rank 0 alone prints (the others' errors and warnings still reach stderr)
    if (r.dist.rank > 0 && !freopen("/dev/null", "w", stdout)) return fail(1, "cannot silence stdout: %s", strerror(errno));
    int rc = setup(&r, argc, argv);
    if (rc) {
        teardown(&r);
        if (rc < 0) dist_finalize(&r.dist); // --help: every process
        return rc < 0 ? 0 : rc;             // an error: mpirun ends the others
    }
    if (r.o.dump_step) {
        char err[1024];
        rc = dump_step(&r, r.o.dump_step, err, sizeof err) ? fail(1, "%s", err) : 0;
        if (!rc) printf("wrote %s (one step: parameters before and after, gradients, batch, loss)\n", r.o.dump_step);
        teardown(&r);
        return rc;
    }
    r.argc = argc, r.argv = argv;
    interrupts_install(&r.o, r.dist.rank == 0); // before the header, so whoever reads it can signal us
    printf("normlab train (%s build): %s, %d symbols\n", NL_REAL_NAME,
           r.have_text ? r.data_path : r.o.resume, r.data.vocab_size);
    options_print(&r.o, r.team.max > 0 ? r.team.max : sysconf(_SC_NPROCESSORS_ONLN), stdout);
    if (r.dist.size > 1)
        printf("data parallel: %d processes (%d on this host), each %ld of the %ld sequences per step%s; grads "
               "reduced: %.2f MB per step, in %d buckets\n", r.dist.size, r.dist.local_size,
               r.o.batch_size / r.dist.size, r.o.batch_size, r.o.grad_accum > 1 ? " (in --grad-accum micro-batches)" : "",
               r.gpt.params.numel * sizeof(nl_real) / 1e6, r.o.no_overlap ? 1 : r.dist.n_buckets);
    if (r.config_path[0]) printf("config:   %s (./train --config %s runs it again)\n", r.config_path, r.config_path);
    printf("params:   %zu%s\n\n", paramset_count(&r.gpt.params),
           r.step ? " (resumed)" : "");
    if (r.step) printf("resuming at step %ld\n", r.step);
    if (r.o.resume && r.o.steps > 0 && r.step >= r.o.steps)
        printf("the checkpoint is at step %ld and --steps is %ld: nothing to train (give --steps above %ld "
               "to train on); evaluating%s only\n", r.step, r.o.steps, r.step, r.o.sample > 0 ? " and sampling" : "");
    fflush(stdout);
    rc = train(&r, t0);
    if (!rc) interrupts_agree(&r); // an interrupt during the last evaluation
    if (!rc && interrupted) rc = interrupt_exit(&r);
    if (!rc && r.o.save) rc = save(&r);
    if (!rc && r.o.save) printf("saved %s (step %ld)\n", r.o.save, r.step);
    if (!rc && r.o.sample > 0) rc = sample_text(&r);
    teardown(&r);
    if (!rc) dist_finalize(&r.dist);
    return rc;
}
