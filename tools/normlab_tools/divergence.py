"""Where a run's loss blew up, and which instrument moved first (used by sweep.py for every finished job).

A blow-up is read off the training loss, which the train program logs every step (the val estimate
comes only every eval-interval steps); its step is the run's divergence step:
  - a non-finite loss: the first step with one;
  - otherwise: the first step where the loss's trailing 20-step mean exceeds 1.1 x its lowest value so
    far and stays above 1.05 x it for the next 100 steps (or to the end of the run).
A run can blow up and recover (the loss falls again as the learning rate decays); sweep.py's
`diverged` says whether it ended badly (non-finite, or its last val estimate above 1.1 x its best).

The instruments (the train log's columns, every --stats-every steps; normlab/stats.h) are grouped in
families, one series per layer or norm position. A series has *moved* at a measured step t when its
value departs from its baseline, the median of its values in the window (t - 150, t - 50], by more than
the family's threshold, and stays departed at the next two measurements (or until the log ends):
  attn_logit    h<i>.attn_max_logit     the largest attention logit     rises x2
  attn_entropy  h<i>.attn_entropy_min   the lowest head's entropy       falls to x0.5
  log_z         log_z_max               the output logits' largest log Z rises x1.5
  alpha         <pos>.alpha or .beta    the norm's scalar                x1.5 either way
  saturation    <pos>.sat2 (or .sat)    fraction with |alpha x + s| > 2  rises by 0.1
  grad_norm     grad_norm.<group>       a layer group's grad norm        rises x3
For a run that blew up, the first mover is the series that moved earliest within the 400 steps before its
divergence step (up to 10 steps after it, the measuring interval); its lead is the divergence step
minus the step it moved at. Families whose series moved at that same measured step are all named
("attn_logit+saturation"): 10 steps cannot order them. A move can be seen from the first measured
step with three measurements in its baseline window, step 71 at --stats-every 10. The divergence layer is where the train program found the first
non-finite value (its message names the module), else the first mover's layer or position ("n places"
when series in several moved at that step).
"""
import math
import re
import statistics

FAMILIES = [  # (family, column pattern (the place: any model's block or norm name), direction, threshold)
    ("attn_logit", re.compile(r"^(.+)\.attn_max_logit$"), "ratio_up", 2.0),
    ("attn_entropy", re.compile(r"^(.+)\.attn_entropy_min$"), "ratio_down", 0.5),
    ("log_z", re.compile(r"^()log_z_max$"), "ratio_up", 1.5),
    ("alpha", re.compile(r"^(.+)\.(?:alpha|beta)$"), "ratio_both", 1.5),
    ("saturation", re.compile(r"^(.+)\.sat2$"), "abs_up", 0.1),
    ("grad_norm", re.compile(r"^grad_norm\.(.+)$"), "ratio_up", 3.0),
]
WINDOW = (150, 50)   # the baseline: measurements in (t - 150, t - 50]
LOOKBACK = 400       # how far before the divergence a move counts
LOSS_MEAN = 20       # the trailing mean of the training loss
HOLD = 100           # steps the loss must stay up


def finite(v):
    return v is not None and math.isfinite(v)


def present(v):
    """A measured value: the logs' readers give NaN where a row has none (files.read_log)."""
    return v is not None and not math.isnan(v)


def divergence_step(train_rows):
    """The step of divergence from the training loss (see the module's docstring), or None."""
    losses = [(int(r["step"]), r["loss"]) for r in train_rows]
    for s, v in losses:
        if not finite(v):
            return s
    means, window = [], []
    for s, v in losses:
        window.append(v)
        if len(window) > LOSS_MEAN:
            window.pop(0)
        means.append((s, sum(window) / len(window)))
    low = math.inf
    for i, (s, m) in enumerate(means):
        if i >= LOSS_MEAN and m > 1.1 * low and all(mm > 1.05 * low for ss, mm in means[i:] if ss <= s + HOLD):
            return s
        low = min(low, m)
    return None


