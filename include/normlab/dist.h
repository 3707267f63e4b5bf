// Data parallel training on MPI: N processes (ranks), each holding the whole model and taking 1/N of
// every batch. Backward leaves each rank the grads of its share; they are summed over the ranks
// (MPI_Allreduce, in buckets started while backward goes on), so every rank takes the same optimizer
// step from the same grads and the parameters stay identical, bit for bit. docs/distributed.md.
//
// A process not started by mpirun with more than one process, or a library built without MPI
// (meson -Dmpi=disabled, or no libopenmpi-dev), is a world of one: every call below then does
// nothing, or the obvious, and costs nothing.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "normlab/params.h"
#include "normlab/tape.h"

// A range of the parameters' grads (ParamSet.grad, in elements) reduced as one message. It is
// complete once backward has run node ready_at, the first node in forward order that reads one of its
// parameters (-1: some parameter is read by no node directly, e.g. under --recompute, whose blocks
// write their parameters' grads from inside one node: then only once backward is done).
typedef struct DistBucket {
    size_t begin, end;
    int ready_at;
} DistBucket;

// The watchdog: a rank waiting in a collective that makes no progress for timeout_s ends the job
// (exit status DIST_TIMEOUT_EXIT; mpirun ends the others), naming the collective, the step and the ranks that
// never reached it. Each rank announces every collective it starts to the others, on a communicator
// of its own, in a buffered send that never waits.
#define DIST_TIMEOUT_EXIT 124
#define DIST_TIMEOUT_FLOOR_S 120.0 // the default: this, or 10 x the longest gap between collectives
#define DIST_ABORT_GRACE_S 5       // a job still not ended by then: mpirun cannot reach a host
typedef struct DistWatch {
    double timeout_s;  // seconds without progress (0: the default)
    long step;         // the step the collectives belong to (the caller's, for the message)
    long seq;          // collectives this rank started
    double last_s;     // when this rank's last wait ended (MPI_Wtime), and the longest gap since
    double gap_max_s;
    long (*heard)[2];  // (size) the last collective (seq, step) each rank announced
    double *heard_at;  // (size) when it came
    void *comm, *buf;  // the announcements' communicator, and their send buffer
} DistWatch;

typedef struct Dist {
    int rank, size;             // this process, and how many there are (1: alone)
    int local_rank, local_size; // the same among the processes on this host (for the thread count)
    bool overlap;               // start each bucket's allreduce as soon as backward completes it
    ParamSet *params;
    DistBucket *buckets; // (n_buckets) in the order backward completes them
    int n_buckets, next; // next: the first bucket not started in this backward
    long first_seq;      // the watchdog's number of this backward's first bucket
    int *param_node;     // (params->n) scratch: the first node reading each parameter
    void *requests;      // (n_buckets) MPI_Request
    TapeHook hook;
    double comm_s;       // seconds inside MPI calls for the grads and scalars, summed over steps
    void *comm;          // the MPI communicator (MPI_Comm), when size > 1
    DistWatch watch;
} Dist;

// How many processes the launcher (mpirun, mpiexec) started this one among; 1 when none did.
int dist_launched_size(void);
// Joins the processes mpirun started (MPI_Init), or makes a world of one when there are none.
// Returns 0, or -1 with a message in err: started by mpirun with several processes by a build without
// MPI (each would train a model of its own).
int dist_init(Dist *d, int *argc, char ***argv, char *err, size_t errlen);
// Splits ps's grads into buckets of about bucket_bytes (whole parameters, in their table's order),
// for the reductions. 0, or -1 when out of memory.
int dist_buckets_init(Dist *d, ParamSet *ps, size_t bucket_bytes, bool overlap);
// Frees the buckets (also when a run ends without dist_finalize, on an error).
void dist_buckets_free(Dist *d);
// Leaves MPI (after the last collective call); frees the buckets.
void dist_finalize(Dist *d);

// The grads' reduction, around the backward whose grads are the step's last (the last
// micro-batch's): dist_backward_begin(d, t) before tape_backward finds where each bucket completes
// and hooks t; dist_grads_finish(d, t) after it starts what is left, waits for every bucket and
// unhooks t. The grads are then the sum over the ranks (the caller seeds backward with 1/N for the
// mean). With overlap off, one reduction of every grad starts in dist_grads_finish.
void dist_backward_begin(Dist *d, Tape *t);
void dist_grads_finish(Dist *d, Tape *t);

// x[0..n) summed over the ranks, in place; the same on every rank. what names it for the watchdog.
void dist_sum(Dist *d, double *x, int n, const char *what);
// True when every rank holds the same bits in ps's parameters (a hash of them compared).
bool dist_params_agree(Dist *d, const ParamSet *ps);
// The first i in [0, n) whose x[i] is not the same on every rank (a collective: every rank calls it
// with the same n), or -1 when all agree (or when out of memory for the exchange).
int dist_first_difference(Dist *d, const uint64_t *x, int n);
