"""The checks of a CSV's header line as pandas read it: every column named (an empty header cell is
read as 'Unnamed: N'), and the words that tell a header of values (a file without a header line)
from a misspelt target.
"""

from __future__ import annotations

from typing import Any

from hpbench.data.files import is_csv
from hpbench.data.sniff import NO_HEADER_FIX, first_values, is_number
from hpbench.errors import shown
from hpbench.preflight.data import DataContext
from hpbench.preflight.problems import Problem

DROP_EMPTY = 'pandas.read_csv(path).dropna(axis=1, how="all").to_csv(new_path, index=False)'


def _unnamed(table: Any) -> list[int]:
    """The positions (from 0) of the columns pandas named 'Unnamed: N' (an empty header cell)."""
    return [i for i, c in enumerate(table.columns) if str(c).startswith("Unnamed: ")]


def empty_unnamed(table: Any, ctx: DataContext) -> set[Any]:
    """A CSV's columns with no name and no value (a spreadsheet's empty columns): the unnamed-column
    check names them, and no other check repeats them (each 'must have no missing values')."""
    if not is_csv(str(ctx.data.dataset)):
        return set()
    return {table.columns[i] for i in _unnamed(table) if len(table) and table.iloc[:, i].isna().all()}


def _positions(at: list[int]) -> str:
    """``column 3`` / ``columns 2, 5-6`` (counting from 1, as a spreadsheet does)."""
    runs: list[list[int]] = []
    for i in at:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    text = ", ".join(f"{r[0] + 1}" if len(r) == 1 else f"{r[0] + 1}-{r[-1] + 1}" for r in runs)
    return f"column{'s' if len(at) > 1 else ''} {text}"


def unnamed_columns(table: Any, ctx: DataContext) -> list[Problem]:
    """Every column of a CSV is named. An empty header cell over an empty column is a spreadsheet's
    (Excel saves columns once used as trailing commas): said so, with the line that drops them.
    One first with values is most often the row index DataFrame.to_csv writes by default, which
    trained as a feature (in a file sorted by class it gives the label away); its hint named the
    index for a spreadsheet's last column too (bug hunt s52/h1 #4)."""
    if not is_csv(str(ctx.data.dataset)):
        return []
    out = []
    empty = empty_unnamed(table, ctx)
    blank = [i for i in _unnamed(table) if table.columns[i] in empty]
    if blank:
        trailing = blank == list(range(len(table.columns) - len(blank), len(table.columns)))
        many = len(blank) > 1
        what = f"a spreadsheet's trailing empty column{'s' if many else ''}" if trailing else "as a spreadsheet saves an emptied column"
        are = "have" if many else "has"
        out.append(Problem(source=ctx.source, key="(header)", rule="must name every column",
                           value=shown(f"{_positions(blank)} {are} no name and no value ({what})"),
                           hint=f"delete {'them' if many else 'it'}, or {DROP_EMPTY}"))
    named = [i for i in _unnamed(table) if table.columns[i] not in empty]
    if named and named[0] == 0:
        out.append(Problem(source=ctx.source, key="(header)", rule="must name every column (an empty header cell over the first column is "
                           "most often the row index DataFrame.to_csv writes unless index=False: drop it, or name the column to keep it as a feature)",
                           value=shown(f"{len(named)} unnamed, the first at position 1")))
    elif named:
        out.append(Problem(source=ctx.source, key="(header)", rule="must name every column",
                           value=shown(f"{len(named)} unnamed, the first at position {named[0] + 1}"),
                           hint="name the column in the header line, or drop it"))
    return out


def no_header_hint(columns: list[str]) -> str:
    """The hint of 'data.target must name a column' when the header line holds values (at least 2
    numbers, a third of its cells), '' otherwise: a file without a header line whose first row mixes
    numbers and text (UCI's adult.data), where the did-you-mean offered that row's values as names."""
    numbers = [c for c in columns if is_number(c)]
    if len(numbers) < 2 or 3 * len(numbers) < len(columns):
        return ""
    return f"the header line holds values ({first_values(columns)}): if the file has no header line, add one, {NO_HEADER_FIX}"
