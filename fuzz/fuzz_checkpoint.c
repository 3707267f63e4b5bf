// Fuzz target: the checkpoint reader, as `./train --steps 0 --resume FILE --sample 1` runs it: the
// safetensors header and metadata, the options restored from it (train_options.c), the model it
// describes checked against its tensors, then the session restored from it (parameters, optimizer
// state, step, random streams, vocabulary: normlab/session.h) and one character sampled from
// whatever weights were read.
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

// What ./train does with the file before its first step; any error ends it, as it ends the program.
static void read_checkpoint(const char *path) {
    static TrainOptions o;
    StFile f = {0};
    Dataset vocab = {0};
    Model *model = NULL;
    Session s = {0};
    char err[1024];
    options_defaults(&o);
    if (checkpoint_open(&o, path, &f, err, sizeof err)) return options_free(&o);
    options_derive(&o);
    const char *v = st_meta(&f, "vocab");
    const ModelInfo *mi = MODEL_TABLE[o.model.kind];
    ModelConfig cfg = options_model_config(&o, v ? (int)strlen(v) / 2 : 0);
    Rng init;
    session_seed(&init, o.run.seed, SESSION_STREAM_INIT);
    SessionConfig sc = {.optim = {.kind = o.optim.kind, .lr = o.optim.lr}, .batch_size = (int)o.run.batch_size,
                        .block_size = (int)o.model.block_size, .seed = o.run.seed};
    if (!mi->check(&cfg, err, sizeof err) && mi->memory_estimate(&cfg, sc.batch_size, sc.block_size) < 1e9 &&
        !checkpoint_check_model(&f, mi, &cfg, o.optim.kind, err, sizeof err) && (model = mi->create(&cfg, &init)) &&
        !session_init(&s, &sc, model, &vocab, NULL, err, sizeof err) &&
        !session_restore(&s, &f, err, sizeof err))
        session_sample(&s, NULL, 0, 1, 1.0, drop, NULL);
    session_free(&s), model_destroy(model), dataset_free(&vocab), st_close(&f), options_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_temp(data, size, ".safetensors");
    if (!path) return 0;
    read_checkpoint(path);
    unlink(path);
    return 0;
}
