"""The op recorder of a counted step: a ``TorchDispatchMode`` that keeps an :class:`OpRecord` of
every aten op the step dispatches (in the current phase); the module hooks that feed it
(:mod:`hpbench.cost.module_hooks`) add each ``nn.Module`` call, record recurrent layers, 2-D
convolutions and attention whole, and mark what a fused kernel runs.
Built lazily: importing this module does not import torch.
"""

from __future__ import annotations

from typing import Any

from hpbench.cost.ops import SDPA_MATH, OpRecord, classify, op_bytes, shape_of, tensor_bytes


def make_recorder() -> Any:
    """A fresh recorder (a ``TorchDispatchMode``; its ``ops`` list fills while it is active)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Recorder(TorchDispatchMode):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.ops: list[OpRecord] = []
            self.phase = "forward"
            self.fused_depth = 0
            # per attention now running, what its math path's ops are: "replaced" (by the fused kernel, on every device),
            # "math" (trained with dropout: the fused kernel on a GPU, they on a CPU) or "" (they run everywhere: weights asked for)
            self.attention_paths: list[str] = []
            self.registry_flops = 0  # FLOPs by torch's formula registry (what FlopCounterMode counts: matmul, conv, attention)
            self.modules: list[str] = []  # the qualified names of the modules whose forward is running, outermost first
            self.called: set[str] = set()  # every module whose forward ran
            # autograd sequence numbers of the nodes each recurrent or convolution module's forward
            # created: [(first, end, qualified name)], so that its backward ops are attributed to it
            self.owned_nodes: list[tuple[int, int, str]] = []
            self.quiet = 0  # > 0: ops dispatched now are not recorded (a stand-in's: hook_recurrent_whole)
            self.whole: set[str] = set()  # modules counted whole: their backward ops are not recorded either

        @property
        def module(self) -> str:
            return self.modules[-1] if self.modules else ""

        def enter_fused(self, name: str) -> None:
            if self.fused_depth == 0:
                self.ops.append(OpRecord(name=f"fused:{name}", kind="fused", phase=self.phase, flops=0.0, bytes=0.0, module=self.module))
            self.fused_depth += 1

        def exit_fused(self) -> None:
            self.fused_depth = max(0, self.fused_depth - 1)

        def attention(self, *, bh: int, t_q: int, t_k: int, d: int, backward: bool, dropout: bool = False) -> None:
            """One scaled-dot-product attention (its forward, and its backward when training); with
            ``dropout`` (training with it), the fused records are marked as the "fused" path
            (:data:`hpbench.cost.ops.ATTENTION_PATHS`) and its math-path ops, recorded next, as "math"."""
            # FLOPs stay with the math-path ops it replaces (counted once); q, k, v, out in float32 moved
            nbytes = float(4 * bh * d * (2 * t_q + 2 * t_k))  # q, k, v, out in float32
            kw = dict(kind="attention", fused=self.fused_depth > 0, shape=(bh, t_q, t_k, d), attention_path="fused" if dropout else "")
            self.ops.append(OpRecord(name="sdpa", phase=self.phase, flops=0.0, bytes=nbytes, **kw))  # type: ignore[arg-type]
            if backward:
                self.ops.append(OpRecord(name="sdpa_backward", phase="backward", flops=0.0, bytes=2 * nbytes, **kw))  # type: ignore[arg-type]

        def recurrent(self, *, cell: str, shape: tuple[int, ...], module: str) -> None:
            """One call of a recurrent module (priced whole from the device's recurrent grid when it
            has one, :mod:`hpbench.cost.recurrent`): ``shape`` = (seq, batch, input, hidden, layers,
            directions); phase "forward" stands for its forward and backward."""
            self.ops.append(OpRecord(name=f"recurrent:{cell}", kind="recurrent", phase=self.phase, flops=0.0, bytes=0.0, shape=shape,
                                     module=module))

        def recurrent_flops(self, *, module: str, forward: float, backward: float) -> None:
            """The FLOPs of the last call of recurrent module ``module``, counted whole (its gate
            products, :func:`hpbench.cost.recurrent.layer_flops`): ``forward`` on its record,
            ``backward`` (when it trains) on one of phase "backward" (kind "recurrent_grad": the
            grid's training rate prices both, so the time model skips it)."""
            import dataclasses

            for i in range(len(self.ops) - 1, -1, -1):
                op = self.ops[i]
                if op.kind == "recurrent" and op.module == module:
                    self.ops[i] = dataclasses.replace(op, flops=float(forward))
                    break
            if backward:
                self.ops.append(OpRecord(name="recurrent_backward", kind="recurrent_grad", phase="backward", flops=float(backward), bytes=0.0,
                                         module=module))

        def drawn(self, *, elements: int, module: str) -> None:
            """A dropout mask of ``elements`` drawn inside a module counted whole (a stacked
            recurrent layer's dropout between its layers: the grid measured one layer, without it)."""
            self.ops.append(OpRecord(name="bernoulli_", kind="random", phase=self.phase, flops=float(elements), bytes=4.0 * elements,
                                     shape=(elements,), module=module))

        def conv(self, *, shape: tuple[int, ...], module: str) -> None:
            """One call of an ``nn.Conv2d`` (priced whole from the device's convolution grid when it
            has one, :mod:`hpbench.cost.conv`): ``shape`` = :func:`conv_shape`'s; phase "forward"
            stands for its forward and backward."""
            self.ops.append(OpRecord(name="conv2d", kind="conv2d", phase=self.phase, flops=0.0, bytes=0.0, shape=shape, module=module))

        def backward_module(self) -> str:
            """The recurrent or convolution module whose forward created the autograd node now running ("" for none)."""
            import torch

            node = torch._C._current_autograd_node() if self.owned_nodes else None
            if node is None:
                return ""
            nr = node._sequence_nr()
            return next((name for first, end, name in self.owned_nodes if first <= nr < end), "")

        def module_call(self, name: str) -> None:
            self.ops.append(OpRecord(name=f"module:{name}", kind="module", phase=self.phase, flops=0.0, bytes=0.0,
                                     fused=self.fused_depth > 0, module=self.module))

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if self.quiet or (self.whole and self.phase == "backward" and self.backward_module() in self.whole):
                return out
            packet = func._overloadpacket
            if func.namespace != "aten":  # a custom op (torch.library): no formula unless registered with FlopCounterMode
                if packet in flop_registry:
                    mm = int(flop_registry[packet](*args, **kwargs, out_val=out))
                    self.registry_flops += mm
                    self.ops.append(OpRecord(name=f"{func.namespace}::{packet.__name__}", kind="matmul", phase=self.phase, flops=float(mm),
                                             bytes=tensor_bytes((args, kwargs, out)),
                                             module=self.module))
                    return out
                nbytes = tensor_bytes((args, kwargs, out))
                self.ops.append(OpRecord(name=f"{func.namespace}::{packet.__name__}", kind="uncounted", phase=self.phase, flops=0.0,
                                         bytes=nbytes, fused=self.fused_depth > 0, module=self.module))
                return out
            mm = int(flop_registry[packet](*args, **kwargs, out_val=out)) if packet in flop_registry else 0
            self.registry_flops += mm
            name = packet.__name__
            kind, flops = classify(name, args, kwargs, out, matmul_flops=mm)
            module = self.backward_module() if self.phase == "backward" else self.module
            nbytes = 0.0 if kind == "free" else op_bytes(name, args, kwargs, out)
            path = ""
            if self.attention_paths and (name in SDPA_MATH or kind == "random"):
                if self.attention_paths[-1] == "replaced":
                    kind = "replaced"
                else:
                    path = self.attention_paths[-1]
            self.ops.append(OpRecord(name=name, kind=kind, phase=self.phase, flops=flops, bytes=nbytes, fused=self.fused_depth > 0,
                                     module=module, shape=shape_of(name, kind, args, out), attention_path=path))
            return out

    return Recorder()
