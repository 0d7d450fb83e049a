"""A study's own earlier searches on this machine: the estimate's search part moved toward the
spans they measured.

Each part of the wall-time model is learned from this machine's history
(:mod:`hpbench.cost.learned`), but the parts can be right one by one and their sum still miss a
study whose search runs as the model does not expect. ``studies/signals.toml`` is one: its GRUs are
its dearest configurations and, judged at epoch 5, among its worst, so ASHA prunes every one at the
first rung and TPE then runs the mid-priced CNNs; its cost-score rank correlation over the whole
search is still +0.20 (the MLPs, the cheapest, are the worst of all), which the replay reads as
"the dear ones are the good ones". With two runs of its own here its trials were priced 48.6 s for
29.3-31.7 s measured in three runs, the whole command 59 s for 39-44 s (session 26-27).

A study that has run here before carries that evidence itself: the span of its Tune trials (the
record's ``search_s``, first start to last end) in its last runs of the *same study* (the same
settings, fixed configuration, space and resources: :meth:`hpbench.study.schema.Study.fingerprint`;
an edited study starts over). The estimate's span (trials, turnover) is moved to the geometric mean
of those runs and of the model's own price, the price weighing as :data:`MODEL_RUNS` runs
(:func:`toward_runs`, :func:`span_scale`): the same study's span varied between its runs here by a
log sd of 0.07 (median over 25 studies; 0.12 rms, up to 0.3 for small searches whose early trials
vary), and the model priced the spans of the 16 other studies it had seen once at 0.89-1.19x what
they took, signals' at 1.69x. Pure functions; the figures carry
the runs (:attr:`hpbench.cost.figures.Figures.study_search_s`), :func:`hpbench.cost.walltime.predict`
applies them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MODEL_RUNS = 1.0  # the model's own price weighs as this many of the study's runs
RUNS = 3  # the study's latest runs read
SCALE_BOUNDS = (0.25, 4.0)  # the span is moved by at most these factors


def toward_runs(predicted_s: float, measured: Sequence[float], *, model_runs: float = MODEL_RUNS) -> float:
    """The geometric mean of the ``measured`` spans and ``predicted_s``, the latter weighing as
    ``model_runs`` of them; ``predicted_s`` where nothing (positive) was measured."""
    xs = [float(m) for m in measured if m > 0]
    if predicted_s <= 0 or not xs:
        return predicted_s
    return math.exp((sum(math.log(x) for x in xs) + model_runs * math.log(predicted_s)) / (len(xs) + model_runs))


def span_scale(*, span_s: float, measured: Sequence[float], model_runs: float = MODEL_RUNS) -> float:
    """The factor on the predicted ``span_s`` (the trials and their turnover) that puts it at
    :func:`toward_runs`, within :data:`SCALE_BOUNDS`; 1 without runs. Both parts move: a
    one-trial study's span is mostly its fresh worker's start (transfer_pretrain's 1.0-1.1 s
    measured, 1.9 s priced), which moving its trials alone could not reach."""
    if span_s <= 0 or not any(m > 0 for m in measured):
        return 1.0
    lo, hi = SCALE_BOUNDS
    return min(hi, max(lo, toward_runs(span_s, measured, model_runs=model_runs) / span_s))
