"""The checks of a data file's table, as read (its columns by name, its rows by the file's line
numbers, or by position from 0): one small function per rule, each returning the problems it
finds. Then the table becomes the arrays every kind of data is checked as
(:mod:`hpbench.preflight.table_arrays`, :mod:`hpbench.preflight.data`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hpbench.data import onehot
from hpbench.data.files import is_csv
from hpbench.data.sniff import is_decimal_comma
from hpbench.data.user import FLOAT32_MAX, infer_task, missing_texts
from hpbench.errors import did_you_mean, shown
from hpbench.preflight.data import MAX_SHOWN, DataContext
from hpbench.preflight.problems import Problem
from hpbench.preflight.table_header import empty_unnamed, no_header_hint, unnamed_columns

MAX_CATEGORIES = 100  # a text feature column with more distinct values is not a category (one-hot columns)

TableCheck = Callable[[Any, DataContext], list[Problem]]


def target_name(ctx: DataContext) -> str:
    return str(ctx.data.options.get("target", ""))


def csv_data(ctx: DataContext) -> bool:
    return is_csv(str(ctx.data.dataset))


def _lines(at: Any, ctx: DataContext) -> str:
    """Where in the file, from rows' positions (:func:`check_table` numbers them): a CSV's line
    numbers (line 1 its header), other tables' rows (from 0)."""
    first, word = (2, "line") if csv_data(ctx) else (0, "row")
    shown_ = [str(int(i) + first) for i in list(at)[:MAX_SHOWN]]
    more = f" and {len(at) - MAX_SHOWN} more" if len(at) > MAX_SHOWN else ""
    return f"{word}{'s' if len(at) > 1 else ''} {', '.join(shown_)}{more}"


def task_given(ctx: DataContext) -> str | None:
    task = ctx.data.options.get("task")
    return None if task is None else str(task)


def one_column(table: Any, ctx: DataContext) -> list[Problem]:
    if len(table.columns) != 1 or not csv_data(ctx):
        return []
    return [Problem(source=ctx.source, key="(header)", rule="must name comma-separated columns (the target and the features)",
                    value=shown(f"one column only: {str(table.columns[0])[:80]!r}"))]


def target_column(table: Any, ctx: DataContext) -> list[Problem]:
    target = target_name(ctx)
    if target in table.columns:
        return []
    columns = [str(c) for c in table.columns]
    close = did_you_mean(target, columns)  # a close name wins; else a header of values is said to be one (no header line)
    hint = (close if close.startswith("did you mean") else no_header_hint(columns) or close) if columns else "the file has no columns"
    return [Problem(source=ctx.source, key="data.target", rule="must name a column of the file", value=target, hint=hint)]


def has_features(table: Any, ctx: DataContext) -> list[Problem]:
    if target_name(ctx) not in table.columns or len(table.columns) > 1:
        return []
    return [Problem(source=ctx.source, key="(columns)", rule="needs at least one feature column besides the target", value=target_name(ctx))]


def date_columns(table: Any, ctx: DataContext) -> list[Problem]:
    """A feature is a number or a text category: a date or a duration is neither (a Parquet
    datetime column trained as raw nanoseconds since 1970, 1.6e18, where the same column in a CSV
    is text)."""
    out = []
    for col in table.columns:
        if table[col].dtype.kind in "Mm":
            key = "data.target" if col == target_name(ctx) else f"column {str(col)!r}"
            out.append(Problem(source=ctx.source, key=key, rule=_DATE_RULE, value=shown(str(table[col].dtype))))
    return out


_DATE_RULE = "must hold numbers or text categories, not dates or durations (derive numbers from it first: a day of the week, seconds since a start)"


_DECIMAL_FIX = "pandas.read_csv(path, decimal=',').to_csv(new_path, index=False)"
_NUMBER_FORMATTING = r"[,\s$€£¥%]"  # what a spreadsheet adds to a number: thousands separators, currency and percent signs


