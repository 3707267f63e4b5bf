// Crash safety: the train program is killed with SIGKILL at random moments while it saves a
// checkpoint after every step, 50 times; each time the checkpoint on disk must load and resume.
// Kills that land while a checkpoint is being written (its temp file exists) are counted, to show
// that the test reaches the window where a non-atomic write would leave a broken file.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "normlab/safetensors.h"
#include "test_util.h"

#define KILLS 50

static const char *train_bin;
static char dir[] = "/tmp/normlab_kill_XXXXXX";

// Writes a text of a few KB to train on.
static void write_text(const char *path) {
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 60; i++) fputs("Now is the winter of our discontent made glorious summer by this sun.\n", f);
    fclose(f);
}

static pid_t spawn(char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int wait_status(pid_t pid) {
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool temp_file_exists(pid_t pid) {
    char path[600];
    snprintf(path, sizeof path, "%s/ck.st.tmp.%ld", dir, (long)pid);
    struct stat st;
    bool there = stat(path, &st) == 0;
    if (there) unlink(path); // SIGKILL cannot clean up after itself
    return there;
}

static void test_kill_during_checkpoints(void **state) {
    (void)state;
    // A model big enough that writing its checkpoint (about 1.6 MB, fsynced) takes a good part of each step.
#define MODEL "--n-layer=2", "--n-head=2", "--n-embd=64", "--block-size=16", "--batch-size=2", "--eval-iters=1", \
              "--eval-interval=1000000", "--threads=1", "--sample=0", "--quiet"
    char path[600];
    snprintf(path, sizeof path, "%s/ck.st", dir);
    srand((unsigned)time(NULL));
    int loaded = 0, mid_write = 0, no_file = 0;
    for (int k = 0; k < KILLS; k++) {
        char *run[] = {(char *)train_bin, MODEL, "--steps=100000000", "--save=ck.st", "--save-every=1", "text.txt", NULL};
        pid_t pid = spawn(run);
        struct timespec ts = {0, (50 + rand() % 400) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        assert_int_equal(wait_status(pid), 128 + SIGKILL);
        mid_write += temp_file_exists(pid);
        struct stat st;
        if (stat(path, &st) != 0) { // killed before the first save
            no_file++;
            continue;
        }
        char err[512];
        StFile f;
        if (st_open(&f, path, err, sizeof err)) fail_msg("kill %d: the checkpoint does not load: %s", k, err);
        const char *step = st_meta(&f, "step");
        assert_non_null(step);
        char steps[64];
        snprintf(steps, sizeof steps, "--steps=%ld", atol(step) + 1);
        st_close(&f);
        char *resume[] = {(char *)train_bin, MODEL, steps, "--resume=ck.st", "--save=ck.st", "text.txt", NULL};
        int status = wait_status(spawn(resume));
        if (status != 0) fail_msg("kill %d: resuming from step %s exited %d", k, step, status);
        loaded++;
    }
    print_message("    %d kills: %d checkpoints loaded and resumed, %d before the first save, %d during a write\n",
                  KILLS, loaded, no_file, mid_write);
    assert_int_equal(loaded + no_file, KILLS);
    assert_true(loaded >= KILLS / 2);
}

static int setup(void **state) {
    (void)state;
    if (!mkdtemp(dir)) return -1;
    char path[600];
    snprintf(path, sizeof path, "%s/text.txt", dir);
    write_text(path);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return fprintf(stderr, "usage: test_kill PATH-TO-TRAIN\n"), 2;
    train_bin = argv[1];
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_kill_during_checkpoints)};
    return cmocka_run_group_tests_name("kill -9 during checkpoints", tests, setup, NULL);
}
