// The library's contract with a C caller (docs/architecture.md): a programmer's error, here a NULL
// where a pointer is taken, ends with file:line and the argument's name (abort), never a segfault.
// Every public function of the ops, tape, parameters, arenas, tensors, safetensors, sessions, data,
// optimizers, norms, instruments, the GPT, layers, output files and checkpoints is called. Each case
// runs in a child process, which must die of SIGABRT saying "<func>(): its argument <name>
// is NULL". And names a checkpoint tells tensors apart by are unique: duplicates are refused.
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "normlab/dist.h"
#include "normlab/idx.h"
#include "normlab/recompute.h"
#include "normlab/train.h"
#include "normlab/normlab.h"
#include "test_util.h"

static Fixture *fx;
static Tensor *x;
static int32_t idx[6];
static StFile opened;
static char E[64];                                 // an err buffer
static _Alignas(64) unsigned char dummy[1 << 14];  // any other argument: never read before the check
#define D ((void *)dummy)

// (the function, the argument that is NULL, the call)
#define CASES(X)                                                                                                 \
    X(op_matmul, t, op_matmul(NULL, x, x, false, true))                                                            \
    X(op_matmul, b, op_matmul(&fx->tape, x, NULL, false, true))                                                    \
    X(op_linear, w, op_linear(&fx->tape, x, NULL, NULL))                                                           \
    X(op_add, b, op_add(&fx->tape, x, NULL))                                                                       \
    X(op_add, a, op_add(&fx->tape, NULL, x))                                                                       \
    X(op_mul, t, op_mul(NULL, x, x))                                                                               \
    X(op_affine, x, op_affine(&fx->tape, NULL, 2, 1))                                                              \
    X(op_tanh, x, op_tanh(&fx->tape, NULL))                                                                        \
    X(op_erf, x, op_erf(&fx->tape, NULL))                                                                          \
    X(op_gelu, t, op_gelu(NULL, x))                                                                                \
    X(op_softplus, x, op_softplus(&fx->tape, NULL))                                                                \
    X(op_rsqrt, x, op_rsqrt(&fx->tape, NULL))                                                                      \
    X(op_reshape, x, op_reshape(&fx->tape, NULL, NL_SHAPE(6)))                                                     \
    X(op_transpose, x, op_transpose(&fx->tape, NULL, 0, 1))                                                        \
    X(op_concat_rows, b, op_concat_rows(&fx->tape, x, NULL))                                                       \
    X(op_rows, x, op_rows(&fx->tape, NULL, 0, 1))                                                                  \
    X(op_sum, x, op_sum(&fx->tape, NULL))                                                                          \
    X(op_mean, t, op_mean(NULL, x))                                                                                \
    X(op_sum_last, x, op_sum_last(&fx->tape, NULL))                                                                \
    X(op_mean_last, x, op_mean_last(&fx->tape, NULL))                                                              \
    X(op_softmax, x, op_softmax(&fx->tape, NULL, false))                                                           \
    X(op_cross_entropy, targets, op_cross_entropy(&fx->tape, x, NULL))                                             \
    X(op_cross_entropy, logits, op_cross_entropy(&fx->tape, NULL, idx))                                            \
    X(op_logsumexp, x, op_logsumexp(&fx->tape, NULL))                                                              \
    X(op_embedding, idx, op_embedding(&fx->tape, x, NULL, 2))                                                      \
    X(op_embedding, table, op_embedding(&fx->tape, NULL, idx, 2))                                                  \
    X(op_dropout, x, op_dropout(&fx->tape, NULL, 0.1, &fx->rng))                                                   \
    X(op_attention, a, op_attention(&fx->tape, x, NULL, NULL))                                                     \
    X(tape_backward, loss, tape_backward(&fx->tape, NULL))                                                         \
    X(tape_backward, t, tape_backward(NULL, x))                                                                    \
    X(tape_backward_seeded, loss, tape_backward_seeded(&fx->tape, NULL, 1))                                        \
    X(tape_init, step_arena, tape_init(&fx->tape, NULL, 8))                                                        \
    X(tape_reset, t, tape_reset(NULL))                                                                             \
    X(tape_find_nonfinite, t, tape_find_nonfinite(NULL))                                                           \
    X(tape_set_grad_enabled, t, tape_set_grad_enabled(NULL, true))                                                 \
    X(tape_grad_adopt, n, tape_grad_adopt(NULL, x))                                                                \
    X(paramset_alloc, specs, paramset_alloc(&(ParamSet){0}, NULL, 3))                                               \
    X(paramset_alloc, ps, paramset_alloc(NULL, &(ParamSpec){"w", NL_SHAPE(2), PARAM_INIT_CONST, 0, 1, false}, 1))   \
    X(paramset_find, name, paramset_find(&(ParamSet){0}, NULL))                                                     \
    X(paramset_zero_grad, ps, paramset_zero_grad(NULL))                                                            \
    X(arena_alloc, a, arena_alloc(NULL, 8))                                                                        \
    X(arena_init, name, arena_init(&(Arena){0}, NULL, 0))                                                          \
    X(arena_reset, a, arena_reset(NULL))                                                                           \
    X(tensor_new, a, tensor_new(NULL, NL_SHAPE(2), false))                                                         \
    X(tensor_view, t, tensor_view(&fx->arena, NULL, NL_SHAPE(6)))                                                  \
    X(tensor_fill, t, tensor_fill(NULL, 0))                                                                        \
    X(st_open, path, st_open(&(StFile){0}, NULL, (char[64]){0}, 64))                                               \
    X(st_open, f, st_open(NULL, "x.safetensors", (char[64]){0}, 64))                                               \
    X(st_write, entries, st_write("x.safetensors", NULL, 1, NULL, 0, (char[64]){0}, 64))                           \
    X(st_find, name, st_find(&opened, NULL, &(StTensor){0}))                                                       \
    X(st_meta, f, st_meta(NULL, "step"))                                                                           \
    X(st_close, f, st_close(NULL))                                                                                 \
    X(session_init, s, session_init(NULL, D, D, D, NULL, E, 64))                                                    \
    X(session_init, model, session_init(D, D, NULL, D, NULL, E, 64))                                                \
    X(session_free, s, session_free(NULL))                                                                         \
    X(session_step, info, session_step(D, NULL, E, 64))                                                            \
    X(session_evaluate, eval, session_evaluate(D, D, NULL, E, 64))                                                 \
    X(session_eval_whole, e, session_eval_whole(D, NULL, E, 64))                                                   \
    X(session_eval_test, s, session_eval_test(NULL, D, E, 64))                                                     \
    X(session_sample, emit, session_sample(D, NULL, 0, D, NULL, NULL))                                             \
    X(session_sample, how, session_sample(D, NULL, 0, NULL, D, NULL))                                              \
    X(session_classify, pred, session_classify(D, 0, 1, NULL, D, D))                                               \
    X(session_log_start, s, session_log_start(NULL, NULL, false))                                                  \
    X(session_log_cut, path, session_log_cut(NULL, 0, false, false, D, E, 64))                                     \
    X(session_log_failed, s, session_log_failed(NULL))                                                             \
    X(session_save, path, session_save(D, NULL, NULL, 0, E, 64))                                                   \
    X(session_checkpoint_config, f, session_checkpoint_config(NULL, D, D, D, E, 64))                               \
    X(session_checkpoint_open, path, session_checkpoint_open(D, NULL, E, 64))                                      \
    X(session_checkpoint_check, mi, session_checkpoint_check(D, NULL, D, OPTIM_ADAMW, E, 64))                      \
    X(session_restore, f, session_restore(D, NULL, E, 64))                                                         \
    X(session_dump_step, path, session_dump_step(D, NULL, NULL, 0, E, 64))                                         \
    X(dataset_load, path, dataset_load(D, NULL, E, 64))                                                            \
    X(dataset_free, d, dataset_free(NULL))                                                                         \
    X(dataset_set_vocab, bytes, dataset_set_vocab(D, NULL, 3))                                                     \
    X(dataset_resolve, arg, dataset_resolve(NULL, "data", E, 64, E, 64))                                           \
    X(dataset_check_context, d, dataset_check_context(NULL, 8, E, 64))                                             \
    X(dataset_source, d, dataset_source(NULL, 8))                                                                  \
    X(dataset_encode, s, dataset_encode(D, NULL, D, 4, D))                                                         \
    X(idx_parse, labels, idx_parse(D, D, 16, NULL, 8, 10, "i", "l", E, 64))                                        \
    X(idx_load, images_path, idx_load(D, NULL, "l", 10, E, 64))                                                    \
    X(idx_free, im, idx_free(NULL))                                                                                \
    X(idx_resolve, arg, idx_resolve(NULL, "data", E, 64))                                                          \
    X(idx_set_load, dir, idx_set_load(D, NULL, E, 64))                                                             \
    X(idx_set_free, s, idx_set_free(NULL))                                                                         \
    X(idx_source, s, idx_source(NULL))                                                                             \
    X(optim_init, cfg, optim_init(D, NULL, 8))                                                                     \
    X(optim_free, o, optim_free(NULL))                                                                             \
    X(optim_prepare, ps, optim_prepare(D, NULL))                                                                   \
    X(optim_step, ps, optim_step(D, NULL, 1e-3, 1))                                                                \
    X(optim_lr, c, optim_lr(NULL, 0))                                                                              \
    X(grad_norm, ps, grad_norm(NULL))                                                                              \
    X(norm_forward, n, norm_forward(&fx->tape, NULL, x))                                                           \
    X(norm_kind_parse, s, norm_kind_parse(NULL))                                                                   \
    X(stats_init, m, stats_init(D, NULL))                                                                          \
    X(stats_free, s, stats_free(NULL))                                                                             \
    X(stats_header, f, stats_header(D, NULL))                                                                      \
    X(stats_attach, t, stats_attach(D, NULL))                                                                      \
    X(stats_measure, s, stats_measure(NULL, D))                                                                    \
    X(stats_write, f, stats_write(D, NULL, false))                                                                 \
    X(stats_write_empty, s, stats_write_empty(NULL, D))                                                            \
    X(stats_spike, s, stats_spike(NULL, 1, 1.5))                                                                   \
    X(gpt_param_specs, c, gpt_param_specs(NULL, NULL))                                                             \
    X(gpt_init, rng, gpt_init(D, D, NULL))                                                                         \
    X(gpt_free, m, gpt_free(NULL))                                                                                 \
    X(gpt_recompute_set, m, gpt_recompute_set(NULL, true))                                                         \
    X(gpt_config_check, cfg, gpt_config_check(NULL, E, 64))                                                        \
    X(gpt_forward, idx, gpt_forward(&fx->tape, D, NULL, NULL, 1, 1, NULL))                                         \
    X(layer_linear_forward, l, layer_linear_forward(&fx->tape, NULL, x))                                           \
    X(layer_attention_forward, x, layer_attention_forward(&fx->tape, D, NULL, NULL))                               \
    X(layer_mlp_forward, m, layer_mlp_forward(&fx->tape, NULL, x, NULL))                                           \
    X(layer_loss_forward, logits, layer_loss_forward(&fx->tape, D, NULL, NULL))                                    \
    X(outfile_check, path, outfile_check("--log", NULL, E, 64))                                                    \
    X(outfile_open, path, outfile_open(NULL, false, E, 64))                                                        \
    X(outfile_create_temp, tmp, outfile_create_temp("p", NULL, E, 64))                                             \
    X(outfile_remove_stale_temps, path, outfile_remove_stale_temps(NULL))                                          \
    X(outfile_lock, l, outfile_lock(NULL, "--log", "p", E, 64))                                                    \
    X(outfile_unlock, l, outfile_unlock(NULL))                                                                     \
    X(outfile_same, b, outfile_same("a", NULL))                                                                    \
    X(params_entries, out, params_entries(D, D, "", NULL, D))                                                      \
    X(params_read, block, params_read(D, D, NULL, "", E, 64))                                                      \
    X(specs_check, specs, specs_check(D, NULL, 1, "", E, 64))                                                      \
    X(model_config_read, c, model_config_read(D, NULL, E, 64))                                                     \
    X(model_norms_problem, c, model_norms_problem(NULL))                                                           \
    X(train_forward_backward, batch, train_forward_backward(D, NULL, 0, D, D, E, 64))                             \
    X(train_update, s, train_update(NULL, 1, 1e-3))                                                                \
    X(train_eval_batches, rng, train_eval_batches(&fx->tape, D, D, true, 1, 1, NULL, D, D, D))                     \
    X(train_eval_split, out, train_eval_split(&fx->tape, D, D, 1, D, D, NULL))                                     \
    X(gradcheck, inputs, gradcheck(&fx->tape, D, NULL, NULL, 1, NULL, NULL))                                       \
    X(model_kind_parse, name, model_kind_parse(NULL))                                                              \
    X(model_config_write, meta, model_config_write(D, NULL, D, 4, D, 8))                                           \
    X(model_norm_set, cfg, model_norm_set(D, NULL, NORM_LN))                                                       \
    X(model_attention_set, a, model_attention_set(NULL, D, true))                                                  \
    X(model_names_alloc, names, model_names_alloc(NULL, 2))                                                        \
    X(model_names_free, names, model_names_free(NULL))                                                             \
    X(model_describe_free, m, model_describe_free(NULL))                                                           \
    X(dist_init, d, dist_init(NULL, NULL, NULL, E, 64))                                                            \
    X(dist_finalize, d, dist_finalize(NULL))                                                                       \
    X(dist_sum, x, dist_sum(D, NULL, 1, "a sum"))                                                                  \
    X(dist_params_agree, ps, dist_params_agree(D, NULL))                                                           \
    X(dist_first_difference, d, dist_first_difference(NULL, D, 1))                                                 \
    X(dist_buckets_init, ps, dist_buckets_init(D, NULL, 1024, true))                                               \
    X(dist_buckets_free, d, dist_buckets_free(NULL))                                                               \
    X(dist_backward_begin, t, dist_backward_begin(D, NULL))                                                        \
    X(dist_grads_finish, t, dist_grads_finish(D, NULL))                                                            \
    X(arena_calloc, a, arena_calloc(NULL, 8))                                                                      \
    X(arena_free, a, arena_free(NULL))                                                                             \
    X(arena_rewind, a, arena_rewind(NULL, 0))                                                                      \
    X(paramset_count, ps, paramset_count(NULL))                                                                    \
    X(paramset_free, ps, paramset_free(NULL))                                                                      \
    X(paramset_init, rng, paramset_init(D, NULL))                                                                  \
    X(st_numel, t, st_numel(NULL))                                                                                 \
    X(st_read_reals, out, st_read_reals(D, NULL, 1))                                                               \
    X(st_temp_path, out, st_temp_path("x", NULL, 8))                                                               \
    X(tape_backward_find_nonfinite, loss, tape_backward_find_nonfinite(&fx->tape, NULL))                           \
    X(tape_free, t, tape_free(NULL))                                                                               \
    X(tape_output, t, tape_output(NULL, x->shape, 1, &x))                                                          \
    X(tape_profile_mark, t, tape_profile_mark(NULL))                                                               \
    X(tape_record, out, tape_record(&fx->tape, D, NULL, 1, &x))                                                    \
    X(tape_rewind, t, tape_rewind(NULL, 0, 0))                                                                     \
    X(tape_set_scope, t, tape_set_scope(NULL, "s"))                                                                \
    X(tensor_slice, t, tensor_slice(&fx->params, NULL, 0, x->shape))                                               \
    X(tensor_zero_grad, t, tensor_zero_grad(NULL))                                                                 \
    X(meta_fields_write, buf, meta_fields_write(D, 0, D, "", D, D, 1, NULL, 8))                                    \
    X(meta_fields_read, file, meta_fields_read(D, 0, D, "", NULL, E, 64))                                          \
    X(cpu_env_reexec, argv, cpu_env_reexec(NULL))                                                                  \
    X(dataset_batch, rng, dataset_batch(D, false, 1, 1, NULL, idx, idx))                                           \
    X(gpt_memory_estimate, c, gpt_memory_estimate(NULL, 1, 1))                                                     \
    X(norm_recipe_init, rc, norm_recipe_init(0, NULL, 8))                                                          \
    X(layer_recompute_forward, r, layer_recompute_forward(&fx->tape, NULL, D, D, "s", x, NULL))                    \
    X(rng_seed, r, rng_seed(NULL, 1))                                                                              \
    X(rng_u64, r, rng_u64(NULL))                                                                                   \
    X(rng_uniform, r, rng_uniform(NULL))                                                                           \
    X(rng_normal, r, rng_normal(NULL))                                                                             \
    X(rng_below, r, rng_below(NULL, 3))                                                                            \
    X(session_seed, r, session_seed(NULL, 1, 0))                                                                   \
    X(session_log_row, kind, session_log_row(D, NULL, 0, 0, 0, 0, 0, false))                                       \
    X(session_log_columns_json, f, session_log_columns_json(NULL))                                                 \
    X(stats_before_update, s, stats_before_update(NULL))                                                           \
    X(stats_after_update, s, stats_after_update(NULL))                                                             \
    X(stats_families_json, f, stats_families_json(NULL))                                                           \
    X(shape_of, d, shape_of(1, NULL))                                                                              \
    X(shape_str, buf, shape_str(x->shape, NULL))                                                                   \
    X(train_threads_init, tt, train_threads_init(NULL, 1))                                                         \
    X(train_threads_step, tt, train_threads_step(NULL, 0.1))