def _formatted_numbers(values: Any, *, sample: int = 200) -> str:
    """The first of a text column's values when every one of its first values is a number once a
    spreadsheet's formatting is taken out, else '' (a column pandas read as text, so some had it)."""
    import pandas as pd

    head = values.iloc[:sample].astype(str)
    plain = head.str.replace(_NUMBER_FORMATTING, "", regex=True)
    if not (plain.str.len() > 0).all() or pd.to_numeric(plain, errors="coerce").isna().any():
        return ""
    return str(head.iloc[0])[:40]


def _dates(values: Any, *, sample: int = 50) -> bool:
    """Whether a text column's first values all read as dates or times ('2024-01-01 00:00:00', '03/07/2024')."""
    import warnings

    import pandas as pd

    head = values.iloc[:sample].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' "could not infer format" on mixed formats
        try:
            parsed = pd.to_datetime(head, errors="coerce", format="mixed")
        except (ValueError, TypeError):
            return False
    return bool(parsed.notna().all())


def has_rows(table: Any, ctx: DataContext) -> list[Problem]:
    return [] if len(table) else [Problem(source=ctx.source, key="(rows)", rule="must hold at least one row of data", value=shown("a header only"))]


def missing_values(table: Any, ctx: DataContext) -> list[Problem]:
    """No missing cell in any column (the target included): one problem per column. A CSV's cells
    are named by what they held, empty or a text pandas reads as missing ('NA', 'None', ...),
    with the key that keeps such texts as text."""
    missing = {col: np.flatnonzero(table[col].isna().to_numpy()) for col in table.columns}
    empty = empty_unnamed(table, ctx)  # columns with no name and no value: unnamed_columns' problem
    missing = {col: at for col, at in missing.items() if len(at) and col not in empty}
    written = missing_texts(ctx.data.dataset, list(missing)) if missing and csv_data(ctx) else None
    out = []
    for col, at in missing.items():
        key = "data.target" if col == target_name(ctx) else f"column {str(col)!r}"
        held = [] if written is None else list(dict.fromkeys(written[col].to_numpy()[at].tolist()))
        texts = [t for t in held if t != ""]
        if not texts:
            out.append(Problem(source=ctx.source, key=key, rule="must have no missing values",
                               value=shown(f"{len(at)} empty ({_lines(table.index[at], ctx)})")))
            continue
        said = ", ".join(repr(t) for t in texts[:MAX_SHOWN]) + (" or empty" if "" in held else "")
        keep = ", ".join(f'"{t}"' for t in texts[:MAX_SHOWN])
        out.append(Problem(source=ctx.source, key=key, rule="must have no missing values",
                           value=shown(f"{len(at)} cells read as missing: {said} ({_lines(table.index[at], ctx)})"),
                           hint=f"where {keep} is a category, not a missing value, keep it as text: [data] keep_text = [{keep}]"))
    return out


def infinite_values(table: Any, ctx: DataContext) -> list[Problem]:
    out = []
    for col in table.columns:
        values = table[col]
        if values.dtype.kind != "f":
            continue
        v = values.to_numpy()
        key = "data.target" if col == target_name(ctx) else f"column {str(col)!r}"
        rows = table.index[np.isinf(v)]
        if len(rows):
            out.append(Problem(source=ctx.source, key=key, rule="must hold finite numbers", value=shown(f"{len(rows)} infinite ({_lines(rows, ctx)})")))
        if values.dtype.itemsize <= 4:  # float16 and float32 hold nothing beyond float32 (and float16 overflows comparing to it)
            continue
        huge = table.index[np.isfinite(v) & (np.abs(v) > FLOAT32_MAX)]
        if len(huge):  # finite here, infinite once the trials read them as float32
            out.append(Problem(source=ctx.source, key=key, rule=f"must hold numbers that float32 holds (at most {FLOAT32_MAX:.4g} in magnitude)",
                               value=shown(f"{len(huge)} too large, e.g. {float(v[table.index.get_loc(huge[0])]):g} ({_lines(huge, ctx)})")))
    return out


