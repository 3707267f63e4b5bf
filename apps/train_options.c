// The option table and everything it drives.
#include "train_options.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "normlab/config.h"
#include "normlab/idx.h"
#include "normlab/norm.h"
#include "normlab/outfile.h"
#include "normlab/optim.h"
#include "normlab/session.h"

typedef enum { T_LONG, T_DOUBLE, T_BOOL, T_STR, T_NORM, T_CHOICE, T_EMB_SCALE } OptType;

struct OptRow {
    const char *name; // --name
    OptType type;
    size_t field;     // offsetof(TrainOptions, ...)
    const char *def;  // default, as it would be typed ("" for none)
    double min, max;  // inclusive range of numbers (max < min: no upper bound)
    int flags;
    const char *help;
};

const char *const NONFINITE_NAMES[NONFINITE_COUNT] = {"stop", "skip"};
#define MODEL_NAME_(ID, name) #name,
static const char *const MODEL_NAMES[MODEL_COUNT] = {MODEL_KINDS(MODEL_NAME_)}; // as --model takes them
// --qk-norm's and --final-norm's choices: the norms after a first that means "none" or "the blocks'"
#define NORM_NAME_(E, name) #name,
static const char *const QK_NORM_NAMES[NORM_COUNT + 1] = {"none", NORM_KINDS(NORM_NAME_)};
static const char *const FINAL_NORM_NAMES[NORM_COUNT + 1] = {"same", NORM_KINDS(NORM_NAME_)};

// --preset: where the defaults of lr, the embedding scale, alpha0 and the scalars' lr come from.
// best: each norm's own recipe (its registry row); nanogpt: one setting for every norm, nanoGPT's
// CPU configuration with the surrogates dropped in as the literature first did.
static const NormRecipe NANOGPT_RECIPE = {0, {0.5, 0.5, 0.5}, 1e-3, 1, {0, 0}}; // no range measured
static const struct {
    const char *name;
    const NormRecipe *recipe; // NULL: the norm's own
} PRESETS[PRESET_COUNT] = {{"best", NULL}, {"nanogpt", &NANOGPT_RECIPE}};

