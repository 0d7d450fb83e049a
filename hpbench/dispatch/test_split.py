"""The held-out test split (``[data] test_fraction > 0``, or the test split the data came with),
evaluated once, after the search, for
the final best configurations only: the ``[study] repeats_top`` best search trials, from their
saved weights (``results/<name>/weights/<trial>.pt``). Their rows get ``test_*`` columns; no
other trial ever sees the test split, so it stays an unbiased estimate for the chosen ones."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hpbench.dispatch.repeats import searched_params
from hpbench.results.files import STUDY_JSON
from hpbench.results.ranking import ranked_rows
from hpbench.results.store import ResultsStore
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study
from hpbench.train.task import SUPERVISED, evaluates_test


def has_test_split(study: Study, out: Path) -> bool:
    """``test_fraction > 0``, or a test split given with the data (the data record of ``study.json``
    says so); never for a task without a supervised test evaluation (gan, rl): a results folder
    whose gan study had one (read before it was refused) is not evaluated on it, nor seen as untested
    on every re-run."""
    if not evaluates_test(str(study.config["model"].get("task", SUPERVISED))):
        return False
    if float(study.config["data"].get("test_fraction", 0.0)) > 0:
        return True
    try:
        record = json.loads((out / STUDY_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return "test" in record.get("data", {}).get("given", ())


def untested(study: Study, store: ResultsStore) -> bool:
    """The study has a test split and its best finished search trial has no ``test_*`` value: the
    run that trained it stopped (a Ctrl-C, a kill) before its test split."""
    if not has_test_split(study, store.out):
        return False
    ranked = _ranked(store)
    return bool(ranked) and not any(k.startswith("test_") and isinstance(v, (int, float)) and math.isfinite(v) for k, v in ranked[0].items())


def _ranked(store: ResultsStore) -> list[Mapping[str, Any]]:
    """The finished search trials with a finite best value of the metric, best first."""
    return ranked_rows(store.rows(), metric=store.metric, mode=store.mode)


def evaluate_best_on_test(study: Study, store: ResultsStore, *, check: Callable[[], None] | None = None) -> int:
    """Returns how many trials were evaluated. ``check`` is called before each trial's evaluation
    (the search's Ctrl-C: it raises, and the trials evaluated so far keep their columns)."""
    if not has_test_split(study, store.out):
        return 0
    import torch

    from hpbench.results.weights import WeightsFileError, weights_path
    from hpbench.train.evaluate import evaluate_test
    from hpbench.train.weights import build_saved_model, load_record

    n = 0
    for t in _ranked(store)[: study.settings.repeats_top]:
        if check is not None:
            check()
        path = weights_path(store.out, int(t["trial"]))
        if not path.is_file():
            continue
        params = searched_params(t, study.space)
        cfg = trial_config(study, params)
        try:
            model = build_saved_model(load_record(path), user_families=(cfg.model.family,))
        except WeightsFileError as err:  # replaced since the trial saved it: say so, evaluate the others
            store.annotate(t["trial_id"], {"error": f"test split not evaluated: {err}"[:500]})
            continue
        with torch.no_grad():
            store.annotate(t["trial_id"], evaluate_test(cfg, model))
        n += 1
    return n
