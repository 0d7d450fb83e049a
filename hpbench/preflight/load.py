"""Loading a study's data for the pre-flight checks, one function per kind of dataset.

Each returns a :class:`Loaded`: the table as read (a data file), the arrays the checks read,
the data the trials will use (in memory, or a source to stream), or the problems that stopped
the loading (a file that is not a table, an entry point that does not import or raises). A new
kind of data adds its function to ``LOADERS`` (first match wins). Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hpbench.config import DataConfig
from hpbench.data import arrays as numpy_files
from hpbench.data import files
from hpbench.data.datasets import DATASETS, GIVEN_SPLITS, RawData
from hpbench.data.sniff import binary_kind, longer_row, other_separator, resave_call
from hpbench.data.sources import Source, loader_data, loader_options, open_data, peek
from hpbench.data.user import infer_task, numpy_of, read_table
from hpbench.errors import did_you_mean, shown
from hpbench.preflight.problems import Problem
from hpbench.registry import MAIN, import_user_module, in_main
from hpbench.user_code import exception_line, full_traceback, is_user_file, user_frames


@dataclass(frozen=True, kw_only=True)
class Arrays:
    """What the data checks read: features, targets (as loaded: labels not yet encoded), the task
    (as set, or inferred from the targets) and the sizes of the splits the data came with."""

    x: np.ndarray
    y: np.ndarray
    task: str
    image: bool = False
    kind: str | None = None  # the samples' DataKind when known (None: the default for their shape)
    given: dict[str, int] = field(default_factory=dict)  # "val"/"test" -> rows of a split the data came with
    n_rows: int | None = None  # rows of the whole training data when x / y are a sample of it (streamed data)
    n_outputs: int | None = None  # known without reading every label (streamed data), else None
    sized: bool = True  # False: an iterable dataset without a length (its split sizes are unknown)
    x_names: tuple[str, ...] = ()  # a table's feature columns, one per column of x (its one-hot columns named as pandas does)
    x_key: str = "x"  # how the problems name the features and the targets
    y_key: str = "y"
    y_source: str | None = None  # the targets' own file, where it is not the data's (.npy inputs: the y file)
    first_row: int = 0  # the number of the first row as the user counts them (a CSV: line 2)
    row_word: str = "index"  # "line" for a data file

    @property
    def n(self) -> int:
        return self.n_rows if self.n_rows is not None else len(self.y)


@dataclass(frozen=True, kw_only=True)
class Loaded:
    source: str  # where the data comes from: the data file, the entry point, or the study file
    table: Any = None  # a data file's pandas DataFrame, as read
    arrays: Arrays | None = None
    output: Any = None  # a user loader's return value (converted once the checks passed)
    data: RawData | Source | None = None  # what the trials will use, when loaded without problems
    problems: tuple[Problem, ...] = ()


def _arrays_of(data: RawData) -> Arrays:
    return Arrays(x=data.x, y=data.y, task=data.task, image=data.image, kind=str(data.kind),
                  given={s: len(getattr(data, f"y_{s}")) for s in data.given})


def _opened(data: DataConfig, source: str) -> Loaded:
    """Built-in datasets and NumPy files: their own loaders (their errors name their keys)."""
    opened = open_data(data.dataset, dict(data.options), shape=data.shape, kind=data.kind, stream=data.stream)
    if isinstance(opened, RawData):
        return Loaded(source=source, arrays=_arrays_of(opened), data=opened)
    return Loaded(source=source, arrays=_streamed(data), data=opened)


def _streamed(data: DataConfig) -> Arrays:
    """Data too large to load: its shape, size, task and a few rows (:func:`peek`)."""
    info = peek(data.dataset, dict(data.options), shape=data.shape, kind=data.kind, stream=data.stream)
    task = info.task or infer_task(np.asarray(info.y_sample))
    return Arrays(x=np.asarray(info.x_sample, dtype=np.float32), y=np.asarray(info.y_sample), task=task, image=str(info.kind) == "image",
                  kind=str(info.kind), n_rows=info.n if info.n is not None else len(info.y_sample), sized=info.n is not None,
                  n_outputs=info.n_outputs or (2 if task == "multiclass" else 1), given={})


def load_builtin(data: DataConfig, *, study_source: str) -> Loaded:
    return _opened(data, study_source)


def load_numpy(data: DataConfig, *, study_source: str) -> Loaded:
    """NumPy files; with ``x`` / ``y`` as .npy files the target's problems name the y file and
    ``data.y`` (the x file and ``y`` before: bug hunt s48h3)."""
    loaded = _opened(data, data.dataset)
    y_file = data.options.get("y")
    if loaded.arrays is None or not numpy_files.is_npy(data.dataset) or not isinstance(y_file, str):
        return loaded
    return replace(loaded, arrays=replace(loaded.arrays, y_key="data.y", y_source=y_file))


def load_file(data: DataConfig, *, study_source: str) -> Loaded:
    """A CSV or Parquet file: read as a table (the table checks then look at its columns)."""
    path = data.dataset
    kind = "Parquet" if files.is_parquet(path) else "CSV"
    if kind == "CSV":
        what = binary_kind(path)
        if what:
            return Loaded(source=path, problems=(Problem(source=path, key="data.dataset", rule="must be a CSV text file", value=shown(what)),))
        sep = other_separator(path)
        if sep:  # the table checks would only repeat it (one column named by a whole line)
            rule = f"must be comma-separated with '.' as the decimal mark (re-save it: {resave_call(path, sep)})"
            words = "lines separated by spaces" if sep == r"\s+" else f"a header line separated by {sep!r}"
            return Loaded(source=path, problems=(Problem(source=path, key="data.dataset", rule=rule, value=shown(f"{words} and no comma")),))
    try:
        table = read_table(path, keep_text=tuple(data.options.get("keep_text", ())))
    except Exception as err:  # pandas' parser errors and warnings, a decoding error, an empty file, ...
        what = exception_line(err)
        if type(err).__name__ == "ParserWarning":  # pandas' words for it are obscure, and name neither line
            what = f"rows with more fields than the header line (pandas: data would be lost){longer_row(path)}"
        return Loaded(source=path, problems=(Problem(source=path, key="data.dataset", rule=f"must be a readable {kind} table", value=shown(what)),))
    return Loaded(source=path, table=table)


def load_entry_point(data: DataConfig, *, study_source: str) -> Loaded:
    """``"package.module:load"``: import it and call it with the dataset options. Arrays it
    returns are checked as they are; datasets once converted (stacked, or peeked when streamed)."""
    spec = data.dataset
    fn, problems = import_entry_point(spec, key="data.dataset")
    if fn is None:
        return Loaded(source=spec, problems=problems)
    kwargs, task, image = loader_options(dict(data.options))
    try:
        out = fn(**kwargs)
    except Exception as err:
        return Loaded(source=spec, problems=(user_code_problem(spec, "data.dataset", "the dataset loader raised", err),))
    except SystemExit as err:  # sys.exit() in the loader would end hpbench itself, silently
        return Loaded(source=spec, problems=(Problem(source=spec, key="data.dataset", rule="the dataset loader must return its data, "
                                                     "not exit the process", value=shown(f"sys.exit({err.code!r})")),))
    try:
        if isinstance(out, tuple) and len(out) == 2:
            return Loaded(source=spec, arrays=_returned_arrays(out[0], out[1], task=task, image=image), output=out)
        if isinstance(out, dict) and "x" in out and "y" in out:
            given = {s: len(numpy_of(out[f"y_{s}"])) for s in GIVEN_SPLITS if f"y_{s}" in out}
            arrays = _returned_arrays(out["x"], out["y"], task=out.get("task", task), image=bool(out.get("image", image)), given=given)
            return Loaded(source=spec, arrays=arrays, output=out)
        converted = loader_data(spec, out, task=task, kind=data.kind or ("image" if image else None), shape=data.shape, stream=data.stream)
    except Exception as err:
        if user_frames(err.__traceback__):  # the returned dataset's own code raised (its __getitem__, __iter__, ...)
            return Loaded(source=spec, problems=(user_code_problem(spec, "data.dataset", "reading the returned dataset raised", err),))
        return Loaded(source=spec, problems=(Problem(source=spec, key="data.dataset",
                                                     rule=f"the loader's return value is not usable: {str(err).removeprefix(f'{spec}: ')}"),))
    if isinstance(converted, RawData):
        return Loaded(source=spec, arrays=_arrays_of(converted), data=converted)
    return Loaded(source=spec, arrays=_streamed(data), data=converted)


def _returned_arrays(x: Any, y: Any, *, task: str | None, image: bool, given: dict[str, int] | None = None) -> Arrays:
    x, y = numpy_of(x), numpy_of(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"needs x shaped (n, ...) and y shaped (n,), but got x {x.shape} and y {y.shape}")
    if x.dtype.kind not in "biuf":
        raise ValueError(f"needs numeric features x, but got dtype {x.dtype}")
    return Arrays(x=x.astype(np.float32, copy=False), y=y, task=task or infer_task(y), image=image, given=given or {})


LOADERS: list[tuple[Callable[[str], bool], Callable[..., Loaded]]] = [
    (lambda name: name in DATASETS, load_builtin),
    (files.is_table, load_file),
    (numpy_files.is_numpy_dataset, load_numpy),
    (lambda name: True, load_entry_point),
]


def load_for_checks(data: DataConfig, *, study_source: str) -> Loaded:
    for matches, load in LOADERS:
        if matches(data.dataset):
            try:
                return load(data, study_source=study_source)
            except Exception as err:  # a built-in's or a NumPy file's own error (its message names the key)
                source = study_source if data.dataset in DATASETS else data.dataset
                key, message = "data.dataset", str(err).removeprefix(f"{data.dataset}: ")
                array = getattr(err, "array", "x")  # an array of .npy inputs other than x: its own file and key (data.y, data.y_val, ...)
                if array != "x" and numpy_files.is_npy(data.dataset) and data.options.get(array):
                    source, key = str(data.options[array]), f"data.{array}"
                    message = message.removeprefix(f"{source}: ").removeprefix(f"{array}: ")
                return Loaded(source=source, problems=(Problem(source=source, key=key,
                                                               rule=f"cannot be loaded: {message or type(err).__name__}"),))
    raise AssertionError("unreachable: the last loader matches every name")


# -- entry points (datasets and model builders) --------------------------------------------------
def import_entry_point(spec: str, *, key: str) -> tuple[Any, tuple[Problem, ...]]:
    """(the function, ()) or (None, the problem): the module must import and have the attribute."""
    module_name, _, attr = spec.partition(":")
    if module_name == MAIN:  # (refused with the study) this process's __main__ is not the user's script: never list its names
        err = in_main(spec, example="mymodel:build" if key == "model.family" else "mydata:load")
        return None, (Problem(source=spec, key=key, rule=str(err), value=spec, hint=err.hint),)
    try:
        obj: Any = import_user_module(module_name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            return None, (Problem(source=spec, key=key, rule="the module must be importable (a package.module on sys.path / PYTHONPATH)",
                                  value=shown(f"no module named {missing!r}")),)
        return None, (user_code_problem(spec, key, "importing the module raised", err),)
    except Exception as err:  # a syntax error, or the module's own code raising at import
        return None, (user_code_problem(spec, key, "importing the module raised", err),)
    owner = module_name
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            return None, (Problem(source=spec, key=key, rule=f"module {owner!r} must define {part!r}", value=shown(f"no attribute {part!r}"),
                                  hint=did_you_mean(part, names)),)
        obj = getattr(obj, part)
        owner = f"{owner}.{part}"
    if not callable(obj):
        return None, (Problem(source=spec, key=key, rule="must name a function", value=shown(f"{type(obj).__name__} {obj!r:.40}")),)
    return obj, ()


def user_code_problem(spec: str, key: str, what: str, err: BaseException) -> Problem:
    """One line naming the entry point and the exception, the user's own frames, and the full
    traceback for ``--debug``."""
    frames = [str(f) for f in user_frames(err.__traceback__)]
    if isinstance(err, SyntaxError) and err.filename and is_user_file(err.filename):
        frames.append(f"{err.filename}:{err.lineno}: {(err.text or '').strip()}")
    return Problem(source=spec, key=key, rule=what, raised=exception_line(err), frames=tuple(frames), traceback=full_traceback(err))