def nested_cells(values: Any) -> Any:
    """The cells of an object column that hold a list, array, mapping or bytes, not one value."""
    if values.dtype.kind != "O":
        return values.iloc[:0]
    return values[values.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray, bytes)))]


def one_value_cells(table: Any, ctx: DataContext) -> list[Problem]:
    """Each cell holds one number or text (a Parquet column of lists is not a feature)."""
    out = []
    for col in table.columns:
        bad = nested_cells(table[col])
        if len(bad):
            key = "data.target" if col == target_name(ctx) else f"column {str(col)!r}"
            out.append(Problem(source=ctx.source, key=key, rule="must hold one number or text per cell",
                               value=shown(f"{type(bad.iloc[0]).__name__} cells ({_lines(bad.index, ctx)})")))
    return out


def text_among_numbers(values: Any) -> Any:
    """The text cells ('?', 'n/a') of a column read as text whose cells are mostly numbers (an
    empty selection where every cell is a number pandas holds as an object: a boolean column with
    a gap holds True/False objects), None for a column that is not mostly numbers or not text."""
    import pandas as pd

    values = values.dropna()
    if values.dtype.kind not in "OSU" or not len(values) or len(nested_cells(values)):
        return None
    as_numbers = pd.to_numeric(values, errors="coerce")
    return values[as_numbers.isna()] if as_numbers.notna().mean() >= 0.5 else None


_MOSTLY_NUMBERS = "must hold numbers only (it is mostly numbers)"


def _text_cells(bad: Any, ctx: DataContext) -> str:
    examples = ", ".join(repr(str(v)) for v in bad.unique()[:MAX_SHOWN])
    return f"text {examples} ({_lines(bad.index, ctx)})"


def text_target(table: Any, ctx: DataContext) -> list[Problem]:
    """The target follows its feature columns' rule: a regression target with a few '?' cells was
    read as text, then as one class per price (299 classes, trained without a word)."""
    target = target_name(ctx)
    if target not in table.columns or task_given(ctx) not in (None, "regression"):
        return []
    bad = text_among_numbers(table[target])
    if bad is None or not len(bad):
        return []
    return [Problem(source=ctx.source, key="data.target", rule=_MOSTLY_NUMBERS, value=shown(_text_cells(bad, ctx)),
                    hint='drop or fill those rows; if the values are class labels, set data.task = "multiclass"')]


def classes_with_rows(table: Any, ctx: DataContext) -> list[Problem]:
    """A classification target has rows to learn each class from. More classes than half the
    labelled rows leaves the average class under 2 rows, so most classes cannot be in both the
    training and the validation split: an ID column, or a regression target stored as text, chosen
    by mistake (300 rows, 299 classes). No classification dataset trips it: 10,000 rows of 1,000
    classes have 10 each, and a set of pairs (2 rows a class) is just at the bound. Asked for with
    ``data.task``, the classes train (the splits' warning says which could not be stratified)."""
    target = target_name(ctx)
    if target not in table.columns or task_given(ctx) is not None or text_among_numbers(table[target]) is not None:
        return []  # (mostly numbers with some text: text_target's problem)
    values = table[target].dropna()
    try:
        n = int(values.nunique())
    except TypeError:  # lists in its cells: one_value_cells' problem
        return []
    if n <= 2 or n * 2 <= len(values) or values.dtype.kind in "Mm" or infer_task(values.to_numpy()) == "regression":
        return []
    examples = ", ".join(repr(str(v)) for v in values.iloc[:3])
    return [Problem(source=ctx.source, key="data.target", rule="a classification target must have rows to learn each class from: "
                    "at most one class per 2 rows", value=shown(f"{n} classes in {len(values)} rows, e.g. {examples}"),
                    hint='an ID or a regression target stored as text? For a regression, set data.task = "regression"; for an ID, '
                         'name another column as data.target; to train these classes anyway, set data.task = "multiclass"')]