#define F(x) offsetof(TrainOptions, x)
#define NOMAX 0, -1
static const OptRow ROWS[] = {
    // model
    {"model", T_CHOICE, F(model.kind), "the dataset's", NOMAX, OPT_ARCH | OPT_SAVED,
     "gpt|vit: nanoGPT's GPT (a text's default) or timm's ViT (an image set's: fashion-mnist)"},
    {"norm", T_NORM, F(model.norm), "ln", NOMAX, OPT_ARCH | OPT_SAVED, "the layer at ln_1, ln_2, ln_f"},
    {"n-layer", T_LONG, F(model.n_layer), "4", 1, 1024, OPT_ARCH | OPT_SAVED, "transformer blocks"},
    {"n-head", T_LONG, F(model.n_head), "4", 1, 4096, OPT_ARCH | OPT_SAVED, "attention heads (must divide n-embd)"},
    {"n-embd", T_LONG, F(model.n_embd), "128", 1, 65536, OPT_ARCH | OPT_SAVED, "width of the residual stream"},
    {"block-size", T_LONG, F(model.block_size), "64", 1, 65536, OPT_ARCH | OPT_SAVED, "context length in characters"},
    {"patch-size", T_LONG, F(model.patch_size), "7", 1, 4096, OPT_ARCH | OPT_SAVED,
     "the ViT's patches: P x P pixels (P divides the image side)"},
    {"bias", T_BOOL, F(model.bias), "false", NOMAX, OPT_ARCH | OPT_SAVED, "biases in linear layers and norms"},
    {"dropout", T_DOUBLE, F(model.dropout), "0", 0, 0.999, OPT_SAVED, "dropout probability"},
    {"composite", T_BOOL, F(model.composite), "false", NOMAX, 0, "the norms' composite forms (slower; for checking)"},
    {"emb-scale", T_EMB_SCALE, F(init.emb_scale_mode), "auto", 1e-6, 1e6, OPT_SAVED,
     "auto|off|N: a learnable scalar times wte[idx] + wpe, starting at N; auto: the norm's recipe (below)"},
    {"alpha0", T_DOUBLE, F(init.alpha0), "the norm's recipe", -1e6, 1e6, OPT_SAVED, "initial alpha of dyt/dytsp/derf at every position (effective value)"},
    {"beta0", T_DOUBLE, F(init.beta0), "1/alpha0^2", -1e12, 1e12, OPT_SAVED, "initial beta of dyisru/dyisrusp (effective value)"},
    {"shift0", T_DOUBLE, F(init.shift0), "0", -1e6, 1e6, OPT_SAVED, "initial shift of derf"},
    {"alpha0-ln1", T_DOUBLE, F(init.alpha0_pos[0]), "alpha0", -1e6, 1e6, OPT_SAVED, "alpha0 for every ln_1 (pre-attention)"},
    {"alpha0-ln2", T_DOUBLE, F(init.alpha0_pos[1]), "alpha0", -1e6, 1e6, OPT_SAVED, "alpha0 for every ln_2 (pre-MLP)"},
    {"alpha0-lnf", T_DOUBLE, F(init.alpha0_pos[2]), "alpha0", -1e6, 1e6, OPT_SAVED, "alpha0 for ln_f"},
    {"beta0-ln1", T_DOUBLE, F(init.beta0_pos[0]), "beta0", -1e12, 1e12, OPT_SAVED, "beta0 for every ln_1"},
    {"beta0-ln2", T_DOUBLE, F(init.beta0_pos[1]), "beta0", -1e12, 1e12, OPT_SAVED, "beta0 for every ln_2"},
    {"beta0-lnf", T_DOUBLE, F(init.beta0_pos[2]), "beta0", -1e12, 1e12, OPT_SAVED, "beta0 for ln_f"},
    // the stability interventions (docs/stability.md)
    {"qk-norm", T_CHOICE, F(stability.qk_norm), "none", NOMAX, OPT_ARCH | OPT_SAVED,
     "none|NORM: a norm of this kind on each head's q and k (weights of head_dim; a surrogate's scalar "
     "starts at ln_1's alpha0/beta0)"},
    {"final-norm", T_CHOICE, F(stability.final_norm), "same", NOMAX, OPT_ARCH | OPT_SAVED,
     "same|NORM: ln_f (the ViT's norm) of this kind instead of --norm's"},
    {"z-loss", T_DOUBLE, F(stability.z_loss), "0", 0, 1e3, OPT_SAVED,
     "add this x mean (log Z)^2 of the output logits to the training loss (PaLM's: 1e-4)"},
    {"attn-softcap", T_DOUBLE, F(stability.attn_softcap), "0", 0, 1e6, OPT_SAVED,
     "cap the attention scores at cap tanh(s / cap) (Gemma 2's: 50; 0: off)"},
    {"logit-softcap", T_DOUBLE, F(stability.logit_softcap), "0", 0, 1e6, OPT_SAVED,
     "cap the output logits the same way (Gemma 2's: 30; 0: off)"},
    // training
    {"batch-size", T_LONG, F(run.batch_size), "12", 1, 1 << 20, OPT_SAVED, "sequences per step"},
    {"steps", T_LONG, F(run.steps), "2000", 0, 1e9, 0, "train until this step (with --resume: in all)"},
    {"lr", T_DOUBLE, F(optim.lr), "the norm's recipe", 1e-12, 100, OPT_SAVED, "peak learning rate"},
    {"scalar-lr-mult", T_DOUBLE, F(init.scalar_lr_mult), "the norm's recipe", 1e-6, 1e6, OPT_SAVED,
     "the norms' scalars (alpha, beta, shift) and the embedding scale learn at lr x this"},
    {"min-lr", T_DOUBLE, F(optim.min_lr), "lr/10", 0, 100, OPT_SAVED, "learning rate at the end of the cosine decay"},
    {"warmup", T_LONG, F(optim.warmup), "100", 0, 1e9, OPT_SAVED, "linear warmup steps"},
    {"lr-decay-steps", T_LONG, F(optim.lr_decay_steps), "steps", 0, 1e9, OPT_SAVED, "step where the cosine decay reaches min-lr"},
    {"weight-decay", T_DOUBLE, F(optim.weight_decay), "0.1", 0, 100, OPT_SAVED, "decoupled weight decay on 2-D weights"},
    {"beta1", T_DOUBLE, F(optim.beta1), "0.9", 0, 0.999999, OPT_SAVED, "AdamW beta1 (SGD: momentum)"},
    {"beta2", T_DOUBLE, F(optim.beta2), "0.99", 0, 0.999999, OPT_SAVED, "AdamW beta2"},
    {"grad-clip", T_DOUBLE, F(optim.grad_clip), "1.0", 0, 1e12, OPT_SAVED, "clip the global grad norm to this (0: off)"},
    {"optim", T_CHOICE, F(optim.kind), "adamw", NOMAX, OPT_SAVED,
     "adamw|sgd|muon: muon orthogonalizes the blocks' weight matrices' momentum (at --muon-lr); AdamW the rest"},
    {"muon-lr", T_DOUBLE, F(stability.muon_lr), "0.02", 1e-12, 100, OPT_SAVED,
     "--optim=muon: the blocks' weight matrices' peak lr (the rest: --lr), on --lr's schedule"},
    {"preset", T_CHOICE, F(optim.preset), "best", NOMAX, 0,
     "best|nanogpt: the defaults of --lr, --emb-scale, --alpha0 and --scalar-lr-mult: each norm's recipe at its "
     "best lr (below), or nanoGPT's lr 1e-3 with the surrogates dropped in plainly (no embedding scale, alpha0 0.5)"},
    {"seed", T_LONG, F(run.seed), "1337", 0, 4e18, OPT_SAVED, "seed of init, batches and dropout"},
    // running
    {"eval-interval", T_LONG, F(run.eval_interval), "auto", 1, 1e9, OPT_SAVED | OPT_WATCH,
     "evaluate every this many steps (auto: steps/10, at most 250, so that a curve has 10 points or more)"},
    {"eval-iters", T_LONG, F(run.eval_iters), "20", 1, 1e6, OPT_SAVED | OPT_WATCH, "batches per evaluation (the same ones each time)"},
    {"threads", T_LONG, F(run.threads), "auto", 1, 4096, OPT_LOCAL,
     "threads for BLAS and the kernels (auto: all cores, fewer while other programs hold some)"},
    {"config", T_STR, F(files.config), "", NOMAX, OPT_LOCAL | OPT_FILE,
     "read options from PATH first: lines 'name = value' (long names; # comments); the command line wins"},
    {"log", T_STR, F(files.log), "", NOMAX, OPT_LOCAL | OPT_FILE,
     "write a row per step and per eval to PATH (.csv, or .jsonl/.json), and the run's options beside it (.config)"},
    {"save", T_STR, F(files.save), "", NOMAX, OPT_LOCAL | OPT_FILE, "write a checkpoint to PATH at the end (and with --save-every)"},
    {"save-every", T_LONG, F(files.save_every), "0", 0, 1e9, OPT_LOCAL, "also save every this many steps (0: only at the end)"},
    {"save-best", T_STR, F(files.save_best), "", NOMAX, OPT_LOCAL | OPT_FILE,
     "keep the checkpoint of the lowest val loss so far at PATH (written at each evaluation that beats it)"},
    {"resume", T_STR, F(files.resume), "", NOMAX, OPT_LOCAL | OPT_FILE, "continue from the checkpoint at PATH"},
    {"sample", T_LONG, F(sample.n), "300", 0, 1e7, OPT_LOCAL, "characters to generate at the end (0: none)"},
    {"temperature", T_DOUBLE, F(sample.temperature), "0.8", 1e-6, 100, OPT_LOCAL, "sampling temperature"},
    {"top-k", T_LONG, F(sample.top_k), "0", 0, 1e6, OPT_LOCAL, "sample from the K likeliest symbols only (0: all)"},
    {"prompt", T_STR, F(sample.prompt), "\\n", NOMAX, OPT_LOCAL, "text the sample starts from"},
    {"dump-step", T_STR, F(files.dump_step), "", NOMAX, OPT_LOCAL | OPT_FILE, "do one training step, write everything it touched to PATH, exit"},
    {"quiet", T_BOOL, F(run.quiet), "false", NOMAX, OPT_LOCAL, "no progress lines"},
    {"recompute", T_BOOL, F(run.recompute), "false", NOMAX, OPT_WATCH,
     "keep one block's activations at a time, recomputing them in backward: less memory, ~1/3 more work"},
    {"grad-accum", T_LONG, F(run.grad_accum), "1", 1, 65536, 0,
     "split each step's batch into this many micro-batches whose grads add up: the same step, less memory"},
    // data parallel (mpirun -np N ./train ...: docs/distributed.md)
    {"no-overlap", T_BOOL, F(run.parallel.no_overlap), "false", NOMAX, OPT_WATCH,
     "under mpirun: reduce the grads after backward, not bucket by bucket during it (to compare)"},
    {"bucket-mb", T_DOUBLE, F(run.parallel.bucket_mb), "1", 1e-3, 1e4, OPT_WATCH, "under mpirun: megabytes of grads per allreduce"},
    {"dist-timeout", T_DOUBLE, F(run.parallel.timeout_s), "0", 0, 1e7, OPT_WATCH,
     "under mpirun: seconds a collective may make no progress before the job ends, naming the ranks it waits for "
     "(0: 120, or 10 x the longest gap between collectives so far if longer)"},
    // instruments and divergence
    {"stats-every", T_LONG, F(guard.stats_every), "10", 0, 1e9, OPT_WATCH, "log the instruments every N steps (0: off; with --log)"},
    {"on-nonfinite", T_CHOICE, F(guard.on_nonfinite), "stop", NOMAX, OPT_WATCH,
     "stop|skip: a NaN/Inf loss or grad stops the run, or skips that step's update"},
    {"spike-factor", T_DOUBLE, F(guard.spike_factor), "1.5", 0, 1e6, OPT_WATCH, "a loss above this x the median of the last 50 is a spike (0: off)"},
};
#define N_ROWS (int)(sizeof ROWS / sizeof ROWS[0])

// Saved options added after checkpoints existed, and the value a checkpoint without them was
// trained with: older checkpoints still resume.
static const struct {
    const char *name, *absent;
} ADDED_LATER[] = {{"emb-scale", "off"}, {"shift0", "0"}, {"scalar-lr-mult", "1"}, {"model", "gpt"}, {"patch-size", "7"},
                   {"qk-norm", "none"}, {"final-norm", "same"}, {"z-loss", "0"}, {"attn-softcap", "0"}, {"logit-softcap", "0"},
                   {"muon-lr", "0.02"}};

static const char *absent_value(const OptRow *r) {
    for (size_t i = 0; i < sizeof ADDED_LATER / sizeof ADDED_LATER[0]; i++)
        if (!strcmp(ADDED_LATER[i].name, r->name)) return ADDED_LATER[i].absent;
    return NULL;
}

