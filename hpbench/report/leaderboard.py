"""The leaderboard: top trials by the study metric with every hyperparameter, best epoch,
stop reason and cost; with repeats, mean ± 95% CI over the seeds and the statistical ties."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.console_text import literal
from hpbench.report.data import ReportData, finite, fmt, jsonable, ranked, records
from hpbench.report.fit import AtWidth, left_out, natural, span
from hpbench.report.stats import TIE_ALPHA, mean_ci, tied_with_best
from hpbench.results.columns import FLOPS_SPENT, PREDICTED_FLOPS, REPEAT_OF, STEPS_TO_SOLVE
from hpbench.results.failures import Failures, failures
from hpbench.results.ranking import value

# "pred s": the cost model's seconds for the epochs the trial ran (predicted_spent_s), beside them the
# measured ones: a pruned trial's prediction for all its epochs (predicted_s) read as an exact one
_COST = ((PREDICTED_FLOPS, "pred FLOPs"), (FLOPS_SPENT, "FLOPs"), ("predicted_spent_s", "pred s"), ("train_s", "s"))


def hyperparameters(row: Any, params: list[str]) -> str:
    """``optimizer=adam lr=0.00312 ...`` (inactive conditional dimensions left out)."""
    return " ".join(f"{p}={fmt(row.get(p))}" for p in params if fmt(row.get(p)) != "-")


# the cost columns left out first when the terminal is too narrow (the measured seconds last)
_LEFT_OUT_FIRST = ("FLOPs", "pred FLOPs", "pred s", "s")


def leaderboard_table(trials: pd.DataFrame, *, metric: str, mode: str, params: list[str], top: int = 10, width: int | None = None) -> Table:
    """The ``top`` trials; at a console ``width``, the cost columns that do not fit are left out
    (named in the caption) and each hyperparameter's ``name=value`` stays whole."""
    df = ranked(trials, metric=metric, mode=mode).head(top)
    solving = STEPS_TO_SOLVE in trials.columns and bool(trials[STEPS_TO_SOLVE].notna().any())  # rl: env steps to the threshold
    costs = [(c, label) for c, label in _COST if c in df.columns and df[c].notna().any()]
    rows = [[str(rank), str(row["trial"]), fmt(row[f"best_{metric}"], 4), hyperparameters(row, params),
             f"{fmt(row.get('best_epoch'))}/{fmt(row.get('epochs'))}", str(row.get("stop_reason")),
             *((fmt(row.get(STEPS_TO_SOLVE)),) if solving else ()), *(fmt(row.get(c)) for c, _ in costs)]
            for rank, (_, row) in enumerate(df.iterrows(), 1)]
    headers = ["#", "trial", metric, "hyperparameters", "best ep", "stop", *(["steps to solve"] if solving else []), *(label for _, label in costs)]
    words = max((len(w) for r in rows for w in r[3].split()), default=0)
    # the hyperparameters wrap between their "name=value" words: their widest word is what they need
    needs = {h: (words if h == "hyperparameters" else natural(h, (r[i] for r in rows))) for i, h in enumerate(headers)}
    drop = left_out(needs, width=width, order=_LEFT_OUT_FIRST)
    # the metric's name and each name=value are held whole only where what is kept fits: Rich never
    # shrinks a column below its minimum, so a table of minimums wider than the terminal overflows it
    fits = width is not None and span({h: n for h, n in needs.items() if h not in drop}) <= width
    table = Table(title=f"Leaderboard: top {len(df)} of {len(trials)} trials by {literal(metric)} ({mode})", header_style="bold",
                  caption=f"left out at {width} columns: {literal(', '.join(drop))} (--json has every column)" if drop else None, caption_style="dim")
    kept = [i for i, h in enumerate(headers) if h not in drop]
    for i in kept:
        h = headers[i]
        held = fits and h in (metric, "hyperparameters") and needs[h] > 0
        if h == "hyperparameters":
            table.add_column(Text(h), ratio=1, overflow="fold", min_width=needs[h] if held else None)
        else:
            table.add_column(Text(h), justify="left" if h == "stop" else "right", style="bold" if h == metric else None,
                             min_width=needs[h] if held else None)
    for r in rows:
        table.add_row(*(Text(r[i]) for i in kept))  # the values are the user's text, not markup (a choice "[v2]")
    return table


def stop_counts(trials: pd.DataFrame) -> str:
    counts = trials["stop_reason"].value_counts().to_dict() if "stop_reason" in trials else {}
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))


def leaderboard_records(trials: pd.DataFrame, *, metric: str, mode: str, top: int = 10) -> list[dict[str, Any]]:
    return records(ranked(trials, metric=metric, mode=mode).head(top))


