"""[data] files checked at validation, from their headers alone (nothing is loaded): the files
exist, NumPy arrays fit together, the declared ``shape``/``kind`` fits the samples, and a split
the data comes with is not also asked to be carved out.

Each function raises a :class:`~hpbench.errors.StudyError` naming the key to change.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from typing import Any

from hpbench.data import arrays, files
from hpbench.data.datasets import DATASETS
from hpbench.data.kinds import DataKind, Layout, LayoutError, resolve_layout
from hpbench.data.sniff import NO_HEADER_FIX, binary_kind, first_values, repeated_values
from hpbench.errors import DataFileProblem, Problem, StudyError, shown
from hpbench.space.distributions import Choice
from hpbench.space.space import SearchSpace
from hpbench.study.locate import locate
from hpbench.study.reader import Reader

PATH_KEYS = ("dataset", "y", "x_val", "y_val", "x_test", "y_test")  # [data] keys naming files
SPLIT_FRACTIONS = {"val": "val_fraction", "test": "test_fraction"}


def resolve_paths(r: Reader, data: dict[str, Any]) -> None:
    """Each data file exists (a relative path: beside the study file or in the working directory,
    refused when both hold a different one: :mod:`hpbench.study.locate`), kept as its absolute
    path; ``.npy`` inputs come with their labels (``y``).
    A relative path was kept as given: data loaded in the driver never minded, but a streamed
    ``.npy`` (``stream``, or any over 256 MiB by default) is opened in the trial's Ray worker,
    whose working directory is its own, and every trial failed with FileNotFoundError."""
    for key in PATH_KEYS:
        if key not in data:
            continue
        path = locate(r, _written_key(r, key), str(data[key]))
        if path is None:
            raise r.fail(_written_key(r, key), "data file must exist", data[key])
        if key != "dataset" and not arrays.is_npy(path.name):
            raise r.fail(f"data.{key}", "must be a .npy file (np.save writes one)", data[key])
        data[key] = str(path)  # absolute: a streamed file is opened in each trial's worker, which runs in a folder of its own
    if arrays.is_npy(data["dataset"]) and "y" not in data:
        raise r.fail("data.y", "is required with .npy inputs (the .npy file of their labels)")
    if "x" in data:
        data["x"] = data["dataset"]


def resolve_choices(r: Reader, space: SearchSpace) -> dict[str, dict[str, str]]:
    """The absolute path of each data file a ``[space]`` choice names, by the path it sets
    (``data.dataset``) then the value as written: the rule of :func:`resolve_paths`, each refused
    choice named ``space.data.dataset.choice[i]``. A built-in dataset or a loader
    (``'pkg.mod:load'``) is no file and stays as written. The trials table keeps the values as
    written; each trial's configuration holds the file (:func:`hpbench.study.resolve.apply_params`).
    A relative choice was kept as given: the pre-flight read it from the working directory and
    passed, and every trial failed with FileNotFoundError in its Ray worker, whose working
    directory is its own (bug hunt s51/v1 #1)."""
    out: dict[str, dict[str, str]] = {}
    problems: list[Problem] = []
    for d in space:
        key = d.path.removeprefix("data.")
        if not d.path.startswith("data.") or key not in (*PATH_KEYS, "x") or not isinstance(d.dist, Choice):
            continue
        for i, value in enumerate(d.dist.values):
            if not isinstance(value, str) or (key in ("dataset", "x") and not (files.is_table(value) or arrays.is_numpy_dataset(value))):
                continue  # a built-in dataset, a loader: no file
            where = f"space.{d.key}.{d.dist.kind}[{i}]"
            try:
                path = locate(r, where, value)
                if path is None:
                    raise r.fail(where, "data file must exist (looked up beside the study file and in the working directory)", value)
                if key not in ("dataset", "x") and not arrays.is_npy(path.name):
                    raise r.fail(where, "must be a .npy file (np.save writes one)", value)
            except StudyError as err:
                problems += err.problems
                continue
            out.setdefault(d.path, {})[value] = str(path)
    if problems:
        raise StudyError.of(problems)
    return out


def _written_key(r: Reader, key: str) -> str:
    """The key as the study wrote it: ``data.x`` for .npy inputs named by ``x`` alone."""
    written = r.raw.get("data", {})
    return "data.x" if key == "dataset" and isinstance(written, dict) and "x" in written and "dataset" not in written else f"data.{key}"


def keep_text_for_csv(r: Reader, data: Mapping[str, Any]) -> None:
    """``keep_text`` names texts a CSV's parser reads as missing: a Parquet file's missing values are nulls, not text."""
    if "keep_text" in data and files.is_parquet(str(data["dataset"])):
        raise r.fail("data.keep_text", "applies to CSV files only (a Parquet file's missing values are nulls, not text)", list(data["keep_text"]))


def stored_shape(r: Reader, data: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The shape of one sample as stored in a data file (NumPy: its header; CSV/Parquet: the
    number of feature columns), or None for a built-in dataset or a user loader."""
    dataset = str(data["dataset"])
    if arrays.is_numpy_dataset(dataset):
        try:
            heads = arrays.headers(dataset, dict(data))
            arrays.check_arrays(dataset, heads)
        except ValueError as err:  # the message names the file (or its array), the rule and what it holds
            raise r.fail(_array_key(r, dataset, getattr(err, "array", "x")), str(err)) from None
        return heads["x"].sample_shape
    if files.is_table(dataset):
        columns = _columns(r, dataset)
        if files.is_csv(dataset) and repeated_values(columns):  # before the names' checks: these are no names (bug hunt s52/h1 #3, s52/v1 #1)
            raise _file_fail(dataset, "must start with a header line naming its columns", shown(f"a first line of numbers ({first_values(columns)})"),
                             hint=f"the file seems to have no header line: add one, {NO_HEADER_FIX}")
        # an empty name is read as 'Unnamed: N', not renamed: the pre-flight's unnamed-column check names those
        twice = sorted({c for c in columns if c and columns.count(c) > 1})
        if twice:  # pandas would read the second one as "name.1": the target could be the wrong column, unsaid
            raise _file_fail(dataset, f"must name each column once (pandas would read a second {twice[0]!r} as '{twice[0]}.1')", twice)
        return (len(columns) - 1,)  # every column but the target
    return None


def _array_key(r: Reader, dataset: str, array: str) -> str:
    """The [data] key that gave an array's file, as the study wrote it: a .npy file's own key
    (``x`` or ``dataset`` for the inputs, ``y_val``, ...), a .npz archive's ``dataset``."""
    if arrays.is_npz(dataset) or array == "x":
        written = r.raw.get("data", {})
        return "data.x" if array == "x" and isinstance(written, dict) and "x" in written and "dataset" not in written else "data.dataset"
    return f"data.{array}"


def _columns(r: Reader, path: str) -> list[str]:
    what = "" if files.is_parquet(path) else binary_kind(path)
    if what:  # e.g. an Excel file saved under a .csv name
        raise _file_fail(path, f"must be a CSV text file, but it is {what}")
    try:
        if files.is_parquet(path):
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)  # pandas restores its index columns ('__index_level_0__') as the index: no feature
            index = {c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
            return [c for c in schema.names if c not in index]
        with files.open_text(path) as f:  # the first line that is not blank, as pandas skips blank lines before the header
            return next((row for row in csv.reader(f) if row and (len(row) > 1 or row[0].strip())), [])
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, ValueError) as err:
        kind = "Parquet" if files.is_parquet(path) else "CSV"
        raise _file_fail(path, f"must be a readable {kind} file ({err})") from None


def _file_fail(path: str, rule: str, value: Any = None, *, hint: str = "") -> StudyError:
    """A data file's own problem, named by the file (``data.dataset`` gives it)."""
    return StudyError.of([DataFileProblem(source=path, key="data.dataset", rule=rule, value=value, hint=hint)])


def layout(r: Reader, data: Mapping[str, Any]) -> Layout | None:
    """How the study's samples will be read (kind, shape), when that is known before loading:
    a built-in dataset's own kind, or a data file's header with the declared ``shape``/``kind``."""
    dataset = str(data["dataset"])
    if dataset in DATASETS:
        kind = DATASETS.get(dataset).meta.get("kind")
        return Layout(kind=DataKind(kind), input_shape=()) if kind else None
    stored = stored_shape(r, data)
    if stored is None:
        return None
    try:
        return resolve_layout(stored, shape=data.get("shape"), kind=data.get("kind"), where=dataset)
    except LayoutError as err:
        raise r.fail(err.key, err.rule, err.value) from None


def check_layout(r: Reader, data: Mapping[str, Any], table: Mapping[str, Any]) -> None:
    """``shape``/``kind`` fit the data file (and apply to data files and user loaders only); a
    split the data comes with (``x_val``/``x_test``) is used as given, so its fraction is not set."""
    dataset = str(data["dataset"])
    if dataset in DATASETS:
        for key in ("shape", "kind"):
            if key in data:
                raise r.fail(f"data.{key}", f"applies to data files and user loaders; the built-in dataset {dataset!r} has its own "
                             f"({DATASETS.get(dataset).meta.get('kind')})", data[key])
        return
    layout(r, data)
    if not arrays.is_numpy_dataset(dataset):
        return
    heads = arrays.headers(dataset, dict(data))
    for split, key in SPLIT_FRACTIONS.items():
        if f"x_{split}" in heads and key in table:
            raise r.fail(f"data.{key}", f"must be left out: the data comes with a {split} split (x_{split}, y_{split}), used as given",
                         table[key])