// The names of each T_CHOICE option's values, stored as their index: rows of a table whose first
// member is the name (stride: the row's size).
typedef struct Choices {
    size_t field;
    const void *rows;
    size_t stride;
    int n;
} Choices;
static const Choices CHOICES[] = {
    {F(optim.kind), OPTIM_TABLE, sizeof OPTIM_TABLE[0], OPTIM_COUNT},
    {F(guard.on_nonfinite), NONFINITE_NAMES, sizeof NONFINITE_NAMES[0], NONFINITE_COUNT},
    {F(optim.preset), PRESETS, sizeof PRESETS[0], PRESET_COUNT},
    {F(model.kind), MODEL_NAMES, sizeof MODEL_NAMES[0], MODEL_COUNT},
    {F(stability.qk_norm), QK_NORM_NAMES, sizeof QK_NORM_NAMES[0], NORM_COUNT + 1},
    {F(stability.final_norm), FINAL_NORM_NAMES, sizeof FINAL_NORM_NAMES[0], NORM_COUNT + 1},
};
static const char *choice_name(const Choices *c, int k) {
    return *(const char *const *)((const char *)c->rows + (size_t)k * c->stride);
}

static const Choices *choices_of(const OptRow *r) {
    for (size_t i = 0; i < sizeof CHOICES / sizeof CHOICES[0]; i++)
        if (CHOICES[i].field == r->field) return &CHOICES[i];
    NL_CHECK(0, "option --%s has no Choices row", r->name);
    return NULL;
}
_Static_assert(sizeof ROWS / sizeof ROWS[0] <= 64, "OptionMarks.set has 64 bits");

// (cppcheck's invalidPointerCast does not apply: the byte offset is the field's own, from offsetof)
#define FIELD(o, r, T) ((T *)((char *)(o) + (r)->field))

// "ln|rmsnorm|..." into buf (NORM_NAMES_LEN bytes), returned.
enum { NORM_NAMES_LEN = 128 };
static const char *norm_names(char *buf) {
    buf[0] = 0;
    for (int k = 0; k < NORM_COUNT; k++) strcat(strcat(buf, k ? "|" : ""), NORM_TABLE[k]->name);
    return buf;
}

static const char OUT_OF_RANGE[] = "is out of range";

// v in the fewest significant digits that read back as v (0.003, not 0.0030000000000000001).
static void format_double(double v, char *buf, size_t len) {
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, len, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}

