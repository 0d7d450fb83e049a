"""The replays after a search, inside its lock: its top configurations again with other seeds
(``--repeats``, fused into stacked trials where that pays: :mod:`~hpbench.dispatch.fused`) and
every configuration again on each further device of ``[train] devices``. Each runs through a Tuner
of its own (:func:`~hpbench.dispatch.backend.replay_tuner`) with the search's trainable and a
recorder of its own, whose rows carry the replays' labels; each is a phase of the command's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from hpbench.console_text import literal
from hpbench.dispatch.backend import replay_tuner
from hpbench.dispatch.eta import SearchClock
from hpbench.dispatch.fused import fuse_repeats, n_runs
from hpbench.dispatch.interrupt import Interrupt
from hpbench.dispatch.plan import SearchOptions
from hpbench.dispatch.progress import Progress
from hpbench.dispatch.repeats import plan_device_runs, plan_repeats
from hpbench.dispatch.trainable import Replay
from hpbench.results.store import ResultsStore
from hpbench.study.schema import Study


@dataclass(frozen=True, kw_only=True)
class AfterSearch:
    """What the replays share with the search. ``recorder(store, progress, replays=...)``: a Tune
    callback recording into ``store`` (the runner's, with its predictions and trackers bound)."""

    study: Study
    opts: SearchOptions
    store: ResultsStore
    console: Console
    stop: Interrupt
    clock: SearchClock
    recorder: Callable[..., Any]

    def repeats(self) -> None:
        """Re-run the top configurations with ``opts.repeats`` other seeds (rows labelled repeat /
        repeat_of / seed)."""
        # the phase's clock includes planning: deciding the fusion counts FLOPs with torch in the
        # driver (~2 s the first time, measured; the replay's start figure takes it in)
        with self.clock.entering("repeats") as phase:
            replays = plan_repeats(self.study, self.store, n_repeats=self.opts.repeats)
            if not replays:
                return
            n_configs = len({r.labels["repeat_of"] for r in replays})
            replays = fuse_repeats(self.study, replays)
            groups = [r for r in replays if r.group]
            fused = f", {sum(len(r.group) for r in groups)} of them fused into {len(groups)} stacked trials" if groups else ""
            self.console.print(f"repeats: re-running the top {n_configs} configurations with {self.opts.repeats} other seeds "
                               f"({n_runs(replays)} runs{fused})", highlight=False)
            phase.size(n_runs(replays))
            self._replay(replays, name="repeats", title=f"{self.study.name} repeats")

    def on_device(self, device: str) -> None:
        """Every configuration of the search again on ``device`` (same seed), to compare measured
        (and predicted) time and the metric across devices."""
        with self.clock.entering("devices") as phase:
            replays = plan_device_runs(self.study, self.store, device=device)
            if not replays:
                return
            self.console.print(f"devices: running the {len(replays)} configurations again on {literal(device)}", highlight=False)
            phase.size(n_runs(replays))
            self._replay(replays, name=f"devices-{device}", title=f"{self.study.name} on {device}", device=device)

    def _replay(self, replays: list[Replay], *, name: str, title: str, device: str | None = None) -> None:
        progress = Progress(store=self.store, n_trials=len(self.store) + n_runs(replays), console=self.console, study_name=title,
                            clock=self.clock)
        recorder = self.recorder(self.store, progress, replays=replays)
        tuner = replay_tuner(self.study, self.opts, replays=replays, name=name, device=device, stop=self.stop.stopper(),
                             callback=recorder)
        with progress:
            tuner.fit()
        if self.stop.requested:  # Ctrl-C: the runs Tune stopped are interrupted, as the search's are (they were left running)
            recorder.end_interrupted()
        self.stop.check()
