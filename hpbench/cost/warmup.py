"""The device model's first-epoch and fixed trainer constants, read robustly and held within
what a trainer can pay (:func:`hpbench.cost.trial_time.warmup_seconds`).

Three constants come from single timed epochs, not from a fastest of several rounds: the suite's
first epoch over its fastest (``warmup_fraction``, :func:`hpbench.cost.suite.measure_rows`), and
the tiny trial's first-epoch extra and per-epoch trainer seconds (``first_epoch_s``,
``trainer_epoch_s``, :mod:`hpbench.cost.trainer_probe`). On a busy machine a burst of other work
lands in them and only ever adds time: session 50's 2-thread calibration at load ~9 on 2 cores
stored ``warmup_fraction`` 86.2, ``first_epoch_s`` 0.336 s and ``trainer_epoch_s`` 0.065 s where
the 1-thread one 15 minutes earlier read 0.199, 0.001 s and 0 s, and priced every 2-thread trial
5-130x too high. So:

* the fraction is a low quantile (:data:`WARMUP_QUANTILE`) of the probes' ratios, not their median:
  the probes' first epochs run back to back, so a burst covers a run of them, and a low quantile
  stays put until it covers three quarters (the 1-thread rows of results/benchmarks/calib_rows.json,
  load 9: median 0.25, P25 0.14; the ratios of one probe to another span 0-1.2);
* each constant is held at a ceiling of what the trainer's first epoch can cost
  (:data:`WARMUP_CEILING`, :data:`FIRST_EPOCH_CEILING_OPS`, :data:`TRAINER_EPOCH_CEILING_OPS`),
  and a model measured beyond one records the measured value (``DeviceModel.bounded``;
  ``hpbench devices`` shows it). The ceilings are applied where a model is calibrated and where a
  cached one is read, so a cache measured before them is held too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from hpbench.cost.device import DeviceModel
from hpbench.cost.trial_time import quantile

WARMUP_QUANTILE = 0.25
# The first epoch does a steady epoch's work once more plus what is done once: each tensor of a
# step allocated (then reused by the caching allocator: hpbench.train.allocator), the optimizer's
# state created (zeros the size of the parameters: less than one optimizer step), each byte the
# epoch touches read cold once (at most one more pass over its working set). Each costs at most a
# step's own work, so even a one-step (full-batch) epoch's first is at most about twice a steady
# one: fraction <= 1, and less with more steps per epoch. Recorded 1-thread calibrations on this
# 2-core machine (58 in results/benchmarks, 46 cached by sessions 46-50 at load 0-9) read 0.00-0.68
# and 0.00-1.41 (the two above 1 under load).
WARMUP_CEILING = 1.0
# first_epoch_s: a reused worker's first epoch of the tiny trial pays each of its ~100 ops
# (forward, loss, backward, SGD step, validation metrics) once more, allocation and kernel
# selection included: at most ~100 dispatch floors each (op_overhead_s, the device's own
# fastest-of-rounds measurement, so a burst does not move the ceiling). The 46 cached 1-thread
# calibrations read 39-7,215 floors; session 50's 2-thread one under load 277,000.
FIRST_EPOCH_CEILING_OPS = 10_000
# trainer_epoch_s: the trainer's fixed work per epoch beyond the loop (validation metrics, the best
# weights kept, the learning rate recorded): ~20 ops, at 100 floors each. Cached 1-thread
# calibrations read 0-546 floors; session 50's 2-thread one 53,900.
TRAINER_EPOCH_CEILING_OPS = 2_000
# Version of these rules: prices cached with a model read under other rules are priced again
# (hpbench.cost.prices.price_key).
BOUND_RULES = 1


def warmup_fraction(ratios: Iterable[float]) -> float:
    """The suite's warm-up fraction from each probe's (first epoch - fastest) / fastest: their
    :data:`WARMUP_QUANTILE` (linear interpolation; negatives read 0), 0 without any."""
    xs = [max(0.0, float(x)) for x in ratios]
    return quantile(xs, WARMUP_QUANTILE) if xs else 0.0


def ceilings(model: DeviceModel) -> dict[str, float]:
    """Each warm-up constant's ceiling on ``model``: on a CPU only, where they were derived (a GPU's
    first epoch also pays its library handles and kernel selection, not measured here); none for
    the per-op ones without a measured dispatch floor."""
    if model.device != "cpu":
        return {}
    out = {"warmup_fraction": WARMUP_CEILING}
    if model.op_overhead_s > 0:
        out |= {"first_epoch_s": FIRST_EPOCH_CEILING_OPS * model.op_overhead_s,
                "trainer_epoch_s": TRAINER_EPOCH_CEILING_OPS * model.op_overhead_s}
    return out


def bounded(model: DeviceModel) -> DeviceModel:
    """``model`` with each warm-up constant above its ceiling held at it; the value measured kept
    in ``bounded`` (with those held before). The same model when none is above."""
    over = {k: float(getattr(model, k)) for k, hi in ceilings(model).items() if getattr(model, k) > hi}
    if not over:
        return model
    hi = ceilings(model)
    held = {k: hi[k] if k in over else getattr(model, k) for k in ("warmup_fraction", "first_epoch_s", "trainer_epoch_s")}
    return dataclasses.replace(model, warmup_fraction=held["warmup_fraction"], first_epoch_s=held["first_epoch_s"],
                               trainer_epoch_s=held["trainer_epoch_s"], bounded={**model.bounded, **over})


def describe(model: DeviceModel) -> str | None:
    """One line on the constants held at their ceiling, or None."""
    if not model.bounded:
        return None
    held = ", ".join(f"{k} {v:.3g} -> {getattr(model, k):.3g}" for k, v in sorted(model.bounded.items()))
    return (f"{model.device} at {model.threads} thread(s): warm-up constants measured beyond what a first epoch can cost "
            f"(other work during the calibration), held at their ceilings: {held}. "
            f"`hpbench devices --recalibrate --threads {model.threads}` on a quieter machine measures them again.")