// The edits (insert, delete, substitute, swap two neighbours) that make a into b, up to 3.
static int edits(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 40 || m > 40 || (n > m ? n - m : m - n) > 2) return 3;
    int d[41][41];
    for (size_t i = 0; i <= n; i++)
        for (size_t j = 0; j <= m; j++) {
            if (!i || !j) { d[i][j] = (int)(i + j); continue; }
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

// " (did you mean PREFIXNAME?)" for the name closest to word, within two edits; "" when none is.
static const char *did_you_mean(const char *word, const char *prefix, const char *(*name)(int k), int n, char *out,
                                size_t len) {
    int best = 3, at = -1;
    for (int k = 0; k < n; k++) {
        int e = edits(word, name(k));
        if (e < best) best = e, at = k;
    }
    if (at < 0) return "";
    snprintf(out, len, " (did you mean %s%s?)", prefix, name(at));
    return out;
}

static const char *norm_name_at(int k) { return NORM_TABLE[k]->name; }
static const char *row_name_at(int k) { return ROWS[k].name; }

// "unknown option --nrom=dyt (did you mean --norm?)"
static void unknown_option(const char *opt) {
    const char *name = opt + strspn(opt, "-");
    char word[64], hint[128];
    snprintf(word, sizeof word, "%.*s", (int)strcspn(name, "="), name); // --nrom=dyt: "nrom"
    fprintf(stderr, "train: error: unknown option %s%s\n", opt,
            did_you_mean(word, "--", row_name_at, N_ROWS, hint, sizeof hint));
}

// Parses text into the row's field. NULL on success, else why not (a constant, or written into
// buf: WHY_LEN bytes).
enum { WHY_LEN = 160 };
static const char *set_value(TrainOptions *o, const OptRow *r, const char *text, char *buf) {
    char *end;
    errno = 0;
    switch (r->type) {
    case T_LONG: {
        if (!strcmp(r->def, "auto") && !strcmp(text, "auto")) return *FIELD(o, r, long) = 0, NULL; // auto: 0
        long v = strtol(text, &end, 10);
        if (end == text || *end || errno) return "is not a whole number";
        if (v < r->min || (r->max >= r->min && v > r->max)) return OUT_OF_RANGE;
        *FIELD(o, r, long) = v;
        return NULL;
    }
    case T_DOUBLE: {
        double v = strtod(text, &end);
        if (end == text || *end) return "is not a finite number";
        if (errno == ERANGE) // strtod's underflow or overflow: a number, but not one a double holds
            return isinf(v) ? "is too large for a double"
                            : "is too close to 0 for a double (it would read as 0 or lose its digits)";
        if (!isfinite(v)) return "is not a finite number";
        if (v < r->min || (r->max >= r->min && v > r->max)) return OUT_OF_RANGE;
        *FIELD(o, r, double) = v;
        return NULL;
    }
    case T_BOOL:
        if (strcmp(text, "true") && strcmp(text, "false")) return "must be true or false";
        *FIELD(o, r, bool) = text[0] == 't';
        return NULL;
    case T_STR:
        if ((r->flags & OPT_FILE) && !text[0]) return "needs a path (it is empty)"; // else refused after training
        *FIELD(o, r, const char *) = text;
        return NULL;
    case T_NORM: {
        int k = norm_kind_parse(text);
        if (k < 0)
            return snprintf(buf, WHY_LEN, "is not a norm (%s)%s", norm_names((char[NORM_NAMES_LEN]){0}),
                            did_you_mean(text, "", norm_name_at, NORM_COUNT, (char[64]){0}, 64)), buf;
        *FIELD(o, r, int) = k;
        return NULL;
    }
    case T_EMB_SCALE: {
        if (!strcmp(text, "auto") || !strcmp(text, "off"))
            return o->init.emb_scale_mode = text[0] == 'a' ? EMB_SCALE_AUTO : EMB_SCALE_OFF, NULL;
        double v = strtod(text, &end);
        if (end == text || *end || errno == ERANGE || !isfinite(v)) return "is not auto, off or a finite number";
        if (v < r->min || v > r->max) return OUT_OF_RANGE;
        o->init.emb_scale_mode = EMB_SCALE_VALUE, o->init.emb_scale = v;
        return NULL;
    }
    case T_CHOICE: {
        const Choices *c = choices_of(r);
        size_t n = snprintf(buf, WHY_LEN, "is not one of ");
        for (int k = 0; k < c->n; k++) {
            if (strcmp(text, choice_name(c, k)) == 0) return *FIELD(o, r, int) = k, NULL;
            n += snprintf(buf + n, n < WHY_LEN ? WHY_LEN - n : 0, "%s%s", k ? "|" : "", choice_name(c, k));
        }
        return buf;
    }
    }
    return "?";
}

static void format_value(const TrainOptions *o, const OptRow *r, char *buf, size_t len) {
    switch (r->type) {
    case T_LONG:
        if (!strcmp(r->def, "auto") && *FIELD(o, r, long) == 0) snprintf(buf, len, "auto");
        else snprintf(buf, len, "%ld", *FIELD(o, r, long));
        break;
    case T_DOUBLE: format_double(*FIELD(o, r, double), buf, len); break;
    case T_BOOL: snprintf(buf, len, "%s", *FIELD(o, r, bool) ? "true" : "false"); break;
    case T_STR: snprintf(buf, len, "%s", *FIELD(o, r, const char *) ? *FIELD(o, r, const char *) : ""); break;
    case T_NORM: snprintf(buf, len, "%s", NORM_TABLE[*FIELD(o, r, int)]->name); break;
    case T_CHOICE: snprintf(buf, len, "%s", choice_name(choices_of(r), *FIELD(o, r, int))); break;
    case T_EMB_SCALE:
        if (o->init.emb_scale_mode == EMB_SCALE_VALUE) format_double(o->init.emb_scale, buf, len);
        else snprintf(buf, len, "%s", o->init.emb_scale_mode == EMB_SCALE_AUTO ? "auto" : "off");
        break;
    }
}

static bool is_set(const TrainOptions *o, int i) { return o->marks.set >> i & 1; }
static int row_index(const char *name) {
    for (int i = 0; i < N_ROWS; i++)
        if (strcmp(ROWS[i].name, name) == 0) return i;
    return -1;
}

// The examples closing --help (tests/doc_commands.py runs each, in short form, from docs/training.md's copy).
static void usage_examples(FILE *f) {
    fprintf(f, "\nExamples (each line pastes into a shell as it stands):\n"
               "  ./train --norm=dyt tinyshakespeare\n"
               "  ./train --norm=dyt fashion-mnist                     # the ViT: validation accuracy as it goes\n"
               "  ./train --norm=dyisru --lr=3e-3 --log=runs/dyisru.csv --save=runs/dyisru.safetensors\n"
               "  ./train sample runs/dyisru.safetensors --tokens 500 --prompt \"ROMEO:\" --top-k 20\n"
               "  ./train --norm=ln --preset=nanogpt tinyshakespeare    # nanoGPT's CPU configuration, exactly\n"
               "  ./train --norm=dyt --preset=nanogpt tinyshakespeare   # DyT dropped in plainly, as in the literature\n"
               "  mpirun -np 2 ./train --norm=ln tinyshakespeare        # 2 processes, one model: docs/distributed.md\n");
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: ./train [options] [DATASET]\n\n"
            "Trains a character-level GPT (nanoGPT's, with the norm layer of your choice) on DATASET:\n"
            "a name in data/ (default: tinyshakespeare, see data/README.md) or a .txt / .txt.gz file;\n"
            "or a vision transformer (timm's ViT) on an image set: fashion-mnist (Debian's package\n"
            "dataset-fashion-mnist, or its four files in data/fashion-mnist/) or a folder of IDX files.\n"
            "Defaults: nanoGPT's CPU model, batch and length, each norm at its recipe and best lr (below);\n"
            "--preset=nanogpt is nanoGPT's configuration exactly. The ViT's own defaults follow the list.\n"
            "A switch takes =false to turn off what a model turns on (--bias=false).\n"
            "Sampling a saved model: ./train sample CHECKPOINT (its options: ./train sample --help).\n\n");
    for (int i = 0; i < N_ROWS; i++) {
        const OptRow *r = &ROWS[i];
        char left[48];
        const char *arg = r->type == T_BOOL ? "" : r->type == T_STR ? "=PATH" : "=N";
        if (r->type == T_NORM || r->type == T_CHOICE || r->type == T_EMB_SCALE || !strcmp(r->name, "prompt")) arg = "=S";
        snprintf(left, sizeof left, "--%s%s", r->name, arg);
        fprintf(f, "  %-22s ", left);
        if (r->type == T_NORM) fprintf(f, "%s: ", norm_names((char[NORM_NAMES_LEN]){0}));
        fprintf(f, "%s", r->help);
        if (r->def[0] && r->type != T_BOOL) fprintf(f, " [%s]", r->def);
        fputc('\n', f);
    }
    fprintf(f, "  %-22s %s\n", "--registry", "print the norms, presets and options as JSON (what the Python tools read)");
    fprintf(f, "  %-22s %s\n\nThe norms' recipes (the defaults of --emb-scale, --alpha0 per position, --lr and\n"
               "--scalar-lr-mult; any of them given wins). Each lr is the norm's best at these defaults on\n"
               "the stability study's frontier (docs/stability.md: 2000 steps, cosine to lr/10, 3 seeds):\n",
            "--help", "this text");
    for (int k = 0; k < NORM_COUNT; k++) {
        const NormRecipe *rc = &NORM_TABLE[k]->recipe;
        fprintf(f, "  %-9s emb-scale ", NORM_TABLE[k]->name);
        // the library's rule, not the recipe's field: a norm without a scalar takes no embedding scale
        norm_recipe_init(k, rc, 1).emb_scale0 > 0 ? fprintf(f, "%g x sqrt(n-embd)", rc->emb_scale) : fprintf(f, "off");
        if (norm_is_elementwise(k))
            fprintf(f, ", alpha0 ln_1 %g, ln_2 %g, ln_f %g%s, scalar-lr-mult %g", rc->alpha0[0], rc->alpha0[1],
                    rc->alpha0[2], NORM_TABLE[k]->scalar == NORM_SCALAR_BETA ? " (as beta0 = 1/alpha0^2)" : "",
                    rc->scalar_lr_mult);
        fprintf(f, ", lr %g\n", rc->lr);
    }
    fprintf(f, "  --preset=nanogpt: every norm at lr %g -> %g, no embedding scale, alpha0 %g (beta0 %g)\n",
            NANOGPT_RECIPE.lr, NANOGPT_RECIPE.lr / 10, NANOGPT_RECIPE.alpha0[0],
            1 / (NANOGPT_RECIPE.alpha0[0] * NANOGPT_RECIPE.alpha0[0]));
    for (int k = 0; k < MODEL_COUNT; k++) { // the models' own defaults and recipes
        const ModelInfo *mi = MODEL_TABLE[k];
        if (!mi->defaults) continue;
        fprintf(f, "\nThe %s's own defaults (--model=%s, or an image set):", mi->name, mi->name);
        for (int d = 0; mi->defaults[d][0]; d++) fprintf(f, "%s --%s=%s", d % 6 ? "" : "\n ", mi->defaults[d][0], mi->defaults[d][1]);
        const NormRecipe *rc = &mi->recipes[0];
        fprintf(f, "\n  its recipe for every norm: no embedding scale, alpha0 %g everywhere (the DyT and Derf ViTs'); lr:",
                rc->alpha0[0]);
        for (int n = 0; n < NORM_COUNT; n++) fprintf(f, " %s %g", NORM_TABLE[n]->name, mi->recipes[n].lr);
        fputc('\n', f);
    }
    usage_examples(f);
}

// --registry: the tables the Python tools read instead of keeping their own copies: the norms (in the
// registry's order, with their scalars and recipes), the presets and every option with its default.
static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) *s == '"' || *s == '\\' ? fprintf(f, "\\%c", *s) : (unsigned char)*s < 0x20 ? fprintf(f, "\\u%04x", *s) : fputc(*s, f);
    fputc('"', f);
}

static void registry_print(FILE *f) {
    fprintf(f, "{\"norms\": [");
    for (int k = 0; k < NORM_COUNT; k++) {
        const NormInfo *n = NORM_TABLE[k];
        const NormRecipe *rc = &n->recipe;
        char lr[32];
        format_double(rc->lr, lr, sizeof lr);
        fprintf(f, "%s\n  {\"name\": \"%s\", \"scalar\": %s%s%s, \"shift\": %s, \"softplus\": %s, \"kin\": \"%s\", \"recipe\": "
                "{\"emb_scale\": %g, \"alpha0\": [%g, %g, %g], \"lr\": %s, \"scalar_lr_mult\": %g, \"expected\": [%g, %g]}}",
                k ? "," : "",
                n->name, n->scalar ? "\"" : "", n->scalar ? NORM_SCALAR_NAMES[n->scalar] : "null", n->scalar ? "\"" : "",
                n->shift ? "true" : "false", n->softplus ? "true" : "false", n->kin ? n->kin : n->name, rc->emb_scale, rc->alpha0[0], rc->alpha0[1],
                rc->alpha0[2], lr, rc->scalar_lr_mult, rc->expected[0], rc->expected[1]);
    }
    fprintf(f, "],\n \"columns\": ");
    session_log_columns_json(f);
    fprintf(f, ",\n \"presets\": [");
    for (int k = 0; k < PRESET_COUNT; k++) fprintf(f, "%s\"%s\"", k ? ", " : "", PRESETS[k].name);
    fprintf(f, "],\n \"options\": [");
    for (int i = 0; i < N_ROWS; i++) {
        fprintf(f, "%s\n  {\"name\": \"%s\", \"default\": ", i ? "," : "", ROWS[i].name);
        json_string(f, ROWS[i].def);
        fprintf(f, ", \"saved\": %s, \"help\": ", ROWS[i].flags & OPT_SAVED ? "true" : "false");
        json_string(f, ROWS[i].help);
        fputc('}', f);
    }
    fprintf(f, "]}\n");
}

