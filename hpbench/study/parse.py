"""Study file (TOML) → validated :class:`~hpbench.study.schema.Study`.

This is the one place user input is checked. Every rule raises
:class:`~hpbench.errors.StudyError` naming the file, the key, the rule and the bad value.
No check here uses ``assert`` (they must hold under ``python -O``).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpbench.data.datasets import DATASETS, TASKS
from hpbench.errors import StudyError, did_you_mean, shown
from hpbench.models import FAMILIES, family_params
from hpbench.registry import Param, is_import_spec
from hpbench.rules import Any_, Int, OneOf, RuleError
from hpbench.space.distributions import KINDS, Choice, Distribution, Grid, LogUniform, RandInt, Uniform
from hpbench.space.space import Dimension, SearchSpace
from hpbench.study import keys as K
from hpbench.study.schema import Resources, Study, StudySettings
from hpbench.train.early_stopping import infer_mode
from hpbench.train.initializers import INITIALIZERS
from hpbench.train.optimizers import OPTIMIZERS

FILE_SUFFIXES = (".csv", ".parquet")
TASK_METRICS = {
    "multiclass": ("loss", "accuracy", "ece", "nll"),
    "binary": ("loss", "accuracy", "ece", "nll"),
    "regression": ("loss", "rmse", "r2"),
}


def load_study(path: str | Path, *, overrides: Sequence[str] = (), trials: int | None = None) -> Study:
    """Read and validate a study file; ``overrides`` are ``--set key=value`` strings."""
    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise StudyError(source=source, key="(file)", rule="study file must exist", value=source)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise StudyError(source=source, key="(file)", rule=f"malformed TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise StudyError(source=source, key="(file)", rule=f"must be UTF-8 text: {err}") from None
    for item in overrides:
        _apply_override(raw, item)
    if trials is not None:
        raw.setdefault("study", {})["trials"] = trials
    return parse_study(raw, source=source, default_name=p.stem, base_dir=p.parent)


def parse_override(item: str) -> tuple[list[str], Any]:
    key, eq, text = item.partition("=")
    key = key.strip()
    if not eq or not key or "." not in key:
        raise StudyError(source="--set", key=item, rule="must be SECTION.KEY=VALUE, e.g. train.max_epochs=10")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word is a string: --set optimizer.name=adam
    return key.split("."), value


def _apply_override(raw: dict[str, Any], item: str) -> None:
    parts, value = parse_override(item)
    node = raw
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise StudyError(source="--set", key=item, rule=f"{part!r} is not a table")
        node = nxt
    node[parts[-1]] = value


class _Parser:
    def __init__(self, raw: Mapping[str, Any], *, source: str, default_name: str, base_dir: Path) -> None:
        self.raw = raw
        self.source = source
        self.default_name = default_name
        self.base_dir = base_dir

    # -- helpers ---------------------------------------------------------------------------
    def fail(self, key: str, rule: str, value: Any = None, hint: str = "") -> StudyError:
        return StudyError(source=self.source, key=key, rule=rule, value=value, hint=hint)

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table ([" + name + "])", value)
        return value

    def check(self, key: str, param: Param, value: Any) -> Any:
        try:
            return param.rule.check(value)
        except RuleError as err:
            raise self.fail(key, str(err), value) from None

    def fields(self, name: str, table: Mapping[str, Any], spec: Mapping[str, Param], *, extra: Mapping[str, Param] | None = None, open_: bool = False) -> dict[str, Any]:
        """Check a table's keys against ``spec`` (+ ``extra``); fill defaults."""
        allowed = {**spec, **(extra or {})}
        out: dict[str, Any] = {}
        for k, v in table.items():
            if k not in allowed:
                if open_:
                    out[k] = v
                    continue
                raise self.fail(f"{name}.{k}", "unknown key", hint=did_you_mean(k, allowed))
            if isinstance(v, dict) and k != "early_stopping":
                raise self.fail(f"{name}.{k}", "must be a single value, not a table (search it under [space])", shown("a table"))
            out[k] = self.check(f"{name}.{k}", allowed[k], v)
        for k, p in spec.items():
            if k not in out and p.default is not None:
                out[k] = p.default
        return out

    # -- sections --------------------------------------------------------------------------
    def parse(self) -> Study:
        for k in self.raw:
            if k not in K.SECTIONS:
                raise self.fail(k, "unknown section", hint=did_you_mean(k, K.SECTIONS))
        space_raw = self.section("space")
        searched = {K.ALIASES.get(k, k): k for k in space_raw}

        study = self.fields("study", self.section("study"), K.STUDY)
        study.setdefault("name", self.default_name)
        if not all(c.isalnum() or c in "-_." for c in study["name"]) or study["name"].startswith("."):
            raise self.fail("study.name", "must use only letters, digits, '-', '_' and '.' (it names the results folder)", study["name"])

        data = self._data(searched)
        model = self._model(searched)
        optimizer = self._optimizer(searched)
        train = self._train()
        resources = Resources(**self.fields("resources", self.section("resources"), K.RESOURCES))
        config = {"data": data, "model": model, "optimizer": optimizer, "train": train}
        distill = self._distill(searched)
        if distill is not None:
            config["distill"] = distill

        space = self._space(space_raw, config)
        study["enqueue"] = self._enqueue(study.get("enqueue", ()), space)
        task = self._task(data)
        metrics = self._metrics(task)
        if task == "regression":
            if distill is not None:
                raise self.fail("distill", "applies to classification tasks only, but the dataset is a regression task", shown(str(data["dataset"])))
            if train.get("calibration", "none") != "none":
                raise self.fail("train.calibration", "applies to classification tasks only, but the dataset is a regression task", train["calibration"])
        if study["metric"] not in metrics:
            raise self.fail("study.metric", f"must be a metric the trainer reports for this {task or 'dataset'} task ({', '.join(metrics)})", study["metric"])
        if "mode" not in study:
            try:
                study["mode"] = infer_mode(study["metric"])
            except ValueError:
                raise self.fail("study.mode", "must be set ('min' or 'max'): it cannot be inferred from the metric", study["metric"]) from None
        es = train.get("early_stopping")
        if es is not None:
            if es["monitor"] not in metrics:
                raise self.fail("train.early_stopping.monitor", f"must be a metric the trainer reports ({', '.join(metrics)})", es["monitor"])
            if es["mode"] == "auto":
                try:
                    infer_mode(es["monitor"])
                except ValueError as err:
                    raise self.fail("train.early_stopping.mode", str(err).split(": ", 1)[1], es["monitor"]) from None
        dataset = data["dataset"]
        if "augment" in data["preprocess"] and dataset in DATASETS and not DATASETS.get(dataset).meta.get("image"):
            raise self.fail("data.preprocess", "'augment' (random shift, flip, noise) applies to image data only", dataset,
                            hint="image datasets: " + ", ".join(n for n in DATASETS if DATASETS.get(n).meta.get("image")))
        self._check_heads(model, space)
        if study["searcher"] == "grid" and not space.is_finite():
            bad = next(d for d in space if d.dist.grid_values() is None)
            raise self.fail(f"space.{bad.key}", "grid search needs finite values (choice, grid or randint)", shown(bad.dist.describe()))
        if "cuda" in train.get("devices", ()) and resources.gpus_per_trial <= 0:
            raise self.fail("train.devices", "lists 'cuda', which needs resources.gpus_per_trial > 0", list(train["devices"]))
        if train["device"] == "cuda" and resources.gpus_per_trial <= 0:
            raise self.fail("train.device", "'cuda' needs resources.gpus_per_trial > 0 (Ray gives a trial a GPU only when it asks for one)", "cuda")
        if resources.gpus_per_trial > 1 and resources.gpus_per_trial != int(resources.gpus_per_trial):
            raise self.fail("resources.gpus_per_trial", "must be a fraction below 1 or a whole number", resources.gpus_per_trial)
        return Study(
            source=self.source,
            settings=StudySettings(**study),
            resources=resources,
            config=config,
            space=space,
            raw=copy.deepcopy(dict(self.raw)),
        )

    def _data(self, searched: Mapping[str, str]) -> dict[str, Any]:
        table = self.section("data")
        if "dataset" not in table:
            raise self.fail("data.dataset", "is required (a built-in name, a .csv/.parquet file or 'package.module:load')", hint=did_you_mean("", DATASETS))
        dataset = self.check("data.dataset", K.DATA["dataset"], table["dataset"])
        extra = self._dataset_params(dataset)
        data = self.fields("data", table, K.DATA, extra=extra, open_=is_import_spec(dataset))
        if data["val_fraction"] + data["test_fraction"] >= 1.0:
            raise self.fail("data.val_fraction", "val_fraction + test_fraction must be < 1", data["val_fraction"] + data["test_fraction"])
        if dataset.endswith(FILE_SUFFIXES):
            path = Path(dataset)
            if not path.is_absolute() and not path.exists() and (self.base_dir / path).exists():
                path = self.base_dir / path
            if not path.exists():
                raise self.fail("data.dataset", "data file must exist", dataset)
            data["dataset"] = str(path)
            if "target" not in data:
                raise self.fail("data.target", "is required for a data file (the name of the target column)")
        return data

    def _dataset_params(self, dataset: str) -> dict[str, Param]:
        if dataset in DATASETS:
            return DATASETS.get(dataset).params
        if dataset.endswith(FILE_SUFFIXES):
            from hpbench.rules import Str

            return {"target": Param(Str()), "task": Param(OneOf(TASKS, "task"))}
        if is_import_spec(dataset):
            return {}
        raise self.fail("data.dataset", "unknown dataset", dataset, hint=did_you_mean(dataset, DATASETS) + "; or a .csv/.parquet file, or 'package.module:load'")

    def _families(self, searched: Mapping[str, str]) -> list[str]:
        fixed = self.section("model").get("family")
        out = [fixed] if isinstance(fixed, str) else []
        if "model.family" in searched:
            entry = self.section("space")[searched["model.family"]]
            if isinstance(entry, dict):
                for kind in ("choice", "grid"):
                    if isinstance(entry.get(kind), list):
                        out += [v for v in entry[kind] if isinstance(v, str)]
        return out

    def _check_family(self, key: str, family: Any) -> str:
        if not isinstance(family, str) or not family:
            raise self.fail(key, "must be a model family name", family)
        if family not in FAMILIES and not is_import_spec(family):
            raise self.fail(key, "unknown model family", family, hint=did_you_mean(family, FAMILIES) + "; or 'package.module:build'")
        return family

    def _model(self, searched: Mapping[str, str]) -> dict[str, Any]:
        table = self.section("model")
        if "family" not in table and "model.family" not in searched:
            raise self.fail("model.family", "is required", hint="one of: " + ", ".join(FAMILIES))
        families = [self._check_family("model.family", f) for f in self._families(searched)]
        extra = self._union_params([family_params(f) for f in families])
        open_ = extra is None
        model = self.fields("model", table, K.MODEL, extra=extra or {}, open_=open_)
        if "init_from" in model:
            model["init_from"] = self._reference("model.init_from", model["init_from"])
        if ("freeze" in model or "model.freeze" in searched) and "init_from" not in model:
            raise self.fail("model.freeze", "needs model.init_from (freezing layers of a fresh model trains a random feature extractor)")
        return model

    def _reference(self, key: str, ref: str) -> str:
        """A ``"RESULTS_DIR:TRIAL"`` reference -> the absolute path of that trial's saved weights."""
        from hpbench.results.weights import ReferenceError_, resolve_reference

        try:
            return str(resolve_reference(ref, base_dir=self.base_dir))
        except ReferenceError_ as err:
            raise self.fail(key, str(err), ref) from None

    def _distill(self, searched: Mapping[str, str]) -> dict[str, Any] | None:
        if "distill" not in self.raw:
            bad = next((p for p in searched if p.startswith("distill.")), None)
            if bad is not None:
                raise self.fail(f"space.{searched[bad]}", "needs a [distill] section with a teacher")
            return None
        distill = self.fields("distill", self.section("distill"), K.DISTILL)
        if "teacher" not in distill:
            raise self.fail("distill.teacher", "is required ('RESULTS_DIR:TRIAL', a finished trial of another study)")
        distill["teacher"] = self._reference("distill.teacher", distill["teacher"])
        return distill

    @staticmethod
    def _union_params(specs: list[dict[str, Param] | None]) -> dict[str, Param] | None:
        if any(s is None for s in specs):
            return None  # a user family: its parameters are its own business
        out: dict[str, Param] = {}
        for s in specs:
            for k, p in (s or {}).items():
                out.setdefault(k, p)
        return out

    def _optimizer_names(self) -> list[str]:
        table = self.section("optimizer")
        out = [table.get("name", "adam")]
        key = next((k for k in self.section("space") if K.ALIASES.get(k, k) == "optimizer.name"), None)
        if key is not None:
            entry = self.section("space")[key]
            if isinstance(entry, dict):
                for kind in ("choice", "grid"):
                    if isinstance(entry.get(kind), list):
                        out += [v for v in entry[kind] if isinstance(v, str)]
        return out

    def _optimizer(self, searched: Mapping[str, str]) -> dict[str, Any]:
        table = self.section("optimizer")
        names = self._optimizer_names()
        for n in names[:1]:
            if n not in OPTIMIZERS:
                raise self.fail("optimizer.name", "unknown optimizer", n, hint=did_you_mean(str(n), OPTIMIZERS))
        extra = self._union_params([OPTIMIZERS.get(n).params for n in names if n in OPTIMIZERS]) or {}
        return self.fields("optimizer", table, K.OPTIMIZER, extra=extra)

    def _train(self) -> dict[str, Any]:
        table = dict(self.section("train"))
        es_raw = table.pop("early_stopping", None)
        train = self.fields("train", table, K.TRAIN)
        if train["init"] not in INITIALIZERS:
            raise self.fail("train.init", "unknown initialization", train["init"], hint=did_you_mean(train["init"], INITIALIZERS))
        if es_raw is not None:
            if not isinstance(es_raw, dict):
                raise self.fail("train.early_stopping", "must be a table like { monitor = \"val_loss\", patience = 3 }", es_raw)
            train["early_stopping"] = self.fields("train.early_stopping", es_raw, K.EARLY_STOPPING)
        devices = train.get("devices")
        if devices is not None:
            if len(set(devices)) != len(devices):
                raise self.fail("train.devices", "must list each device once", list(devices))
            if "device" in table and table["device"] != devices[0]:
                raise self.fail("train.device", f"must be the first of train.devices ({devices[0]!r}) or left out: the search runs there", table["device"])
            train["device"] = devices[0]
        return train

    def _task(self, data: Mapping[str, Any]) -> str | None:
        dataset = data["dataset"]
        if "task" in data:
            return str(data["task"])
        if dataset in DATASETS:
            task = DATASETS.get(dataset).meta.get("task")
            return str(task) if task else None
        return None

    @staticmethod
    def _metrics(task: str | None) -> tuple[str, ...]:
        names = TASK_METRICS[task] if task in TASK_METRICS else tuple(dict.fromkeys(m for ms in TASK_METRICS.values() for m in ms))
        return ("train_loss", *(f"val_{m}" for m in names))

    # -- space -----------------------------------------------------------------------------
    def _path_param(self, key: str, path: str, config: Mapping[str, Any]) -> Param:
        """The rule for a searched configuration path."""
        parts = path.split(".")
        section = parts[0]
        if path == "train.devices":
            raise self.fail(f"space.{key}", "cannot be searched: every configuration runs on each listed device", shown(path))
        if section in ("study", "resources"):
            raise self.fail(f"space.{key}", f"[{section}] keys cannot be searched", shown(path))
        tables: dict[str, Mapping[str, Param]] = {
            "data": {**K.DATA, **self._dataset_params(config["data"]["dataset"])},
            "train": K.TRAIN,
            "optimizer": {**K.OPTIMIZER, **(self._union_params([OPTIMIZERS.get(n).params for n in self._optimizer_names() if n in OPTIMIZERS]) or {})},
        }
        if section == "model" and len(parts) == 2 and parts[1] in ("init_from", "freeze"):
            if parts[1] == "init_from":
                raise self.fail(f"space.{key}", "cannot be searched (run one study per saved trial)", shown(path))
            return K.MODEL[parts[1]]
        if section == "distill" and len(parts) == 2:
            if parts[1] in K.DISTILL and parts[1] != "teacher":
                return K.DISTILL[parts[1]]
            raise self.fail(f"space.{key}", "unknown key" + (" (the teacher cannot be searched)" if parts[1] == "teacher" else ""),
                            hint=did_you_mean(parts[1], [k for k in K.DISTILL if k != "teacher"]))
        if section == "model":
            fam = self._union_params([family_params(f) for f in self._families(self._searched())])
            if len(parts) == 2 and (fam is None or parts[1] in fam or parts[1] == "family"):
                if parts[1] == "family":
                    return K.MODEL["family"]
                return fam[parts[1]] if fam is not None else Param(Any_())
            known = list(K.MODEL) + list(fam or {})
            raise self.fail(f"space.{key}", "unknown key", hint=did_you_mean(parts[-1], known))
        if section == "train" and len(parts) == 3 and parts[1] == "early_stopping":
            if parts[2] in K.EARLY_STOPPING:
                return K.EARLY_STOPPING[parts[2]]
            raise self.fail(f"space.{key}", "unknown key", hint=did_you_mean(parts[2], K.EARLY_STOPPING))
        if section in tables and len(parts) == 2:
            if parts[1] in tables[section]:
                return tables[section][parts[1]]
            raise self.fail(f"space.{key}", "unknown key", hint=did_you_mean(parts[1], tables[section]))
        known_paths = list(K.ALIASES) + [f"{s}.{k}" for s, t in tables.items() for k in t] + ["model.family"]
        raise self.fail(f"space.{key}", "unknown key", hint=did_you_mean(key, known_paths))

    def _searched(self) -> dict[str, str]:
        return {K.ALIASES.get(k, k): k for k in self.section("space")}

    def _space(self, space_raw: Mapping[str, Any], config: Mapping[str, Any]) -> SearchSpace:
        dims: dict[str, Dimension] = {}
        pending_when: dict[str, Any] = {}
        for key, entry in space_raw.items():
            path = K.ALIASES.get(key, key)
            param = self._path_param(key, path, config)
            dist, when = self._distribution(key, entry, param)
            if path == "model.family":
                for v in dist.grid_values() or ():
                    self._check_family(f"space.{key}", v)
            if path == "optimizer.name":
                for v in dist.grid_values() or ():
                    if v not in OPTIMIZERS:
                        raise self.fail(f"space.{key}", "unknown optimizer", v, hint=did_you_mean(str(v), OPTIMIZERS))
            if path == "train.init":
                for v in dist.grid_values() or ():
                    if v not in INITIALIZERS:
                        raise self.fail(f"space.{key}", "unknown initialization", v, hint=did_you_mean(str(v), INITIALIZERS))
            if any(d.path == path for d in dims.values()):
                raise self.fail(f"space.{key}", "searches the same setting twice", shown(path))
            dims[key] = Dimension(key=key, path=path, dist=dist)
            pending_when[key] = when
        by_path = {d.path: d.key for d in dims.values()}
        resolved: dict[str, Dimension] = {}
        for key, when in pending_when.items():
            if when is None:
                resolved[key] = dims[key]
                continue
            if not isinstance(when, dict) or not when:
                raise self.fail(f"space.{key}.when", "must be a table like { optimizer = [\"momentum\"] }", when)
            cond: dict[str, tuple[Any, ...]] = {}
            for parent, values in when.items():
                pkey: str | None = parent if parent in dims else by_path.get(K.ALIASES.get(str(parent), str(parent)))
                if pkey is None:
                    raise self.fail(f"space.{key}.when.{parent}", "must name another searched key", parent, hint=did_you_mean(parent, list(dims)))
                if pkey == key:
                    raise self.fail(f"space.{key}.when", "cannot depend on itself", parent)
                vals = tuple(values) if isinstance(values, list) else (values,)
                if not vals:
                    raise self.fail(f"space.{key}.when.{parent}", "must list at least one value", values)
                possible = dims[pkey].dist.grid_values()
                for v in vals:
                    if possible is not None and v not in possible:
                        raise self.fail(f"space.{key}.when.{parent}", f"values must be among {pkey}'s values {list(possible)}", v)
                cond[pkey] = vals
            resolved[key] = Dimension(key=key, path=dims[key].path, dist=dims[key].dist, when=cond)
        return SearchSpace(dims=self._ordered(resolved))

    def _check_heads(self, model: Mapping[str, Any], space: SearchSpace) -> None:
        """A transformer's ``heads`` must divide ``d_model``: checked for every combination the
        study can produce from fixed values and finite searched values."""
        families = {model.get("family")} | set(
            next((d.dist.grid_values() or () for d in space if d.path == "model.family"), ())
        )
        if "transformer" not in families:
            return
        from hpbench.models import FAMILIES

        defaults = FAMILIES.get("transformer").defaults()

        def values(name: str) -> tuple[Any, ...] | None:
            dim = next((d for d in space if d.path == f"model.{name}"), None)
            if dim is not None:
                return dim.dist.grid_values()
            return (model.get(name, defaults[name]),)

        d_models, heads = values("d_model"), values("heads")
        if d_models is None or heads is None:
            return  # a continuous range: checked when a trial builds its model
        for dm in d_models:
            for h in heads:
                if dm % h:
                    raise self.fail("model.heads", f"must divide model.d_model (transformer), but d_model={dm} with heads={h}", h)

    def _enqueue(self, points: Sequence[Any], space: SearchSpace) -> tuple[dict[str, Any], ...]:
        """``[study] enqueue``: points of the space evaluated before the searcher proposes its own
        (Optuna's ``enqueue_trial``); keys as in [space], omitted keys are sampled."""
        by_name = {d.key: d for d in space} | {K.ALIASES.get(d.key, d.key): d for d in space} | {d.path: d for d in space}
        out = []
        for i, point in enumerate(points):
            key = f"study.enqueue[{i}]"
            if not isinstance(point, dict) or not point:
                raise self.fail(key, 'must be a table of searched keys, e.g. { init = "zeros" }', point)
            resolved: dict[str, Any] = {}
            for k, v in point.items():
                dim = by_name.get(k)
                if dim is None:
                    raise self.fail(f"{key}.{k}", "must be a key of [space]", k, hint=did_you_mean(k, [d.key for d in space]))
                if not dim.dist.contains(v):
                    raise self.fail(f"{key}.{k}", f"must be within space.{dim.key} ({dim.dist.describe()})", v)
                resolved[dim.key] = v
            for dim in space:
                if dim.key in resolved and dim.when and not all(p in resolved and resolved[p] in vals for p, vals in dim.when.items()):
                    raise self.fail(f"{key}.{dim.key}", "is set where its `when` condition does not hold", resolved[dim.key])
            out.append(resolved)
        return tuple(out)

    def _ordered(self, dims: dict[str, Dimension]) -> tuple[Dimension, ...]:
        order: list[Dimension] = []
        state: dict[str, int] = {}

        def visit(key: str, trail: tuple[str, ...]) -> None:
            if state.get(key) == 2:
                return
            if state.get(key) == 1:
                raise self.fail(f"space.{key}.when", "conditions must not form a cycle", shown(" -> ".join((*trail, key))))
            state[key] = 1
            for parent in dims[key].when:
                visit(parent, (*trail, key))
            state[key] = 2
            order.append(dims[key])

        for key in dims:
            visit(key, ())
        return tuple(order)

    def _distribution(self, key: str, entry: Any, param: Param) -> tuple[Distribution, Any]:
        name = f"space.{key}"
        if not isinstance(entry, dict):
            raise self.fail(name, "must be a table with one of " + ", ".join(KINDS) + ', e.g. { choice = [1, 2] }', entry)
        entry = dict(entry)
        when = entry.pop("when", None)
        kinds = [k for k in entry if k in KINDS]
        unknown = [k for k in entry if k not in KINDS]
        if unknown:
            raise self.fail(f"{name}.{unknown[0]}", "unknown distribution", hint=did_you_mean(unknown[0], [*KINDS, "when"]))
        if len(kinds) != 1:
            raise self.fail(name, "must give exactly one of " + ", ".join(KINDS), shown(str(kinds or "none")))
        kind = kinds[0]
        value = entry[kind]
        if kind in ("choice", "grid"):
            if not isinstance(value, list) or not value:
                raise self.fail(f"{name}.{kind}", "must be a non-empty list", value)
            checked = []
            for i, v in enumerate(value):
                try:
                    checked.append(param.rule.check(v))
                except RuleError as err:
                    raise self.fail(f"{name}.{kind}[{i}]", str(err), v) from None
            if len(set(map(repr, checked))) != len(checked):
                raise self.fail(f"{name}.{kind}", "values must be distinct", value)
            return (Grid if kind == "grid" else Choice)(tuple(checked)), when
        if not isinstance(value, list) or len(value) != 2:
            raise self.fail(f"{name}.{kind}", "must be a list [low, high]", value)
        low, high = value
        if kind == "randint":
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise self.fail(f"{name}.randint", "needs integer bounds [low, high]", value)
            if low > high:
                raise self.fail(f"{name}.randint", "needs low <= high (both inclusive)", shown(f"low={low}, high={high}"))
            dist: Distribution = RandInt(low, high)
        else:
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise self.fail(f"{name}.{kind}", "needs numeric bounds [low, high]", value)
            if isinstance(param.rule, Int):
                raise self.fail(f"{name}.{kind}", "is for real numbers; use randint for an integer key", value)
            if kind == "loguniform" and low <= 0:
                raise self.fail(f"{name}.loguniform", "needs 0 < low < high", shown(f"low={low}"))
            if low >= high:
                raise self.fail(f"{name}.{kind}", "needs low < high", shown(f"low={low}, high={high}"))
            dist = (LogUniform if kind == "loguniform" else Uniform)(float(low), float(high))
        for bound, v in (("low", low), ("high", high)):
            try:
                param.rule.check(v)
            except RuleError as err:
                raise self.fail(f"{name}.{kind}", f"{bound} {err}", v) from None
        return dist, when




def parse_study(raw: Mapping[str, Any], *, source: str = "<study>", default_name: str = "study", base_dir: Path | None = None) -> Study:
    return _Parser(raw, source=source, default_name=default_name, base_dir=base_dir or Path(".")).parse()
