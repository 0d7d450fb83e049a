"""``torch.optim`` without importing TorchDynamo, in a process that compiles nothing.

Every ``torch.optim`` optimizer imports ``torch._dynamo`` the first time it is built or stepped:
``add_param_group``, ``zero_grad``, ``state_dict`` and ``load_state_dict`` are wrapped in
``torch._disable_dynamo``, which imports it on the first call, and each optimizer's ``step`` in a
wrapper that imports it to mark graph breaks for ``torch.compile``. That import costs about as much
CPU as importing torch itself (~2 CPU-s on a 2-core machine), paid by every Ray trial worker and
by the early-trial helper before its first epoch: on a small machine, a fresh search's start-up.

Outside ``torch.compile`` both wrappers only call the function they wrap (``step``'s also sets
the grad mode to the optimizer's ``differentiable`` setting). :func:`install` makes them do just
that while ``torch._dynamo`` is not imported, and defer to torch's own wrappers once it is (a
user's model compiled in the same process): the arithmetic is the same either way. Where torch's
structure is not the one this expects (another torch version), nothing is changed.
:func:`uninstall` puts torch's own back (training in a caller's process:
:mod:`hpbench.train.in_process`).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.optimizer import _use_grad_for_differentiable

_DYNAMO = "torch._dynamo"
_installed = False
_undo: list[Callable[[], None]] = []  # what puts torch's own back, in the order install changed it


def install() -> None:
    """Make the ``torch.optim`` classes defined so far (torch's own and any subclass already
    imported) import no TorchDynamo until something else does; idempotent."""
    global _installed
    if _installed or _DYNAMO in sys.modules:
        return
    disable_code = _code(torch._disable_dynamo(_noop))
    use_grad_code = _code(_use_grad_for_differentiable(_noop))
    hook_code = _code(Optimizer.profile_hook_step(_noop))
    for cls in _optimizer_classes():
        for fn in list(vars(cls).values()):
            if _code(fn) is disable_code and callable(getattr(fn, "__wrapped__", None)) and _eager_disable(fn.__wrapped__):
                _undo.append(functools.partial(delattr, fn.__wrapped__, "__dynamo_disable"))
        step = vars(cls).get("step")
        if step is not None:
            eager = _eager_step(step, use_grad_code=use_grad_code, hook_code=hook_code)
            if eager is not None:
                setattr(cls, "step", eager)  # noqa: B010
                _undo.append(functools.partial(setattr, cls, "step", step))
    _installed = True


def installed() -> bool:
    return _installed


def uninstall() -> None:
    """Undo :func:`install`: the optimizer classes' own ``step`` and torch's TorchDynamo wrappers
    back (an instance built meanwhile steps through them from now on, as torch's own would)."""
    global _installed
    while _undo:
        with contextlib.suppress(AttributeError):
            _undo.pop()()
    _installed = False


def _noop() -> None:
    return None


def _code(fn: Any) -> Any:
    return getattr(fn, "__code__", None)


def _optimizer_classes() -> Iterator[type]:
    seen: set[type] = set()
    todo: list[type] = [Optimizer]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.add(cls)
            todo.extend(cls.__subclasses__())
            yield cls


def _eager_disable(raw: Callable[..., Any]) -> bool:
    """``torch._disable_dynamo(raw)`` calls ``raw.__dynamo_disable`` once that is set: here, ``raw``
    itself until TorchDynamo is imported, then what torch would have built."""
    if getattr(raw, "__dynamo_disable", None) is not None:
        return False
    disabled: list[Callable[..., Any]] = []

    @functools.wraps(raw)
    def call(*args: Any, **kwargs: Any) -> Any:
        if _DYNAMO not in sys.modules:
            return raw(*args, **kwargs)
        if not disabled:
            disabled.append(sys.modules[_DYNAMO].disable(raw, True, wrapping=False))
        return disabled[0](*args, **kwargs)

    raw.__dynamo_disable = call  # type: ignore[attr-defined]
    return True


def _eager_step(step: Callable[..., Any], *, use_grad_code: Any, hook_code: Any) -> Callable[..., Any] | None:
    """The class's ``step`` without the graph-break wrapper (None where it has none); the
    profiling and hooks wrapper, where ``Optimizer`` had already added it, is added back."""
    hooked = _code(step) is hook_code
    torch_step: Any = getattr(step, "__wrapped__", None) if hooked else step
    raw = getattr(torch_step, "__wrapped__", None)
    if _code(torch_step) is not use_grad_code or not callable(raw):
        return None

    @functools.wraps(raw)
    def eager_step(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        if _DYNAMO in sys.modules:  # a compile in this process: torch's own wrapper
            return torch_step(self, *args, **kwargs)
        before = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(self.defaults["differentiable"])
            return raw(self, *args, **kwargs)
        finally:
            torch.set_grad_enabled(before)

    if not hooked:
        return eager_step  # Optimizer.__init__ adds the profiling wrapper on the first instance
    wrapped = Optimizer.profile_hook_step(eager_step)
    wrapped.hooked = True  # type: ignore[attr-defined]
    return wrapped