def text_columns(table: Any, ctx: DataContext) -> list[Problem]:
    """A text feature column is a category (one-hot encoded): numbers written as text among
    numbers ('1,234', '?', 'n/a') and columns of mostly distinct texts are mistakes."""
    out = []
    for col in table.columns:
        values = table[col].dropna()
        if col == target_name(ctx) or values.dtype.kind not in "OSU" or not len(values) or len(nested_cells(values)):
            continue
        bad = text_among_numbers(values)
        if bad is not None:
            if len(bad):  # (none: numbers pandas holds as objects, True/False beside a gap)
                out.append(Problem(source=ctx.source, key=f"column {str(col)!r}", rule=_MOSTLY_NUMBERS, value=shown(_text_cells(bad, ctx))))
            continue
        formatted = _formatted_numbers(values)
        if formatted:  # '3,366.33', '$12', '15.5%': numbers a spreadsheet formatted, one-hot encoded as text otherwise
            comma = all(is_decimal_comma(str(v)) for v in values.iloc[:200])  # '0,686': a decimal comma as likely (bug hunt s52/h1 #9)
            out.append(Problem(source=ctx.source, key=f"column {str(col)!r}",
                               rule="must hold plain numbers, not numbers written with thousands separators, currency or percent signs "
                                    "(save them as plain numbers)", value=shown(f"text like {formatted!r}"),
                               hint=f"if ',' is a decimal comma here: {_DECIMAL_FIX}" if comma else ""))
            continue
        n = values.nunique()
        if n > MAX_CATEGORIES and _dates(values):  # a CSV's dates are text: said as dates, as a Parquet datetime column is
            out.append(Problem(source=ctx.source, key=f"column {str(col)!r}", rule=_DATE_RULE,
                               value=shown(f"{n} distinct dates or times, e.g. {str(values.iloc[0])[:40]!r}")))
        elif n > MAX_CATEGORIES:
            out.append(Problem(source=ctx.source, key=f"column {str(col)!r}",
                               rule=f"a text column is a category, one-hot encoded: it may have at most {MAX_CATEGORIES} distinct values",
                               value=shown(f"{n} distinct values, e.g. {str(values.iloc[0])[:40]!r}")))
    return out


def one_hot_names(table: Any, ctx: DataContext) -> list[Problem]:
    """Every input of the model has a name of its own: a numeric column 'color_red' beside a text
    column 'color' holding 'red' is refused, as two inputs named 'color_red' (the weights file's
    list of inputs, and a user reading it, could not tell which is which)."""
    columns: list[str] = []
    categories: list[tuple[str, ...] | None] = []
    for col in table.columns:
        values = table[col]
        if col == target_name(ctx) or values.dtype.kind in "Mm":  # a date: date_columns' problem
            continue
        if onehot.is_numeric(values):
            columns.append(str(col))
            categories.append(None)
        elif (found := _few_categories(values, str(col))) is not None:
            columns.append(str(col))
            categories.append(found)
    out = []
    for name, origins in onehot.clashes(columns, tuple(categories)):
        column, what, rename = onehot.clash_text(name, origins)
        out.append(Problem(source=ctx.source, key=f"column {column!r}", rule=onehot.CLASH_RULE, value=shown(what), hint=rename))
    return out


def _few_categories(values: Any, name: str) -> tuple[str, ...] | None:
    """A text column's one-hot categories; None for one training would not read (too many
    values, lists in its cells: text_columns' and one_value_cells' problems)."""
    try:
        if values.nunique() > MAX_CATEGORIES:
            return None
        return onehot.categories_of(values.to_frame(name))[0]
    except TypeError:  # unhashable cells
        return None


TABLE_CHECKS: list[TableCheck] = [one_column, target_column, has_features, unnamed_columns, has_rows, date_columns, one_value_cells,
                                   missing_values, infinite_values, text_target, classes_with_rows, text_columns, one_hot_names]


def check_table(table: Any, ctx: DataContext) -> list[Problem]:
    """Every rule's problems, the rows numbered by position from 0: a Parquet file written with its
    DataFrame's index (IDs, a filtered frame's labels) had its labels taken as row numbers."""
    table = table.reset_index(drop=True)
    return [p for check in TABLE_CHECKS for p in check(table, ctx)]


