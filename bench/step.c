// bench_step: times training steps of the real GPT, or the ViT (forward, backward, clip, AdamW) after
// warm-up and says where the time goes.
//
// Prints ms/step, tokens/s, model FLOPs per step, achieved GFLOP/s, the sgemm rate on the step's own
// matmul shapes (measured here, same threads, each run as the step runs it: the limit a step can
// approach), the cores' FMA peak (the limit no gemm can pass) and the step's share of it
// (fma_fraction), peak resident memory, and a per-op breakdown of forward and
// backward that adds up to the step.
//
// FLOPs per step count the matmuls only (everything else is O(B T C) and negligible beside them):
//   forward multiply-adds = n_layer (12 B T C^2 + 2 B T^2 C) + B T C V
//   (c_attn 3C^2 + attn c_proj C^2 + mlp 8C^2 per token; q k^T and p v, T^2 hd per head each;
//   the tied lm_head C V), times 2 FLOPs, times 3 for forward + backward (two matmuls per matmul).
//
// Usage: bench_step [--model gpt|vit] [--norm ln] [--n-layer 4] [--n-head 4] [--n-embd 128] [--block-size 64]
//                   [--batch-size 12] [--vocab 65] [--steps 50] [--warmup-steps 5] [--threads N]
//                   [--bias]        (biases in the linear layers and norms, as the ViT has)
//                   [--recompute]   (one block's activations at a time)
//                   [--gemm-shapes] (each gemm shape's own rate, besides the sgemm limit)
// Batches are random tokens: the time of a step does not depend on the text.
// --model vit: the ViT at its defaults (biases, 28 x 28 images in 7 x 7 patches, 10 classes, batch
// 128 unless --batch-size; --block-size and --vocab do not apply), random pixels and labels; it
// prints the step's time, memory and breakdown (the sgemm limit and FLOP counts are the GPT's).
#include <math.h>
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "normlab/cpu.h"
#include "gemm_shapes.h"
#include "normlab/blas.h"
#include "normlab/model.h"
#include "normlab/optim.h"
#include "normlab/train.h"
#include "tensor/kernels.h"

typedef struct BenchConfig {
    ModelKind kind;
    ModelConfig gpt; // the model's config (the GPT's or the ViT's)
    int batch, steps, warmup, threads;
    bool recompute, gemm_shapes;
} BenchConfig;

static int parse(BenchConfig *c, int argc, char **argv) {
    static const struct option opts[] = {
        {"norm", 1, 0, 'n'},       {"n-layer", 1, 0, 'l'}, {"n-head", 1, 0, 'h'},
        {"n-embd", 1, 0, 'e'},     {"block-size", 1, 0, 't'}, {"batch-size", 1, 0, 'b'},
        {"vocab", 1, 0, 'v'},      {"steps", 1, 0, 's'},   {"warmup-steps", 1, 0, 'w'},
        {"threads", 1, 0, 'j'},    {"recompute", 0, 0, 'r'}, {"gemm-shapes", 0, 0, 'g'},
        {"bias", 0, 0, 'B'},       {"model", 1, 0, 'm'},     {"help", 0, 0, '?'},  {0, 0, 0, 0}};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *c = (BenchConfig){.gpt = {.vocab_size = 65, .block_size = 64, .n_layer = 4, .n_head = 4,
                               .n_embd = 128, .norm = NORM_LN},
                       .batch = 0, .steps = 50, .warmup = 5, .threads = cores > 0 ? (int)cores : 1};
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        int v = optarg ? atoi(optarg) : 0;
        switch (o) {
        case 'n':
            if ((v = norm_kind_parse(optarg)) < 0) return fprintf(stderr, "bench_step: unknown norm %s\n", optarg), 2;
            c->gpt.norm = v;
            break;
        case 'l': c->gpt.n_layer = v; break;
        case 'h': c->gpt.n_head = v; break;
        case 'e': c->gpt.n_embd = v; break;
        case 't': c->gpt.block_size = v; break;
        case 'b': c->batch = v; break;
        case 'v': c->gpt.vocab_size = v; break;
        case 's': c->steps = v; break;
        case 'w': c->warmup = v; break;
        case 'j': c->threads = v; break;
        case 'r': c->recompute = true; break;
        case 'g': c->gemm_shapes = true; break;
        case 'B': c->gpt.bias = true; break;
        case 'm':
            if ((v = model_kind_parse(optarg)) < 0) return fprintf(stderr, "bench_step: unknown model %s\n", optarg), 2;
            c->kind = v;
            break;
        default:
            fprintf(stderr, "usage: see the comment at the top of bench/step.c\n");
            return 2;
        }
    }
    bool alpha = NORM_TABLE[c->gpt.norm]->scalar == NORM_SCALAR_ALPHA;
    for (int p = 0; p < MODEL_NORM_POSITIONS; p++) c->gpt.scalar0[p] = alpha ? 0.5 : 4.0;
    if (c->kind == MODEL_VIT) // its defaults (src/models/vit.c); its recipe's alpha0 is 0.5 too
        c->gpt.bias = true, c->gpt.image_size = 28, c->gpt.patch_size = 7, c->gpt.n_classes = 10;
    if (!c->batch) c->batch = c->kind == MODEL_VIT ? 128 : 12;
    char err[128] = "batch, steps, threads must be >= 1";
    if (MODEL_TABLE[c->kind]->check(&c->gpt, err, sizeof err) || c->batch < 1 || c->steps < 1 || c->warmup < 0 ||
        c->threads < 1)
        return fprintf(stderr, "bench_step: %s\n", err), 2;
    return 0;
}

