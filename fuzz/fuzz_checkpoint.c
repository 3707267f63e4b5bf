// Fuzz target: the checkpoint reader, as `./train --steps 0 --resume FILE --sample 1` runs it: the
// safetensors header and metadata, the options restored from it, the model it describes checked
// against its tensors, parameters, optimizer moments, step, random streams and vocabulary, then one
// sampled character from whatever weights were read. The train program itself is compiled in (its
// main renamed) so the path fuzzed is the one users run.
#include <stdint.h>
#include <stdlib.h>

#define main train_main
#include "train.c"
#undef main

#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    setenv("NORMLAB_NO_REEXEC", "1", 1); // train_main must not exec itself
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *path = (char *)fuzz_write_temp(data, size, ".safetensors");
    if (!path) return 0;
    char *argv[] = {"train", "--steps", "0", "--resume", path, "--sample", "1", "--threads", "1", "--quiet", NULL};
    train_main(10, argv);
    unlink(path);
    return 0;
}
