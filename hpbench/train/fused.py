"""Fused repeats: the N seeds of one configuration trained as one stacked model in one process.

Repeats (``--repeats N``) train identical shapes with other seeds. Here every member is built as
its own :class:`~hpbench.train.supervised.SupervisedRun` (its own initialization, data split and
shuffling generator, all from its seed), then the members' parameters are stacked
(``torch.func.stack_module_state``) and one step trains them all: hpbench's families as
batched kernels written out layer by layer (:mod:`hpbench.train.fused_layers`: MLPs, CNNs with
BatchNorm, RNN/GRU/LSTM, the transformer), any other network (a user family) through ``vmap``
over ``functional_call`` of one copy, its constant buffers (a positional encoding) stacked with
it, refused when training updates a buffer or draws random numbers (:mod:`hpbench.train.fused_checks`),
each member on its own batch (its own data order, gathered for all members once per epoch),
the loss the sum of the members' mean losses (so each member's gradient is its own), one
optimizer over the stacked tensors (torch's fused kernel where it has one). That is the same
update as N separate optimizers for every registered optimizer: all are elementwise (SGD,
momentum, Adagrad, RMSprop, the Adam family), as are ``clip_value`` and the learning-rate
schedules allowed here (the same for every member; ``plateau`` follows each member's metric and
is not fused). The same update, not the same rounding: the batched kernels round otherwise than
each member's modules (rel ~1e-7 a step), which training can amplify over epochs, so a member
equals its run alone to float rounding only (:mod:`hpbench.api.repeat_origin`; README: Reports).

The members may also be sibling configurations (:func:`hpbench.config.siblings_differ`: equal but
for their learning rate and initialization; the early trials' groups, :mod:`hpbench.dispatch.early_group`):
each is built with its own initialization, and where their learning rates differ the optimizer
steps at lr 1 and each member moves by its own lr times that step (:meth:`FusedSupervised._step`).

Each member keeps its own early stopping, best weights, divergence, time limit and rows, through the
trainer's own bookkeeping (:func:`hpbench.train.trainer.end_of_epoch` and ``finish``). A member
that stops leaves the stack (its parameters and optimizer state sliced out), so it stops
updating exactly where the unfused run would. Each member's dropout masks are those its run alone
draws (:mod:`hpbench.train.fused_dropout`: its own random stream, the state its run's global one
has once built, drawn on its own slice); through ``vmap`` a model that draws random numbers is not
fused (:func:`hpbench.config.unfusable`: a user family's ``dropout``; :mod:`hpbench.train.fused_checks`: any draw).

Whether fusing pays is the cost model's call (:mod:`hpbench.cost.fusion`); :func:`unfusable`
names what this module cannot fuse. A fused group is not resumed mid-way: a failed group is
run again from its first epoch.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torch.func import functional_call, stack_module_state, vmap

from hpbench.config import TrialConfig, siblings_differ, unfusable  # torch-free there: the driver's ETA asks it too
from hpbench.results.columns import EPOCH_CPU_S, FUSED_MEMBERS, REPORTED_AT
from hpbench.results.status import StopReason
from hpbench.train import allocator, tasks
from hpbench.train.best import BestWeights
from hpbench.train.build import eval_rows, resolve_device
from hpbench.train.clipping import GradClip
from hpbench.train.fused_checks import differ
from hpbench.train.fused_dropout import MemberStreams
from hpbench.train.fused_layers import forward as stacked_forward
from hpbench.train.fused_layers import member_tensor, native, stack, transposed_names
from hpbench.train.optimizers import build_optimizer, use_fused_kernel
from hpbench.train.schedules import Horizon, build_schedule
from hpbench.train.supervised import SupervisedRun
from hpbench.train.trainer import Clock, TrialOutcome, cpu_clock, early_stopping, end_of_epoch, finish

# (member index, epoch row, final weights record or None) -> True to stop that member there (pruned, interrupted)
MemberReporter = Callable[[int, dict[str, Any], Any], bool | None]
FUSED = FUSED_MEMBERS  # first-row column: how many members trained together


class FusedSupervised:
    """The members' runs and their stacked parameters, optimizer and schedule."""

    params: dict[str, torch.Tensor]  # name -> [active members, ...]
    buffers: dict[str, torch.Tensor]
    x: torch.Tensor  # the active members' training inputs, [members, n_train, ...]
    optimizer: Any
    schedule: Any

    def __init__(self, cfgs: Sequence[TrialConfig]) -> None:
        self.cfg = cfg = cfgs[0]
        self.runs: list[SupervisedRun] = []
        self.streams = MemberStreams(resolve_device(cfg.train.device))
        for c in cfgs:  # each member's dropout stream: its global one as its run, just built, leaves it (hpbench.train.fused_dropout)
            self.runs.append(SupervisedRun(c))
            self.streams.capture()
        self._states = [r.model.state_dict() for r in self.runs]  # each module's, its tensors shared with it: names and layout
        why = unfusable(cfg) or siblings_differ(cfgs) or differ(self.runs)
        if why is not None:
            raise ValueError(f"repeats of this configuration cannot be fused: {why}")
        self.lrs = [c.optimizer.lr for c in cfgs]  # each member's own (sibling configurations: :func:`siblings_differ`)
        self.scaled = len(set(self.lrs)) > 1  # then the optimizer steps at lr 1 and each member moves by its lr (:meth:`_step`)
        self.base = copy.deepcopy(self.runs[0].model).to("meta")
        self.task = self.runs[0].task
        self.train_loss_fn = self.runs[0].train_loss_fn  # validation takes the task's plain loss (tasks.member_metrics), as a run does
        self.batch_size = self.runs[0].batch_size
        # the members' validation passes together: each member's rows as the activations of all of them allow
        self.eval_rows = eval_rows(self.runs[0].model, self.runs[0].data.splits, batch_size=self.batch_size, members=len(self.runs))
        self.active = list(range(len(self.runs)))
        self.native = native(self.base)  # the families' layers as batched kernels (hpbench.train.fused_layers), else vmap
        self.transposed = transposed_names(self.base) if self.native else frozenset()
        self._stack(None)
        if self.native:
            return
        try:  # a layer vmap has no batching rule for cannot be fused
            with torch.no_grad():
                self.base.eval()
                self.forward(self.x[:, :2])
        except RuntimeError as err:
            raise ValueError(f"repeats of this configuration cannot be fused: {str(err).splitlines()[0]}") from err

    def _stack(self, keep: list[int] | None) -> None:
        """Stack the active members (the first time), or keep the positions ``keep`` of the stack."""
        cfg, device = self.cfg, self.runs[0].device
        if keep is None:
            models = [self.runs[k].model for k in self.active]
            params, self.buffers = stack(models, self.transposed) if self.native else stack_module_state(models)
            opt_state = sched_state = None
        else:
            self.streams.keep(keep)
            idx = torch.tensor(keep, device=device)
            params = {n: p.detach()[idx].clone().requires_grad_() for n, p in self.params.items()}
            self.buffers = {n: b[idx].clone() for n, b in self.buffers.items()}
            opt_state, sched_state = self.optimizer.state_dict(), self.schedule.state_dict()
            for st in opt_state["state"].values():  # every stacked tensor's state leads with the member axis
                for k, v in st.items():
                    if torch.is_tensor(v) and v.dim() > 0:
                        st[k] = v[idx.to(v.device)].clone()
            self.active = [self.active[i] for i in keep]
        self.params = params
        data = [self.runs[k].data for k in self.active]
        self.x, self.y = torch.stack([d.x_train for d in data]), torch.stack([d.y_train for d in data])  # type: ignore[misc]
        self.x_val, self.y_val = torch.stack([d.x_val for d in data]), torch.stack([d.y_val for d in data])  # type: ignore[misc]
        self.optimizer = build_optimizer(cfg.optimizer.name, list(params.values()), lr=1.0 if self.scaled else cfg.optimizer.lr,
                                         params=dict(cfg.optimizer.params))
        _one_kernel(self.optimizer)
        if self.scaled:  # each stacked tensor's members scaled by their lr, and where the step starts from
            lrs = torch.tensor([self.lrs[k] for k in self.active], dtype=next(iter(params.values())).dtype, device=device)
            self._lr_views = [lrs.view(-1, *[1] * (p.dim() - 1)) for p in params.values()]
            self._before = [torch.empty_like(p) for p in params.values()]
        n = len(self.x[0])
        horizon = Horizon(max_epochs=cfg.train.max_epochs, steps_per_epoch=math.ceil(n / self.batch_size))
        self.schedule = build_schedule(cfg.lr_schedule.name, self.optimizer, params=dict(cfg.lr_schedule.params), horizon=horizon,
                                       metric=cfg.metric, mode=cfg.mode)
        if opt_state is not None:  # the optimizer first: its state holds the lr the schedule set
            self.optimizer.load_state_dict(opt_state)
            self.schedule.load_state_dict(sched_state)
        self.clip = GradClip.of(list(params.values()), norm=None, value=cfg.train.clip_value)

    def _forward(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, (params, buffers), (x,))  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The members' outputs ``[members, batch, ...]`` on their inputs ``x`` ``[members, batch, ...]``:
        hpbench's families as batched kernels, anything else through ``vmap``."""
        if self.native:
            return stacked_forward(self.base, self.params, self.buffers, x, dropout=self.streams.dropout, attention=self.streams.attention)
        return vmap(self._forward)(self.params, self.buffers, x)  # type: ignore[no-any-return]  # no random draws (fused_checks)

    def run_epoch(self) -> list[dict[str, Any]]:
        """One epoch of every active member: their rows, in the order of ``active``."""
        m, n, bs = len(self.active), len(self.x[0]), self.batch_size
        device = self.x.device
        x, y = self.x, self.y
        if bs < n:  # each member's order from its own generator, drawn as the unfused run draws it; one gather per epoch
            order = torch.stack([torch.randperm(n, generator=self.runs[k].generator) for k in self.active]).to(device)
            flat = (order + torch.arange(m, device=device)[:, None] * n).flatten()
            x, y = x.flatten(0, 1).index_select(0, flat).view_as(x), y.flatten(0, 1).index_select(0, flat).view_as(y)
        # (full batch: the whole set, unshuffled, as hpbench.train.build.shuffled gives it)
        lr = self.schedule.lr
        total = torch.zeros(m, device=device)
        self.base.train()
        for i in range(0, n, bs):
            xb, yb = x[:, i : i + bs], y[:, i : i + bs]
            self.optimizer.zero_grad(set_to_none=True)
            losses = self._losses(self.forward(xb), yb)
            losses.sum().backward()  # d(sum)/d(member k's slice) = member k's own gradient
            if self.clip is not None:
                self.clip()
            self._step()
            self.schedule.after_step()
            total.add_(losses.detach(), alpha=xb.shape[1])
        scale = [self.lrs[k] if self.scaled else 1.0 for k in self.active]
        rows = [{"train_loss": float(v) / n, **{f"val_{k}": x for k, x in val.items()}, "learning_rate": lr * s}
                for v, val, s in zip(total.tolist(), self._validate(), scale, strict=True)]
        self.schedule.after_epoch(rows[0])  # the same for every member (plateau is not fused)
        return rows

    def _step(self) -> None:
        """The optimizer's step; for members with their own learning rates, taken at lr 1 (the
        schedule's factor) and each member moved from where it was by its lr times that step:
        ``p + lr_k * (step(p) - p)``, one ``lerp`` per tensor. Every registered optimizer's update
        is linear in its lr given its state (SGD and momentum, Nesterov, Adagrad, RMSprop, the
        Adam family, decoupled weight decay included), and none of their states depends on the
        lr, so each member takes its own run's update, up to float rounding."""
        if not self.scaled:
            self.optimizer.step()
            return
        params = list(self.params.values())
        with torch.no_grad():
            torch._foreach_copy_(self._before, params)
            self.optimizer.step()
            torch._foreach_lerp_(self._before, params, self._lr_views)
            torch._foreach_copy_(params, self._before)

    def _losses(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each member's training loss (its batch's mean): cross-entropy in one call over the
        members' rows, any other loss through ``vmap``."""
        fn = self.train_loss_fn
        if isinstance(fn, torch.nn.CrossEntropyLoss):
            rows = torch.nn.functional.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none", label_smoothing=fn.label_smoothing)
            return rows.view(len(out), -1).mean(1)
        return vmap(fn)(out, y)  # type: ignore[no-any-return]

    @torch.no_grad()
    def _validate(self) -> list[dict[str, float]]:
        self.base.eval()
        rows = self.eval_rows
        out = torch.cat([self.forward(self.x_val[:, i : i + rows]) for i in range(0, self.x_val.shape[1], rows)], dim=1)
        return tasks.member_metrics(self.task, out, self.y_val)

    @torch.no_grad()
    def member_state(self, pos: int) -> dict[str, Any]:
        """A copy of the member at stack position ``pos``'s state dict, read from the stack (its
        own module is not synced: :meth:`sync` once it ends); what the stack does not hold (a
        constant buffer, a module's extra state) is copied from its module."""
        out: dict[str, Any] = {}
        for name, t in self._states[self.active[pos]].items():
            if not isinstance(t, torch.Tensor):
                out[name] = copy.deepcopy(t)
                continue
            mine = self._member(name, pos)
            out[name] = (t if mine is None else mine).detach().clone()
        return out

    @torch.no_grad()
    def sync(self, pos: int) -> SupervisedRun:
        """The member at stack position ``pos``, its own module holding its current weights."""
        run = self.runs[self.active[pos]]
        for name, t in [*run.model.named_parameters(), *run.model.named_buffers()]:
            if (mine := self._member(name, pos)) is not None:
                t.copy_(mine)
        return run

    def _member(self, name: str, pos: int) -> torch.Tensor | None:
        """Member ``pos``'s tensor ``name`` in the stack, in its module's layout (None: the stack holds none)."""
        src = self.params.get(name, self.buffers.get(name))
        return None if src is None else member_tensor(src, pos, transposed=name in self.transposed)

    def drop(self, positions: set[int]) -> None:
        """The members at ``positions`` stopped: the stack goes on without them."""
        self._stack([i for i in range(len(self.active)) if i not in positions])


