"""Live progress of a search: a Rich live panel on a terminal, plain log lines otherwise (a pipe,
a file, a dumb terminal)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hpbench.console_text import literal
from hpbench.dispatch.announce import redraws
from hpbench.dispatch.eta import SearchClock
from hpbench.results.columns import FLOPS_SPENT, PREDICTED_FLOPS
from hpbench.results.status import StopReason, TrialStatus
from hpbench.results.store import ResultsStore

HEARTBEAT_S = 30.0  # in a log, a line with the summary when nothing was said for this long (as Ray Tune's status in a log)
# The stop reasons the summary line counts (a completed trial is just done).
_ENDED = (StopReason.SOLVED, StopReason.COLLAPSED, StopReason.EARLY_STOPPED, StopReason.TIME_LIMIT, StopReason.PRUNED, StopReason.BUDGET, StopReason.DIVERGED,
          StopReason.FAILED)


class Progress:
    def __init__(self, *, store: ResultsStore, n_trials: int, console: Console, study_name: str, clock: SearchClock | None = None,
                 apart: Mapping[str, int] | None = None) -> None:
        """``clock``: the search's clock, whose ETA the progress shows (none without it). ``apart``:
        rows left out of the counts (:meth:`ResultsStore.counts_apart`: a resumed search's progress
        counts its trials against ``n_trials``, not the earlier run's repeats: "9/5 done" before)."""
        self.store = store
        self.apart = dict(apart or {})
        self.clock = clock
        self.n_trials = n_trials
        self.console = console
        self.name = study_name
        self.t0 = time.monotonic()
        self.live: Live | None = None
        self._last = 0.0
        self._said = self.t0  # in a log: when a line was last printed

    def __enter__(self) -> Progress:
        if redraws(self.console):
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(*exc)

    def trial_started(self, trial_id: str) -> None:
        if self.clock is not None:
            self.clock.trial_started(trial_id)
        self.refresh()

    def refresh(self) -> None:
        if self.clock is not None:
            self.clock.sample(self.store)
            self.clock.catch_up(self.store)  # an ETA priced before a burst of trial ends: again, once its cost allows
        if self.live is not None and time.monotonic() - self._last > 0.25:
            self.live.update(self._render())
            self._last = time.monotonic()
        elif self.live is None and time.monotonic() - self._said >= HEARTBEAT_S:
            # a log said nothing from the start until the first trial ended (64-112 s on real data, bug hunt s47h4)
            self._said = time.monotonic()
            self.console.print(Text(f"[{self._elapsed()}] {self._summary()}"), highlight=False, soft_wrap=True)

    def trial_done(self, trial_id: str) -> None:
        if self.clock is not None:
            self.clock.note(self.store)
        if self.live is None:
            t = self.store.row(trial_id)
            value = t.get(f"best_{self.store.metric}")
            shown = f"{value:.4f}" if isinstance(value, float) else "-"
            outcome = t.get("error") if t.get("status") == TrialStatus.FAILED else f"best {self.store.metric}={shown}"
            self.console.print(
                Text(f"[{self._elapsed()}] trial {t['trial']} {t.get('stop_reason')} after {_epochs(t.get('epochs', 0))}: "
                     f"{outcome}  ({self._summary()})"),
                # one line per trial, unwrapped (a log reads and greps by line); and Rich keeps no width of it: wrapping
                # cached each printed line's cell length, ~1.9 KB a trial held by the driver up to 4,096 lines
                highlight=False, soft_wrap=True,
            )
            self._said = time.monotonic()
        self.refresh()

    def _elapsed(self) -> str:
        s = int(self.clock.elapsed() if self.clock is not None else time.monotonic() - self.t0)
        return f"{s // 60:02d}:{s % 60:02d}"

    def _counts(self) -> dict[str, int]:
        return {k: v - self.apart.get(k, 0) for k, v in self.store.counts().items()}

    def _summary(self) -> str:
        c = self._counts()
        done = sum(v for k, v in c.items() if k not in (TrialStatus.RUNNING, TrialStatus.INTERRUPTED))
        parts = [f"{done}/{self.n_trials} done", f"{c[TrialStatus.RUNNING]} running"]
        parts += [f"{c[k]} {k.replace('_', '-')}" for k in _ENDED if c.get(k)]
        spent = self.store.total(FLOPS_SPENT)
        if spent is not None:  # the cost model's columns, when it ran
            parts.append(f"FLOPs {spent:.3g} spent / {self.store.total(PREDICTED_FLOPS) or 0.0:.3g} predicted")
        eta = self.clock.eta_s(self.store) if self.clock is not None else None
        if eta is not None:  # the wall-time model on what is left (hpbench.dispatch.eta)
            left = round(eta)
            corr = self.clock.correction if self.clock is not None else None
            parts.append(f"ETA {left // 60:02d}:{left % 60:02d}" + (f" ({corr.label()})" if corr is not None else ""))
        if self.clock is not None and self.clock.calibration is not None and self.clock.calibration.running():
            # not priced: the command ends after it (the trials' predictions wait on it)
            parts.append(("then " if eta is not None else "") + "the cost model's calibration (once)")
        return ", ".join(parts)

    def _render(self) -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_row(f"[bold]hpbench search[/] {literal(self.name)}", f"elapsed {self._elapsed()}")
        c = self._counts()
        done = sum(v for k, v in c.items() if k not in (TrialStatus.RUNNING, TrialStatus.INTERRUPTED))
        width = 30
        filled = int(width * done / max(self.n_trials, 1))
        grid.add_row(f"[green]{'━' * filled}[/][dim]{'━' * (width - filled)}[/] {done}/{self.n_trials}", self._summary())
        best = self.store.best()
        if best is not None:
            key = f"best_{self.store.metric}"
            params = ", ".join(f"{k}={_fmt(best.get(k))}" for k in self.store.param_keys if best.get(k) is not None)
            grid.add_row(f"best {literal(self.store.metric)} [bold]{best[key]:.4f}[/] (trial {best['trial']})", Text(params))
        return grid


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _epochs(n: object) -> str:
    """"1 epoch", "3 epochs"."""
    return f"{n} epoch" if n == 1 else f"{n} epochs"