static void run_case(int k) {
    int i = 0;
#define CALL(func, arg, call)                                                                                    \
    if (k == i++) {                                                                                              \
        (void)(call);                                                                                            \
        return;                                                                                                  \
    }
    CASES(CALL)
#undef CALL
}

static void test_null_arguments_abort_with_their_names(void **state) {
    fx = *state;
    x = tensor_new(&fx->params, NL_SHAPE(2, 3), true);
    tensor_fill(x, 1);
    static const struct { const char *func, *arg; } cases[] = {
#define ROW(func, arg, call) {#func, #arg},
        CASES(ROW)
#undef ROW
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int err[2];
        assert_int_equal(pipe(err), 0);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(err[1], 2), close(err[0]);
            run_case((int)k);
            _exit(0); // it returned: the contract is broken
        }
        close(err[1]);
        char said[2048];
        ssize_t n = read(err[0], said, sizeof said - 1);
        said[n > 0 ? n : 0] = 0;
        close(err[0]);
        int status;
        waitpid(pid, &status, 0);
        char want[256];
        snprintf(want, sizeof want, "%s(): its argument %s is NULL", cases[k].func, cases[k].arg);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT || !strstr(said, want) || !strstr(said, ".c:"))
            fail_msg("%s with %s NULL: %s %d, said:\n%s", cases[k].func, cases[k].arg,
                     WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                     said);
    }
}

