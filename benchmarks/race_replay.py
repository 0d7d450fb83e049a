"""A race problem's search replayed on its landscape (`benchmarks/race_landscape.py`): random
search with two workers over the landscape's configurations (drawn with replacement, seeded),
each trial running its recorded validation curve epoch by epoch at its recorded pace, judged by
a pruning rule, for the race's budget. Hundreds of seeds in a second, where the race itself runs
ten in an hour: what a scheduler does to the best value found, apart from the sampler's luck and
the machine's noise (the sampler here is random search, not TPE; the start-up is a constant).

Rules (``--rules``): ``none``; ``asha`` (Ray's ASHA, rungs at grace * rf**k epochs: a trial is
stopped at a rung where its running best is below the ``1 - 1/rf`` percentile of the values the
rung recorded before it); ``hyperband`` (ASHA over Hyperband's brackets, hpbench's shares:
`hpbench/hyperband.py`); ``rank`` (the rungs judged only while they rank the search's own
finished trials as their ends do: :func:`informative_rungs`).

    PYTHONPATH=. .venv/bin/python benchmarks/race_replay.py --problem tabular --landscape landscape-tabular-s39.json
    # writes results/benchmarks/race/replay-PROBLEM[-SUFFIX].{json,md}
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
OUT = ROOT / "results" / "benchmarks" / "race"

from hpbench.cost.simulate import Pruning  # noqa: E402
from hpbench.cost.simulate import _percentile as sorted_percentile  # noqa: E402
from hpbench.rank_stats import spearman  # noqa: E402


@dataclass(frozen=True)
class Config:
    curve: tuple[float, ...]  # validation accuracy by epoch, to the trainer's end
    epoch_s: float  # seconds an epoch (the training's whole seconds over its epochs)


def running_best(curve: Sequence[float]) -> list[float]:
    out, best = [], float("-inf")
    for v in curve:
        best = max(best, v)
        out.append(best)
    return out


def milestones(*, grace: int, rf: int, max_t: int, shift: int = 0) -> list[int]:
    """Ray's ASHA rungs of bracket ``shift`` (``grace * rf**(k + shift)``), ascending: the
    estimate's replay lays them out (:class:`hpbench.cost.simulate.Pruning`)."""
    return list(Pruning(kind="asha", max_t=max_t, grace_period=grace, reduction_factor=rf).rungs()[shift:])


@dataclass
class Asha:
    """Ray's ASHA on one bracket: at each milestone a trial is compared with what the rung
    recorded before it (``np.nanpercentile`` at ``1 - 1/rf``), then recorded."""

    rungs: list[int]
    rf: int
    recorded: dict[int, list[float]] = field(default_factory=dict)

    def judge(self, epoch: int, value: float) -> bool:
        """False: stop the trial."""
        if epoch not in self.rungs:
            return True
        seen = self.recorded.setdefault(epoch, [])
        keep = True
        if seen:
            keep = value >= _percentile(seen, (1 - 1 / self.rf) * 100)
        seen.append(value)
        return keep


def _percentile(values: Sequence[float], q: float) -> float:
    """numpy's linear percentile, as Ray's cutoff reads it (the estimate's replay's, on sorted values)."""
    return sorted_percentile(sorted(values), q)


class Rule:
    """A pruning rule over a whole search: a trial is registered, then judged epoch by epoch."""

    n_started = 0  # trials the replay launched under it

    def start(self, trial: int) -> None: ...

    def judge(self, trial: int, epoch: int, value: float) -> bool:
        return True

    def ended(self, trial: int, values: Sequence[float], finished: bool) -> None: ...


class NoRule(Rule):
    pass


class AshaRule(Rule):
    def __init__(self, *, grace: int, rf: int, max_t: int) -> None:
        self.asha = Asha(rungs=milestones(grace=grace, rf=rf, max_t=max_t), rf=rf)

    def judge(self, trial: int, epoch: int, value: float) -> bool:
        return self.asha.judge(epoch, value)


class HyperbandRule(Rule):
    def __init__(self, *, grace: int, rf: int, max_t: int, seed: int) -> None:
        from hpbench.hyperband import hyperband_shares, n_brackets

        n = n_brackets(grace_period=grace, reduction_factor=rf, max_t=max_t)
        self.shares = hyperband_shares(n, rf)
        self.brackets = [Asha(rungs=milestones(grace=grace, rf=rf, max_t=max_t, shift=s), rf=rf) for s in range(n)]
        self.rng = random.Random(seed)
        self.of: dict[int, int] = {}

    def start(self, trial: int) -> None:
        self.of[trial] = self.rng.choices(range(len(self.shares)), weights=self.shares)[0]

    def judge(self, trial: int, epoch: int, value: float) -> bool:
        return self.brackets[self.of[trial]].judge(epoch, value)


