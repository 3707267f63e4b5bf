// ./train sample CHECKPOINT [options] [DATASET]: a sample from a saved model and nothing else (no
// header, no training, no evaluation): the text after the prompt, or, for the ViT, the first test
// images' predicted labels. It is the train program run with --resume CHECKPOINT --steps 0 and the
// sampling options; this file turns the subcommand's arguments into those.
#include <stdio.h>
#include <string.h>

#include "train.h"

// The options the subcommand takes, and the train option each becomes.
static const struct { const char *name, *as; } SAMPLE_OPTIONS[] = {
    {"tokens", "sample"}, {"images", "sample"}, {"prompt", "prompt"}, {"temperature", "temperature"},
    {"top-k", "top-k"},   {"seed", "seed"},     {"threads", "threads"},
};
#define N_SAMPLE_OPTIONS (int)(sizeof SAMPLE_OPTIONS / sizeof SAMPLE_OPTIONS[0])

static void sample_usage(void) {
    printf("usage: ./train sample CHECKPOINT [options] [DATASET]\n\n"
           "Prints a sample of the model a --save (or --save-best) file holds: the prompt and the text\n"
           "that follows it, quietly (no header, no training). For the ViT: the first test images of\n"
           "DATASET (default: the checkpoint's) with their predicted and true labels.\n\n"
           "  --tokens=N         characters to generate [300]\n"
           "  --prompt=S         text the sample starts from (its bytes must be in the model's vocabulary) [\\n]\n"
           "  --temperature=N    divide the logits by this before the softmax [0.8]\n"
           "  --top-k=N          draw from the N likeliest symbols only (0: all) [0]\n"
           "  --seed=N           the sample's random stream [the training run's seed]\n"
           "  --images=N         the ViT: test images to classify [300]\n"
           "  --threads=N        threads [auto]\n\n"
           "Examples:\n"
           "  ./train sample runs/dyt.safetensors --prompt \"ROMEO:\" --tokens 500\n"
           "  ./train sample runs/dyt.safetensors --temperature 0.5 --top-k 10 --seed 7\n");
}

int sample_args(int argc, char **argv, char **out, int max, char *buf, size_t len) {
    if (argc < 3 || !strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")) {
        sample_usage();
        return argc < 3 ? -2 : -1;
    }
    if (argv[2][0] == '-') {
        fprintf(stderr, "train: error: ./train sample CHECKPOINT [options]: the checkpoint comes first, not %s\n", argv[2]);
        return -2;
    }
    if (argc + 8 > max) return fprintf(stderr, "train: error: ./train sample: too many arguments\n"), -2;
    int n = 0;
    size_t used = 0;
    out[n++] = argv[0];
    out[n++] = "--resume", out[n++] = argv[2], out[n++] = "--steps", out[n++] = "0", out[n++] = "--quiet";
    for (int i = 3; i < argc; i++) { // at most one argument out for each in, after six of our own
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) { // the dataset (the ViT's images)
            out[n++] = argv[i];
            continue;
        }
        size_t name_len = strcspn(a + 2, "=");
        int k = 0;
        while (k < N_SAMPLE_OPTIONS && (strlen(SAMPLE_OPTIONS[k].name) != name_len ||
                                        strncmp(SAMPLE_OPTIONS[k].name, a + 2, name_len)))
            k++;
        if (k == N_SAMPLE_OPTIONS) {
            fprintf(stderr, "train: error: ./train sample takes --tokens, --prompt, --temperature, --top-k, --seed, "
                            "--images and --threads, not %.*s (a training option: ./train --help)\n",
                    (int)name_len + 2, a);
            return -2;
        }
        const char *value = a[2 + name_len] == '=' ? a + 3 + name_len : i + 1 < argc ? argv[++i] : "";
        int w = snprintf(buf + used, len - used, "--%s=%s", SAMPLE_OPTIONS[k].as, value); // one word: a value may start with -
        if (w < 0 || (size_t)w >= len - used)
            return fprintf(stderr, "train: error: ./train sample: the arguments are too long\n"), -2;
        out[n++] = buf + used, used += (size_t)w + 1;
    }
    out[n] = NULL;
    return n;
}