void options_defaults(TrainOptions *o) {
    *o = (TrainOptions){.files.dataset = "tinyshakespeare"};
    // Defaults that read as values are set here; the others ("1/alpha0^2", "steps", ...) are
    // derived from other options (options_derive) or set below.
    for (int i = 0; i < N_ROWS; i++)
        if (ROWS[i].type != T_STR) set_value(o, &ROWS[i], ROWS[i].def, (char[WHY_LEN]){0});
    o->sample.prompt = "\n";
}

// Every place a norm sits that an initial-value option reaches, and the norm there: ln_1 (and
// --qk-norm's, which starts at ln_1's values), ln_2, ln_f (--final-norm's kind). The one place that
// knows them: what a run reads, warns about and writes to its .config follows from it.
static const struct { const char *suffix; int pos; bool qk; } NORM_PLACES[] = {
    {"-ln1", 0, false}, {"-ln1", 0, true}, {"-ln2", 1, false}, {"-lnf", 2, false}};

static const NormInfo *norm_at(const TrainOptions *o, int place) {
    const StabilityOptions *st = &o->stability;
    if (NORM_PLACES[place].qk) return st->qk_norm ? NORM_TABLE[st->qk_norm - 1] : NULL;
    if (NORM_PLACES[place].pos == 2 && st->final_norm) return NORM_TABLE[st->final_norm - 1];
    return NORM_TABLE[o->model.norm];
}

// Why the initial-value option `name` (alpha0, beta0, shift0, or one position's) does nothing here:
// no norm it reaches has that scalar. NULL when one has, or when name is not such an option.
static const char *scalar_unused(const TrainOptions *o, const char *name, char *why) {
    static const struct { const char *prefix; int scalar; bool shift; } KINDS[] = {
        {"alpha0", NORM_SCALAR_ALPHA, false}, {"beta0", NORM_SCALAR_BETA, false}, {"shift0", 0, true}};
    for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
        size_t n = strlen(KINDS[k].prefix);
        if (strncmp(name, KINDS[k].prefix, n) || (name[n] && name[n] != '-')) continue;
        for (size_t p = 0; p < sizeof NORM_PLACES / sizeof NORM_PLACES[0]; p++) {
            const NormInfo *at = norm_at(o, (int)p);
            bool reached = !name[n] || !strcmp(name + n, NORM_PLACES[p].suffix);
            if (at && reached && (KINDS[k].shift ? at->shift : (int)at->scalar == KINDS[k].scalar)) return NULL;
        }
        return snprintf(why, WHY_LEN, "no norm it reaches has %s (--norm=%s%s%s%s%s)", KINDS[k].shift ? "a shift" :
                        NORM_SCALAR_NAMES[KINDS[k].scalar], NORM_TABLE[o->model.norm]->name,
                        o->stability.final_norm ? ", --final-norm=" : "",
                        o->stability.final_norm ? NORM_TABLE[o->stability.final_norm - 1]->name : "",
                        o->stability.qk_norm ? ", --qk-norm=" : "",
                        o->stability.qk_norm ? NORM_TABLE[o->stability.qk_norm - 1]->name : ""), why;
    }
    return NULL;
}

// Why option `name` does nothing in this run (its norms, its other options), or NULL when it counts.
static const char *option_unused(const TrainOptions *o, const char *name, char *why) {
    if (scalar_unused(o, name, why)) return why;
    bool any_scalar = o->init.emb_scale_mode == EMB_SCALE_VALUE;
    for (size_t p = 0; p < sizeof NORM_PLACES / sizeof NORM_PLACES[0]; p++)
        any_scalar |= norm_at(o, (int)p) && (norm_at(o, (int)p)->scalar != NORM_SCALAR_NONE || norm_at(o, (int)p)->shift);
    static const struct { const char *name; int rule; const char *why; } RULES[] = {
        {"scalar-lr-mult", 0, "this run has no scalars (no alpha, beta, shift or embedding scale)"},
        {"temperature", 1, "--sample=0: no sample is drawn"},
        {"prompt", 1, "--sample=0: no sample is drawn"},
        {"top-k", 1, "--sample=0: no sample is drawn"},
        {"save-every", 2, "without --save nothing is saved"},
        {"stats-every", 3, "the instruments are written to the --log file only"},
        {"block-size", 4, "the ViT's sequence is its patches (--patch-size)"},
        {"emb-scale", 4, "the ViT has no embedding scale"},
        {"prompt", 4, "the ViT's sample is test images, not text"},
        {"temperature", 4, "the ViT's sample is test images, not text"},
        {"top-k", 4, "the ViT's sample is test images, not text"},
        {"preset", 4, "the presets are the GPT's (the ViT has its own defaults: ./train --help)"},
        {"patch-size", 5, "only the ViT has patches"},
        {"muon-lr", 6, "only --optim=muon has it"},
        {"no-overlap", 7, "one process (not under mpirun): no grads are reduced"},
        {"bucket-mb", 7, "one process (not under mpirun): no grads are reduced"},
        {"dist-timeout", 7, "one process (not under mpirun): no process waits for another"},
    };
    bool vit = o->model.kind == MODEL_VIT;
    bool unused[] = {!any_scalar, o->sample.n == 0, !o->files.save, !o->files.log, vit, !vit,
                     o->optim.kind != OPTIM_MUON, o->run.parallel.processes <= 1};
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++)
        if (!strcmp(name, RULES[i].name) && unused[RULES[i].rule]) return RULES[i].why;
    return NULL;
}

const NormRecipe *options_recipe(const TrainOptions *o) {
    const NormRecipe *own = MODEL_TABLE[o->model.kind]->recipes; // the model's, or the norms' (the GPT's)
    return PRESETS[o->optim.preset].recipe ? PRESETS[o->optim.preset].recipe
           : own                           ? &own[o->model.norm]
                                           : &NORM_TABLE[o->model.norm]->recipe;
}

bool options_at_defaults(const TrainOptions *o) {
    for (int i = 0; i < N_ROWS; i++) {
        const OptRow *r = &ROWS[i];
        bool free = (r->flags & (OPT_LOCAL | OPT_WATCH)) || !strcmp(r->name, "norm") || !strcmp(r->name, "seed") ||
                    !strcmp(r->name, "model");
        if (is_set(o, i) && !free) return false;
    }
    return true;
}

int options_first_disagreement(const TrainOptions *o, int (*agree)(void *ctx, const uint64_t *h, int n), void *ctx,
                               const char **name, char *value, size_t len) {
    uint64_t h[N_ROWS];
    for (int i = 0; i < N_ROWS; i++) { // FNV-1a of each value as --config would write it
        char buf[4096] = "";
        if (!(ROWS[i].flags & OPT_LOCAL)) format_value(o, &ROWS[i], buf, sizeof buf);
        h[i] = 0xcbf29ce484222325ull;
        for (const char *c = buf; *c; c++) h[i] = (h[i] ^ (unsigned char)*c) * 0x100000001b3ull;
    }
    int i = agree(ctx, h, N_ROWS);
    if (i < 0) return -1;
    *name = ROWS[i].name;
    format_value(o, &ROWS[i], value, len);
    return i;
}