def series(stats_rows, columns):
    """{(family, where): [(step, value)]} for every instrument column present."""
    out = {}
    for col in columns:
        for family, pattern, _, _ in FAMILIES:
            m = pattern.match(col)
            if not m or (family == "saturation" and col.endswith(".sat")):
                continue
            out[(family, m.group(1) or "-")] = [(int(r["step"]), r[col]) for r in stats_rows]
    if not any(f == "saturation" for f, _ in out):  # no sat2 column (older logs): the 0.99 one
        for col in columns:
            m = re.match(r"^((?:h\d+\.ln_[12])|ln_f)\.sat$", col)
            if m:
                out[("saturation", m.group(1))] = [(int(r["step"]), r[col]) for r in stats_rows]
    return out


def departed(direction, threshold, base, v):
    if not finite(v):
        return True  # a non-finite instrument has certainly moved
    if direction == "abs_up":
        return v - base > threshold
    if base <= 0:
        return False
    r = v / base
    return {"ratio_up": r > threshold, "ratio_down": r < threshold,
            "ratio_both": r > threshold or r < 1 / threshold}[direction]


def first_move(points, direction, threshold):
    """The first measured step where the series moved (see the docstring), or None."""
    for i, (t, v) in enumerate(points):
        base = [x for s, x in points[:i] if t - WINDOW[0] < s <= t - WINDOW[1] and finite(x)]
        if len(base) < 3:
            continue
        b = statistics.median(base)
        if departed(direction, threshold, b, v) and all(departed(direction, threshold, b, x) for _, x in points[i + 1:i + 3]):
            return t
    return None


def moves(stats_rows, columns):
    """Every series' first move: a list of (step, family, where), earliest first."""
    found = []
    params = {f: (d, th) for f, _, d, th in FAMILIES}
    for (family, where), points in series(stats_rows, columns).items():
        t = first_move(points, *params[family])
        if t is not None:
            found.append((t, family, where))
    return sorted(found, key=lambda m: (m[0], [f for f, *_ in FAMILIES].index(m[1]), m[2]))


PEAKS = [  # (results column, log column pattern, max or min): the extremes a run's instruments reached
    ("peak_attn_logit", re.compile(r"^.+\.attn_max_logit$"), max),
    ("min_attn_entropy", re.compile(r"^.+\.attn_entropy_min$"), min),
    ("peak_log_z", re.compile(r"^log_z_max$"), max),
    ("peak_sat2", re.compile(r"^.+\.sat2$"), max),
]


def peaks(rows, columns):
    """The run's extremes over its measured steps (before any non-finite one): {column: value or ""}."""
    out = {}
    for name, pattern, pick in PEAKS:
        cols = [c for c in columns if pattern.match(c)]
        vals = [r[c] for r in rows if r["kind"] == "train" for c in cols if finite(r.get(c))]
        out[name] = f"{pick(vals):.6g}" if vals else ""
    return out


def analyse(rows, columns, out_text=""):
    """The divergence step (None: the loss never blew up) and diverge_layer, first_moved, lead_steps and
    moves of one run's log rows (dicts of floats with a "kind"), for sweep.py's results; empty strings
    where they do not apply."""
    res = {"diverge_layer": "", "first_moved": "", "lead_steps": "", "moves": ""}
    train = [r for r in rows if r["kind"] == "train"]
    stats_rows = [r for r in train if any(c.startswith("grad_norm.") and present(r.get(c)) for c in columns)]
    if not train:
        return None, res
    step = divergence_step(train)
    if step is None:
        return None, res
    found = [m for m in moves(stats_rows, columns) if step - LOOKBACK <= m[0] <= step + 10]
    res["moves"] = " ".join(f"{f}:{w}@{t}" for t, f, w in found)
    if found:
        t, family, where = found[0]
        # families that moved at the same measured step moved together, as far as 10 steps can tell
        together = list(dict.fromkeys(f for s, f, _ in found if s == t))
        res["first_moved"], res["lead_steps"] = "+".join(together), step - t
        places = list(dict.fromkeys(w for s, _, w in found if s == t and w != "-"))
        res["diverge_layer"] = places[0] if len(places) == 1 else f"{len(places)} places" if places else ""
    m = re.search(r"started in (\S+)", out_text)
    if m:
        res["diverge_layer"] = m.group(1)
    return step, res