// ---- the sgemm limit: the step's matmuls alone, as the model issues them (gemm_shapes.h) --------
static int step_gemms(const BenchConfig *c, GemmShape *s) {
    return gemm_shapes_step(s, c->gpt.n_layer, c->gpt.n_head, c->gpt.n_embd, c->gpt.block_size, c->batch,
                            c->gpt.vocab_size);
}

static double flops_per_step(const BenchConfig *c) {
    return gemm_shapes_flops(c->gpt.n_layer, c->gpt.n_embd, c->gpt.block_size, c->batch, c->gpt.vocab_size);
}

// Seconds the step's gemms take by themselves, each run as the step runs it: a linear layer's forward
// through gemm_linear (one BLAS call with the team inside it, or the build's own tiles), its backward
// pair through gemm_pair (each pair's time is split evenly between its two shapes, which have the
// same FLOPs), attention's per-head products (the shapes with a triangle) as gemm_small calls spread
// over the team, one thread each. Each shape timed in a loop of its own count, the fastest of 3
// passes (the limit, not the average), into each[] (GEMM_SHAPES_MAX); returns the sum.
static double sgemm_only_seconds(const BenchConfig *c, double *each) {
    GemmShape s[GEMM_SHAPES_MAX];
    int n = step_gemms(c, s), team = omp_get_max_threads();
    size_t biggest = (size_t)gemm_shapes_biggest(s, n);
    nl_real *A = calloc(biggest, sizeof(nl_real)), *Bm = calloc(biggest, sizeof(nl_real));
    nl_real *Cm = calloc(biggest * (team > 2 ? team : 2), sizeof(nl_real)); // a C per thread, and a pair's two
    // A and B written, not left as calloc's zeros: untouched pages all map the one zero page, which the
    // caches hold, and the products would read nothing from memory
    for (size_t i = 0; A && Bm && i < biggest; i++) A[i] = Bm[i] = (nl_real)(i % 7) * (nl_real)0.25;
    double total = 0;
    for (int i = 0; i < n; i++) {
        const GemmShape *g = &s[i];
        each[i] = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = tape_clock();
            if (g->tri) {
#pragma omp parallel for schedule(static)
                for (long j = 0; j < g->count; j++)
                    gemm_small(g->ta, g->tb, g->M, g->N, g->K, 1, A, g->lda, Bm, g->ldb, 0,
                               Cm + biggest * omp_get_thread_num(), g->ldc, (GemmTri)g->tri);
            } else if (g->pair) { // packed, as a linear's grads are
                const GemmShape *h = g + 1;
                GemmCall x = {g->ta, g->tb, g->M, g->N, g->K, A, Bm, 0, Cm};
                GemmCall y = {h->ta, h->tb, h->M, h->N, h->K, A, Bm, 0, Cm + biggest};
                for (long j = 0; j < g->count; j++) gemm_pair(&x, &y);
            } else { // a linear's forward, packed
                for (long j = 0; j < g->count; j++) gemm_linear(g->ta, g->tb, g->M, g->N, g->K, A, Bm, NULL, Cm);
            }
            double dt = tape_clock() - t0;
            each[i] = dt < each[i] ? dt : each[i];
        }
        total += each[i];
        if (g->pair) each[i] /= 2, each[i + 1] = each[i], i++;
    }
    free(A), free(Bm), free(Cm);
    return total;
}

