// The team size that follows the cores actually free (normlab/threads.h, TrainThreads).
#include <unistd.h>

#include "normlab/check.h"
#include "normlab/blas.h"
#include "normlab/threads.h"
#include "normlab/train.h"

enum {
    FIRST_TRIAL = 10,   // steps before the first trial (the first steps warm caches and the arena)
    MIN_INTERVAL = 100, // steps between trials after a change of team ...
    MAX_INTERVAL = 1600, // ... doubling to this while trials lose
    TRIAL_STEPS = 5,    // a trial's steps; the first, where the team changes, is not counted
    SLOW_RUN = 3,       // this many steps in a row 1.5x slower than the mean start a trial early
};

void train_threads_init(TrainThreads *tt, int max) {
    NL_NONNULL(tt);
    max = max > 0 ? max : 1;
    // Runs started together would hold their trials at the same steps, and two teams on trial at
    // once can oversubscribe the cores badly (a step took 20x as long): an offset per process.
    int offset = (int)((unsigned)getpid() * 2654435761u % 37u);
    // Half the cores to begin with (the first trial, soon, doubles it when that is faster): starting
    // with them all beside another run that does the same costs the most.
    *tt = (TrainThreads){.max = max, .now = max > 1 ? max / 2 : 1, .next = FIRST_TRIAL + offset,
                         .interval = MIN_INTERVAL, .offset = offset};
    blas_threads_set(tt->now);
}

static void trial_end(TrainThreads *tt) {
    double mean = tt->sum / (tt->n - 1);
    if (mean < 0.95 * tt->base) { // the trial team was faster: keep it
        tt->now = tt->trial, tt->base = mean, tt->interval = MIN_INTERVAL;
    } else {
        tt->interval = tt->interval * 2 < MAX_INTERVAL ? tt->interval * 2 : MAX_INTERVAL;
    }
    blas_threads_set(tt->now);
    tt->trial = 0, tt->next = tt->steps + tt->interval + tt->offset, tt->slow = 0;
}

void train_threads_step(TrainThreads *tt, double seconds) {
    NL_NONNULL(tt);
    tt->steps++;
    if (tt->max == 1) return;
    if (tt->trial) {
        if (++tt->n > 1) tt->sum += seconds; // the first trial step pays for the change
        // a trial step twice as slow as the team's mean ends the trial at once
        if (tt->n == TRIAL_STEPS || (tt->n > 1 && seconds > 2 * tt->base)) trial_end(tt);
        return;
    }
    tt->slow = tt->base > 0 && seconds > 1.5 * tt->base ? tt->slow + 1 : 0;
    tt->base = tt->base > 0 ? 0.8 * tt->base + 0.2 * seconds : seconds;
    if (tt->slow >= SLOW_RUN && tt->next > tt->steps + 1) tt->next = tt->steps + 1, tt->interval = MIN_INTERVAL;
    if (tt->steps < tt->next) return;
    // up (twice the team) and down (half) in turn, where both exist
    int up = tt->now * 2 < tt->max ? tt->now * 2 : tt->max, down = tt->now > 1 ? tt->now / 2 : 1;
    tt->went_up = up != tt->now && (down == tt->now || !tt->went_up);
    tt->trial = tt->went_up ? up : down;
    tt->n = 0, tt->sum = 0;
    blas_threads_set(tt->trial);
}
