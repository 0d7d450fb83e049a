"""The model checks: build each distinct network the study can produce (refused first where its
training would not fit in this machine's memory: :mod:`hpbench.preflight.memory`) and push a small batch of
the real (preprocessed) training data forward and backward on the CPU; then build each distinct
optimizer over the first network that trains and take its first step (a plugin optimizer is user code),
build each distinct learning-rate schedule over the first optimizer and apply each distinct
initialization to that network (:mod:`hpbench.preflight.training`).

They run where torch is already loaded: the dispatcher's helper process (the cost predictions'
one, :mod:`hpbench.dispatch.helper`), so that the driver never imports torch; ``hpbench
estimate`` runs them in its own process. Torch is imported inside the functions: this module is
imported by the driver to name :func:`check_models` to the helper.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpbench.config import ModelConfig, OptimizerConfig
from hpbench.errors import shown
from hpbench.preflight.load import import_entry_point, user_code_problem
from hpbench.preflight.memory import OptimizerState, heaviest, too_large
from hpbench.preflight.problems import Problem
from hpbench.preflight.shapes import InitCase, ScheduleCase
from hpbench.preflight.training import check_init, check_schedule

SAMPLE_ROWS = 2  # the batch pushed through each network (batch norm needs more than one row)


@dataclass(frozen=True, kw_only=True)
class ModelRequest:
    """The networks to try on one data setting, and a few rows of its training split."""

    source: str  # the study file (named by problems of built-in families)
    models: tuple[tuple[ModelConfig, Mapping[str, Any]], ...]  # (model, the searched values behind it)
    input_shape: tuple[int, ...]
    n_outputs: int
    task: str
    x: np.ndarray  # SAMPLE_ROWS rows of training features (float32)
    y: np.ndarray  # their targets, encoded as the trainer sees them
    n_train: int
    batch_sizes: tuple[int | str, ...] = ()
    kind: str | None = None  # the samples' DataKind (None: the default for their shape)
    optimizers: tuple[tuple[OptimizerConfig, Mapping[str, Any]], ...] = ()  # built over the first network that trains (the searched values behind each)
    schedules: tuple[tuple[ScheduleCase, Mapping[str, Any]], ...] = ()  # built over the first optimizer on that network
    inits: tuple[tuple[InitCase, Mapping[str, Any]], ...] = ()  # applied to that network


@dataclass
class _Tally:
    """What was tried and what failed: the same problem over several tries is reported once."""

    what: str  # what was tried: "networks", "optimizers"
    found: dict[tuple[str, str, str], list[Mapping[str, Any]]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    first: dict[tuple[str, str, str], Problem] = dataclasses.field(default_factory=dict)
    passed: list[Mapping[str, Any]] = dataclasses.field(default_factory=list)
    n_tried: int = 0

    def add(self, problem: Problem | None, searched: Mapping[str, Any]) -> None:
        self.n_tried += 1
        if problem is None:
            self.passed.append(searched)
            return
        key = (problem.key, problem.rule, problem.raised or str(problem.value))
        self.first.setdefault(key, problem)
        self.found[key].append(searched)

    def problems(self) -> list[Problem]:
        return [_summarize(self.first[k], hits, self.passed, self.n_tried, what=self.what) for k, hits in self.found.items()]


def check_models(requests: list[ModelRequest]) -> list[Problem]:
    """Every problem found, the same problem over several networks (or optimizers) reported once
    (with how many it hit and, when one searched dimension separates them, that dimension's values)."""
    import torch

    networks, optimizers = _Tally(what="networks"), _Tally(what="optimizers")
    schedules, inits = _Tally(what="learning-rate schedules"), _Tally(what="initializations")
    threads = torch.get_num_threads()
    # One thread: batches of two rows gain nothing from more, and on a busy machine torch's
    # thread pool made each tiny op ~15x slower (36 quickstart networks: 5.7 s vs 0.4 s, measured).
    torch.set_num_threads(1)
    # the memory a training holds counts the optimizer's state: the heaviest the study trains with (hpbench.preflight.memory)
    optimizer = heaviest([opt for req in requests for opt, _ in req.optimizers])
    try:
        for req in requests:
            trains: ModelConfig | None = None  # the first network that trains: the optimizers are built over it
            for model, searched in req.models:
                problem = _check_one(req, model, optimizer=optimizer)
                networks.add(problem, searched)
                if trains is None and problem is None:
                    trains = model
            if trains is not None:
                for opt, searched in req.optimizers:
                    optimizers.add(_check_optimizer(req, trains, opt), searched)
                first = req.optimizers[0][0] if req.optimizers else OptimizerConfig()
                for schedule, searched in req.schedules:
                    schedules.add(check_schedule(req.source, _network(req, trains), schedule, optimizer=first, n_train=req.n_train), searched)
                for init, searched in req.inits:
                    inits.add(check_init(req.source, _network(req, trains), trains, init), searched)
    finally:
        torch.set_num_threads(threads)
    return networks.problems() + optimizers.problems() + schedules.problems() + inits.problems()


def _network(req: ModelRequest, model: ModelConfig) -> Any:
    """A network that trains, built afresh as the trainer builds it."""
    import torch

    from hpbench.models import build_model

    torch.manual_seed(0)
    return build_model(model.family, input_shape=tuple(req.input_shape), n_outputs=req.n_outputs, params=dict(model.params), kind=req.kind)


def _check_optimizer(req: ModelRequest, model: ModelConfig, opt: OptimizerConfig) -> Problem | None:
    """The optimizer built over a network that trains, as the trainer builds it, and its first step
    taken: a plugin optimizer that raises is named here, not by every trial."""
    import torch

    from hpbench.train.optimizers import build_optimizer
    from hpbench.train.tasks import loss_fn

    net = _network(req, model)
    trainable = [p for p in net.parameters() if p.requires_grad]
    try:
        optimizer = build_optimizer(opt.name, trainable, lr=opt.lr, params=dict(opt.params))
    except Exception as err:
        return user_code_problem(req.source, "optimizer.name", f"building the optimizer {opt.name!r} raised", err)
    net.train()
    loss_fn(req.task)(net(torch.as_tensor(req.x, dtype=torch.float32)), torch.as_tensor(req.y)).backward()
    try:
        optimizer.step()
    except Exception as err:
        return user_code_problem(req.source, "optimizer.name", f"the optimizer {opt.name!r} must take a step (its first raised)", err)
    return None


def _check_one(req: ModelRequest, model: ModelConfig, *, optimizer: OptimizerState) -> Problem | None:
    import torch

    from hpbench.models import FAMILIES, build_model
    from hpbench.train.tasks import loss_fn

    family = model.family
    user = family not in FAMILIES
    plugin = FAMILIES.is_plugin(family)  # a plugin's builder: named, as a plugin optimizer is
    source, key = (family, "model.family") if user else (req.source, "model.family" if plugin else "model")
    params = dict(model.params)
    if user:  # its import problems named precisely (the builder itself is called by build_model)
        fn, problems = import_entry_point(family, key=key)
        if fn is None:
            return problems[0]
    big = too_large(model, input_shape=tuple(req.input_shape), n_outputs=req.n_outputs, kind=req.kind, optimizer=optimizer, source=source, key=key)
    if big is not None:
        return big
    try:
        torch.manual_seed(0)
        net = build_model(family, input_shape=tuple(req.input_shape), n_outputs=req.n_outputs, params=params, kind=req.kind)  # as the trainer does
    except Exception as err:
        return user_code_problem(source, key, f"building the network of the family {family!r} raised" if plugin else "building the network raised", err)
    if not isinstance(net, torch.nn.Module):
        return Problem(source=source, key=key, rule="the builder must return a torch.nn.Module", value=shown(type(net).__name__))
    if not any(p.requires_grad for p in net.parameters()):
        return Problem(source=source, key=key, rule="the network must have trainable parameters", value=shown("none"))
    if model.init_from is not None:  # the saved trial's layers fit this network (every trial failed on them, Ray started)
        from hpbench.train.transfer import load_into
        from hpbench.train.weights import load_record

        try:
            load_into(net, load_record(model.init_from, finite=True)["state_dict"])
        except Exception as err:
            rule = str(err).removeprefix("model.init_from: ").removeprefix(f"{model.init_from}: ")  # the file is the value shown
            return Problem(source=req.source, key="model.init_from", rule=rule, value=model.init_from)
    shape = f"batches shaped {(SAMPLE_ROWS, *req.input_shape)} (the data's input shape {tuple(req.input_shape)})"
    for rows in _batch_rows(req):
        x = torch.as_tensor(np.resize(req.x, (rows, *req.x.shape[1:])), dtype=torch.float32)
        y = torch.as_tensor(np.resize(req.y, rows))
        try:
            net.train()
            out = net(x)
            if not isinstance(out, torch.Tensor):
                return Problem(source=source, key=key, rule="the network must return a tensor", value=shown(type(out).__name__))
            want = (rows, req.n_outputs) if req.task == "multiclass" else (rows,)
            ok = tuple(out.shape) == want if req.task == "multiclass" else out.numel() == rows and out.shape[0] == rows
            if not ok:
                return Problem(source=source, key=key, rule=f"the network must output {want} for {req.task} targets on {shape}",
                               value=shown(f"output shaped {tuple(out.shape)}"))
            loss = loss_fn(req.task)(out, y)
        except Exception as err:
            what = f"the network must accept {shape}" if rows == SAMPLE_ROWS else "the network must train on a last batch of 1 row"
            return _last_batch_hint(user_code_problem(source, key, what, err), req, rows)
        try:
            loss.backward()
        except Exception as err:  # the forward accepted the batch: the backward pass is what failed
            what = (f"the backward pass must run (the forward accepted {shape})" if rows == SAMPLE_ROWS
                    else "the backward pass must run on a last batch of 1 row (the forward accepted it)")
            return _last_batch_hint(user_code_problem(source, key, what, err), req, rows)
        finally:
            net.zero_grad(set_to_none=True)
    return None


def _last_batch_hint(problem: Problem, req: ModelRequest, rows: int) -> Problem:
    """A problem of the one-row batch names the batch size that leaves it."""
    if rows != 1:
        return problem
    b = next(b for b in req.batch_sizes if _last_batch(b, req.n_train) == 1)
    return dataclasses.replace(problem, hint=f"batch_size {b} leaves 1 of the {req.n_train} training rows for the last batch")


def _last_batch(batch_size: int | str, n_train: int) -> int:
    if not isinstance(batch_size, int) or batch_size >= n_train:
        return n_train
    return n_train % batch_size or batch_size


def _batch_rows(req: ModelRequest) -> list[int]:
    """The sample batch, and a batch of one row when some batch size ends an epoch with one."""
    rows = [SAMPLE_ROWS]
    if any(_last_batch(b, req.n_train) == 1 for b in req.batch_sizes):
        rows.append(1)
    return rows


def _summarize(problem: Problem, hits: list[Mapping[str, Any]], passed: list[Mapping[str, Any]], n_tried: int, *, what: str) -> Problem:
    """Name where it happened: all networks, or the searched values that separate the failing
    ones from the others (e.g. ``model.conv_depth`` 4..8)."""
    if n_tried <= 1:
        return problem
    where = f"{len(hits)} of the {n_tried} {what} tried"
    for k in sorted({k for h in hits for k in h}):
        bad = {_value_key(h.get(k)) for h in hits}
        good = {_value_key(p.get(k)) for p in passed}
        if passed and not bad & good:
            values = sorted(bad, key=str)
            where += f", those with {k} = {values[0] if len(values) == 1 else values}"
            break
    else:
        example = " ".join(f"{k}={v}" for k, v in hits[0].items())
        if example:
            where += f", e.g. {example}"
    return dataclasses.replace(problem, hint=f"{problem.hint}; {where}" if problem.hint else where)


def _value_key(v: Any) -> Any:
    return v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)