def informative_rungs(ended: Sequence[tuple[Sequence[float], bool]], rungs: Sequence[int], *, min_trials: int,
                      min_rho: float) -> set[int]:
    """The rungs whose values rank the search's finished trials (ended by the trainer, not
    pruned) as their final bests do, Spearman's rho at least ``min_rho`` over at least
    ``min_trials`` of them; a rung with too few is taken as informative (ASHA as it is)."""
    out = set()
    for r in rungs:
        pairs = [(vals[r - 1], vals[-1]) for vals, finished in ended if finished and len(vals) >= r]
        rho = spearman([a for a, _ in pairs], [b for _, b in pairs]) if len(pairs) >= min_trials else None
        if rho is None or rho >= min_rho:  # too few, or every value tied: judged (as hpbench.rung_rank does)
            out.add(r)
    return out


class RankRule(Rule):
    """ASHA whose rungs judge only while the search's own finished trials say they rank well."""

    def __init__(self, *, grace: int, rf: int, max_t: int, min_trials: int = 6, min_rho: float = 0.5,
                 explore: float = 0.0, unbiased: bool = False, seed: int = 0) -> None:
        self.asha = Asha(rungs=milestones(grace=grace, rf=rf, max_t=max_t), rf=rf)
        self.ended_trials: list[tuple[list[float], bool]] = []
        self.min_trials, self.min_rho = min_trials, min_rho
        self.active = set(self.asha.rungs)
        self.explore, self.unbiased = explore, unbiased
        self.rng = random.Random(seed)
        self.free: set[int] = set()

    def start(self, trial: int) -> None:
        if self.rng.random() < self.explore:
            self.free.add(trial)  # runs to its end: the evidence the rungs are judged by

    def judge(self, trial: int, epoch: int, value: float) -> bool:
        if epoch not in self.asha.rungs:
            return True
        if trial in self.free or epoch not in self.active:
            self.asha.recorded.setdefault(epoch, []).append(value)
            return True
        return self.asha.judge(epoch, value)

    def ended(self, trial: int, values: Sequence[float], finished: bool) -> None:
        if self.unbiased and trial not in self.free:
            return  # the rungs are judged on the free trials alone (an unpruned sample of the searcher's draws)
        self.ended_trials.append((list(values), finished))
        self.active = informative_rungs(self.ended_trials, self.asha.rungs, min_trials=self.min_trials, min_rho=self.min_rho)


class ReachRule(Rule):
    """ASHA whose stop at a rung is taken back while the trial could still end above the best
    final so far: its value there plus the ``quantile`` of the gains (final best less the value at
    that rung) of the finished trials that reached it, once ``min_trials`` of them did."""

    def __init__(self, *, grace: int, rf: int, max_t: int, quantile: float = 0.9, min_trials: int = 6) -> None:
        self.asha = Asha(rungs=milestones(grace=grace, rf=rf, max_t=max_t), rf=rf)
        self.gains: dict[int, list[float]] = {}
        self.best = float("-inf")
        self.quantile, self.min_trials = quantile, min_trials

    def judge(self, trial: int, epoch: int, value: float) -> bool:
        return self.asha.judge(epoch, value) or self.could_reach(epoch, value)

    def could_reach(self, epoch: int, value: float) -> bool:
        """Whether a trial at ``value`` at rung ``epoch`` could still end above the best final."""
        gains = self.gains.get(epoch, [])
        return len(gains) >= self.min_trials and value + _percentile(gains, self.quantile * 100) >= self.best

    def ended(self, trial: int, values: Sequence[float], finished: bool) -> None:
        if finished and values:
            self.best = max(self.best, values[-1])
            for r in self.asha.rungs:
                if len(values) >= r:
                    self.gains.setdefault(r, []).append(values[-1] - values[r - 1])


class WinnerBarRule(Rule):
    """ASHA (optionally rank-gated) whose stop at a rung is taken back while the trial is at least
    as good there as one of the ``top`` best finished trials was (once ``min_trials`` finished
    trials reached the rung): the winners' own curves as the bar, not the largest gain."""

    def __init__(self, *, grace: int, rf: int, max_t: int, top: int = 1, min_trials: int = 6, rank: bool = True,
                 seed: int = 0) -> None:
        self.rank = RankRule(grace=grace, rf=rf, max_t=max_t, min_trials=min_trials, seed=seed) if rank else None
        self.asha = self.rank.asha if self.rank else Asha(rungs=milestones(grace=grace, rf=rf, max_t=max_t), rf=rf)
        self.finished: list[list[float]] = []
        self.top, self.min_trials = top, min_trials

    def judge(self, trial: int, epoch: int, value: float) -> bool:
        if (self.rank.judge(trial, epoch, value) if self.rank else self.asha.judge(epoch, value)):
            return True
        at = [vals for vals in self.finished if len(vals) >= epoch]
        if len(at) < self.min_trials:
            return False
        best = sorted(at, key=lambda vals: vals[-1], reverse=True)[: self.top]
        return value >= min(vals[epoch - 1] for vals in best)

    def ended(self, trial: int, values: Sequence[float], finished: bool) -> None:
        if self.rank:
            self.rank.ended(trial, values, finished)
        if finished and values:
            self.finished.append(list(values))


