"""Pre-flight warnings (not problems: the search still runs) about what public benchmark tables
write as they ship: a header line of numbers (names that are numbers, or no header line), class
labels that differ only by spaces, a trailing '.' or case (UCI Adult's ' >50K' and ' >50K.'), a
numeric column of row numbers (Kaggle's PassengerId), and UCI's '?' missing-value marker in a text
column. Each could be meant, so each is a warning naming the column and what to do. Vectorized: a table of a million rows costs a hash pass per column."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from hpbench.data.files import NA_TEXTS
from hpbench.data.sniff import NO_HEADER_FIX, first_values, values_not_names
from hpbench.preflight.data import MAX_SHOWN, DataContext
from hpbench.preflight.table import csv_data, target_name, task_given

MIN_ID_ROWS = 20  # fewer rows: a column of distinct consecutive whole numbers happens by chance (a small integer feature)
# Words of a column's name that say it counts time or the order of measurement (a series' step, a
# yearly table's year): one per row by design, a feature, not an ID (bug hunt s52/v1 #5). Plurals too.
TIME_WORDS = frozenset({"t", "step", "timestep", "time", "timestamp", "ts", "date", "datetime", "year", "yr", "quarter", "month", "week",
                        "day", "hour", "minute", "min", "second", "sec", "epoch", "iteration", "iter", "age", "period", "cycle",
                        "frame", "tick", "generation", "gen", "round", "lag"})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # 'time_step', 'TimeStep', 'YEAR', 'day1'


def _text(values: Any) -> bool:
    """A column pandas holds as text (object, str or category dtype)."""
    return values.dtype.kind in "OSU"


def _core(label: str) -> str:
    """A class label without surrounding spaces, a trailing '.' and case."""
    return label.strip().rstrip(".").strip().casefold()


def near_duplicate_labels(table: Any, ctx: DataContext) -> list[str]:
    """Text class labels that are one label once surrounding spaces, a trailing '.' and case are
    ignored: UCI Adult's adult.data and adult.test put together trained 4 classes (' >50K',
    ' >50K.', ...) where there are 2. Only the distinct labels are compared."""
    target = target_name(ctx)
    if target not in table.columns or task_given(ctx) == "regression" or not _text(table[target]):
        return []
    try:
        counts = table[target].dropna().value_counts()
    except TypeError:  # lists in its cells: one_value_cells' problem
        return []
    counts = counts[counts > 0]  # (a category column's unused categories)
    groups: dict[str, list[tuple[str, int]]] = {}
    for label, k in counts.items():
        if isinstance(label, str):
            groups.setdefault(_core(label), []).append((label, int(k)))
    clashes = sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: (-sum(k for _, k in g), g[0][0]))  # most rows first
    if not clashes:
        return []
    named = "; ".join(" and ".join(f"{label!r} ({k:,} rows)" for label, k in g) for g in clashes[:MAX_SHOWN])
    more = f"; and {len(clashes) - MAX_SHOWN} more such groups" if len(clashes) > MAX_SHOWN else ""
    members = [label for g in clashes for label, _ in g]
    padding = {(len(m) - len(m.lstrip()), len(m) - len(m.rstrip())) for m in members}
    steps = [".str.strip()"] if len(padding) > 1 else []
    steps += [".str.rstrip('.')"] if len({m.strip().endswith(".") for m in members}) > 1 else []
    steps += [".str.lower()"] if any(len({m.strip().rstrip(".").strip() for m, _ in g}) > 1 for g in clashes) else []
    return [f"{ctx.source}: data.target {target!r}: classes that differ only by surrounding spaces, a trailing '.' or letter case "
            f"train as separate classes: {named}{more}. The same class? Clean the labels first "
            f"(df[{target!r}] = df[{target!r}]{''.join(steps)}); if they are different classes, ignore this"]


def names_time(name: str) -> bool:
    """Whether a column's name reads as time or order of measurement ('step', 'Year', 'time_s',
    'TimeStep', 'days'), and not as an ID ('time_id')."""
    words = [w.lower() for w in _WORDS.findall(name)]
    words += [w[:-1] for w in words if len(w) > 2 and w.endswith("s")]  # 'steps', 'years'
    return bool(TIME_WORDS.intersection(words)) and not {"id", "idx", "key", "index"}.intersection(words)


def id_columns(table: Any, ctx: DataContext) -> list[str]:
    """A numeric feature column whose values are all distinct whole numbers in a run of one per
    row (the row number plus a constant, in any order): Kaggle Titanic's PassengerId, or the
    named index ``to_csv`` writes after ``set_index("id")``. It trained silently as a feature; new
    rows' IDs lie outside the training range, and in a file sorted by class it gives the label
    away (an unnamed index column and text IDs are refused: :mod:`hpbench.preflight.table`). A
    column named as time (a series' 'step', a yearly table's 'year') is one per row by design."""
    n = len(table)
    if n < MIN_ID_ROWS:
        return []
    out = []
    for col in table.columns:
        values = table[col]
        if col == target_name(ctx) or values.dtype.kind not in "iuf" or names_time(str(col)):
            continue
        try:
            v = values.to_numpy(dtype=np.float64)  # exact for whole numbers below 2**53
        except (TypeError, ValueError):  # a nullable column with a gap: missing_values' problem
            continue
        if not np.isfinite(v).all():
            continue
        lo, hi = float(v.min()), float(v.max())
        if hi - lo != n - 1 or not bool((v == np.floor(v)).all()) or len(np.unique(v)) != n:
            continue
        out.append(f"{ctx.source}: column {str(col)!r}: every row has its own whole number, {lo:.0f}..{hi:.0f} (one per row, "
                   "the row number plus a constant): an ID, not a feature: drop it (new rows' IDs lie outside the range it trains on, "
                   "and in a file sorted by class it gives the label away); if it measures something (a time step), ignore this")
    return out


def _markers(ctx: DataContext) -> list[str]:
    """The cells that mean "missing" but are read as text: UCI's '?' (also after a space, from
    ', '-separated files) and, in a CSV, pandas' missing-value texts after a space (' NA': pandas
    reads 'NA' as missing, but not ' NA'), less those ``keep_text`` keeps."""
    keep = set(ctx.data.options.get("keep_text", ()))
    padded = [f" {t}" for t in NA_TEXTS if t and t not in keep] if csv_data(ctx) else []
    return ["?", " ?", *padded]


def missing_markers(table: Any, ctx: DataContext) -> list[str]:
    """Text columns (the target too) holding a missing-value marker, which trained as a category
    of its own (UCI Adult's ' ?' in workclass, occupation and native-country), where an empty cell
    or 'NA' in the same column is refused as missing. One warning naming the columns and counts."""
    markers = _markers(ctx)
    found: list[tuple[str, int, list[str]]] = []  # (column, cells, the markers it holds)
    for col in table.columns:
        values = table[col]
        if not _text(values):
            continue
        try:
            hit = values.isin(markers).to_numpy(dtype=bool)
        except TypeError:  # lists in its cells: one_value_cells' problem
            continue
        if hit.any():
            held = list(dict.fromkeys(str(m) for m in values[hit].iloc[:1000]))  # a sample's markers, in order of appearance
            key = f"data.target {str(col)!r}" if col == target_name(ctx) else repr(str(col))
            found.append((key, int(hit.sum()), held))
    if not found:
        return []
    named = ", ".join(f"{key} ({k:,} cells {' '.join(repr(m) for m in held)})" for key, k, held in found[:MAX_SHOWN])
    more = f" and {len(found) - MAX_SHOWN} more" if len(found) > MAX_SHOWN else ""
    held_all = {m for _, _, held in found for m in held}
    if csv_data(ctx):
        args = ["na_values=['?']"] if held_all & {"?", " ?"} else []
        args += ["skipinitialspace=True"] if any(m.startswith(" ") for m in held_all) else []
        read = f"read the file with pandas.read_csv(path, {', '.join(args)})"
    else:
        read = f"make it missing (df = df.replace({sorted(held_all)!r}, np.nan))"
    what = "columns" if len(found) > 1 else "column"
    return [f"{ctx.source}: {what} {named}{more}: {'hold' if len(found) > 1 else 'holds'} a missing-value marker, which trains as a "
            f"category of its own (an empty cell is refused as missing): {read}, then fill or drop those rows and save it again; if it is a category, ignore this"]


def numbers_as_names(table: Any, ctx: DataContext) -> list[str]:
    """A CSV whose header line is all numbers, none repeated (one repeated is refused as no header
    line when the study is read): names that are numbers (years, wavelengths, a frame's integer
    labels) or the first sample of a file without a header line (Pima's ``6,148,72,...``), which is
    then lost and its values are the names. Said when the target is found (else its problem says
    the header holds values); pandas' own names 0..n-1 and 1..n are not."""
    columns = [str(c) for c in table.columns]
    if not csv_data(ctx) or target_name(ctx) not in columns or not values_not_names(columns):
        return []
    return [f"{ctx.source}: the header line reads as numbers ({first_values(columns)}), taken as the column names: names that are numbers "
            "(years, wavelengths) are fine; if the file has no header line, its first sample was taken as the column names and is not "
            f"trained on: add one, {NO_HEADER_FIX}"]


def table_quirks(table: Any, ctx: DataContext) -> list[str]:
    """Every warning of this module, for a table as read."""
    return [*numbers_as_names(table, ctx), *near_duplicate_labels(table, ctx), *id_columns(table, ctx), *missing_markers(table, ctx)]
