"""The held-out-seed protocol: how every study and `sweep.py summary` choose and report.

A study splits its seeds in two. Selection seeds choose each setting (its lr, or any option): the
choice is the lowest mean loss over the selection seeds, among the candidates every selection seed
ran. Evaluation seeds, which took no part in choosing, give every reported number: the mean over at
least MIN_EVAL of them with a 95% t-interval. A gap between two settings is the difference of their
evaluation means with a 95% Welch interval, and is called a difference only when that interval
excludes 0; otherwise it is "not resolved at N seeds". A choice on the edge of its grid is a bound,
not an optimum: the grid grows until the choice is interior, or the page says so.

Every function here takes plain numbers or runs (dicts with a "seed"); nothing reads a file.
"""
import collections
import functools
import math
import statistics

MIN_EVAL = 3  # the fewest evaluation seeds a reported number may rest on
LEVEL = 0.95

Choice = collections.namedtuple("Choice", "key mean means")
Estimate = collections.namedtuple("Estimate", "mean half n lost")  # lost: evaluation seeds without a finite loss
Gap = collections.namedtuple("Gap", "diff half df resolved n")


@functools.lru_cache(maxsize=None)
def t_quantile(df, level=LEVEL):
    """The two-sided LEVEL quantile of Student's t with DF degrees of freedom (DF may be fractional:
    Welch's). The cdf is the density integrated by Simpson's rule, inverted by bisection."""
    if not df > 0:
        return math.nan
    if df > 1e6:
        df = 1e6
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def cdf(x, n=2000):
        h = x / n
        f = lambda u: (1 + u * u / df) ** (-(df + 1) / 2)
        s = f(0) + f(x) + sum((4 if k % 2 else 2) * f(k * h) for k in range(1, n))
        return 0.5 + c * s * h / 3

    target, lo, hi = 0.5 + level / 2, 0.0, 1.0
    while cdf(hi) < target:
        lo, hi = hi, 2 * hi
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < target else (lo, mid)
    return (lo + hi) / 2


def split(selection, evaluation):
    """The two seed sets, as frozensets; they must not share a seed."""
    sel, ev = frozenset(map(int, selection)), frozenset(map(int, evaluation))
    if sel & ev:
        raise ValueError(f"seeds {sorted(sel & ev)} are both selection and evaluation seeds")
    return sel, ev


def choose(runs, selection, key, loss):
    """The setting chosen on the selection seeds' runs alone: Choice(key, mean, means), means being
    every candidate's mean over the selection seeds; None when no candidate has a run of every
    selection seed. key(run) names a run's setting, loss(run) its loss (inf when it has none). Runs
    of any other seed are never looked at; ties go to the smaller key."""
    sel = frozenset(map(int, selection))
    at = collections.defaultdict(dict)
    for r in runs:
        if int(r["seed"]) in sel:
            at[key(r)][int(r["seed"])] = loss(r)
    means = {k: statistics.fmean(v.values()) for k, v in at.items() if set(v) == sel}
    if not means:
        return None
    best = min(means, key=lambda k: (means[k], k))
    return Choice(best, means[best], means)


def on_edge(chosen, candidates, axis=lambda k: k, rest=lambda k: None):
    """Whether the chosen setting sits on the edge of its grid along one axis (axis(k): its value
    there; rest(k): the rest of the setting, held fixed): then it is a bound, not an optimum."""
    along = sorted({axis(k) for k in candidates if rest(k) == rest(chosen)})
    return len(along) > 1 and axis(chosen) in (along[0], along[-1])


def estimate(values):
    """Estimate(mean, half-width of the 95% t-interval, n, lost) of the finite values; lost counts the
    others (a diverged seed). half is nan below two finite values."""
    fin = [v for v in values if math.isfinite(v)]
    lost = len(values) - len(fin)
    if not fin:
        return Estimate(math.inf, math.nan, 0, lost)
    n = len(fin)
    half = t_quantile(n - 1) * statistics.stdev(fin) / math.sqrt(n) if n > 1 else math.nan
    return Estimate(statistics.fmean(fin), half, n, lost)


def prediction(values, digits=2):
    """(lo, hi, n): the range a new run's value falls in with 95% probability, from n finite values
    taken as draws of one distribution (mean +- t s sqrt(1 + 1/n)), rounded outward to DIGITS
    decimals; None below three values."""
    fin = [v for v in values if math.isfinite(v)]
    n = len(fin)
    if n < MIN_EVAL:
        return None
    half = t_quantile(n - 1) * statistics.stdev(fin) * math.sqrt(1 + 1 / n)
    scale = 10 ** digits
    mean = statistics.fmean(fin)
    return math.floor((mean - half) * scale) / scale, math.ceil((mean + half) * scale) / scale, n


def evaluate(runs, evaluation, key, loss, chosen):
    """The Estimate of the evaluation seeds' losses at the chosen setting (one run a seed)."""
    ev = frozenset(map(int, evaluation))
    seen = {int(r["seed"]): loss(r) for r in runs if int(r["seed"]) in ev and key(r) == chosen}
    return estimate(list(seen.values()))


def gap(a, b):
    """Gap(diff, half, df, resolved, n) of mean(a) - mean(b) over two independent samples of finite
    values: Welch's 95% interval; resolved when it excludes 0. n is the smaller sample's size."""
    a, b = [v for v in a if math.isfinite(v)], [v for v in b if math.isfinite(v)]
    n = min(len(a), len(b))
    if n == 0:
        return Gap(math.nan, math.nan, math.nan, False, 0)
    diff = statistics.fmean(a) - statistics.fmean(b)
    if n < 2:
        return Gap(diff, math.nan, math.nan, False, n)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Gap(diff, 0.0, math.inf, diff != 0, n)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_quantile(df) * se
    return Gap(diff, half, df, abs(diff) > half, n)


def seeds_text(n):
    return f"{n} seed{'s' if n != 1 else ''}"


def format_estimate(e, digits=3):
    """'2.057 +- 0.041 (3 seeds)': the mean and the 95% interval's half-width."""
    if e.n == 0:
        return f"diverged ({seeds_text(e.lost)})" if e.lost else "no evaluation seed"
    s = f"{e.mean:.{digits}f}" + (f" +- {e.half:.{digits}f}" if math.isfinite(e.half) else "")
    s += f" ({seeds_text(e.n)}" + (f"; {e.lost} more diverged" if e.lost else "")
    return s + (f": fewer than {MIN_EVAL})" if e.n < MIN_EVAL else ")")


def format_gap(g, digits=3):
    """'+0.287 [+0.231, +0.343]', or the same with ': not resolved at 3 seeds' when it holds 0."""
    if g.n == 0 or not math.isfinite(g.diff):
        return "-"
    if not math.isfinite(g.half):
        return f"{g.diff:+.{digits}f} (no interval: {seeds_text(g.n)})"
    s = f"{g.diff:+.{digits}f} [{g.diff - g.half:+.{digits}f}, {g.diff + g.half:+.{digits}f}]"
    return s if g.resolved else s + f": not resolved at {seeds_text(g.n)}"
