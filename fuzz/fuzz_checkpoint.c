// Fuzz target: the checkpoint readers. The library's (normlab/session.h): the safetensors header
// and metadata, the model's and the session's config recorded there, the model it describes checked
// against its tensors, the session restored (parameters, optimizer state, step, random streams,
// vocabulary) and one character sampled from whatever weights were read. And the train program's
// reader of the options it records (train_options.c, what --resume restores).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "normlab/session.h"
#include "train.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return 0;
}

static void drop(void *ctx, int id) { (void)ctx, (void)id; }

// The library's reader: the model's and the session's config from the metadata, the model built
// from its row and checked against the tensors, the session restored, one character sampled.
static void read_with_library(const char *path) {
    StFile f = {0};
    Dataset vocab = {0};
    Model *model = NULL;
    Session s = {0};
    SessionConfig sc;
    ModelConfig cfg;
    int kind;
    char err[1024];
    if (session_checkpoint_open(&f, path, err, sizeof err)) return;
    if (!session_checkpoint_config(&f, &kind, &cfg, &sc, err, sizeof err) &&
        !MODEL_TABLE[kind]->check(&cfg, err, sizeof err) &&
        MODEL_TABLE[kind]->memory_estimate(&cfg, sc.batch_size, sc.block_size) < 1e9 && sc.batch_size > 0 &&
        sc.block_size > 0 && sc.block_size <= cfg.block_size &&
        !session_checkpoint_check(&f, MODEL_TABLE[kind], &cfg, sc.optim.kind, err, sizeof err)) {
        Rng init;
        session_seed(&init, sc.seed, SESSION_STREAM_INIT);
        DataSource src = dataset_source(&vocab, sc.block_size);
        if ((model = MODEL_TABLE[kind]->create(&cfg, &init)) && !session_init(&s, &sc, model, &src, NULL, err, sizeof err) &&
            !session_restore(&s, &f, err, sizeof err))
            session_sample(&s, NULL, 0, &(SessionSampling){.n = 1, .temperature = 1.0, .seed = sc.seed}, drop, NULL);
    }
    session_free(&s), model_destroy(model), dataset_free(&vocab), st_close(&f);
}

// The train program's reader of the options a checkpoint records (what --resume restores).
static void read_options(const char *path) {
    static TrainOptions o;
    StFile f = {0};
    char err[1024];
    options_defaults(&o);
    if (!checkpoint_open(&o, path, &f, err, sizeof err)) options_derive(&o), st_close(&f);
    options_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_temp(data, size, ".safetensors");
    if (!path) return 0;
    read_with_library(path);
    read_options(path);
    unlink(path);
    return 0;
}
