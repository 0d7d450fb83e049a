"""TensorBoard: one run per trial (``tensorboard/trial_0003/``): every epoch's metrics as scalars
by epoch, and at the end the hyperparameters with the summary (HParams dashboard; the summary
values are also scalars under ``hparams/``). Written with tensorboardX (a dependency of Ray
Tune: no TensorFlow or torch on the driver); read back with TensorBoard itself."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpbench.tracking.base import metrics_of, trial_dir


def _hparam(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) else str(value)


class TensorBoardTracker:
    def __init__(self, *, out: Path, **_: Any) -> None:
        from tensorboardX import SummaryWriter

        self._writer_cls = SummaryWriter
        self.root = out / "tensorboard"
        self.params: dict[int, dict[str, Any]] = {}
        self.last_epoch: dict[int, int] = {}
        self._writers: dict[int, Any] = {}
        self._opened: dict[int, int] = {}

    def _writer(self, trial: int) -> Any:
        if trial not in self._writers:  # reopened (a new event file in the same run) when an ended trial's summary is resent
            # An event file is named by the second its writer opened and the host, and opened for
            # writing from scratch: a writer reopened within the same second would have emptied
            # the trial's first file. A reopened one's file gets a suffix (read after the first).
            n = self._opened.get(trial, 0)
            self._opened[trial] = n + 1
            self._writers[trial] = self._writer_cls(logdir=str(trial_dir(self.root, trial)), flush_secs=10,
                                                    filename_suffix=f".{n}" if n else "")
        return self._writers[trial]

    def start(self, trial: int, params: Mapping[str, Any]) -> None:
        self.params[trial] = {k: _hparam(v) for k, v in params.items()}
        self._writer(trial)

    def epoch(self, trial: int, row: Mapping[str, Any]) -> None:
        step = int(row["epoch"])
        self.last_epoch[trial] = step
        writer = self._writer(trial)
        for tag, value in metrics_of(row, skip=("epoch", "trial")).items():
            writer.add_scalar(tag, value, step)

    def end(self, trial: int, summary: Mapping[str, float], *, status: str, stop_reason: str) -> None:
        from tensorboardX.summary import hparams

        writer = self._writer(trial)
        step = self.last_epoch.get(trial, 0)
        metrics = {f"hparams/{k}": v for k, v in summary.items()}
        hp = {**self.params.get(trial, {}), "status": status, "stop_reason": stop_reason}
        for part in hparams(hparam_dict=hp, metric_dict=metrics):
            writer.file_writer.add_summary(part)
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, step)
        writer.close()
        del self._writers[trial]

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
