// The collectives' watchdog (normlab/dist.h, DistWatch; dist_watch.h). Each rank announces every
// collective it starts, and while it waits says so every beat, to every other rank on a communicator
// of its own: a rank stuck in a collective can then tell which ranks never reached it or went silent.
#include "normlab/config.h"
#ifdef NL_HAVE_MPI
#include "dist_watch.h"

#include <fcntl.h>
#include <stdbool.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define WATCH(d) (*(MPI_Comm *)(d)->watch.comm)

// Room for the announcements in flight: every bucket of a step and a few sums, to each other rank,
// many times over (a send's room is free again once it is on the wire).
int watch_init(Dist *d) {
    DistWatch *w = &d->watch;
    int per = 0;
    MPI_Pack_size(2, MPI_LONG, COMM(d), &per);
    int bytes = 64 * 1024 + 256 * d->size * (per + MPI_BSEND_OVERHEAD);
    w->comm = malloc(sizeof(MPI_Comm));
    w->heard = calloc((size_t)d->size, sizeof *w->heard);
    w->heard_at = calloc((size_t)d->size, sizeof *w->heard_at);
    w->buf = malloc((size_t)bytes);
    if (!w->comm || !w->heard || !w->heard_at || !w->buf) return -1;
    MPI_Comm_dup(COMM(d), (MPI_Comm *)w->comm);
    MPI_Comm_set_errhandler(WATCH(d), MPI_ERRORS_RETURN); // a word with no room is dropped (watch_say)
    MPI_Buffer_attach(w->buf, bytes);
    w->last_s = MPI_Wtime();
    for (int r = 0; r < d->size; r++) w->heard_at[r] = w->last_s;
    return 0;
}

// Takes in the other ranks' announcements that have come.
static void watch_listen(Dist *d) {
    DistWatch *w = &d->watch;
    for (int flag;;) {
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, 0, WATCH(d), &flag, &st);
        if (!flag) return;
        MPI_Recv(w->heard[st.MPI_SOURCE], 2, MPI_LONG, st.MPI_SOURCE, 0, WATCH(d), MPI_STATUS_IGNORE);
        w->heard_at[st.MPI_SOURCE] = MPI_Wtime();
    }
}

void watch_free(Dist *d) {
    DistWatch *w = &d->watch;
    if (w->comm) {
        int bytes;
        void *buf;
        MPI_Buffer_detach(&buf, &bytes); // waits for the announcements still going out
        MPI_Barrier(WATCH(d));           // every rank's are in: none is left in flight
        watch_listen(d);
        MPI_Comm_free((MPI_Comm *)w->comm);
    }
    free(w->comm), free(w->heard), free(w->heard_at), free(w->buf);
    *w = (DistWatch){.timeout_s = w->timeout_s};
}

static double watch_limit(const DistWatch *w) {
    return w->timeout_s > 0 ? w->timeout_s : fmax(DIST_TIMEOUT_FLOOR_S, 10 * w->gap_max_s);
}

// While it waits, a rank says so every beat: one that has said nothing for WATCH_SILENT_BEATS is
// stopped, or cut off. The words go out buffered; with no room left (a link down for long) one is
// dropped, not waited for.
#define WATCH_SILENT_BEATS 4
#define WATCH_STOPPED_S 1.0 // a gap this long between two polls: this rank was stopped
static double watch_beat(const DistWatch *w) { return fmax(0.5, watch_limit(w) / 20); }

static void watch_say(Dist *d) {
    DistWatch *w = &d->watch;
    long word[2] = {w->seq, w->step};
    for (int r = 0; r < d->size; r++)
        if (r != d->rank) MPI_Bsend(word, 2, MPI_LONG, r, 0, WATCH(d));
}

// A collective starts: its number (all ranks start the same ones in the same order), told to the others.
long watch_announce(Dist *d) {
    d->watch.seq++;
    watch_say(d);
    return d->watch.seq;
}

// The job ends as mpirun ends one whose process exits non-zero without MPI_Finalize: not through
// MPI_Abort, whose message to mpirun crashed Open MPI 4.1.4's mpirun (SIGSEGV in pmix_server_log_fn,
// seen in 3 of 16 aborts under MALLOC_PERTURB_) when the stopped rank it waited for was let go. And
// mpirun waits for every daemon before it ends the job: one it cannot reach (a link down) holds it
// for as long as its keepalive allows (8 minutes by default). So a rank that mpirun started itself
// leaves a reaper behind, a process of its own that ends mpirun if it is still there
// DIST_ABORT_GRACE_S later; the ranks across the link end by their own watchdogs.
// Whether process pid is mpirun (Open MPI's launcher, by any of its names). Reads /proc only.
static bool is_mpirun(pid_t pid) {
    char path[64], name[32] = "";
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return false;
    ssize_t n = read(fd, name, sizeof name - 1);
    close(fd);
    name[n > 0 ? n : 0] = 0;
    return !strcmp(name, "mpirun\n") || !strcmp(name, "orterun\n") || !strcmp(name, "mpiexec\n");
}