int options_warn_unused(const TrainOptions *o) {
    int n = 0;
    for (int i = 0; i < N_ROWS; i++) {
        char buf[WHY_LEN];
        const char *why = o->marks.given >> i & 1 ? option_unused(o, ROWS[i].name, buf) : NULL;
        if (why) n++, fprintf(stderr, "train: warning: --%s does nothing here: %s\n", ROWS[i].name, why);
    }
    const OptimOptions *p = &o->optim;
    if (o->run.steps > 0 && p->warmup > 0 && p->warmup >= p->lr_decay_steps) // a short run keeps the warmup of 100
        n++, fprintf(stderr, "train: warning: --warmup %ld reaches the peak lr at step %ld, not before the schedule "
                             "ends (step %ld): the lr never decays; give --warmup about 5%% of the steps (%ld)\n",
                     p->warmup, p->warmup, p->lr_decay_steps, p->lr_decay_steps / 20);
    return n;
}

// ---- --config FILE -------------------------------------------------------------------------------
// One option per line: `name = value`, `name value`, or `name` alone for a switch; the long
// options' names, with or without the leading --; `#` starts a comment. A value in double quotes
// keeps everything between them, `#` and spaces included; in a value `\n` is a newline, `\\` a
// backslash and (quoted) `\"` a quote. `dataset = NAME` sets the positional argument. The files are
// read in order before the command line, whose options win; a later file's value wins over an
// earlier file's, and a name twice in one file is an error. Each file's text is kept in a block the
// options own (their string values point into it), freed by options_free.
enum { CONFIG_MAX = 1 << 16 };

typedef struct ConfigText {
    struct ConfigText *next;
    char text[];
} ConfigText;

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = 0;
    return s;
}

// The file's bytes, NUL-terminated, in a block chained to o->texts; NULL after printing why not.
static char *config_load(TrainOptions *o, const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); // a FIFO must not block us
    struct stat st;
    if (fd < 0) return fprintf(stderr, "train: error: --config %s: %s\n", path, strerror(errno)), NULL;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        const char *what = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "not a regular file";
        fprintf(stderr, "train: error: --config %s is %s: give a file of 'name = value' lines\n", path, what);
        return close(fd), NULL;
    }
    if (st.st_size >= CONFIG_MAX)
        return fprintf(stderr, "train: error: --config %s is over 64 KB\n", path), close(fd), NULL;
    ConfigText *c = malloc(sizeof *c + (size_t)st.st_size + 1);
    if (!c) return fprintf(stderr, "train: error: --config %s: out of memory\n", path), close(fd), NULL;
    size_t n = 0;
    for (ssize_t got; n < (size_t)st.st_size && (got = read(fd, c->text + n, (size_t)st.st_size - n)) > 0;) n += (size_t)got;
    close(fd);
    c->text[n] = 0;
    c->next = o->texts, o->texts = c;
    *len = n;
    return c->text;
}

// Unescapes a value in place: quoted ("...", up to the closing quote) or bare (up to a `#`, trailing
// blanks trimmed); *rest gets what follows. NULL when a quote is not closed.
static char *config_value(char *v, char **rest) {
    bool quoted = *v == '"';
    char *r = v + quoted, *w = v;
    for (; *r && !(quoted ? *r == '"' : *r == '#'); r++) {
        if (r[0] == '\\' && (r[1] == 'n' || r[1] == '\\' || (quoted && r[1] == '"'))) *w++ = *++r == 'n' ? '\n' : *r;
        else *w++ = *r;
    }
    if (quoted && *r != '"') return NULL;
    *rest = r + quoted;
    *w = 0;
    return quoted ? v : trim(v);
}

static int config_read(TrainOptions *o, const char *path) {
    size_t n;
    char *text = config_load(o, path, &n);
    if (!text) return 2;
    if (strlen(text) != n)
        return fprintf(stderr, "train: error: --config %s holds a NUL byte (at byte %zu): it is not a text file\n",
                       path, strlen(text)), 2;
    if (!strncmp(text, "\xef\xbb\xbf", 3))
        return fprintf(stderr, "train: error: --config %s starts with a UTF-8 byte order mark (EF BB BF): save it "
                       "without one\n", path), 2;
    int line = 0, first_line[64] = {0};
    for (char *s = text, *next; s; s = next) {
        line++;
        if ((next = strchr(s, '\n'))) *next++ = 0;
        s = trim(s);
        if (!strncmp(s, "--", 2)) s += 2;
        size_t k = strcspn(s, "=# \t");
        char *value = s + k, *rest;
        char sep = *value;
        *value = 0;
        if (sep && sep != '#') value = trim(value + 1);
        if (sep != '=' && *value == '=') value = trim(value + 1);
        if (sep == '#') value = ""; // a comment
        else if (!(value = config_value(value, &rest)) ||
                 (*(rest = trim(rest)) && *rest != '#'))
            return fprintf(stderr, "train: error: %s:%d: %s: %s\n", path, line, s,
                           value ? "text after the closing quote" : "the quote is not closed"), 2;
        if (!*s) continue;
        if (!strcmp(s, "dataset")) {
            o->files.dataset = value, o->files.dataset_named = true;
            continue;
        }
        int i = row_index(s);
        if (i < 0 && strchr(s, ':'))
            return fprintf(stderr, "train: error: %s:%d: '%s' is not a setting: the '=' is missing (write "
                           "'%.*s = ...', name = value)\n", path, line, s, (int)strcspn(s, ":"), s), 2;
        if (i < 0 || !strcmp(s, "config"))
            return fprintf(stderr, "train: error: %s:%d: %s is not an option of ./train --help\n", path, line, s), 2;
        if (first_line[i])
            return fprintf(stderr, "train: error: %s:%d: %s is set twice in this file (first on line %d): keep "
                           "one\n", path, line, s, first_line[i]), 2;
        first_line[i] = line;
        char buf[WHY_LEN];
        const char *why = set_value(o, &ROWS[i], *value || ROWS[i].type != T_BOOL ? value : "true", buf);
        if (why) return fprintf(stderr, "train: error: %s:%d: %s = %s %s\n", path, line, s, value, why), 2;
        o->marks.set |= 1ull << i, o->marks.given |= 1ull << i;
    }
    return 0;
}

void options_free(TrainOptions *o) {
    for (ConfigText *c = o->texts, *next; c; c = next) next = c->next, free(c);
    o->texts = NULL;
}

// Writes v as a config value that reads back as v: bare when it can be, else in quotes.
static void config_write_value(FILE *f, const char *v) {
    bool quote = !*v || *v == ' ' || *v == '\t' || *v == '"' || v[strlen(v) - 1] == ' ' ||
                 v[strlen(v) - 1] == '\t' || v[strlen(v) - 1] == '\r' || strpbrk(v, "#\r");
    if (quote) fputc('"', f);
    for (const char *c = v; *c; c++) {
        if (*c == '\n') fputs("\\n", f);
        else if (*c == '\\' || (quote && *c == '"')) fputc('\\', f), fputc(*c, f);
        else fputc(*c, f);
    }
    if (quote) fputc('"', f);
}

int options_write_config(const TrainOptions *o, const char *path, char *err, size_t errlen) {
    int fd = outfile_open(path, false, err, errlen); // never through a planted link
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!f) return fd >= 0 ? (close(fd), snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1) : -1;
    fprintf(f, "# The options of a normlab train run, every one at its effective value:\n"
               "#   ./train --config %s   runs it again (give --log/--save to keep its outputs apart)\n"
               "dataset = ", path);
    config_write_value(f, o->files.dataset);
    fputc('\n', f);
    for (int i = 0; i < N_ROWS; i++) {
        const OptRow *r = &ROWS[i];
        char v[4200];
        format_value(o, r, v, sizeof v);
        bool io = r->flags & OPT_FILE;
        char buf[WHY_LEN];
        if ((io && !v[0]) || option_unused(o, r->name, buf)) continue; // what does nothing is left out
        fprintf(f, "%s%s = ", io ? "# " : "", r->name);
        config_write_value(f, v);
        fputc('\n', f);
    }
    if (fclose(f)) return snprintf(err, errlen, "%s cannot be written: %s", path, strerror(errno)), -1;
    return 0;
}

