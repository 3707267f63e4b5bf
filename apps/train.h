// The train program's state, shared by its files: train.c (setup, the loop, printing, signals),
// train_checkpoint.c (the options in a checkpoint, --dump-step), train_sample.c (./train sample) and
// train_options.c. The training itself is the library's session (normlab/session.h); this is what
// the program adds around it.
#pragma once
#include <stdio.h>

#include "normlab/dataset.h"
#include "normlab/idx.h"
#include "normlab/model.h"
#include "normlab/outfile.h"
#include "normlab/safetensors.h"
#include "normlab/session.h"
#include "train_options.h"

// The data: a text (only its vocabulary when sampling a checkpoint without one) or an image set.
typedef struct TrainData {
    Dataset text;
    ImageSet images;
    bool have;      // loaded
    bool is_images; // the dataset named an image set (the model defaults to the ViT)
    bool binary;    // the text looked binary (setup warns; samples escape its high bytes on a terminal)
    char path[4096];
} TrainData;

// What the run writes besides stdout.
typedef struct TrainOutputs {
    FILE *log;
    char config_path[4200]; // the run's options, written beside --log
    OutLock locks[3];       // --save, --log and --save-best, held while the run lives (no second run writes them)
    long saved_step;        // the step of this run's last --save checkpoint, or -1 (none written yet)
    double best;            // the lowest val loss evaluated so far (a checkpoint keeps it), or inf
    long best_step;         // its step, or -1
} TrainOutputs;

typedef struct TrainApp {
    TrainOptions o;
    TrainData data;
    Model *model;       // built from its row of the model table (--model)
    Session s;
    Dist dist;          // under mpirun: this process among the others (normlab/dist.h)
    TrainOutputs out;
    int argc;           // the command line, for the resume command printed on an interrupt
    char **argv;
} TrainApp;

// train_sample.c
// ./train sample CHECKPOINT ...: the train program's arguments that draw the sample (out, at most max,
// NULL-terminated; buf holds the rewritten options). Their count, -1 after --help, or -2 after an error.
int sample_args(int argc, char **argv, char **out, int max, char *buf, size_t len);

// train_checkpoint.c
// Writes the session with the options and the text's path in its metadata.
int checkpoint_write(const TrainApp *a, const char *path, char *err, size_t errlen);
// The lowest val loss the checkpoint's run had evaluated, and its step (inf and -1 when not recorded).
void checkpoint_best(const StFile *f, double *best, long *step);
// Opens path and restores the options it records into o (command-line values win, shapes may not
// change). Leaves f open for checkpoint_check_model and session_restore.
int checkpoint_open(TrainOptions *o, const char *path, StFile *f, char *err, size_t errlen);
// Checks that f holds the parameters and the optimizer state of the model cfg describes (its row's
// table), with their shapes, before anything is allocated for it.
int checkpoint_check_model(const StFile *f, const ModelInfo *mi, const ModelConfig *cfg, OptimKind optim, char *err,
                           size_t errlen);
// --dump-step: one step, everything it touched written to path, with the model's shape.
int dump_step(TrainApp *a, const char *path, char *err, size_t errlen);
