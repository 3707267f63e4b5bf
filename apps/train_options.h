// The train program's options: one table (train_options.c) drives the command line, --help, range
// checks, what a checkpoint records and what --resume restores.
#pragma once
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#include "normlab/model.h"

// The options, grouped as --help and the configuration printout group them. Each field is one row
// of the option table (train_options.c), which says its name, default, range and help.
typedef struct ModelOptions {
    int kind; // ModelKind: the row of normlab/model.h's table
    int norm; // NormKind
    long n_layer, n_head, n_embd, block_size, patch_size;
    bool bias, composite;
    double dropout;
} ModelOptions;

typedef struct InitOptions {
    double alpha0, beta0, shift0;
    double alpha0_pos[3], beta0_pos[3]; // ln_1, ln_2, ln_f overrides
    int emb_scale_mode;                 // EmbScaleMode
    double emb_scale;                   // the initial value when emb_scale_mode is EMB_SCALE_VALUE
    double scalar_lr_mult;
} InitOptions;

typedef struct OptimOptions {
    int kind;   // OptimKind
    int preset; // Preset
    double lr, min_lr, weight_decay, beta1, beta2, grad_clip;
    long warmup, lr_decay_steps;
} OptimOptions;

// The stability interventions (docs/stability.md): each off by default.
typedef struct StabilityOptions {
    int qk_norm;    // 0: none, else NormKind + 1 (--qk-norm's choices: none, then the norms)
    int final_norm; // 0: the blocks' kind, else NormKind + 1
    double z_loss, attn_softcap, logit_softcap;
    double muon_lr; // --optim=muon: the hidden matrices' peak lr (the rest learn at --lr with AdamW)
} StabilityOptions;

// Which option rows were given: bit i for row i.
typedef struct OptionMarks {
    unsigned long long set;   // given on the command line or restored from a checkpoint
    unsigned long long given; // given on the command line (or --config)
} OptionMarks;

typedef struct ParallelOptions { // under mpirun
    bool no_overlap;  // reduce after backward
    double bucket_mb; // megabytes per allreduce
    double timeout_s; // the watchdog's (0: its default)
    int processes;    // how many the run has (not an option: the program sets it; 1 without mpirun)
} ParallelOptions;

typedef struct RunOptions {
    long steps, batch_size, grad_accum, seed, eval_interval, eval_iters, threads;
    bool recompute, quiet;
    ParallelOptions parallel;
} RunOptions;

typedef struct GuardOptions { // the instruments and what a non-finite step does
    long stats_every;
    int on_nonfinite; // NonfiniteAction
    double spike_factor;
} GuardOptions;

typedef struct FileOptions {
    const char *dataset; // the positional argument
    bool dataset_named;  // given (on the command line or in --config), not the default
    const char *config, *log, *save, *save_best, *resume, *dump_step;
    long save_every;
} FileOptions;

typedef struct SampleOptions {
    long n; // --sample: characters
    long top_k;
    double temperature;
    bool only; // ./train sample: the sample alone, without the header, training or evaluation
    const char *prompt;
} SampleOptions;

typedef struct TrainOptions {
    ModelOptions model;
    InitOptions init;
    OptimOptions optim;
    RunOptions run;
    GuardOptions guard;
    FileOptions files;
    SampleOptions sample;
    StabilityOptions stability;
    OptionMarks marks;
    struct ConfigText *texts; // the --config files' texts, which string options may point into
} TrainOptions;

typedef enum { NONFINITE_STOP, NONFINITE_SKIP, NONFINITE_COUNT } NonfiniteAction;
typedef enum { PRESET_BEST, PRESET_NANOGPT, PRESET_COUNT } Preset;
// --emb-scale: auto (on at sqrt(n_embd) for the element-wise norms, off for ln and rmsnorm; resolved
// by options_derive), off, or on at a given initial value.
typedef enum { EMB_SCALE_AUTO, EMB_SCALE_OFF, EMB_SCALE_VALUE } EmbScaleMode;
extern const char *const NONFINITE_NAMES[NONFINITE_COUNT]; // "stop", "skip"

typedef enum {
    OPT_ARCH = 1,  // fixes the model's shape: restored on --resume, may not change
    OPT_SAVED = 2, // recorded in checkpoint metadata and restored on --resume unless given again
    OPT_LOCAL = 4, // may differ between the processes of one run (a path, a thread count, output)
    OPT_FILE = 8,  // a file the run reads or writes: a .config names it only in a comment (a rerun writes its own)
    OPT_WATCH = 16, // how the run is watched or spread, not what it learns (a default run's expected range holds)
} OptFlags;

typedef struct OptRow OptRow;

// Every option at its default (what options_parse starts from).
void options_defaults(TrainOptions *o);
// Parses argv into o (defaults for what is not given). Returns 0, 1 after printing --help, or 2
// after printing "train: error: ..." for bad usage.
int options_parse(TrainOptions *o, int argc, char **argv);
// Frees what options_parse allocated (the --config files' texts).
void options_free(TrainOptions *o);
// Fills the values derived from others when not given: the preset's recipe (the norm's own, or
// nanoGPT's: embedding scale, alpha0 per position, scalar lr multiplier, lr), min_lr = lr/10,
// beta0 = 1/alpha0^2 per position, lr_decay_steps = steps, eval_interval = steps/10 (1 to 250).
void options_derive(TrainOptions *o);
// The options recorded in a checkpoint: pairs (key, value) appended to meta from index *n on;
// strings are written into buf (bufsize bytes). Keys use '_' (n_layer, lr, ...).
void options_to_meta(const TrainOptions *o, const char **meta, int *n, char *buf, size_t bufsize);
// Restores saved options from checkpoint metadata (lookup(key) -> value or NULL), unless given on
// the command line. An architecture option given with a different value is an error: returns -1
// with a message in err.
int options_from_meta(TrainOptions *o, const char *(*lookup)(void *ctx, const char *key), void *ctx,
                      char *err, size_t errlen);
// Under mpirun every process must run the same options: the first option (index into the table)
// whose value differs from another process's, its name and this process's value; -1 when all agree.
// A row flagged OPT_LOCAL may differ. agree(ctx, hashes, n) returns the first index that differs.
int options_first_disagreement(const TrainOptions *o, int (*agree)(void *ctx, const uint64_t *h, int n), void *ctx,
                               const char **name, char *value, size_t len);
// Warns (stderr) about each option given that does nothing for this norm or run, e.g. --alpha0
// with --norm=ln or --temperature with --sample=0. Call after options_derive. Returns how many.
int options_warn_unused(const TrainOptions *o);
// Whether every option that changes what a run learns is at its default, the norm and the seed aside
// (the dataset is the caller's to check): the runs a recipe's expected range was measured on.
bool options_at_defaults(const TrainOptions *o);
// The recipe the run's defaults come from: the preset's, the model's own (the ViT's), or the norm's.
const NormRecipe *options_recipe(const TrainOptions *o);
// Writes every option's effective value to path, as a --config file that reruns the run (the
// outputs --log, --save and the inputs --resume, --config as comments), never through a symlink.
// 0, or -1 with a message in err.
int options_write_config(const TrainOptions *o, const char *path, char *err, size_t errlen);
// The model the options describe (after options_derive), for a text of vocab_size symbols.
ModelConfig options_model_config(const TrainOptions *o, int vocab_size);
// Prints the configuration, grouped, one line per group; cores: the most threads --threads auto takes.
void options_print(const TrainOptions *o, long cores, FILE *f);
