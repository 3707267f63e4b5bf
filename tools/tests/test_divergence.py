"""normlab_tools.divergence on made-up logs whose answer is known: a loss that falls, then jumps at step
1200 and stays up (or comes down again); the attention logit of block 1 doubles at 1100, block 2's grad norm triples at
1150, everything else is flat with noise."""
import math
import random

from normlab_tools import divergence

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


def test_a_jump_is_found_and_its_first_mover_named():
    step, res = divergence.analyse(log(), COLUMNS)
    assert step is not None and 1200 <= step <= 1225, "within 25 steps of the jump at 1200"
    assert res["first_moved"] == "attn_logit" and res["diverge_layer"] == "h1"
    assert res["lead_steps"] == step - 1101
    assert "grad_norm:h2@1151" in res["moves"], "h2's grad norm moved at 1151 too"
    assert not any(k in res["moves"] for k in ("log_z", "alpha", "saturation", "h0")), "flat series did not move"


def test_a_nonfinite_step_is_the_divergence_and_its_module_named():
    step, res = divergence.analyse(log(nan_at=1300), COLUMNS, "step 1300: the loss is nan ... started in transformer.h.2.mlp (op)")
    assert step == 1300 and res["diverge_layer"] == "transformer.h.2.mlp"


def test_no_rise_no_divergence():
    step, res = divergence.analyse(log(jump_at=99999, logit_at=99999, grad_at=99999), COLUMNS)
    assert step is None and not any(res.values())


def test_a_recovered_blowup_counts_a_short_rise_does_not():
    step, _ = divergence.analyse(log(jump_at=1200, recover_at=1500), COLUMNS)
    assert step is not None and 1200 <= step <= 1225
    step, _ = divergence.analyse(log(jump_at=1200, recover_at=1250), COLUMNS)
    assert step is None, "a rise shorter than 100 steps is not a blow-up"


def test_a_divergence_no_instrument_saw_has_no_first_mover():
    step, res = divergence.analyse(log(logit_at=99999, grad_at=99999), COLUMNS)
    assert step and res["first_moved"] == ""


def test_empty_cells_as_the_log_reader_gives_them():
    """files.read_log gives NaN where a row has no value: the same answers as with None."""
    rows = [{k: (math.nan if v is None else v) for k, v in r.items()} for r in log()]
    step, res = divergence.analyse(rows, COLUMNS)
    assert 1200 <= step <= 1225 and res["first_moved"] == "attn_logit"


def test_peaks():
    p = divergence.peaks(log(), COLUMNS)
    assert 11.6 < float(p["peak_attn_logit"]) < 12.4 and 1.45 < float(p["min_attn_entropy"]) < 1.5
    assert 6 < float(p["peak_log_z"]) < 6.2 and 0.3 < float(p["peak_sat2"]) < 0.31