// --gemm-shapes: each shape's rate, from sgemm_only_seconds' times.
static void print_gemm_shapes(const BenchConfig *c, const double *each) {
    GemmShape s[GEMM_SHAPES_MAX];
    int n = step_gemms(c, s);
    printf("\n%-22s %11s %9s %9s\n", "the step's gemms", "calls/step", "ms/step", "GFLOP/s");
    for (int i = 0; i < n; i++)
        printf("  %c%c M %4d N %4d K %4d %11ld %9.3f %9.1f%s\n", s[i].ta ? 'T' : 'N', s[i].tb ? 'T' : 'N', s[i].M,
               s[i].N, s[i].K, s[i].count, 1e3 * each[i], 2.0 * s[i].M * s[i].N * s[i].K * s[i].count / each[i] / 1e9,
               s[i].pair || (i > 0 && s[i - 1].pair) ? "  pair" : "");
    printf("(pair: a linear's two backward gemms, timed together through gemm_pair, half the time each)\n");
}

// ---- the FMA peak: what no gemm on these cores can pass ----------------------------------------
// Each thread of the team runs independent chains of fused multiply-adds on the widest vectors the
// CPU has (a BLAS picks its kernels at run time, whatever this build targets); 10 chains cover the
// FMA's latency on two ports. The fastest of 5 passes; 0 on a CPU without FMA.
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
enum { PEAK_CHAINS = 10, PEAK_ITERS = 2000000 };
// One thread's chains, compiled for the ISA named (the rest of the program need not target it);
// returns a sum of their ends so that they are not optimised away.
#define PEAK_CHAINS_FN(name, isa, Vec, lanes, set1, fma, store)                                        \
    __attribute__((target(isa))) static float name(void) {                                            \
        Vec a[PEAK_CHAINS], m = set1(0.999999f), c = set1(1e-7f);                                       \
        float out[lanes], sum = 0;                                                                      \
        for (int i = 0; i < PEAK_CHAINS; i++) a[i] = set1((float)i);                                    \
        for (long it = 0; it < PEAK_ITERS; it++)                                                        \
            for (int i = 0; i < PEAK_CHAINS; i++) a[i] = fma(a[i], m, c);                               \
        for (int i = 0; i < PEAK_CHAINS; i++) store(out, a[i]), sum += out[0];                          \
        return sum;                                                                                     \
    }
PEAK_CHAINS_FN(peak_chains_avx512, "avx512f", __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps)
PEAK_CHAINS_FN(peak_chains_avx2, "avx2,fma", __m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps)

static double fma_peak_gflops(void) {
    bool avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = tape_clock(), sink = 0;
        int team = 1;
#pragma omp parallel reduction(+ : sink)
        {
            sink += avx512 ? peak_chains_avx512() : peak_chains_avx2();
#pragma omp master
            team = omp_get_num_threads();
        }
        double dt = tape_clock() - t0, flops = team * 2.0 * (avx512 ? 16 : 8) * PEAK_CHAINS * PEAK_ITERS;
        best = sink == sink && flops / dt / 1e9 > best ? flops / dt / 1e9 : best;
    }
    return best;
}
#else
static double fma_peak_gflops(void) { return 0; }
#endif

// ---- one training step (normlab/train.h's, the train program's own), timed in parts ------------
static void bench_train_step(TrainStep *st, const Batch *b) {
    double gnorm;
    char err[256];
    double loss;
    NL_CHECK(train_forward_backward(st, b, 0, &loss, &gnorm, err, sizeof err) == 0, "%s", err);
    train_update(st, gnorm, 1e-3);
}

// The GPT's step against its limits: FLOPs, the sgemm rate on its gemms' shapes, the FMA peak (the
// line bench/compare.py reads); ms: the step's.
static void print_gpt_limits(const BenchConfig *c, double ms, double peak_rss_mb) {
    double each[GEMM_SHAPES_MAX], gemm_s = sgemm_only_seconds(c, each), peak = fma_peak_gflops();
    double flops = flops_per_step(c);
    printf("ours ms_per_step %.3f tokens_per_s %.0f gflop_per_step %.3f gflops %.1f sgemm_gflops %.1f "
           "peak_fraction %.3f peak_rss_mb %.0f fma_peak_gflops %.1f fma_fraction %.3f\n",
           ms, c->batch * c->gpt.block_size / ms * 1e3, flops * 1e-9, flops / (ms * 1e6), flops / (gemm_s * 1e9),
           1e3 * gemm_s / ms, peak_rss_mb, peak, peak > 0 ? flops / (ms * 1e6) / peak : 0);
    if (peak > 0)
        printf("the step's gemms: %.2f ms at the sgemm rate on their shapes (%.0f%% of the FMA peak), %.2f ms "
               "at the FMA peak; the rest of the step: %.2f ms\n", 1e3 * gemm_s,
               100 * flops / (gemm_s * 1e9) / peak, flops / (peak * 1e6), ms - 1e3 * gemm_s);
    if (c->gemm_shapes) print_gemm_shapes(c, each);
}

