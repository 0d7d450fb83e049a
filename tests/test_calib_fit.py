"""The calibration fit's anchors (hpbench.cost.suite.fit_coef with priors): a synthetic suite
generated from known coefficients is recovered, and on a degenerate suite (terms that rise
together) no term a micro-benchmark measures collapses to 0."""

from __future__ import annotations

import random

import pytest

from hpbench.cost.predict import FEATURES, seconds
from hpbench.cost.suite import ANCHORED_MEMORY, ANCHORED_OPS, fit_coef

FLOOR = 1e-6  # a measured dispatch floor (s per op)
PRIOR = {**dict.fromkeys(ANCHORED_MEMORY, 1.0), **dict.fromkeys(ANCHORED_OPS, FLOOR)}
# the device as its micro-benchmarks describe it (anchored terms at their priors), free terms anything
TRUE = {"epoch": 3e-4, "step": 8e-5, "module": 2e-6, "view": 0.0, "matmul": 1.0, "conv": 1.0, **PRIOR}
# a device whose per-op cost and strided bandwidth the micro-benchmarks misjudge
OFF = {**TRUE, "op": 1.5 * FLOOR, "op_backward": 0.8 * FLOOR, "memory_strided": 1.4}


def _suite(*, degenerate: bool, n: int = 24, true: dict[str, float] = TRUE) -> list[tuple[dict[str, float], float]]:
    """Epoch features of n made-up probes and their seconds under TRUE. ``degenerate``: op,
    backward-op, module and step counts all proportional to the steps (one column), the memory
    terms all proportional to one another, as in a suite of small networks of one shape."""
    rng = random.Random(7)
    rows = []
    for _ in range(n):
        steps = rng.choice((5, 20, 60, 200))
        per = rng.uniform(10, 80)
        mem = rng.uniform(1e-5, 3e-3)
        f = dict.fromkeys(FEATURES, 0.0)
        f |= {"epoch": 1.0, "step": float(steps), "matmul": rng.uniform(1e-4, 5e-2), "memory": mem}
        if degenerate:
            f |= {"op": 10.0 * steps, "op_backward": 20.0 * steps, "op_nograd": 5.0 * steps, "module": 4.0 * steps,
                  "memory_strided": 0.3 * mem, "memory_optimizer": 0.5 * mem}
        else:
            f |= {"op": per * steps, "op_backward": rng.uniform(1.2, 3.0) * per * steps, "op_nograd": rng.uniform(3, 40) * steps,
                  "module": rng.uniform(2, 12) * steps, "view": 0.0, "conv": rng.choice((0.0, rng.uniform(1e-4, 1e-2))),
                  "memory_strided": rng.uniform(0, 2e-3), "memory_optimizer": rng.uniform(1e-5, 2e-3)}
        rows.append((f, seconds(f, true)))
    return rows


def test_anchored_fit_recovers_known_coefficients():
    for degenerate in (False, True):  # where the data agrees with the anchors, even a degenerate suite is recovered
        coef, err = fit_coef(_suite(degenerate=degenerate), prior=PRIOR)
        assert err < 1e-6
        assert coef["matmul"] == 1.0 and coef["conv"] == 1.0  # measured kernels: held
        # (step and module: two free columns of one direction in the degenerate suite; only their sum is defined)
        for k in ("epoch", *ANCHORED_OPS, *ANCHORED_MEMORY, *(() if degenerate else ("step", "module"))):
            assert coef[k] == pytest.approx(TRUE[k], rel=1e-4), (degenerate, k)
    # a well-posed suite off the anchors: with no anchor it is recovered exactly; with the anchor
    # each misjudged term moves from its prior toward the truth
    rows = _suite(degenerate=False, true=OFF)
    free, err0 = fit_coef(rows, prior=PRIOR, anchor=0.0)
    assert err0 < 1e-6
    for k in ("step", "op", "op_backward", "memory", "memory_strided", "memory_optimizer"):
        assert free[k] == pytest.approx(OFF[k], rel=1e-4), k
    coef, _ = fit_coef(rows, prior=PRIOR)
    assert PRIOR["op"] < coef["op"] <= OFF["op"] * 1.05 and PRIOR["memory_strided"] < coef["memory_strided"] <= OFF["memory_strided"] * 1.05


def test_degenerate_suite_keeps_every_measured_term_near_its_prior():
    rows = _suite(degenerate=True, true=OFF)
    plain, _ = fit_coef(rows)
    # the free fit splits collinear columns at will: measured terms go to 0 (as the calibrations of
    # sessions 5-6 did: op_backward, module at 0, memory 4-7x)
    assert min(plain[k] for k in (*ANCHORED_OPS, *ANCHORED_MEMORY)) == 0.0
    coef, err = fit_coef(rows, prior=PRIOR)
    assert err < 0.05  # the anchored fit still prices the suite
    for k in (*ANCHORED_OPS, *ANCHORED_MEMORY):
        assert 0.5 * PRIOR[k] < coef[k] < 2.5 * PRIOR[k], (k, coef[k])