// The model: --model (or a checkpoint's), else the dataset's (an image set: the ViT; a text: the GPT);
// then the model's own defaults (its row's) for every option neither given nor restored.
static void model_defaults_apply(TrainOptions *o) {
    char dir[16];
    if (!is_set(o, row_index("model")))
        o->model.kind = idx_resolve(o->files.dataset, NORMLAB_DATA_DIR, dir, sizeof dir) ? MODEL_VIT : MODEL_GPT;
    const char *const(*d)[2] = MODEL_TABLE[o->model.kind]->defaults;
    for (; d && (*d)[0]; d++) {
        int i = row_index((*d)[0]);
        if (!is_set(o, i)) set_value(o, &ROWS[i], (*d)[1], (char[WHY_LEN]){0});
    }
}

int options_parse(TrainOptions *o, int argc, char **argv) {
    options_defaults(o);
    for (int i = 1; i < argc && argv[i]; i++) { // --config first: the command line's own options win
        const char *path = !strncmp(argv[i], "--config=", 9) ? argv[i] + 9
                           : !strcmp(argv[i], "--config") && i + 1 < argc ? argv[i + 1] : NULL;
        int rc = path ? config_read(o, path) : 0;
        if (rc) return rc;
    }
    struct option longopts[N_ROWS + 3];
    for (int i = 0; i < N_ROWS; i++)
        longopts[i] = (struct option){ROWS[i].name, ROWS[i].type == T_BOOL ? optional_argument : required_argument, NULL, 1000 + i};
    longopts[N_ROWS] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[N_ROWS + 1] = (struct option){"registry", no_argument, NULL, 'r'};
    longopts[N_ROWS + 2] = (struct option){0};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') return usage(stdout), 1;
        if (c == 'r') return registry_print(stdout), 1;
        if (c == '?' || c == ':') {
            const char *what = optopt ? "" : argv[optind - 1];
            if (c == ':') fprintf(stderr, "train: error: %s needs a value\n", argv[optind - 1]);
            else unknown_option(what[0] ? what : argv[optind - 1]);
            fprintf(stderr, "see ./train --help\n");
            return 2;
        }
        const OptRow *r = &ROWS[c - 1000];
        char buf[WHY_LEN];
        const char *why = set_value(o, r, r->type == T_BOOL && !optarg ? "true" : optarg, buf); // --bias, --bias=false
        if (why) {
            fprintf(stderr, "train: error: --%s=%s %s", r->name, optarg, why);
            if (why == OUT_OF_RANGE) {
                char lo[32], hi[32];
                format_double(r->min, lo, sizeof lo), format_double(r->max, hi, sizeof hi);
                r->max >= r->min ? fprintf(stderr, " [%s, %s]", lo, hi) : fprintf(stderr, " (>= %s)", lo);
            }
            fprintf(stderr, "\nsee ./train --help\n");
            return 2;
        }
        o->marks.set |= 1ull << (c - 1000);
        o->marks.given |= 1ull << (c - 1000);
    }
    if (optind < argc) o->files.dataset = argv[optind++], o->files.dataset_named = true;
    if (optind < argc) {
        fprintf(stderr, "train: error: unexpected argument '%s' (one dataset only)\nsee ./train --help\n", argv[optind]);
        return 2;
    }
    model_defaults_apply(o);
    if (o->model.n_embd % o->model.n_head) {
        fprintf(stderr, "train: error: --n-embd=%ld is not divisible by --n-head=%ld\n", o->model.n_embd, o->model.n_head);
        return 2;
    }
    return 0;
}

// beta0 with the slope at 0 of alpha0; alpha0 near 0 gets beta0's largest value (inf for alpha0 = 0
// would not survive a checkpoint)
static double beta0_of(double alpha0) {
    double b = norm_beta0_of(alpha0), top = ROWS[row_index("beta0")].max;
    return b < top ? b : top;
}

void options_derive(TrainOptions *o) {
    const NormRecipe *rc = options_recipe(o);
    if (!is_set(o, row_index("lr"))) o->optim.lr = rc->lr;
    if (!is_set(o, row_index("scalar-lr-mult"))) o->init.scalar_lr_mult = rc->scalar_lr_mult;
    if (!is_set(o, row_index("min-lr"))) o->optim.min_lr = optim_min_lr_of(o->optim.lr);
    // the recipe's rules are the library's (norm_recipe_init); an option given wins over them
    NormRecipeInit ri = norm_recipe_init(o->model.norm, rc, (int)o->model.n_embd);
    if (o->init.emb_scale_mode == EMB_SCALE_AUTO) {
        o->init.emb_scale_mode = ri.emb_scale0 > 0 ? EMB_SCALE_VALUE : EMB_SCALE_OFF;
        o->init.emb_scale = ri.emb_scale0;
    }
    bool alpha0 = is_set(o, row_index("alpha0")), beta0 = is_set(o, row_index("beta0"));
    if (!alpha0) o->init.alpha0 = ri.alpha0[0];
    if (!beta0) o->init.beta0 = beta0_of(o->init.alpha0);
    for (int p = 0; p < 3; p++) {
        static const char *const a[3] = {"alpha0-ln1", "alpha0-ln2", "alpha0-lnf"}, *const b[3] = {"beta0-ln1", "beta0-ln2", "beta0-lnf"};
        if (!is_set(o, row_index(a[p]))) o->init.alpha0_pos[p] = alpha0 ? o->init.alpha0 : ri.alpha0[p];
        if (!is_set(o, row_index(b[p]))) o->init.beta0_pos[p] = beta0 ? o->init.beta0 : beta0_of(o->init.alpha0_pos[p]);
    }
    if (!is_set(o, row_index("lr-decay-steps"))) o->optim.lr_decay_steps = o->run.steps;
    if (!o->run.eval_interval) { // auto
        long every = o->run.steps / 10;
        o->run.eval_interval = every < 1 ? 1 : every > 250 ? 250 : every;
    }
}

static void meta_key(const OptRow *r, char *buf) {
    size_t i = 0;
    for (; r->name[i]; i++) buf[i] = r->name[i] == '-' ? '_' : r->name[i];
    buf[i] = 0;
}

void options_to_meta(const TrainOptions *o, const char **meta, int *n, char *buf, size_t bufsize) {
    size_t used = 0;
    for (int i = 0; i < N_ROWS; i++) {
        if (!(ROWS[i].flags & OPT_SAVED) || used + 128 > bufsize) continue;
        meta_key(&ROWS[i], buf + used);
        meta[(*n) * 2] = buf + used;
        used += strlen(buf + used) + 1;
        format_value(o, &ROWS[i], buf + used, bufsize - used);
        meta[(*n) * 2 + 1] = buf + used;
        used += strlen(buf + used) + 1;
        (*n)++;
    }
}

