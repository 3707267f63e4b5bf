#!/usr/bin/env python3
"""examples/divergence.py on made-up logs whose answer is known: a loss that falls, then jumps at step
1200 and stays up (or comes down again); the attention logit of block 1 doubles at 1100, block 2's grad norm triples at
1150, everything else is flat with noise. Exit 0 when every check holds."""
import math
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import divergence  # noqa: E402

COLUMNS = ["step", "kind", "loss", "h0.attn_max_logit", "h1.attn_max_logit", "h1.attn_entropy_min", "log_z_max",
           "h0.ln_1.alpha", "h0.ln_1.sat2", "grad_norm.h1", "grad_norm.h2"]


def log(jump_at=1200, logit_at=1100, grad_at=1150, nan_at=None, recover_at=99999):
    rng, rows = random.Random(1), []
    for s in range(1, 2001):
        loss = 4 - 2 * min(s, 1000) / 1000 + (1.5 if jump_at <= s < recover_at else 0) + rng.uniform(-0.05, 0.05)
        if nan_at and s >= nan_at:
            loss = math.nan
        r = {"step": s, "kind": "train", "loss": loss}
        if s % 10 == 1:
            n = lambda: 1 + rng.uniform(-0.03, 0.03)
            r.update({"h0.attn_max_logit": 5 * n(), "h1.attn_max_logit": (12 if s >= logit_at else 5) * n(),
                      "h1.attn_entropy_min": 1.5 * n(), "log_z_max": 6 * n(), "h0.ln_1.alpha": 1.0 * n(),
                      "h0.ln_1.sat2": 0.3 * n(), "grad_norm.h1": 0.5 * n(), "grad_norm.h2": (2 if s >= grad_at else 0.5) * n()})
        else:
            r.update({c: None for c in COLUMNS[3:]})
        rows.append(r)
        if nan_at and s >= nan_at:
            break
    return rows


def check(what, ok):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    return ok


def main():
    good = True
    step, res = divergence.analyse(log(), COLUMNS)
    good &= check(f"loss divergence found within 25 steps of the jump at 1200 (got {step})", step is not None and 1200 <= step <= 1225)
    good &= check(f"first mover: attention logit of h1 (got {res['first_moved']} {res['diverge_layer']})",
                  res["first_moved"] == "attn_logit" and res["diverge_layer"] == "h1")
    good &= check(f"lead: divergence step - 1101 (got {res['lead_steps']})", res["lead_steps"] == step - 1101)
    good &= check(f"h2's grad norm moved at 1151 too (moves: {res['moves']})", "grad_norm:h2@1151" in res["moves"])
    good &= check("flat series did not move", not any(k in res["moves"] for k in ("log_z", "alpha", "saturation", "h0")))
    step, res = divergence.analyse(log(nan_at=1300), COLUMNS, "step 1300: the loss is nan ... started in transformer.h.2.mlp (op)")
    good &= check(f"non-finite at 1300: that step, the module named (got {step} {res['diverge_layer']})",
                  step == 1300 and res["diverge_layer"] == "transformer.h.2.mlp")
    step, res = divergence.analyse(log(jump_at=99999, logit_at=99999, grad_at=99999), COLUMNS)
    good &= check("a run whose loss never rose: nothing", step is None and not any(res.values()))
    step, res = divergence.analyse(log(jump_at=1200, recover_at=1500), COLUMNS)
    good &= check(f"a blow-up the run recovered from is found too (got {step})", step is not None and 1200 <= step <= 1225)
    step, res = divergence.analyse(log(jump_at=1200, recover_at=1250), COLUMNS)
    good &= check(f"a rise shorter than 100 steps is not a blow-up (got {step})", step is None)
    step, res = divergence.analyse(log(logit_at=99999, grad_at=99999), COLUMNS)
    good &= check(f"a divergence no instrument saw: no first mover (got {res['first_moved']!r})", step and res["first_moved"] == "")
    p = divergence.peaks(log(), COLUMNS)
    good &= check(f"peaks: attention logit ~12, entropy ~1.5, log Z ~6, sat2 ~0.3 (got {p})",
                  11.6 < float(p["peak_attn_logit"]) < 12.4 and 1.45 < float(p["min_attn_entropy"]) < 1.5 and
                  6 < float(p["peak_log_z"]) < 6.2 and 0.3 < float(p["peak_sat2"]) < 0.31)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
