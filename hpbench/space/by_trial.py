"""A sampler whose draws for a trial depend on the seed and the trial's number, not on the draws
before it: each trial is drawn by a sampler of its own, built with the seed
``SeedSequence([seed, trial number])`` (:func:`trial_seed`).

A search draws from two samplers on one Optuna study: the early trials' in the helper's thread
while Ray starts (:mod:`hpbench.dispatch.early`), then Ray Tune's. A seeded Optuna sampler draws one
stream, so what a trial got depended on how many draws came before it from the same sampler: on
how fast Ray started (bug hunt s47/h3: a random search of seed 7 shared 3 of its 12
configurations between a warm runtime and a fresh one), and two samplers seeded alike drew the same
configurations twice (session 34). Optuna numbers a study's trials once, whoever asks, so here both
samplers take the study's seed: trial 5 draws the same configuration from either, and no two
trials draw the same stream.

What a trial's sampler reads besides its seed is the study (the history TPE models): a random
draw, and TPE's random start-up ones, are fixed by (seed, number); TPE's later proposals still
depend on which trials had finished when it was asked, as in any asynchronous search.

Only Optuna's public sampler interface is used: ``build(seed=...)`` makes a fresh sampler (its
state besides the random stream, TPE's cached search space, is recomputed from the study), which
serves the trial from ``before_trial`` to ``after_trial``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from optuna.samplers import BaseSampler


def trial_seed(seed: int, number: int) -> int:
    """The seed of trial ``number``'s own sampler in a search of seed ``seed``."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class TrialSeededSampler(BaseSampler):
    """``build(seed=...)``: a sampler (picklable, as Tune saves the searcher with it: a class or a
    ``functools.partial`` of a module's function); each trial is drawn by ``build(seed=trial_seed(seed,
    trial.number))``."""

    def __init__(self, build: Callable[..., BaseSampler], *, seed: int) -> None:
        self.build = build
        self.seed = seed
        self._live: dict[int, BaseSampler] = {}  # trial number -> its sampler, from before_trial to after_trial

    def inner(self, number: int) -> BaseSampler:
        """Trial ``number``'s sampler (a new one: :meth:`_of` keeps the one drawing)."""
        return self.build(seed=trial_seed(self.seed, number))

    def _of(self, trial: Any) -> BaseSampler:
        sampler = self._live.get(trial.number)
        if sampler is None:
            sampler = self._live[trial.number] = self.inner(trial.number)
        return sampler

    def before_trial(self, study: Any, trial: Any) -> None:
        self._of(trial).before_trial(study, trial)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return self._of(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        return self._of(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self._of(trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Sequence[float] | None) -> None:
        sampler = self._live.pop(trial.number, None) or self.inner(trial.number)
        sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        """Nothing to reseed: each trial's stream is fixed by its number (Optuna calls this for the
        threads of ``optimize(n_jobs=...)``, which get their trials' numbers apart anyway)."""
