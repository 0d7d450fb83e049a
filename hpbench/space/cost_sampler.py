"""Cost-aware TPE: Optuna's TPE whose candidates are ranked by expected improvement per predicted
second (Snoek, Larochelle & Adams 2012, "EI per second"), with the cost model's predicted seconds
of each candidate configuration.

TPE draws ``n_ei_candidates`` values of a parameter from the good trials' density l(x) and keeps
the one with the largest log l(x) / g(x) (g: the other trials' density), a monotone stand-in for
expected improvement. Here the candidate's predicted seconds c(x) enter as
log l(x) / g(x) - log c(x): a candidate twice as slow must be twice as promising. The space is
define-by-run, so a parameter is drawn knowing the ones drawn before it in the same trial
(``trial.params``); the rest take the study's own values for the prediction. Only integer and
categorical parameters are re-ranked (model shapes, batch sizes, optimizers: what changes the
cost); a float (a learning rate) is drawn as plain TPE draws it, and so is every parameter
during TPE's random start-up trials.

In a search the cost is the helper process's prediction
(:meth:`hpbench.dispatch.predictions.AsyncPredictions.trial_seconds`): cached by what the cost
depends on (architecture, optimizer kind, batch size, epochs; not the learning rate or the
initialization), asked for in the background and never waited for, so a draw costs the driver
what plain TPE's does; a candidate not priced yet counts as the priced ones' mean
(:func:`log_seconds`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.samplers import TPESampler

CostFn = Callable[[dict[str, Any]], float | None]  # a configuration's predicted seconds (None: unknown)


def unknown_cost(params: dict[str, Any]) -> float | None:
    """The cost of a search that prices nothing (picklable, as Tune saves the sampler with it)."""
    return None


class CostAwareTPESampler(TPESampler):
    """``cost``: a (partial) configuration's predicted seconds, or None when it cannot say."""

    def __init__(self, *, cost: CostFn, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cost = cost
        self._drawing: tuple[Any, dict[str, Any]] | None = None  # (trial, search space) of the draw in progress

    def _sample(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        self._drawing = (trial, search_space)
        try:
            return super()._sample(study, trial, search_space)
        finally:
            self._drawing = None

    def _compute_acquisition_func(self, samples: dict[str, np.ndarray], mpe_below: Any, mpe_above: Any) -> np.ndarray:
        acq = super()._compute_acquisition_func(samples, mpe_below, mpe_above)
        if self._drawing is None:
            return acq
        trial, space = self._drawing
        costed = [n for n, d in space.items() if isinstance(d, (IntDistribution, CategoricalDistribution)) and n in samples]
        if not costed:
            return acq
        out: np.ndarray = acq - log_seconds(samples, space, costed, dict(trial.params), self._cost)
        return out


def log_seconds(samples: dict[str, np.ndarray], space: dict[str, Any], names: list[str], drawn: dict[str, Any], cost: CostFn) -> np.ndarray:
    """log predicted seconds of each candidate (0 where the cost is unknown, so that an unknown
    cost neither favours nor penalises a candidate)."""
    n = len(next(iter(samples.values())))
    out = np.zeros(n)
    seen: dict[str, float | None] = {}
    for i in range(n):
        params = {**drawn, **{k: space[k].to_external_repr(samples[k][i]) for k in names}}
        key = repr(sorted((k, str(v)) for k, v in params.items()))
        if key not in seen:
            seen[key] = cost(params)
        s = seen[key]
        out[i] = math.log(s) if s is not None and s > 0 and math.isfinite(s) else 0.0
    known = out[out != 0.0]
    if len(known) and len(known) < n:  # unknown candidates cost as much as the known ones on average
        out[out == 0.0] = known.mean()
    return out