# torch's fused kernel where it has one (hpbench.train.optimizers.FUSED_KERNEL), else foreach (one
# kernel per op over all tensors). Measured here on the stacked tensors of 8 MLPs w128/d2 (1 thread,
# loaded machine): Adam's step 111 us fused vs 278 us foreach, SGD 47 vs 85, Adagrad 85 vs 229.
def _one_kernel(optimizer: Any) -> None:
    """The same elementwise update, as few kernels as the optimizer has."""
    if use_fused_kernel(optimizer):
        return
    for group in optimizer.param_groups:
        if "foreach" in group:
            group["foreach"] = True


def train_fused(cfgs: Sequence[TrialConfig], *, report: MemberReporter | None = None, record: bool = False,
                clock: Clock = time.perf_counter) -> list[TrialOutcome]:
    """Train the members ``cfgs`` (one configuration, other seeds) together. Each member's rows go
    to ``report(member, row, weights)`` (``weights``: its final weights record on its last row when
    ``record``); returns each member's outcome, in the order of ``cfgs``. A member's ``epoch_s`` is
    its share of the fused epoch (the epoch's seconds over the members training in it, by ``clock``),
    which is why a configuration with ``[train] max_time_s`` never trains fused
    (:func:`hpbench.config.unfusable`): its share would run more epochs than its run alone. A member
    whose ``report`` returns True before its last epoch leaves the stack there, with no outcome:
    the outcomes are those of the members that ended by themselves, in the order of ``cfgs``."""
    t0 = clock()
    torch.set_num_threads(cfgs[0].threads)
    allocator.tune()  # as the trainer's (hpbench.train.allocator)
    group = FusedSupervised(cfgs)
    es = [early_stopping(c.train.early_stopping) for c in cfgs]
    best = [BestWeights(metric=c.metric, mode=c.mode, by_monitor=e is not None and e.restore_best_weights) for c, e in zip(cfgs, es, strict=True)]
    history: list[list[dict[str, Any]]] = [[] for _ in cfgs]
    outcomes: list[TrialOutcome | None] = [None] * len(cfgs)
    max_epochs = cfgs[0].train.max_epochs
    cpu = cpu_clock(cfgs[0].threads)
    for epoch in range(max_epochs):
        e0, c0 = clock(), cpu()
        rows = group.run_epoch()
        share, cpu_share = (clock() - e0) / len(rows), (cpu() - c0) / len(rows)
        stopped: set[int] = set()
        for pos, k in enumerate(list(group.active)):
            run = group.runs[k]
            row: dict[str, Any] = {"epoch": epoch + 1, **rows[pos], "epoch_s": share, EPOCH_CPU_S: cpu_share}
            if epoch == 0:
                row.update(n_params=run.n_params, **run.first_fields(), **{FUSED: len(cfgs)})
            reason = end_of_epoch(run, epoch=epoch, row=row, es=es[k], best=best[k], state=partial(group.member_state, pos))
            last = reason is not None or epoch + 1 == max_epochs
            weights = None
            if last:
                group.sync(pos)  # its module: the final weights (or the best ones, restored into it next)
                reason = reason or StopReason.COMPLETED
                finish(run, epoch=epoch, row=row, reason=reason, es=es[k], best=best[k])
                weights = run.record(row) if record and row["best_epoch"] is not None else None  # None: diverged, no finite weights
                stopped.add(pos)
            row[REPORTED_AT] = time.time()
            history[k].append(row)
            if report is not None and report(k, row, weights) and not last:
                stopped.add(pos)  # its caller stopped it here (a rung, a Ctrl-C): no outcome, its rows are the caller's
                continue
            if last:
                e = es[k]
                outcomes[k] = TrialOutcome(history=history[k], stop_reason=reason or StopReason.COMPLETED, best_epoch=row["best_epoch"],
                                           n_params=run.n_params, early_stopping=e.state() if e else None,
                                           wall_s=clock() - t0, model=run.model)
        if len(stopped) == len(group.active):
            break
        if stopped:
            group.drop(stopped)
    return [o for o in outcomes if o is not None]
