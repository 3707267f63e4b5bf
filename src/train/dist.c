// Data parallel training on MPI (normlab/dist.h).
#include "normlab/dist.h"
#include "normlab/check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/config.h"
#ifdef NL_HAVE_MPI
#include <mpi.h>

#include "dist_watch.h"
#endif

int dist_launched_size(void) {
    // Open MPI's mpirun, then MPICH's (hydra) and Intel MPI's
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return 1;
}

// A world of one (the watchdog's timeout, an option, stays).
static void alone(Dist *d) {
    *d = (Dist){.rank = 0, .size = 1, .local_rank = 0, .local_size = 1, .watch.timeout_s = d->watch.timeout_s};
}

// The first parameter of ps whose block holds the element at offset off (params are in offset order).
static int param_at(const ParamSet *ps, size_t off) {
    int lo = 0, hi = ps->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (ps->list[mid].offset <= off) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

#ifdef NL_HAVE_MPI
#define REQ(d) ((MPI_Request *)(d)->requests)
#define NL_MPI_REAL (sizeof(nl_real) == sizeof(double) ? MPI_DOUBLE : MPI_FLOAT)
static size_t request_size(void) { return sizeof(MPI_Request); }

// One collective started and waited for: x[0..n) reduced with op over the ranks, in place.
static void reduce(Dist *d, void *x, int n, MPI_Datatype type, MPI_Op op, const char *what) {
    MPI_Request req;
    double t0 = MPI_Wtime();
    long seq = watch_announce(d);
    MPI_Iallreduce(MPI_IN_PLACE, x, n, type, op, COMM(d), &req);
    d->comm_s += MPI_Wtime() - t0;
    watch_wait(d, 1, &req, seq, what);
    MPI_Wait(&req, MPI_STATUS_IGNORE); // complete already (a null request): the wait the MPI checker looks for
}

// ---- joining, the grads, the sums ----------------------------------------------------------------
int dist_init(Dist *d, int *argc, char ***argv, char *err, size_t errlen) {
    NL_NONNULL(d, err);
    alone(d);
    if (dist_launched_size() <= 1) return 0; // no MPI_Init: a plain run pays nothing for MPI
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided); // only the main thread calls MPI
    d->comm = malloc(sizeof(MPI_Comm));
    if (!d->comm) return snprintf(err, errlen, "out of memory joining the other processes"), -1;
    MPI_Comm_dup(MPI_COMM_WORLD, (MPI_Comm *)d->comm);
    MPI_Comm_rank(COMM(d), &d->rank);
    MPI_Comm_size(COMM(d), &d->size);
    MPI_Comm local;
    MPI_Comm_split_type(COMM(d), MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &d->local_rank);
    MPI_Comm_size(local, &d->local_size);
    MPI_Comm_free(&local);
    if (watch_init(d)) return snprintf(err, errlen, "out of memory joining the other processes"), -1;
    return 0;
}

void dist_finalize(Dist *d) {
    NL_NONNULL(d);
    if (d->comm) {
        watch_free(d);
        MPI_Comm_free((MPI_Comm *)d->comm);
        MPI_Finalize();
    }
    free(d->comm);
    dist_buckets_free(d);
    alone(d);
}

static void start(Dist *d, int b) {
    DistBucket *k = &d->buckets[b];
    double t0 = MPI_Wtime();
    long seq = watch_announce(d);
    if (b == 0) d->first_seq = seq;
    MPI_Iallreduce(MPI_IN_PLACE, d->params->grad + k->begin, (int)(k->end - k->begin), NL_MPI_REAL, MPI_SUM,
                   COMM(d), &REQ(d)[b]);
    d->comm_s += MPI_Wtime() - t0;
}