class RankReachRule(Rule):
    """``rank`` and ``reach`` together: a rung that ranks badly passes every trial; one that judges
    has its stop taken back while the trial could still end above the best final so far."""

    def __init__(self, *, grace: int, rf: int, max_t: int, quantile: float = 1.0, min_trials: int = 6, min_rho: float = 0.5,
                 seed: int = 0) -> None:
        self.rank = RankRule(grace=grace, rf=rf, max_t=max_t, min_trials=min_trials, min_rho=min_rho, seed=seed)
        self.reach = ReachRule(grace=grace, rf=rf, max_t=max_t, quantile=quantile, min_trials=min_trials)

    def judge(self, trial: int, epoch: int, value: float) -> bool:
        return self.rank.judge(trial, epoch, value) or self.reach.could_reach(epoch, value)

    def ended(self, trial: int, values: Sequence[float], finished: bool) -> None:
        self.rank.ended(trial, values, finished)
        self.reach.ended(trial, values, finished)


def replay(configs: Sequence[Config], rule: Rule, *, seed: int, budget_s: float, start_s: float, overhead_s: float,
           draws: Draws | None = None, workers: int = 2) -> list[tuple[float, float]]:
    """The search's running best as (seconds from process start, value) at each improvement."""
    rng = random.Random(seed)
    events: list[tuple[float, int, int, int]] = []  # (time, worker, trial, epoch done)
    trials: dict[int, tuple[Config, list[float]]] = {}
    best: list[tuple[float, float]] = []
    top = float("-inf")
    n = 0

    def launch(t: float, worker: int) -> None:
        nonlocal n
        cfg = configs[(draws or Draws(n=len(configs)))(rng, n)]
        trials[n] = (cfg, running_best(cfg.curve))
        rule.start(n)
        rule.n_started += 1
        heapq.heappush(events, (t + overhead_s + cfg.epoch_s, worker, n, 1))
        n += 1

    for w in range(workers):
        launch(start_s, w)
    while events:
        t, w, i, epoch = heapq.heappop(events)
        if t > budget_s:
            continue
        cfg, rb = trials[i]
        value = rb[epoch - 1]
        if value > top:
            top = value
            best.append((t, value))
        go_on = rule.judge(i, epoch, value)
        if go_on and epoch < len(cfg.curve):
            heapq.heappush(events, (t + cfg.epoch_s, w, i, epoch + 1))
        else:
            rule.ended(i, rb[:epoch], finished=go_on)
            launch(t, w)
    return best


def time_to(curve: Sequence[tuple[float, float]], target: float) -> float:
    return next((t for t, v in curve if v >= target - 1e-9), float("inf"))


RULES: dict[str, Callable[..., Rule]] = {
    "none": lambda **k: NoRule(),
    "asha": lambda *, grace, rf, max_t, seed: AshaRule(grace=grace, rf=rf, max_t=max_t),
    "hyperband": lambda *, grace, rf, max_t, seed: HyperbandRule(grace=grace, rf=rf, max_t=max_t, seed=seed),
    "rank": lambda *, grace, rf, max_t, seed: RankRule(grace=grace, rf=rf, max_t=max_t, seed=seed),
    "rank-explore": lambda *, grace, rf, max_t, seed: RankRule(grace=grace, rf=rf, max_t=max_t, seed=seed, explore=0.2),
    "rank-free": lambda *, grace, rf, max_t, seed: RankRule(grace=grace, rf=rf, max_t=max_t, seed=seed, explore=0.25, unbiased=True),
}


def make_rule(name: str, *, grace: int, rf: int, max_t: int, seed: int) -> Rule:
    """A rule by name; ``rank-free:EXPLORE:RHO:MIN`` sets RankRule's free share, threshold and
    the free trials it needs."""
    if name.startswith("reach:"):
        q, least = name.split(":")[1:]
        return ReachRule(grace=grace, rf=rf, max_t=max_t, quantile=float(q), min_trials=int(least))
    if name.startswith("winner:"):
        top, rank = name.split(":")[1:]
        return WinnerBarRule(grace=grace, rf=rf, max_t=max_t, top=int(top), rank=rank == "rank", seed=seed)
    if name.startswith("rank-reach:"):
        q, rho, least = name.split(":")[1:]
        return RankReachRule(grace=grace, rf=rf, max_t=max_t, quantile=float(q), min_rho=float(rho), min_trials=int(least), seed=seed)
    if name.startswith("rank:"):
        rho, least = name.split(":")[1:]
        return RankRule(grace=grace, rf=rf, max_t=max_t, seed=seed, min_rho=float(rho), min_trials=int(least))
    if name.startswith("rank-free:"):
        explore, rho, least = name.split(":")[1:]
        return RankRule(grace=grace, rf=rf, max_t=max_t, seed=seed, explore=float(explore), min_rho=float(rho),
                        min_trials=int(least), unbiased=True)
    return RULES[name](grace=grace, rf=rf, max_t=max_t, seed=seed)


