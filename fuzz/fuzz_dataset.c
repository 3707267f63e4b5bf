// Fuzz target: the dataset loader (plain or gzip text through zlib), then the calls the train
// program makes on what it loaded: the context check, batches from both splits, encoding a prompt.
#include <stdint.h>
#include <string.h>

#include "normlab/dataset.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_temp(data, size, ".txt.gz");
    if (!path) return 0;
    Dataset d = {0};
    char err[1024];
    if (dataset_load(&d, path, err, sizeof err) == 0) {
        enum { B = 2, T = 8 };
        int32_t idx[B * T], targets[B * T];
        Rng rng;
        rng_seed(&rng, 1);
        if (dataset_check_context(&d, T, err, sizeof err) == 0) {
            dataset_batch(&d, false, B, T, &rng, idx, targets);
            dataset_batch(&d, true, B, T, &rng, idx, targets);
            for (int i = 0; i < B * T; i++)
                if (idx[i] < 0 || idx[i] >= d.vocab_size || targets[i] < 0 || targets[i] >= d.vocab_size) abort();
        }
        char prompt[64];
        size_t n = size < sizeof prompt - 1 ? size : sizeof prompt - 1;
        memcpy(prompt, data, n);
        prompt[n] = 0;
        int32_t ids[64];
        int bad;
        dataset_encode(&d, prompt, ids, 64, &bad);
    }
    dataset_free(&d);
    unlink(path);
    return 0;
}