int options_from_meta(TrainOptions *o, const char *(*lookup)(void *, const char *), void *ctx,
                      char *err, size_t errlen) {
    for (int i = 0; i < N_ROWS; i++) {
        const OptRow *r = &ROWS[i];
        if (!(r->flags & OPT_SAVED)) continue;
        char key[64], mine[64];
        meta_key(r, key);
        const char *v = lookup(ctx, key);
        if (!v) v = absent_value(r); // a checkpoint from before the option existed
        if (!v) return snprintf(err, errlen, "the checkpoint has no '%s' in its metadata", key), -1;
        if (is_set(o, i)) { // given again: a training option overrides, the shape may not change
            TrainOptions probe = *o;
            char theirs[64];
            format_value(o, r, mine, sizeof mine);
            if (set_value(&probe, r, v, (char[WHY_LEN]){0})) return snprintf(err, errlen, "the checkpoint's %s=%s is invalid", key, v), -1;
            format_value(&probe, r, theirs, sizeof theirs);
            if ((r->flags & OPT_ARCH) && strcmp(mine, theirs))
                return snprintf(err, errlen, "--%s=%s differs from the checkpoint's %s: a resumed model keeps its shape", r->name, mine, theirs), -1;
            continue;
        }
        char buf[WHY_LEN];
        const char *why = set_value(o, r, v, buf);
        if (why) return snprintf(err, errlen, "the checkpoint's %s=%s %s", key, v, why), -1;
        o->marks.set |= 1ull << i;
    }
    model_defaults_apply(o); // the checkpoint's model may not be the one the command line implied
    return 0;
}

// The scalars' initial values, at the positions whose norm has one (--final-norm may differ from --norm).
static void print_init(const TrainOptions *o, const ModelInfo *mi, FILE *f) {
    static const int PLACE_OF[3] = {0, 2, 3}; // ln_1, ln_2, ln_f in NORM_PLACES
    bool any = false, shift = false;
    NormScalar last = NORM_SCALAR_NONE;
    for (int p = 0; p < 3; p++) { // "alpha0 ln_1 1, ln_2 1, beta0 ln_f 4": the scalar's name where it changes
        const NormInfo *n = norm_at(o, PLACE_OF[p]);
        if (!n->scalar) continue;
        const double *v = n->scalar == NORM_SCALAR_ALPHA ? o->init.alpha0_pos : o->init.beta0_pos;
        fprintf(f, "%s", any ? ", " : "init:     ");
        if (n->scalar != last) fprintf(f, "%s0 ", NORM_SCALAR_NAMES[n->scalar]);
        fprintf(f, "%s %g", mi->positions[p], v[p]);
        any = true, shift |= n->shift, last = n->scalar;
    }
    if (!any) return;
    if (shift) fprintf(f, "; shift0 %g", o->init.shift0);
    fprintf(f, "; scalars learn at lr x %g\n", o->init.scalar_lr_mult);
}

void options_print(const TrainOptions *o, long cores, FILE *f) {
    const ModelInfo *mi = MODEL_TABLE[o->model.kind];
    bool vit = o->model.kind == MODEL_VIT;
    char shape[48];
    if (vit) snprintf(shape, sizeof shape, "patches %ld x %ld", o->model.patch_size, o->model.patch_size);
    else snprintf(shape, sizeof shape, "context %ld", o->model.block_size);
    fprintf(f, "model:    %s, norm %s%s, %ld layers, %ld heads, %ld wide, %s, bias %s, dropout %g\n", mi->name,
            NORM_TABLE[o->model.norm]->name, o->model.composite ? " (composite)" : "", o->model.n_layer, o->model.n_head,
            o->model.n_embd, shape, o->model.bias ? "on" : "off", o->model.dropout);
    print_init(o, mi, f);
    if (o->init.emb_scale_mode == EMB_SCALE_VALUE) fprintf(f, "embed:    x (wte[idx] + wpe), learnable, from %g\n", o->init.emb_scale);
    const StabilityOptions *st = &o->stability;
    if (st->qk_norm || st->final_norm || st->z_loss > 0 || st->attn_softcap > 0 || st->logit_softcap > 0) {
        fprintf(f, "stable:  ");
        if (st->qk_norm) fprintf(f, " qk-norm %s;", QK_NORM_NAMES[st->qk_norm]);
        if (st->final_norm) fprintf(f, " %s %s;", mi->positions[MODEL_NORM_FINAL], FINAL_NORM_NAMES[st->final_norm]);
        if (st->z_loss > 0) fprintf(f, " z-loss %g;", st->z_loss);
        if (st->attn_softcap > 0) fprintf(f, " attention scores capped at %g;", st->attn_softcap);
        if (st->logit_softcap > 0) fprintf(f, " logits capped at %g;", st->logit_softcap);
        fputc('\n', f);
    }
    if (o->optim.kind == OPTIM_MUON)
        fprintf(f, "optim:    muon on the blocks' weight matrices, lr %g -> %g (momentum %g, Nesterov, %d Newton-Schulz steps); "
                "the rest:\n", o->stability.muon_lr, o->stability.muon_lr / o->optim.lr * o->optim.min_lr, MUON_MOMENTUM,
                MUON_NS_STEPS);
    fprintf(f, "optim:    %s, lr %g -> %g (warmup %ld, cosine to step %ld), betas %g/%g, wd %g, clip %g\n",
            o->optim.kind == OPTIM_MUON ? "adamw" : OPTIM_TABLE[o->optim.kind].name, o->optim.lr, o->optim.min_lr, o->optim.warmup, o->optim.lr_decay_steps, o->optim.beta1, o->optim.beta2,
            o->optim.weight_decay, o->optim.grad_clip);
    char team[64], batch[64], eval[64];
    if (o->run.threads) snprintf(team, sizeof team, "%ld threads", o->run.threads);
    else snprintf(team, sizeof team, "threads auto (up to %ld)", cores > 0 ? cores : 1);
    if (vit) snprintf(batch, sizeof batch, "%ld images", o->run.batch_size), snprintf(eval, sizeof eval, "the whole validation split");
    else
        snprintf(batch, sizeof batch, "%ld x %ld tokens", o->run.batch_size, o->model.block_size),
            snprintf(eval, sizeof eval, "%ld batches", o->run.eval_iters);
    fprintf(f, "run:      %ld steps of %s, eval every %ld over %s, seed %ld, %s\n", o->run.steps, batch,
            o->run.eval_interval, eval, o->run.seed, team);
}

ModelConfig options_model_config(const TrainOptions *o, int vocab_size) {
    ModelConfig cfg = {.vocab_size = vocab_size, .block_size = (int)o->model.block_size, .n_layer = (int)o->model.n_layer,
                     .n_head = (int)o->model.n_head, .n_embd = (int)o->model.n_embd, .bias = o->model.bias, .dropout = o->model.dropout,
                     .norm = o->model.norm, .composite = o->model.composite, .shift0 = o->init.shift0,
                     .emb_scale = o->init.emb_scale_mode == EMB_SCALE_VALUE, .emb_scale0 = o->init.emb_scale,
                     .scalar_lr_mult = o->init.scalar_lr_mult};
    const StabilityOptions *st = &o->stability;
    cfg.qk_norm = st->qk_norm > 0, cfg.qk_norm_kind = st->qk_norm > 0 ? st->qk_norm - 1 : 0;
    cfg.final_norm_own = st->final_norm > 0, cfg.final_norm_kind = st->final_norm > 0 ? st->final_norm - 1 : 0;
    cfg.attn_softcap = st->attn_softcap, cfg.logit_softcap = st->logit_softcap, cfg.z_loss = st->z_loss;
    // each norm's initial scalar is its own kind's (alpha0 or beta0) at its position; qk-norm's, ln_1's
    for (int p = 0; p < MODEL_NORM_POSITIONS; p++) {
        bool alpha = NORM_TABLE[model_norm_kind(&cfg, p)]->scalar == NORM_SCALAR_ALPHA;
        cfg.scalar0[p] = alpha ? o->init.alpha0_pos[p] : o->init.beta0_pos[p];
    }
    bool qk_alpha = NORM_TABLE[cfg.qk_norm_kind]->scalar == NORM_SCALAR_ALPHA;
    cfg.qk_scalar0 = qk_alpha ? o->init.alpha0_pos[MODEL_NORM_ATTN] : o->init.beta0_pos[MODEL_NORM_ATTN];
    return cfg;
}
