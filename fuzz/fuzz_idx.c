// Fuzz target: the IDX reader on an images file and a labels file cut from one input (its first
// byte says where), then the set as data: draws from its splits and every val and test row, in range;
// and the same two parts as files through idx_load (plain or gzip), which reads each header first and
// its body no further than the header allows.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "normlab/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t cut = 1 + (size - 1) * data[0] / 255; // the images' bytes: [1, cut), the labels': [cut, size)
    ImageSet s = {.classes = 10, .labels = IDX_FASHION_LABELS};
    char err[1024];
    if (idx_parse(&s.train, data + 1, cut - 1, data + cut, size - cut, 10, "images", "labels", err, sizeof err) == 0) {
        s.val = s.test = s.train; // one split serves as all three
        DataSource d = idx_source(&s);
        int32_t *px = malloc(2 * (size_t)d.width * sizeof(int32_t)), y[2];
        Rng rng;
        rng_seed(&rng, 1);
        if (px) {
            data_draw(&d, false, 2, &rng, px, y);
            data_draw(&d, true, 2, &rng, px, y);
            for (size_t r = 0; r < d.eval_rows; r++) data_rows(&d, r, 1, px, y);
            for (size_t r = 0; r < d.test->eval_rows; r++) data_rows(d.test, r, 1, px, y);
            for (int i = 0; i < d.width; i++)
                if (px[i] < 0 || px[i] > 255 || y[0] < 0 || y[0] > 9) abort();
        }
        free(px);
        idx_free(&s.train);
    }
    char images[512];
    const char *path = fuzz_write_temp(data + 1, cut - 1, ".images");
    if (!path) return 0;
    snprintf(images, sizeof images, "%s", path); // the next call reuses fuzz_write_temp's buffer
    if ((path = fuzz_write_temp(data + cut, size - cut, ".labels"))) {
        IdxImages im;
        if (idx_load(&im, images, path, 10, err, sizeof err) == 0) idx_free(&im);
        unlink(path);
    }
    unlink(images);
    return 0;
}