// After each node's backward: start the buckets it completed, and let MPI move the ones in flight
// (Open MPI progresses a nonblocking collective only inside MPI calls).
static void after_node(void *ctx, int node) {
    Dist *d = ctx;
    while (d->next < d->n_buckets && d->buckets[d->next].ready_at >= node) start(d, d->next++);
    if (d->next > 0) {
        int done;
        double t0 = MPI_Wtime();
        MPI_Testall(d->next, REQ(d), &done, MPI_STATUSES_IGNORE);
        d->comm_s += MPI_Wtime() - t0;
    }
}

void dist_grads_finish(Dist *d, Tape *t) {
    NL_NONNULL(d, t);
    if (d->size == 1) return;
    t->hook = NULL;
    if (!d->overlap) {
        reduce(d, d->params->grad, (int)d->params->numel, NL_MPI_REAL, MPI_SUM, "the grads' allreduce");
        return;
    }
    while (d->next < d->n_buckets) start(d, d->next++);
    watch_wait(d, d->n_buckets, REQ(d), d->first_seq, "the grads' allreduce (bucket by bucket)");
}

void dist_sum(Dist *d, double *x, int n, const char *what) {
    NL_NONNULL(d, x, what);
    if (d->size > 1) reduce(d, x, n, MPI_DOUBLE, MPI_SUM, what);
}

bool dist_params_agree(Dist *d, const ParamSet *ps) {
    NL_NONNULL(d, ps);
    if (d->size == 1) return true;
    uint64_t h = 0xcbf29ce484222325ull; // FNV-1a over the bytes
    const unsigned char *p = (const unsigned char *)ps->data;
    for (size_t i = 0; i < ps->numel * sizeof(nl_real); i++) h = (h ^ p[i]) * 0x100000001b3ull;
    uint64_t hl[2] = {h, ~h}; // the max of h and of ~h: every rank's hash is the same iff they are equal
    reduce(d, hl, 2, MPI_UINT64_T, MPI_MAX, "the parameters' check");
    return hl[0] == ~hl[1];
}

int dist_first_difference(Dist *d, const uint64_t *x, int n) {
    NL_NONNULL(d, x);
    if (d->size == 1 || n <= 0) return -1;
    uint64_t *both = malloc(2 * (size_t)n * sizeof *both); // x and ~x: max(~x) = ~min(x)
    if (!both) return -1;
    for (int i = 0; i < n; i++) both[i] = x[i], both[n + i] = ~x[i];
    reduce(d, both, 2 * n, MPI_UINT64_T, MPI_MAX, "the options' check");
    int first = -1;
    for (int i = 0; i < n && first < 0; i++)
        if (both[i] != ~both[n + i]) first = i;
    free(both);
    return first;
}

#else // built without MPI: a world of one

int dist_init(Dist *d, int *argc, char ***argv, char *err, size_t errlen) {
    NL_NONNULL(d, err);
    (void)argc, (void)argv;
    alone(d);
    int n = dist_launched_size();
    if (n > 1) {
        snprintf(err, errlen, "started by mpirun as one of %d processes, but this normlab was built without MPI, "
                 "so each would train a model of its own. Install Open MPI (sudo apt-get install openmpi-bin "
                 "libopenmpi-dev), then start it as mpirun -np %d ./train ...: the ./train script reconfigures build/ to "
                 "use Open MPI (by hand: meson setup --reconfigure build && ninja -C build)", n, n);
        return -1;
    }
    return 0;
}

void dist_finalize(Dist *d) {
    NL_NONNULL(d);
    dist_buckets_free(d);
    alone(d);
}

static size_t request_size(void) { return 1; }
static void after_node(void *ctx, int node) { (void)ctx, (void)node; }
void dist_grads_finish(Dist *d, Tape *t) {
    NL_NONNULL(d, t);
    (void)d, (void)t;
}
void dist_sum(Dist *d, double *x, int n, const char *what) {
    NL_NONNULL(d, x, what);
    (void)d, (void)x, (void)n, (void)what;
}
bool dist_params_agree(Dist *d, const ParamSet *ps) {
    NL_NONNULL(d, ps);
    return (void)d, (void)ps, true;
}
int dist_first_difference(Dist *d, const uint64_t *x, int n) {
    NL_NONNULL(d, x);
    return (void)d, (void)x, (void)n, -1;
}

