// A training session: everything a run of training holds besides its options, for any model
// (normlab/model.h). It owns the optimizer, the three tapes (train step, evaluation, sampling) and
// their arenas, the random streams, the step counter, the batch, the instruments, the log and its
// columns, checkpoints and --dump-step. The caller builds the model (its config is the caller's)
// and the text, and keeps them alive while the session lives; a program is then options, printing
// and signals around these calls:
//
//   session_init(&s, &cfg, model, &text, &dist, err, len)   // (session_restore to resume)
//   session_log_start(&s, file, json)                       // optional
//   while (s.step < steps) {
//       if (evaluation due) session_evaluate(&s, &train, &val, err, len);
//       session_step(&s, &info, err, len);                  // 0 taken, 1 skipped, -1 stop
//   }
//   session_save(&s, path, meta, n_meta, err, len);
//   session_free(&s);
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "normlab/arena.h"
#include "normlab/data.h"
#include "normlab/dataset.h"
#include "normlab/dist.h"
#include "normlab/model.h"
#include "normlab/optim.h"
#include "normlab/safetensors.h"
#include "normlab/stats.h"
#include "normlab/tape.h"
#include "normlab/threads.h"
#include "normlab/train.h"

// Independent random streams, all derived from the seed (session_seed).
enum { SESSION_STREAM_INIT, SESSION_STREAM_DATA, SESSION_STREAM_DROPOUT, SESSION_STREAM_EVAL,
       SESSION_STREAM_SAMPLE }; // EVAL: the train split's batches, EVAL + 1 the val split's
// --on-nonfinite=skip gives up when this many steps in a row go non-finite: the parameters no
// longer change, so the same fault would repeat on every batch.
#define SESSION_MAX_SKIPS_IN_A_ROW 20

typedef struct SessionConfig {
    OptimConfig optim;
    int batch_size, block_size; // B sequences of T tokens per step (the whole step's, over every process)
    int grad_accum;             // micro-batches per step (0 or 1: one)
    long seed;
    double grad_clip;           // <= 0: off
    long eval_iters;            // batches per evaluation of each split
    long stats_every;           // instruments every N steps, into the log (0: off)
    double spike_factor;        // a loss above this x the running median is a spike
    bool skip_nonfinite;        // a non-finite step is skipped (the run goes on); otherwise it stops
    int auto_threads;           // > 0: the team follows the cores free, up to this many; 0: as set
    size_t bucket_bytes;        // data parallel: the grads are reduced in buckets of this size,
    bool overlap;               // overlapped with backward
    double t0;                  // the clock (tape_clock) the log's elapsed_sec counts from
} SessionConfig;

// What a session call that runs the model returns when an arena could not get memory from the system
// (the configuration does not fit: its message, in err, names the arena and the bytes). The session
// cannot go on after it.
#define SESSION_NO_MEMORY (-3)

typedef struct SessionTape {
    Arena arena; // measured on the tape's first use, fixed after
    Tape tape;
} SessionTape;

typedef struct Session {
    SessionConfig cfg;
    Model *model;                     // the caller's
    DataSource data;                  // the caller's batches (a text's, or only a vocabulary, to sample)
    Dist *dist;                       // the caller's: this process among the others (or alone)
    Optimizer opt;
    SessionTape train, eval, sample;
    Rng data_rng, dropout_rng;
    long step;                        // steps done
    long skipped, spikes, skips_in_a_row; // non-finite steps skipped; loss spikes
    int32_t *idx, *targets;           // (B*T) the current batch
    TrainStats stats;                 // the instruments and the spike detector
    FILE *log;                        // the caller's, or NULL: rows go nowhere
    bool log_json;
    int log_errno;                    // the first failed write's errno (0: none)
    TrainThreads team;                // auto_threads: the team size
    double train_s;                   // seconds spent in steps
    bool started;                     // a step was taken (each process's dropout stream is set)
} Session;

// What one step did.
typedef struct SessionStepInfo {
    double loss, lr, grad_norm; // NAN when the step was not finite
    double seconds, tokens_per_sec;
    bool fault_here;     // not finite: this process's own rows showed where it began (err says)
    bool skips_exhausted; // stopped after SESSION_MAX_SKIPS_IN_A_ROW skipped steps in a row
} SessionStepInfo;

void session_seed(Rng *r, long seed, int stream);

// Binds the session to a model, a text and a Dist, with a fresh optimizer and the streams seeded
// from cfg->seed. 0, or -1 with a message in err (out of memory, naming what for).
int session_init(Session *s, const SessionConfig *cfg, Model *model, const DataSource *data, Dist *dist, char *err,
                 size_t errlen);
void session_free(Session *s); // not the model, the text, the Dist or the log file

