// The instruments: what the layers do inside, measured on a training step itself (no extra forward;
// the train program does it every --stats-every steps) and written as extra columns of its --log rows.
// The norms report their inputs to the tape's observer (tape_observe) during the forward, so this
// reads no op's private layout and works with the composite forms too. The columns:
//   grad_norm.<g>, update_ratio.<g>   per layer group g: emb (wte, wpe), h<i> (block i), ln_f;
//                                     the grads' L2 norm before clipping, |p_after - p_before| / |p|
//   <pos>.in_rms, .in_std, .in_max    per norm position (h<i>.ln_1, h<i>.ln_2, ln_f): the norm's
//                                     input over the whole batch: RMS, standard deviation, max |x|
//   emb_scale                         the embedding scale (when it is on)
//   <pos>.alpha / .beta               the effective scalar (after softplus for dytsp/dyisrusp)
//   <pos>.shift                       Derf: the shift s
//   <pos>.sat                         DyT kinds: fraction of outputs with |tanh(alpha x)| > 0.99;
//                                     Derf: with |erf(alpha x + s)| > 0.99
//   <pos>.slope                       DyISRU kinds: the slope at 0, 1/sqrt(beta + eps)
// And loss spikes: a step whose loss exceeds spike_factor x the median of the last SPIKE_WINDOW.
#pragma once
#include <stdbool.h>
#include <stdio.h>

#include "normlab/tape.h"
#include "normlab/gpt.h"

#define SPIKE_WINDOW 50
#define STATS_NAME 48

typedef struct TrainStats {
    const Gpt *model;
    int n_groups, *group_of; // group_of: (params.n) the group of each parameter
    char (*group_name)[STATS_NAME];
    double *gnorm, *uratio; // (n_groups)
    nl_real *before;           // (params.numel) the parameters before the update
    int n_pos;              // norm positions, in forward order
    const Norm **norm;      // (n_pos)
    char (*pos_name)[STATS_NAME];
    double *rms, *std, *max, *scalar, *shift, *derived; // (n_pos); derived: sat or slope (NAN: n/a)
    int n_seen;      // norm inputs reported in this step's forward
    bool have_norms; // every position reported its input
    // spikes
    double window[SPIKE_WINDOW];
    int n_window, next;
} TrainStats;

// 0, or -1 when out of memory.
int stats_init(TrainStats *s, const Gpt *m);
void stats_free(TrainStats *s);
// The column names, comma-separated with a leading comma (CSV header).
void stats_header(const TrainStats *s, FILE *f);
// Before a measured step's forward: the norms' inputs are measured as the forward reports them.
void stats_attach(TrainStats *s, Tape *t);
// After its backward, before clipping and the update: stop observing; the grad norms.
void stats_measure(TrainStats *s, Tape *t);
// Around the update: keep the parameters, then compare.
void stats_before_update(TrainStats *s);
void stats_after_update(TrainStats *s);
// Appends the values: CSV fields (",v,v,...") or JSON members (", \"name\": v, ...").
void stats_write(const TrainStats *s, FILE *f, bool json);
// Empty CSV fields for a row without statistics.
void stats_write_empty(const TrainStats *s, FILE *f);
// Feeds one training loss; true when it is a spike (loss > factor x the window's median, once the
// window holds at least 10 losses). factor <= 0: never.
bool stats_spike(TrainStats *s, double loss, double factor);
