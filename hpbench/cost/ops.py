"""What one op of a counted training step is and costs: :class:`OpRecord` (FLOPs, bytes
touched, phase, kind), :class:`StepCost` (a step's ops) and :func:`classify`, which gives the
kind and FLOPs of an aten op from its name and tensors (formulas in :mod:`hpbench.cost.formulas`;
matmuls, convolutions and attention from ``FlopCounterMode``'s registry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hpbench.cost import formulas as F
from hpbench.cost import rng
from hpbench.models.shapes import tensors

PHASES = ("forward", "backward", "optimizer", "eval")  # the first update (the optimizer's state created) is not recorded
# The version of what an op counts. A price depends on the count as much as on the device model, so
# prices and speed figures made under other rules are made again (hpbench.cost.history.ModelTag):
# 1 until session 23; 2: a gather counts the rows it moves, not its source table (:data:`_GATHER`);
# 3: an op that draws random numbers is kind "random", priced per element drawn (:mod:`hpbench.cost.rng`), not a fill;
# 4: the step runs the trainer's options (clipping, label smoothing, augmentation: :mod:`hpbench.cost.step_options`);
# 5: an attention trained with dropout keeps its fused kernel and its math path, each op marked with its path
#    (:data:`ATTENTION_PATHS`), and one asked for its weights is its math path's ops (no fused kernel).
# 6: the evaluation pass is counted at the rows the trainer takes per pass, fewer where a row's activations cost more
#    (hpbench.train.eval_memory; a transformer on 500-step sequences: 64, not 8,192), in passes of equal rows.
COUNT_RULES = 6

# Ops that move no data (views, metadata, scalars read back): free in FLOPs and bytes.
_FREE = {
    "view", "_unsafe_view", "t", "transpose", "permute", "expand", "detach", "alias", "select", "slice",
    "squeeze", "unsqueeze", "lift_fresh", "_local_scalar_dense", "as_strided", "unbind", "split",
    "unsafe_split", "split_with_sizes", "unsafe_split_with_sizes", "_reshape_alias", "reshape", "view_as",
    "expand_as", "chunk", "unsafe_chunk", "narrow", "diagonal", "lift_fresh_copy", "_to_copy",
}
_FILL = {"zeros", "zeros_like", "ones", "ones_like", "empty", "empty_like", "fill_", "zero_", "full", "full_like",
         "new_zeros", "new_empty", "new_ones", "scalar_tensor", "empty_strided", "new_empty_strided"}
_NORMS_FWD = {"native_layer_norm", "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
              "_native_batch_norm_legit_no_training", "native_group_norm", "_batch_norm_with_update", "_batch_norm_no_update"}
_NORMS_BWD = {"native_layer_norm_backward", "native_batch_norm_backward", "native_group_norm_backward", "batch_norm_backward"}
# The ops of scaled-dot-product attention's math path, which ``meta`` runs; a CPU or GPU runs one
# fused attention kernel instead (flash attention), recorded as one "attention" op.
# Recorded with kind "replaced" (their FLOPs still count; the time model skips them); the math
# path's backward ops (SDPA_MATH_BACKWARD) cannot be told apart by module and are skipped by name.
SDPA_MATH = {"bmm", "baddbmm", "_safe_softmax", "_softmax", "mul", "div", "masked_fill"}
SDPA_MATH_BACKWARD = {"bmm", "baddbmm", "_softmax_backward_data", "_safe_softmax_backward"}
# An attention that trains with dropout: a GPU's fused kernels (flash, memory-efficient) draw the
# dropout inside the kernel, but PyTorch's fused attention for CPU takes no dropout, and the CPU runs
# the math path (bmm, softmax, the mask's draws, one op at a time): measured (one thread, B 64, 2
# heads, T 64, head dim 8, 2 layers) bmm, softmax, bernoulli_ and their backward, no flash kernel.
# Both are recorded, each op marked with its path; the device prices the one it runs.
ATTENTION_PATHS = ("fused", "math")
# Ops that read only the rows they select from their first argument (a batch gathered from the whole
# training set, an embedding's looked-up rows): they move what they write, however large the source.
# Counted by the source's size, a 160,000-row table's batch gather was priced at 3.2 ms a step where
# it takes ~50 us, and its FLOPs grew with the data set (issue 18's held-out big-csv study).
_GATHER = {"index", "index_select", "gather", "embedding", "take"}
_SOFTMAX = {"_softmax", "_safe_softmax", "_log_softmax", "_softmax_backward_data", "_log_softmax_backward_data"}
# aten ops with real arithmetic but no FLOP formula here or in FlopCounterMode's registry: counted
# as one FLOP per element (a lower bound) and marked "uncounted", so that the layer running them is
# reported (hpbench.cost.coverage). Fused recurrent kernels (what a real CPU/GPU runs for nn.LSTM
# and friends), FFTs, dense linear algebra, pairwise distances.
NO_FORMULA_PREFIXES = ("mkldnn_rnn", "_cudnn_rnn", "miopen_rnn", "_thnn_fused_", "_fft_", "linalg_", "_linalg_", "_cdist_", "cholesky",
                       "triangular_solve", "_slow_conv", "grid_sampler")


@dataclass(frozen=True, kw_only=True)
class OpRecord:
    name: str  # aten op, e.g. "addmm"
    kind: str  # "matmul" (FlopCounterMode counts it), "norm", "softmax", "elementwise", "fill", "free", "fused", "module",
    # "attention" (one fused kernel; "sdpa" and "sdpa_backward"), "replaced" (an op of the math path that kernel replaces),
    # "uncounted" (no FLOP formula: an op outside aten, or one of NO_FORMULA_PREFIXES; see hpbench.cost.coverage),
    # "random" (draws random numbers: dropout's mask, noise; hpbench.cost.rng)
    phase: str  # one of PHASES
    flops: float
    bytes: float  # bytes read and written (inputs + outputs)
    fused: bool = False  # inside a recurrent layer: one fused kernel on a real CPU/GPU ("fused" marks its launch)
    shape: tuple[int, ...] = ()  # kind "attention": (batch · heads, query length, key length, head dim);
    # a matrix product (mm, addmm, bmm, baddbmm): (batch, M, K, N), see :func:`matmul_dims`; kind "random": (elements drawn,)
    module: str = ""  # the innermost module whose forward ran it (qualified name; "" for the model itself or outside forward)
    attention_path: str = ""  # an attention trained with dropout runs one of two paths, by device (ATTENTION_PATHS):
    # "fused" (its one fused kernel) or "math" (its math path's ops, the dropout's draws among them); "" runs everywhere


@dataclass(frozen=True, kw_only=True)
class StepCost:
    """FLOPs of one training step at one batch size, with its ops."""

    batch_size: int
    n_params: int
    ops: tuple[OpRecord, ...]
    flop_counter_flops: int  # what FlopCounterMode alone counts (matmul, conv, attention)
    uncounted: tuple[Any, ...] = ()  # hpbench.cost.coverage.Uncounted: layers whose FLOPs the count may miss
    counted_on: str = "meta"  # "meta" (shapes only), or "cpu" for a model that cannot run on meta (real arithmetic)

    def flops(self, *phases: str) -> float:
        want = phases or ("forward", "backward", "optimizer")
        return float(sum(op.flops for op in self.ops if op.phase in want))

    @property
    def forward_flops(self) -> float:
        return self.flops("forward")

    @property
    def backward_flops(self) -> float:
        return self.flops("backward")

    @property
    def optimizer_flops(self) -> float:
        return self.flops("optimizer")

    @property
    def total_flops(self) -> float:
        """Forward + backward + optimizer update (not the evaluation pass)."""
        return self.flops("forward", "backward", "optimizer")


def _numel(t: Any) -> int:
    return int(t.numel())


# aten matrix products and the positions of their two factors: (M x K) @ (K x N), batched for bmm
_MATMUL_FACTORS = {"mm": (0, 1), "addmm": (1, 2), "bmm": (0, 1), "baddbmm": (1, 2)}


def matmul_dims(name: str, args: Sequence[Any]) -> tuple[int, ...]:
    """(batch, M, K, N) of an aten matrix product, () for any other op. Each product of a step is
    its own: a Linear(K -> N) on a batch of M rows runs (M, K, N) forward, then (M, N, K) for the
    input gradient and (N, M, K) for the weight gradient in the backward."""
    where = _MATMUL_FACTORS.get(name)
    if where is None or len(args) <= where[1]:
        return ()
    a, b = args[where[0]], args[where[1]]
    if not hasattr(a, "shape") or not hasattr(b, "shape") or a.dim() != b.dim() or a.dim() not in (2, 3):
        return ()
    if a.dim() == 2:
        return (1, int(a.shape[0]), int(a.shape[1]), int(b.shape[1]))
    return (int(a.shape[0]), int(a.shape[1]), int(a.shape[2]), int(b.shape[2]))


def tensor_bytes(x: Any) -> float:
    """Bytes of the tensors in ``x`` (any nesting of tensors, sequences and mappings)."""
    return float(sum(t.numel() * t.element_size() for t in tensors(x)))


def op_bytes(name: str, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> float:
    """Bytes an aten op reads and writes: its tensors' sizes (inputs and outputs); a gather
    (:data:`_GATHER`) reads from its source only as much as it writes, so the source counts at the
    output's size."""
    total = tensor_bytes((args, kwargs, out))
    if name in _GATHER and args and hasattr(args[0], "element_size"):
        total += tensor_bytes(out) - tensor_bytes(args[0])
    return total