# -- repeats ---------------------------------------------------------------------------------------
def repeat_summary(data: ReportData) -> list[dict[str, Any]]:
    """One entry per re-run configuration: seeds, mean, 95% CI, Welch p against the best, tied."""
    if data.repeats.empty or REPEAT_OF not in data.repeats.columns:
        return []
    frames = {int(k): g for k, g in data.repeats.groupby(REPEAT_OF)}
    # a repeat that failed (or was interrupted) counts as a lost run, whatever value its epochs left
    groups: dict[int, Any] = {k: [math.nan if (v := value(r, metric=data.metric)) is None else v for _, r in g.iterrows()]
                              for k, g in frames.items()}
    # the best, and the ties with it, among the configurations that lost no run (one surviving
    # seed of a configuration whose others diverged is no evidence it is as good)
    whole = {str(k): v for k, v in groups.items() if all(finite(x) for x in v)}
    ties = {**{str(k): (False, math.nan) for k in groups}, **tied_with_best(whole, mode=data.mode)}
    by_trial = data.trials.set_index("trial") if "trial" in data.trials.columns else pd.DataFrame()
    out = []
    for k, values in groups.items():
        ci = mean_ci(values)
        tied, p = ties[str(k)]
        # runs with no value (diverged, failed): counted and named, never silently left out of the seeds
        lost = frames[k][[not finite(v) for v in values]]
        reasons = lost["stop_reason"].fillna(lost["status"]).astype(str).value_counts().to_dict() if "stop_reason" in lost.columns else {}
        params = {p_: jsonable(by_trial.loc[k].get(p_)) for p_ in data.params} if k in by_trial.index else {}
        out.append({"trial": k, "params": params, "n_runs": len(values), "n_lost": len(lost), "lost": {str(r): int(n) for r, n in reasons.items()},
                    "n_seeds": ci.n, "mean": jsonable(ci.mean), "ci95_low": jsonable(ci.low),
                    "ci95_high": jsonable(ci.high), "std": jsonable(ci.std), "p_vs_best": jsonable(p),
                    "tied_with_best": tied,
                    "search_value": jsonable(by_trial.loc[k].get(data.key)) if k in by_trial.index else None})
    sign = -1 if data.mode == "max" else 1
    out.sort(key=lambda r: sign * r["mean"] if r["mean"] is not None else math.inf)
    return out


def repeats_table(data: ReportData) -> Table | None:
    rows = repeat_summary(data)
    if not rows:
        return None
    table = Table(title=_repeats_title(data, [r["trial"] for r in rows]), header_style="bold",
                  caption=f"mean ± half-width of the 95% t-interval over the repeat seeds (the search run itself is not "
                          f"counted: it was selected for being good). tied = Welch t-test against the best, p >= {TIE_ALPHA}.")
    for c in ("trial", "seeds", f"{data.metric} mean ± 95% CI", "search run", "p vs best", "tied"):
        table.add_column(c, justify="left" if c == "tied" else "right")
    table.add_column("hyperparameters", ratio=1, overflow="fold")
    for r in rows:
        half = (r["ci95_high"] - r["ci95_low"]) / 2 if r["ci95_high"] is not None else None
        seeds = str(r["n_seeds"]) if not r["n_lost"] else f"{r['n_seeds']} of {r['n_runs']} ({', '.join(f'{n} {why}' for why, n in r['lost'].items())})"
        table.add_row(str(r["trial"]), seeds, f"{fmt(r['mean'], 4)} ± {fmt(half, 2)}", fmt(r["search_value"], 4),
                      fmt(r["p_vs_best"], 2), "[green]tied[/]" if r["tied_with_best"] else "",
                      " ".join(f"{k}={fmt(v)}" for k, v in r["params"].items() if v is not None))
    return table


def _repeats_title(data: ReportData, trials: list[int]) -> str:
    """``Repeats: top 3 configurations re-run ...``; where some repeated configurations are no longer among the
    ``[study] repeats_top`` best (a resumed search repeats its new top, and keeps the repeats an
    earlier run's ranking chose: "top 4" was said with repeats_top = 3), how many of each."""
    top = data.settings.get("repeats_top")
    title = f"Repeats: top {len(trials)} configurations re-run with other seeds"
    if isinstance(top, bool) or not isinstance(top, int):  # a record without it: the repeated ones are the top
        return title
    def config(row: Any) -> str:  # a configuration, as the repeats told them apart (hpbench.dispatch.repeats)
        return repr([str(row.get(p)) for p in data.params])

    best: set[str] = set()  # the top configurations now
    for _, row in ranked(data.trials, metric=data.metric, mode=data.mode).iterrows():
        if len(best) == top:
            break
        best.add(config(row))
    repeated = data.trials[data.trials["trial"].isin(trials)] if "trial" in data.trials.columns else data.trials.iloc[0:0]
    now = sum(1 for _, row in repeated.iterrows() if config(row) in best)
    if now == len(trials):
        return title
    return (f"Repeats: {len(trials)} configurations re-run with other seeds ({now} of the top {top} now; {len(trials) - now} "
            "chosen by an earlier run's ranking)")


def trial_failures(trials: pd.DataFrame) -> Failures:
    return failures(trials.to_dict("records")) if "status" in trials.columns else failures([])


def failures_text(failed: Failures) -> Text:
    """``2 of 9 trials failed:`` and one line per distinct error with the trials it ended."""
    return Text("\n".join([f"  {failed.headline()}:", *(f"    {line}" for line in failed.lines())]),
                style="red" if failed.all_failed else "")


def render(data: ReportData, *, top: int = 10) -> RenderableType:
    parts: list[RenderableType] = [AtWidth(lambda width: leaderboard_table(data.trials, metric=data.metric, mode=data.mode, params=data.params,
                                                                          top=top, width=width)),
                                   Text("  " + stop_counts(data.trials))]
    failed = trial_failures(data.trials)
    if failed.n_failed:
        parts.append(failures_text(failed))
    rep = repeats_table(data)
    if rep is not None:
        parts.append(rep)
    return Group(*parts)


def to_json(data: ReportData, *, top: int = 10) -> dict[str, Any]:
    failed = trial_failures(data.trials)
    return {"top": leaderboard_records(data.trials, metric=data.metric, mode=data.mode, top=top), "repeats": repeat_summary(data),
            "failures": {"n_failed": failed.n_failed, "n_ended": failed.n_ended,
                         "errors": [{"error": error, "trials": n} for error, n in failed.errors]}}