@dataclass(frozen=True)
class Draws:
    """Which configuration a new trial runs: the random landscape's first ``n`` uniformly (random
    search), or, with ``around`` more after them (a landscape drawn where TPE looks once it has
    seen the random one: `race_landscape.py --around`), one of those with a probability growing
    to ``most`` over the first ``ramp`` trials: a stand-in for TPE closing in on the good region."""

    n: int
    around: int = 0
    ramp: int = 30
    most: float = 0.8

    def __call__(self, rng: random.Random, i: int) -> int:
        if self.around and rng.random() < min(self.most, i / self.ramp):
            return self.n + rng.randrange(self.around)
        return rng.randrange(self.n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", required=True)
    ap.add_argument("--landscape", required=True, help="a file under results/benchmarks/race/")
    ap.add_argument("--rules", default="none,asha,hyperband,rank,rank-explore")
    ap.add_argument("--seeds", type=int, default=500)
    ap.add_argument("--budget-s", type=float, default=30.0)
    ap.add_argument("--start-s", type=float, default=2.0, help="seconds from process start to the first trial")
    ap.add_argument("--overhead-s", type=float, default=0.05, help="seconds between one trial's end and the next's first epoch")
    ap.add_argument("--grace", type=int, default=1)
    ap.add_argument("--rf", type=int, default=3)
    ap.add_argument("--max-t", type=int, default=None, help="default: the longest curve")
    ap.add_argument("--target", type=float, default=None, help="default: the race's stored target")
    ap.add_argument("--around", default=None, help="a landscape drawn around the first one's best (see Draws)")
    ap.add_argument("--suffix", default="")
    args = ap.parse_args()
    rows = json.loads((OUT / args.landscape).read_text())["rows"]
    near = json.loads((OUT / args.around).read_text())["rows"] if args.around else []
    configs = [Config(curve=tuple(r["curve"]), epoch_s=r["s"] / r["epochs"]) for r in rows + near]
    draws = Draws(n=len(rows), around=len(near))
    max_t = args.max_t or max(len(c.curve) for c in configs)
    target = args.target if args.target is not None else json.loads((OUT / "race.json").read_text())["problems"][args.problem]["target"]
    rows: dict[str, Any] = {}
    for name in args.rules.split(","):
        finals, times, within1, started = [], [], [], []
        for seed in range(args.seeds):
            rule = make_rule(name, grace=args.grace, rf=args.rf, max_t=max_t, seed=seed)
            curve = replay(configs, rule, seed=seed, budget_s=args.budget_s, start_s=args.start_s, overhead_s=args.overhead_s,
                           draws=draws)
            finals.append(curve[-1][1] if curve else float("nan"))
            started.append(rule.n_started)
            times.append(time_to(curve, target))
            within1.append(time_to(curve, target - 0.01))
        rows[name] = {"final_median": statistics.median(finals), "final_mean": statistics.fmean(finals),
                      "reached": sum(t < float("inf") for t in times) / len(times),
                      "time_median_s": statistics.median(times), "within1_median_s": statistics.median(within1),
                      "trials_median": statistics.median(started)}
    lines = [f"# Replay of {args.problem} on {args.landscape}: random search, 2 workers, {args.budget_s:g} s "
             f"(first trial at {args.start_s:g} s), {args.seeds} seeds, around {args.around}, target {target:.4f}, grace {args.grace}, rf {args.rf}",
             "", "| rule | final best median | mean | reached | median time to target | to within 1 point | trials (median) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['final_median']:.4f} | {r['final_mean']:.4f} | {r['reached']:.0%} | {r['time_median_s']:.1f} s | "
                     f"{r['within1_median_s']:.1f} s | {r['trials_median']:g} |")
    text = "\n".join(lines)
    print(text)
    stem = OUT / f"replay-{args.problem}{args.suffix}"
    stem.with_suffix(".md").write_text(text + "\n")
    stem.with_suffix(".json").write_text(json.dumps({"args": vars(args), "target": target, "rules": rows}, indent=1))
    print(f"wrote {stem}.md")


if __name__ == "__main__":
    main()