static void print_row(const char *name, double fwd, double bwd, double total, int steps) {
    printf("  %-24s %9.3f %9.3f %9.3f %6.1f%%\n", name, 1e3 * fwd / steps, 1e3 * bwd / steps,
           1e3 * (fwd + bwd) / steps, 100 * (fwd + bwd) / total);
}

int main(int argc, char **argv) {
    cpu_env_reexec(argv);
    BenchConfig c;
    int rc = parse(&c, argc, argv);
    if (rc) return rc;
    blas_threads_set(c.threads);
    cpu_flush_subnormals();
    bool vit = c.kind == MODEL_VIT;
    int B = c.batch, width = vit ? c.gpt.image_size * c.gpt.image_size : c.gpt.block_size, target_width = vit ? 1 : width;
    int values = vit ? 256 : c.gpt.vocab_size, labels = vit ? c.gpt.n_classes : c.gpt.vocab_size; // pixels, classes
    Rng rng;
    rng_seed(&rng, 1337);
    Optimizer opt;
    Arena arena;
    Tape tape;
    OptimConfig oc = {.kind = OPTIM_ADAMW, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.1};
    int32_t *idx = malloc((size_t)B * width * sizeof(int32_t)), *targets = malloc((size_t)B * target_width * sizeof(int32_t));
    Model *m = MODEL_TABLE[c.kind]->create(&c.gpt, &rng);
    if (!m || optim_init(&opt, &oc, m->params->numel) || !idx || !targets || arena_init(&arena, "bench step", 0) ||
        tape_init(&tape, &arena, m->tape_nodes) || (c.recompute && model_recompute(m, true)))
        return fprintf(stderr, "bench_step: out of memory\n"), 1;
    for (int i = 0; i < B * width; i++) idx[i] = (int32_t)rng_below(&rng, values);
    for (int i = 0; i < B * target_width; i++) targets[i] = (int32_t)rng_below(&rng, labels);

    TrainTimes warm = {0}, p = {0};
    Batch batch = {.rows = B, .width = width, .target_width = target_width, .tokens = idx, .targets = targets};
    TrainStep st = {.model = m, .opt = &opt, .tape = &tape, .grad_clip = 1.0, .times = &warm};
    for (int s = 0; s < c.warmup; s++) bench_train_step(&st, &batch);
    TapeProfile prof = {0};
    tape.profile = &prof;
    st.times = &p;
    for (int s = 0; s < c.steps; s++) bench_train_step(&st, &batch);
    tape.profile = NULL;
    double total = p.zero_grad + p.forward_backward + p.update + p.reset, ms = 1e3 * total / c.steps;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench_step: %s, %s, %d layers, %d heads, %d wide, ", m->ops->name, NORM_TABLE[c.gpt.norm]->name,
           c.gpt.n_layer, c.gpt.n_head, c.gpt.n_embd);
    if (vit)
        printf("%d x %d patches of %d x %d images, batch %d, ", c.gpt.patch_size, c.gpt.patch_size, c.gpt.image_size,
               c.gpt.image_size, B);
    else
        printf("context %d, batch %d, vocab %d, ", c.gpt.block_size, B, c.gpt.vocab_size);
    printf("%d threads, %d steps%s, BLAS %s, x W^T by %s\n", c.threads, c.steps, c.recompute ? ", recompute" : "",
           blas_name(), linear_gemm_name());
    if (vit)
        printf("ours ms_per_step %.3f images_per_s %.0f peak_rss_mb %.0f\n", ms, B / ms * 1e3, ru.ru_maxrss / 1024.0);
    else
        print_gpt_limits(&c, ms, ru.ru_maxrss / 1024.0);
    printf("\nper step (ms)              forward  backward     total   share\n");
    double fwd = 0, bwd = 0;
    for (int i = 0; i < prof.n; i++) {
        print_row(prof.op[i].def->name, prof.op[i].fwd, prof.op[i].bwd, total, c.steps);
        fwd += prof.op[i].fwd, bwd += prof.op[i].bwd;
    }
    print_row("(between ops)", p.forward_backward - fwd - bwd, 0, total, c.steps);
    print_row("zero grads", p.zero_grad, 0, total, c.steps);
    print_row("AdamW (and the clip)", p.update, 0, total, c.steps);
    print_row("tape reset", p.reset, 0, total, c.steps);
    print_row("step", total, 0, total, c.steps);
    tape_free(&tape), arena_free(&arena), optim_free(&opt), model_destroy(m);
    free(idx), free(targets);
    return 0;
}