// One training step on the next batch (this process's rows of it, under a Dist): forward, backward,
// clip, update, the instruments when due, the spike detector, a log row. 0: taken. 1: not finite
// and skipped (cfg.skip_nonfinite; the batch is used up, the parameters stay; err says where it
// began). -1: not finite and the run stops (err says where; every process returns -1 together).
int session_step(Session *s, SessionStepInfo *info, char *err, size_t errlen);
// Every process: checks that the processes' parameters are still identical (-1 with err when not).
// Rank 0 then gets the loss and accuracy over the same eval_iters batches of each split (the whole
// evaluation split when the data says so: DataSource.eval_whole) and logs both.
int session_evaluate(Session *s, TrainEval *train, TrainEval *eval, char *err, size_t errlen);
// The loss and accuracy over the whole evaluation split (train_eval_split; e->confusion counted
// when set), logged as eval_val_full. 0, or -1 with a message in err.
int session_eval_whole(Session *s, TrainEval *e, char *err, size_t errlen);
// The same over the data's test split (DataSource.test: an image set's), logged as eval_test_full:
// read once, at the end, to report a setting chosen on the evaluation split. The data must have one.
int session_eval_test(Session *s, TrainEval *e, char *err, size_t errlen);
// How a sample is drawn: n tokens, each from softmax(logits / temperature) over the top_k largest
// logits (0: all; ties with the k-th are kept), with the random stream seeded from seed.
typedef struct SessionSampling {
    long n;
    double temperature;
    int top_k;
    long seed;
} SessionSampling;

// Generates how->n tokens after the prompt's ids (none: it starts from id 0), each drawn from the
// model's outputs on a full window of T tokens; emit gets each id. 0, -1 when out of memory, -2 when
// the model's outputs are not finite (its parameters diverged: nothing to draw from).
int session_sample(Session *s, const int32_t *prompt, int n_prompt, const SessionSampling *how,
                   void (*emit)(void *ctx, int id), void *ctx);

// Classifies rows [first, first + n) of the test split (DataSource.test; without one, the evaluation split):
// each row's top class, the model's probability for it, and the row's true class. 0, or -1 when the
// data has more than one target per row or the rows run past the split.
int session_classify(Session *s, size_t first, int n, int *pred, double *p, int *truth);

// ---- the log: one column table drives the header, rows and empty rows ---------------------------
// Rows go to f from here on, as CSV (a header first when f is empty) or as JSON lines.
void session_log_start(Session *s, FILE *f, bool json);
// A log a resumed run goes on writing, cut back to what the run had logged when its checkpoint of
// STEP was saved: every row up to STEP (a step's train row and its evaluation come before that step's
// checkpoint), so the resumed log is the uninterrupted run's, row for row; with evals_again (the
// checkpoint is the end of a run, whose resumed run evaluates at STEP again) STEP's evaluations go
// too. A torn last line goes. *cut: the rows removed. 0, or -1 with a message in err.
int session_log_cut(const char *path, long step, bool evals_again, bool json, long *cut, char *err, size_t errlen);
// One row of kind ("train", "eval_val", ...); the instruments' columns filled when stats is set. A
// failed write (a full disk) is kept: session_log_failed says so, and the caller ends the run.
void session_log_row(Session *s, const char *kind, double loss, double accuracy, double lr, double grad_norm,
                     double tps, bool stats);
// 0 while every row reached the file; else the errno of the first write that failed.
int session_log_failed(const Session *s);
// The log's columns as JSON: {"base": [{name, help}] in order, "instruments": the kinds of
// instrument column that follow them (stats_families_json)}. For ./train --registry.
void session_log_columns_json(FILE *f);

// ---- checkpoints (session_checkpoint.c) -----------------------------------------------------------
// The model's parameters under their names, the optimizer's state blocks as optimizer.<state>.*, and
// in the metadata the caller's pairs (meta: n_meta keys and values, its options) beside the step,
// the random streams, the vocabulary and the build's real type. Written to a temp file and renamed.
int session_save(const Session *s, const char *path, const char *const *meta, int n_meta, char *err, size_t errlen);
// What rebuilds the model and the session a checkpoint was written by: the model's kind (a row of
// MODEL_TABLE), its config, and the session's config (optimizer, batch, context, seed, clipping;
// the rest zero). 0, or -1 with a message in err (a checkpoint written before they were recorded
// says how to rewrite it).
int session_checkpoint_config(const StFile *f, int *kind, ModelConfig *mc, SessionConfig *sc, char *err,
                              size_t errlen);
// Opens a checkpoint (0, or -1 with a message in err: unreadable, not a session's checkpoint).
int session_checkpoint_open(StFile *f, const char *path, char *err, size_t errlen);
// Checks, before a model is built, that f holds the parameters of the model cfg describes (its
// row's table) and the optimizer's state for each, with their shapes. 0, or -1 with a message in err.
int session_checkpoint_check(const StFile *f, const ModelInfo *mi, const ModelConfig *cfg, OptimKind optim, char *err,
                             size_t errlen);
// Restores parameters, optimizer state, step, random streams and (when the session's text has none
// of its own) the vocabulary; a text's vocabulary must be the checkpoint's. 0, or -1 with err.
int session_restore(Session *s, const StFile *f, char *err, size_t errlen);
// --dump-step: one step on the next batch, and everything it touched in one safetensors file: every
// parameter before (<name>), its gradient before clipping (grad.<name>), after (after.<name>), the
// batch (batch.idx, batch.targets), the loss; in the metadata the caller's pairs, the step's lr,
// weight_decay, beta1, beta2, adam_eps, grad_clip, and the model's kind and config as a checkpoint
// records them (model.kind, model.*). 0, or -1 with a message in err.
int session_dump_step(Session *s, const char *path, const char *const *meta, int n_meta, char *err, size_t errlen);
