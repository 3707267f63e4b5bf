// The train program's state, shared by its files: train.c (setup, the loop, evaluation, sampling),
// train_checkpoint.c (save and resume), train_dump.c (--dump-step) and train_options.c.
#pragma once
#include <stdio.h>

#include "normlab/tape.h"
#include "normlab/dataset.h"
#include "normlab/outfile.h"
#include "normlab/safetensors.h"
#include "normlab/gpt.h"
#include "normlab/optim.h"
#include "train_options.h"
#include "normlab/stats.h"
#include "normlab/threads.h"
#include "normlab/train.h"

// Independent random streams, all derived from --seed.
enum { STREAM_INIT, STREAM_DATA, STREAM_DROPOUT, STREAM_EVAL, STREAM_SAMPLE };

typedef struct Run {
    TrainOptions o;
    Dataset data; // text and vocabulary (vocabulary only when sampling a checkpoint without text)
    bool have_text;
    bool binary; // the text looked binary (setup warns; samples escape its high bytes on a terminal)
    char data_path[4096];
    char config_path[4200]; // the run's options, written beside --log
    Gpt gpt;
    Optimizer opt;
    Arena train_arena, eval_arena, sample_arena; // each measured on its first use, fixed after
    Tape train, eval, sample;
    Rng data_rng, dropout_rng;
    long step;                // steps done
    int32_t *idx, *targets;   // (B*T) the current batch
    FILE *log;
    bool log_json;
    TrainStats stats;     // the instruments (--stats-every) and the spike detector
    int argc;             // the command line, for the resume command printed on an interrupt
    char **argv;
    long skipped, spikes; // steps skipped for a non-finite loss or grad (--on-nonfinite=skip); loss spikes
    TrainThreads team;    // --threads auto: the team size, following the cores free
    Dist dist;              // under mpirun: this process among the others (normlab/dist.h)
    OutLock locks[2];       // --log and --save, held while the run lives (no second run writes them)
} Run;

static inline void run_seed(Rng *r, long seed, int stream) {
    rng_seed(r, (uint64_t)seed + 0x9e3779b97f4a7c15ull * (uint64_t)(stream + 1));
}

// The current batch (r->idx, r->targets), whole.
static inline Batch run_batch(const Run *r) {
    int T = (int)r->o.block_size;
    return (Batch){.rows = (int)r->o.batch_size, .width = T, .target_width = T, .tokens = r->idx, .targets = r->targets};
}

// train_checkpoint.c
int checkpoint_write(const Run *r, const char *path, char *err, size_t errlen);
// Opens path and restores the options it records into r->o (command-line values win, shapes may
// not change). Leaves f open for checkpoint_restore.
int checkpoint_open(Run *r, const char *path, StFile *f, char *err, size_t errlen);
// Checks that f holds the parameters and both moments of the model cfg describes, with their
// shapes, before anything is allocated for it.
int checkpoint_check_model(const StFile *f, const GptConfig *cfg, OptimKind optim, char *err, size_t errlen);
// Restores parameters, optimizer moments, step, random streams and vocabulary.
int checkpoint_restore(Run *r, const StFile *f, char *err, size_t errlen);

// train_dump.c: one step, everything it touched written to path (see --dump-step).
int dump_step(Run *r, const char *path, char *err, size_t errlen);