static void reaper_start(void) {
    pid_t mpirun = getppid();
    if (!is_mpirun(mpirun)) return;
    fflush(NULL);
    if (fork() != 0) return; // the rank (or no reaper)
    setsid();
    prctl(PR_SET_NAME, "normlab-reaper"); // not a rank: whoever looks for the train processes skips it
    for (int fd = 0; fd < 1024; fd++) close(fd); // mpirun must not wait for our end of its pipes
    sleep(DIST_ABORT_GRACE_S);
    if (is_mpirun(mpirun)) { // still there (and not another process that took its pid)
        static const char msg[] = "train: mpirun has not ended the job: it cannot reach a host (its "
                                  "ranks end by their own watchdogs); ending mpirun\n";
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/fd/2", (int)mpirun); // mpirun's stderr, to say why
        int fd = open(path, O_WRONLY | O_APPEND);
        if (fd >= 0 && write(fd, msg, sizeof msg - 1) >= 0) close(fd);
        kill(mpirun, SIGKILL);
    }
    _exit(0);
}

// The job ends: which collective, which step, which ranks never reached it (their last word).
static _Noreturn void watch_fire(Dist *d, const char *what, long seq, double waited) {
    DistWatch *w = &d->watch;
    watch_listen(d);
    char who[1024] = "";
    size_t n = 0;
    double now = MPI_Wtime();
    for (int r = 0; r < d->size && n < sizeof who - 100; r++) {
        double quiet = now - w->heard_at[r];
        if (r == d->rank || (w->heard[r][0] >= seq && quiet < WATCH_SILENT_BEATS * watch_beat(w))) continue;
        n += (size_t)snprintf(who + n, sizeof who - n, "%s rank %d (%s; silent for %.1f s, its last word at step %ld)",
                              n ? ";" : "", r, w->heard[r][0] < seq ? "it never reached it" : "it reached it",
                              quiet, w->heard[r][1]);
    }
    fprintf(stderr, "train: rank %d: %s at step %ld made no progress for %.0f s (--dist-timeout %g): %s%s; ending "
            "the job (exit %d). A checkpoint this run wrote (--save, --save-every) is whole: --resume it, under mpirun "
            "or alone\n", d->rank, what,
            w->step, waited, watch_limit(w), n ? "waiting for" : "every rank reached it and still answers, but no data "
            "came through (a link dropping packets?)", who, DIST_TIMEOUT_EXIT);
    fflush(stderr);
    reaper_start();
    _exit(DIST_TIMEOUT_EXIT);
}

// Waits for n requests, the first of them collective number seq, under the watchdog.
void watch_wait(Dist *d, int n, MPI_Request *req, long seq, const char *what) {
    DistWatch *w = &d->watch;
    double t0 = MPI_Wtime(), limit = watch_limit(w), said = t0, polled = t0, waited = 0;
    for (long i = 0;; i++) {
        int done;
        MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
        if (done) break;
        if (i % 256) continue;
        watch_listen(d);
        double now = MPI_Wtime();
        // the time this rank was not running (stopped itself: SIGSTOP, then mpirun's SIGCONT on
        // its way to ending the job) is not the others' silence
        waited += now - polled < WATCH_STOPPED_S ? now - polled : 0;
        polled = now;
        if (now - said > watch_beat(w)) watch_say(d), said = now;
        if (waited > limit) {
            for (int k = 0; k < n; k++, seq++) { // the first request still open names the collective
                int one;
                MPI_Test(&req[k], &one, MPI_STATUS_IGNORE);
                if (!one) break;
            }
            watch_fire(d, what, seq, waited);
        }
    }
    double now = MPI_Wtime();
    d->comm_s += now - t0;
    w->gap_max_s = fmax(w->gap_max_s, now - w->last_s);
    w->last_s = now;
}

#else
typedef int dist_watch_needs_mpi; // built without MPI: nothing to watch (ISO C wants a declaration)
#endif
