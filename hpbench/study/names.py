"""Registry-named keys: the rule each one's value must satisfy, and the parameters it brings.

A key such as ``optimizer.name`` takes a name from a registry, and the named entry decides
which other keys its section accepts (``optimizer.momentum`` for ``"momentum"``). One
:class:`~hpbench.registry.Registered` rule per key checks its names, fixed in a section or
searched in [space] alike; the registries stay the one list of names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hpbench.data.arrays import NPY_SUFFIX, NPZ_SUFFIX, is_npy, is_npz
from hpbench.data.datasets import DATASETS, TASKS
from hpbench.data.files import NA_TEXTS, TABLE_SUFFIXES, is_table
from hpbench.data.sniff import unread_format
from hpbench.models import FAMILIES, family_params
from hpbench.registry import Param, Registered, is_import_spec
from hpbench.rules import ListOf, OneOf, Rule, Str
from hpbench.study.locate import locate
from hpbench.study.reader import Reader
from hpbench.train.initializers import INITIALIZERS
from hpbench.train.optimizers import OPTIMIZERS
from hpbench.train.schedules import SCHEDULES
from hpbench.train.task import SUPERVISED
from hpbench.train.task import TASKS as TRAINER_TASKS  # [model] task; data's TASKS are a dataset's kinds

_OTHER_FILES = (
    (".xlsx", "an Excel workbook: save it as CSV, or pandas.read_excel(f).to_parquet(...)"),
    (".xls", "an Excel workbook: save it as CSV, or pandas.read_excel(f).to_parquet(...)"),
    (".tsv", "a tab-separated file: pandas.read_csv(f, sep='\\t').to_csv(..., index=False)"),
    (".json", "a JSON file: pandas.read_json(f).to_parquet(...)"),
    (".jsonl", "a JSON-lines file: pandas.read_json(f, lines=True).to_parquet(...)"),
    (".feather", "a Feather file: pandas.read_feather(f).to_parquet(...)"),
    (".h5", "an HDF5 file: save its arrays with numpy.savez(..., x=..., y=...)"),
    (".pkl", "a pickle, not read (unpickling runs code): save it as Parquet or .npz"),
    (".pickle", "a pickle, not read (unpickling runs code): save it as Parquet or .npz"),
    (".csv.zst", "a zstandard-compressed CSV (pandas needs the zstandard package): recompress it as .csv.gz, .csv.bz2 or .csv.xz"),
    (".csv.zip", "a zipped CSV: unzip it, or recompress it as .csv.gz, .csv.bz2 or .csv.xz"),
)
DATASET = Registered(DATASETS, imports=True, suffixes=(*TABLE_SUFFIXES, NPZ_SUFFIX, NPY_SUFFIX),
                     also="; or a .csv (also .csv.gz/.bz2/.xz)/.parquet/.npz/.npy file, or 'package.module:load'", others=_OTHER_FILES,
                     others_rule="must be a file hpbench reads (.csv, .csv.gz/.bz2/.xz, .parquet, .npz, .npy) or 'package.module:load' (your own loader)",
                     example="mydata:load")
FAMILY = Registered(FAMILIES, imports=True, also="; or 'package.module:build'", example="mymodel:build")
OPTIMIZER = Registered(OPTIMIZERS)
INIT = Registered(INITIALIZERS)
SCHEDULE = Registered(SCHEDULES)

# The searched values checked by name in [space], with the same rule as a fixed value (a searched
# dataset's options are those of the fixed dataset).
SEARCHED: Mapping[str, Rule] = {"model.family": FAMILY, "optimizer.name": OPTIMIZER, "train.init": INIT, "data.dataset": DATASET,
                                "lr_schedule.name": SCHEDULE}

FILE_PARAMS = {
    "target": Param(Str(), doc="a data file's target column (required for a data file)"),
    "task": Param(OneOf(TASKS, "task"), doc="a data file's task; default: inferred from the target column"),
    "keep_text": Param(ListOf(OneOf(tuple(t for t in NA_TEXTS if t), "text pandas reads as missing"), min_len=1),
                       doc="a CSV's texts kept as text rather than read as missing values (pandas' defaults: NA, N/A, None, null, NaN, ...), "
                           'e.g. ["NA"] where NA is a category (no alley); empty cells stay missing'),
}
NPZ_PARAMS = {"task": Param(OneOf(TASKS, "task"), doc="the task of NumPy data; default: inferred from y")}
# .npy files: the inputs (``x``: the dataset itself), their labels and the splits given with them
NPY_PARAMS = {
    **NPZ_PARAMS,
    "x": Param(Str(), doc="the .npy file of the inputs, shaped (n, ...) (instead of data.dataset)"),
    "y": Param(Str(), doc="the .npy file of the labels, shaped (n,) (required with .npy inputs)"),
    **{f"{v}_{s}": Param(Str(), doc=f"the .npy file of the {s} split's {'inputs' if v == 'x' else 'labels'}, used as given")
       for s in ("val", "test") for v in ("x", "y")},
}
USER_PARAMS = {"task": Param(OneOf(TASKS, "task"), doc="the task of a user loader's data; default: inferred from its labels")}


def dataset_params(reader: Reader, dataset: str) -> dict[str, Param]:
    """The [data] keys a dataset accepts besides the common ones (a data file: its target and task;
    NumPy files: the task, and the other .npy files)."""
    if is_table(dataset):
        return dict(FILE_PARAMS)
    if is_npz(dataset):
        return dict(NPZ_PARAMS)
    if is_npy(dataset):
        return dict(NPY_PARAMS)
    _not_read(reader, dataset)
    name = reader.check("data.dataset", DATASET, dataset)
    return DATASETS.get(name).params if name in DATASETS else dict(USER_PARAMS)


def _not_read(reader: Reader, dataset: str) -> None:
    """A file or folder that exists but is of no kind hpbench reads (UCI's .data, LIBSVM, ARFF, idx,
    a pickle batch, a folder of images) is refused as a file, with its conversion where the format
    is known: it was an "unknown dataset", as a misspelt built-in name is (bug hunt s52/h1 #6)."""
    if dataset in DATASETS or is_import_spec(dataset) or dataset.lower().endswith(tuple(s for s, _ in _OTHER_FILES)):
        return  # a name, a loader, or a file the suffix rule tells what to do with
    path = locate(reader, "data.dataset", dataset)
    if path is not None:
        raise reader.fail("data.dataset", DATASET.others_rule, dataset, hint=unread_format(path) or "convert it to one of those")


def families_named(r: Reader) -> list[str]:
    """The families a study may build: the fixed one and the searched ones."""
    fixed = r.section("model").get("family")
    return ([fixed] if isinstance(fixed, str) else []) + r.searched_names("model.family")


def optimizers_named(r: Reader) -> list[Any]:
    """The optimizers a study may use: the fixed one (``adam`` by default) and the searched ones."""
    return [r.section("optimizer").get("name", "adam"), *r.searched_names("optimizer.name")]


def union_params(specs: Iterable[Mapping[str, Param] | None]) -> dict[str, Param] | None:
    """The parameters of several entries (the first rule of a shared key wins); ``None`` when
    one of them is a user entry, whose parameters are its own business."""
    out: dict[str, Param] = {}
    for spec in specs:
        if spec is None:
            return None
        for k, p in spec.items():
            out.setdefault(k, p)
    return out


def families_params(families: Iterable[str]) -> dict[str, Param] | None:
    """The parameters of the model families (``None`` when one is a user family)."""
    return union_params(family_params(f) for f in families)


def optimizers_params(names: Iterable[object]) -> dict[str, Param]:
    """The parameters of the registered optimizers among ``names`` (unknown names are reported elsewhere)."""
    return union_params(OPTIMIZERS.get(n).params for n in names if isinstance(n, str) and n in OPTIMIZERS) or {}


def schedules_named(r: Reader) -> list[Any]:
    """The learning-rate schedules a study may use: the fixed one (``constant`` by default) and the searched ones."""
    return [r.section("lr_schedule").get("name", "constant"), *r.searched_names("lr_schedule.name")]


def schedules_params(names: Iterable[object]) -> dict[str, Param]:
    """The parameters of the registered schedules among ``names`` (unknown names are reported elsewhere)."""
    return union_params(SCHEDULES.get(n).params for n in names if isinstance(n, str) and n in SCHEDULES) or {}


def task_named(r: Reader) -> str:
    """The study's task (``[model] task``, ``supervised`` by default); an unknown one reads as
    ``supervised`` here (:func:`hpbench.study.sections.model_table` reports it)."""
    return task_of_raw(r.raw)


def task_of_raw(raw: Mapping[str, Any]) -> str:
    """``[model] task`` of a study as read (``supervised`` when absent or unknown)."""
    model = raw.get("model", {})
    task = model.get("task", SUPERVISED) if isinstance(model, dict) else SUPERVISED
    return task if isinstance(task, str) and task in TRAINER_TASKS else SUPERVISED


def task_keys(task: str, section: str) -> dict[str, Param]:
    """The keys ``task`` adds to ``section`` (data, model or train)."""
    return dict(TRAINER_TASKS.get(task).meta.get(section) or {})


def task_rejects(task: str) -> tuple[str, ...]:
    """The common keys (``section.key``) that mean nothing to ``task``."""
    return tuple(TRAINER_TASKS.get(task).meta.get("unsupported") or ())


def task_metric(task: str, dataset: object = None) -> str | None:
    """The metric ``task`` ranks trials by when ``[study] metric`` is not set (None: ``val_loss``);
    a task may register a function of the study's ``dataset`` (gan: a mixture's own metric, else
    the Fréchet distance)."""
    metric = TRAINER_TASKS.get(task).meta.get("metric")
    if callable(metric):
        metric = metric(dataset)
    return str(metric) if metric else None


def reads_dataset(task: str) -> bool:
    """Whether ``task`` learns from ``[data] dataset`` (supervised, gan), checked like the supervised task's."""
    return task == SUPERVISED or bool(TRAINER_TASKS.get(task).meta.get("dataset"))


def task_owner(path: str) -> str | None:
    """The task whose own key ``path`` (``train.n_envs``) is, if any."""
    section, _, key = path.partition(".")
    return next((t for t in TRAINER_TASKS if key in task_keys(t, section)), None)


def task_metrics(task: str) -> tuple[str, ...] | None:
    """The metrics ``task`` reports (None: the dataset's kind decides, :func:`hpbench.study.metrics.reported`)."""
    metrics = TRAINER_TASKS.get(task).meta.get("metrics")
    return tuple(metrics) if metrics else None
