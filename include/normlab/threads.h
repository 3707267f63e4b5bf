// The team size that follows the cores actually free (src/train/threads.c): the train program's
// --threads auto.
#pragma once
#include <stdbool.h>

// With every core in the team, any other program that takes a core (a second run, a build) leaves
// the team waiting at each of the step's few hundred parallel regions for a descheduled thread: two
// runs on two cores each ran at a third of their solo speed. TrainThreads starts with half the
// cores, now and then runs a few steps with twice or half the team (in turn) and keeps whichever
// was faster; a run of slow steps brings the next trial forward. Our kernels give the same results
// at any team size, and so does -Dblas=mkl (strict reproducibility); with OpenBLAS a change of team
// may move results by rounding (for bit-exact reruns under a changing load: --threads N).
typedef struct TrainThreads {
    int max, now;         // the most threads; the team in use
    int trial;            // the team on trial (0: none)
    long steps, next;     // steps seen; the step of the next trial
    long interval;        // steps between trials (doubles while trials lose)
    int offset;           // added to each interval: differs between processes
    bool went_up;         // the last trial was of a larger team
    int n, slow;          // steps into the trial; slow steps in a row
    double base, sum;     // mean step seconds with `now` (recent steps weigh most); the trial's sum
} TrainThreads;
void train_threads_init(TrainThreads *tt, int max); // sets the team to max threads
// After each training step, with its wall time: may change the team (blas_threads_set).
void train_threads_step(TrainThreads *tt, double seconds);
