"""A trained supervised model applied to new raw data: :class:`Predictor`.

``Results.load_model`` gives the network, which reads encoded inputs and answers in class
indices. ``Results.load_predictor`` wraps it with the encoding its weights file keeps
(:mod:`hpbench.data.encoding`): a table's feature columns (text ones one-hot, as in training;
a category training never saw gets no input), the samples' layout, the training split's
standardize / min-max statistics, and the labels the data held, so that new data goes in as it
was given (a DataFrame for a CSV or Parquet study, else an array shaped like its ``x``) and the
labels come out. Weights files written before hpbench kept the encoding, and streamed data's,
hold none: their predictor takes inputs as the model reads them and answers in class indices.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hpbench.data.datasets import TASKS
from hpbench.data.encoding import Encoding, check_finite, float32_samples, single_hint
from hpbench.data.onehot import callers_level
from hpbench.results.files import WEIGHTS_DIR
from hpbench.results.keep import no_weights_in

CHUNK = 4096  # samples per forward pass at most; fewer where a sample's activations cost more (rows_per_pass)


@dataclass(frozen=True, kw_only=True)
class Predictor:
    model: torch.nn.Module  # in eval mode, on the CPU
    task: str  # multiclass, binary or regression
    input_shape: tuple[int, ...]
    encoding: Encoding | None = None  # None: the file kept none (inputs as the model reads them, class indices out)
    temperature: float | None = None  # the trial's fitted temperature scaling (probabilities), if any

    @classmethod
    def of_record(cls, rec: Any, model: torch.nn.Module) -> Predictor:
        _check_supervised(rec)
        task = str(rec.get("task"))
        enc = rec.get("encoding")
        return cls(model=model.eval(), task=task, input_shape=tuple(rec["input_shape"]), encoding=None if enc is None else Encoding.from_record(enc),
                   temperature=rec.get("temperature"))

    @functools.cached_property
    def rows_per_pass(self) -> int:
        """Samples per forward pass: as many as a few hundred MB of the model's activations hold, at
        most :data:`CHUNK` (:mod:`hpbench.train.eval_memory`; sized once, on the first prediction)."""
        from hpbench.train.eval_memory import eval_rows

        return eval_rows(self.model, sample_shape=self.input_shape, floor=1, cap=CHUNK)

    @property
    def classes(self) -> tuple[Any, ...] | None:
        """The labels the data held, by class index (None: regression, or not recorded)."""
        return None if self.encoding is None else self.encoding.classes

    def inputs(self, x: Any) -> np.ndarray:
        """New raw samples as the model reads them (the training data's encoding applied)."""
        if self.encoding is not None:
            return self.encoding.inputs(x, input_shape=self.input_shape)
        a = float32_samples(x)
        if tuple(a.shape[1:]) != self.input_shape:
            raise ValueError(f"the samples must be shaped (n, {', '.join(map(str, self.input_shape))}) as the model reads them, but got {a.shape}"
                             + (single_hint(a.shape) if a.shape == self.input_shape else ""))
        check_finite(a)  # NaN's argmax is class 0: a label for garbage
        return a

    def _outputs(self, x: Any) -> np.ndarray:
        a = torch.from_numpy(np.ascontiguousarray(self.inputs(x)))
        rows = self.rows_per_pass if len(a) > 1 else 1
        with torch.no_grad():  # a block, not the decorator: a warning the encoding gives names the caller's line, not torch's wrapper
            if len(a):
                out = torch.cat([self.model(a[i : i + rows]) for i in range(0, len(a), rows)])
            else:  # no rows: no predictions, as wide as the model's outputs (predict_proba's (0, classes))
                out = self.model(torch.zeros(1, *self.input_shape))[:0]
        return out.double().numpy()

    def predict_proba(self, x: Any) -> np.ndarray:
        """Each class's probability, ``(n, classes)`` in the order of :attr:`classes` (binary: 2 columns)."""
        if self.task == "regression":
            raise ValueError("a regression model predicts values, not class probabilities: use predict")
        logits = self._outputs(x) / (self.temperature or 1.0)
        if self.task == "binary":
            p = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
            return np.stack([1.0 - p, p], axis=1)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def predict(self, x: Any) -> np.ndarray:
        """Each sample's predicted label (classification: the labels the data held) or value (regression)."""
        if self.task == "regression":
            return self._outputs(x).reshape(-1)
        codes = self.predict_proba(x).argmax(axis=1)
        return codes if self.encoding is None else self.encoding.labels(codes)


def load_model(path: Any, *, user_families: Collection[str] = ()) -> torch.nn.Module:
    """The model of a weights file (a search's ``weights/<trial>.pt``, ``hpbench train``'s
    ``model.pt`` or the folder holding it) as ``Results.load_model`` and ``Trained.load_model``
    give it: on the CPU, in eval mode; a supervised trial's network, an rl trial's policy (taking
    raw observations with ``normalize_obs``), a gan trial's generator. ``user_families``: the user
    families (``package.module:build``) the study that wrote it names, the only ones it builds."""
    from hpbench.train.weights import build_saved_model, load_record

    return build_saved_model(load_record(_weights_file(path)), user_families=user_families).eval()


def load_predictor(path: Any, *, user_families: Collection[str] = ()) -> Predictor:
    """The predictor of a weights file (a search's ``weights/<trial>.pt``, ``hpbench train``'s
    ``model.pt``); ``user_families`` as :func:`load_model`."""
    from hpbench.train.weights import build_saved_model, load_record

    file = _weights_file(path)
    rec = load_record(file)
    _check_supervised(rec)
    predictor = Predictor.of_record(rec, build_saved_model(rec, user_families=user_families))
    if predictor.encoding is None:
        _warn_no_encoding(file, streamed="encoding" in rec)
    return predictor


def _warn_no_encoding(file: Path, *, streamed: bool) -> None:
    """Say that the predictor of ``file`` takes the model's inputs: a weights file written before
    hpbench kept the encoding (no ``encoding`` key), or one of streamed data (``None``), whose
    study's preprocessing (standardize, minmax, one-hot columns) ``predict`` does not apply. Raw data
    given as the README tells went in silently and answered worse (0.866 vs 0.987 on digits)."""
    why = "its model was trained on streamed data" if streamed else "it was written before hpbench kept it"
    retrain = "" if streamed else ", or retrain it with this version (`hpbench best --study-out FILE` + `hpbench train FILE`), which keeps it"
    warnings.warn(f"{file}: this weights file keeps no record of how the data was encoded ({why}): its predictor applies none of "
                  "the study's preprocessing (standardize, minmax, one-hot columns) and answers in class indices; give it data as the "
                  f"model was trained on{retrain}", UserWarning, stacklevel=callers_level())


def _weights_file(path: Any) -> Path:
    """``path``, or the ``model.pt`` in it where it is ``hpbench train``'s output folder."""
    p = Path(path)
    if not p.exists() and p.parent.name == WEIGHTS_DIR and p.suffix == ".pt" and p.stem.isdigit():
        why = no_weights_in(p.parent.parent, int(p.stem))  # a search's weights/<trial>.pt: diverged at once, or keep_weights deleted it
        if why:
            raise FileNotFoundError(f"{p}: {why}")
    return p / "model.pt" if p.is_dir() and (p / "model.pt").is_file() else p


def _check_supervised(rec: Any) -> None:
    task = str(rec.get("task"))
    if task not in TASKS:  # the supervised tasks
        raise ValueError(f"a predictor applies a supervised model, but this trial's task is {task!r}: its model is what "
                         "load_model() gives (Results.load_model, Trained.load_model)")
