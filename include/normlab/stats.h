// The instruments: what the layers do inside, measured on a training step itself (no extra forward;
// the train program does it every --stats-every steps) and written as extra columns of its --log rows.
// The norms report their inputs, the attention op and the cross-entropy what they saw, to the tape's
// observer (TapeObserver) during the forward: this reads no op's private layout, makes no second
// pass over the activations, and works with the composite forms too. The columns:
//   grad_norm.<g>, update_ratio.<g>   per layer group g of the model (Model.groups; the GPT's: emb
//                                     (wte, wpe), h<i> (block i), ln_f);
//                                     the grads' L2 norm before clipping, |p_after - p_before| / |p|
//   <pos>.in_rms, .in_std, .in_max    per norm (Model.norms: h<i>.ln_1, h<i>.ln_2, ln_f): the norm's
//                                     input over the whole batch: RMS, standard deviation, max |x|
//   <pos>.alpha / .beta               the effective scalar (after softplus for dytsp/dyisrusp)
//   <pos>.sat                         the squashing kinds (NormInfo.saturates_at: DyT's, Derf): the
//                                     fraction of outputs within 1% of +-1 (|tanh(alpha x)| > 0.99)
//   <pos>.sat2                        the squashing kinds: the fraction with |alpha x + s| > 2 (s = 0
//                                     for DyT), the threshold of recent saturation studies
//   <pos>.slope                       DyISRU kinds: the slope at 0, 1/sqrt(beta + eps)
//   <pos>.shift                       Derf: the shift s
//   h<i>.attn_entropy                 block i's attention: entropy of each row's distribution (nats),
//                                     mean over heads, batch and rows (row t sees t+1 tokens, so at
//                                     most log(t+1): uniform attention over T 64 gives 3.2)
//   h<i>.attn_entropy_min             that mean for its lowest-entropy head (collapse shows here)
//   h<i>.attn_max_logit               the largest pre-softmax logit q.k / sqrt(hd) in the batch
//   log_z_mean, log_z_max             the output logits' log sum exp over the vocabulary, mean and max
//                                     over the batch's positions (what z-loss penalises; log V = 4.17
//                                     for uniform logits)
//   emb_scale                         the model's scalars (Model.scalars): the embedding scale
// And loss spikes: a step whose loss exceeds spike_factor x the median of the last SPIKE_WINDOW.
#pragma once
#include <stdbool.h>
#include <stdio.h>

#include "normlab/model.h"
#include "normlab/observe.h"
#include "normlab/tape.h"

#define SPIKE_WINDOW 50
#define STATS_NAME (2 * MODEL_NAME)

// One column of the table that header, rows and empty rows are all written from: its name, where
// its value is measured, and the flag that says the step's forward reported it (NULL: always).
typedef struct StatsColumn {
    char name[STATS_NAME];
    const double *value;
    const bool *seen;
} StatsColumn;

// What one norm's input looked like (StatsNorm.sat and the rest: NAN where the kind has none).
typedef struct StatsNorm {
    double rms, std, max, scalar, sat, slope, sat2, shift;
} StatsNorm;

typedef struct TrainStats {
    const Model *model;
    double *gnorm, *uratio; // (groups.n)
    nl_real *before;        // (params->numel) the parameters before the update
    StatsNorm *norm;        // (norms.n)
    AttentionSeen *attn;    // (attention.n) in forward order
    LogitsSeen logits;
    double *scalar;         // (scalars.n) the model's scalars after the update
    int n_cols;
    StatsColumn *cols;      // (n_cols), in the order they are written
    TapeObserver observer;
    int n_seen, n_attn_seen, n_logits_seen;  // reports in this step's forward
    bool have_norms, have_attn, have_logits; // every norm / attention reported, the logits once
    double window[SPIKE_WINDOW];             // the spike detector's last losses
    int n_window, next;
} TrainStats;

// 0, or -1 when out of memory.
int stats_init(TrainStats *s, const Model *m);
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
// Every kind of instrument column as a JSON array of {name, per (group, norm, attention, model),
// help}: what ./train --registry gives the tools, which keep no list of their own.
void stats_families_json(FILE *f);