def shape_of(name: str, kind: str, args: Sequence[Any], out: Any) -> tuple[int, ...]:
    """The shape an :class:`OpRecord` keeps: a matrix product's (batch, M, K, N), a random draw's (elements,), else ()."""
    if kind == "matmul":
        return matmul_dims(name, args)
    if kind == "random":
        return (max((_numel(t) for t in tensors(out)), default=0),)
    return ()


def classify(name: str, args: Sequence[Any], kwargs: dict[str, Any], out: Any, *, matmul_flops: int) -> tuple[str, float]:
    """(kind, FLOPs) of one aten op; matmul FLOPs come from FlopCounterMode's registry."""
    if matmul_flops:
        return "matmul", float(matmul_flops)
    if name in _FREE:
        return "free", 0.0
    if name in _FILL:
        return "fill", 0.0
    outs = tensors(out)
    ins = tensors(list(args) + list(kwargs.values()))
    n_out = max((_numel(t) for t in outs), default=0)
    n_in = max((_numel(t) for t in ins), default=0)
    if rng.family(name) is not None:  # one draw per element written
        return "random", float(F.ELEMENTWISE_PER_ELEMENT * n_out)
    if name in _GATHER:
        return "elementwise", float(F.ELEMENTWISE_PER_ELEMENT * n_out)
    if name in _NORMS_FWD:
        return "norm", float(F.NORM_FORWARD_PER_ELEMENT * n_in)
    if name in _NORMS_BWD:
        return "norm", float(F.NORM_BACKWARD_PER_ELEMENT * n_in)
    if name in _SOFTMAX:
        return "softmax", float(F.SOFTMAX_PER_ELEMENT * n_out)
    if name.startswith(NO_FORMULA_PREFIXES):
        return "uncounted", float(F.ELEMENTWISE_PER_ELEMENT * max(n_in, n_out))
    # element-wise or a reduction: one FLOP per element of the larger side
    return "elementwise", float(F.ELEMENTWISE_PER_ELEMENT * max(n_in, n_out))