// Two parameters, or two tensors of a file, of one name: a checkpoint could not tell them apart.
static void test_duplicate_names_are_refused(void **state) {
    (void)state;
    ParamSpec two[2] = {{"w", NL_SHAPE(2), PARAM_INIT_CONST, 0, 1, false}, {"w", NL_SHAPE(3), PARAM_INIT_CONST, 0, 1, false}};
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        ParamSet ps;
        (void)freopen("/dev/null", "w", stderr);
        paramset_alloc(&ps, two, 2);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);

    char path[] = "/tmp/normlab_contract_XXXXXX", file[64], err[512] = "";
    assert_non_null(mkdtemp(path));
    snprintf(file, sizeof file, "%s/two.safetensors", path);
    float a[2] = {1, 2}, b[2] = {3, 4};
    StEntry e[2] = {{"w", ST_F32, 1, {2}, a}, {"w", ST_F32, 1, {2}, b}};
    assert_int_equal(st_write(file, e, 2, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "both named 'w'"));
    assert_int_equal(access(file, F_OK), -1); // nothing written
    // a file written by hand with a name twice: refused on opening
    const char *header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                         "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    uint64_t len = strlen(header);
    FILE *f = fopen(file, "wb");
    fwrite(&len, 8, 1, f), fwrite(header, 1, len, f), fwrite(a, 4, 2, f), fclose(f);
    StFile st;
    assert_int_equal(st_open(&st, file, err, sizeof err), -1);
    assert_non_null(strstr(err, "'w' is named twice"));
    unlink(file), rmdir(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_null_arguments_abort_with_their_names, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_duplicate_names_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