#endif

void dist_buckets_free(Dist *d) {
    NL_NONNULL(d);
    free(d->buckets), free(d->param_node), free(d->requests);
    d->buckets = NULL, d->param_node = NULL, d->requests = NULL, d->n_buckets = 0;
}

int dist_buckets_init(Dist *d, ParamSet *ps, size_t bucket_bytes, bool overlap) {
    NL_NONNULL(d, ps);
    d->params = ps, d->overlap = overlap, d->n_buckets = 0;
    d->buckets = malloc((size_t)ps->n * sizeof *d->buckets);
    d->param_node = malloc((size_t)ps->n * sizeof *d->param_node);
    d->requests = calloc((size_t)ps->n, request_size()); // an MPI_Request per bucket
    if (!d->buckets || !d->param_node || !d->requests) return -1;
    size_t elems = bucket_bytes / sizeof(nl_real) > 0 ? bucket_bytes / sizeof(nl_real) : 1;
    for (int i = 0; i < ps->n;) { // whole parameters, until the bucket holds about bucket_bytes
        size_t begin = ps->list[i].offset;
        while (++i < ps->n && ps->list[i].offset - begin < elems) {}
        d->buckets[d->n_buckets++] = (DistBucket){begin, i < ps->n ? ps->list[i].offset : ps->numel, -1};
    }
    // backward completes the last parameters first (the table is in forward order): reverse them
    for (int a = 0, b = d->n_buckets - 1; a < b; a++, b--) {
        DistBucket k = d->buckets[a];
        d->buckets[a] = d->buckets[b], d->buckets[b] = k;
    }
    d->hook = (TapeHook){.ctx = d, .after_node = after_node};
    return 0;
}

void dist_backward_begin(Dist *d, Tape *t) {
    NL_NONNULL(d, t);
    if (d->size == 1 || !d->overlap) return;
    ParamSet *ps = d->params;
    for (int i = 0; i < ps->n; i++) d->param_node[i] = -1;
    // the first node to read each parameter (or a view into it: wpe's slice)
    for (int i = 0; i < t->n; i++)
        for (int k = 0; k < t->nodes[i].n_in; k++) {
            const nl_real *p = t->nodes[i].in[k]->data;
            if (p < ps->data || p >= ps->data + ps->numel) continue;
            int j = param_at(ps, (size_t)(p - ps->data));
            if (d->param_node[j] < 0) d->param_node[j] = i;
        }
    // a bucket is complete at the smallest of its parameters' first nodes; one with a parameter that
    // no node reads, only at the end (-1). Backward runs nodes downwards: buckets start in the order
    // of their ready_at, largest first (ties: the table's order, reversed, as above).
    for (int b = 0; b < d->n_buckets; b++) {
        DistBucket *k = &d->buckets[b];
        k->ready_at = INT32_MAX;
        for (int j = param_at(ps, k->begin); j < ps->n && ps->list[j].offset < k->end; j++)
            k->ready_at = d->param_node[j] < 0 ? -1 : d->param_node[j] < k->ready_at ? d->param_node[j] : k->ready_at;
        if (k->ready_at == INT32_MAX) k->ready_at = -1;
    }
    for (int b = 1; b < d->n_buckets; b++) // insertion sort, stable: a few dozen buckets
        for (int c = b; c > 0 && d->buckets[c - 1].ready_at < d->buckets[c].ready_at; c--) {
            DistBucket k = d->buckets[c];
            d->buckets[c] = d->buckets[c - 1], d->buckets[c - 1] = k;
        }
    d->next = 0;
    t->hook = &d->hook;
}
