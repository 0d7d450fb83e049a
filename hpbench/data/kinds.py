"""What a sample is: its kind and the layout of its shape (a leaf: no numpy, no torch).

==========  ==============  ===================================================================
kind        sample shape    read by
==========  ==============  ===================================================================
tabular     ``(F,)``        MLP; recurrent/transformer as F steps of one feature
signal      ``(C, L)``      CNN (1-D convolutions); recurrent/transformer as L steps of C; MLP
sequence    ``(L, C)``      recurrent/transformer; CNN (1-D, over L with C channels); MLP
image       ``(C, H, W)``   CNN (2-D convolutions); recurrent/transformer as H steps of C·W; MLP
==========  ==============  ===================================================================

A signal and a sequence hold the same kind of data (L time steps of C channels); they differ
in the order of the axes, channels first as PyTorch's ``Conv1d`` takes them or time first as
``nn.LSTM(batch_first=True)`` takes them. Each family transposes what it needs.

``[data] shape`` reshapes flat feature columns in the kind's own layout (``[C, L]`` for a
signal, ``[L, C]`` for a sequence, ``[C, H, W]`` for an image); a one- or two-axis shape gets
one channel (``[L]`` → ``(1, L)`` signal or ``(L, 1)`` sequence, ``[H, W]`` → ``(1, H, W)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class DataKind(StrEnum):
    TABULAR = "tabular"
    SIGNAL = "signal"
    SEQUENCE = "sequence"
    IMAGE = "image"


KINDS = tuple(k.value for k in DataKind)
RANKS: dict[DataKind, tuple[int, ...]] = {  # the lengths a declared shape may have, per kind
    DataKind.TABULAR: (1,),
    DataKind.SIGNAL: (1, 2),
    DataKind.SEQUENCE: (1, 2),
    DataKind.IMAGE: (2, 3),
}
_CHANNELS = (1, 3, 4)  # the channel counts that tell a channels-last image (H, W, C) from (C, H, W)


def kind_of_shape(shape: Sequence[int]) -> DataKind:
    """The kind a declared ``[data] shape`` implies when ``kind`` is not given: ``[L]`` and
    ``[C, L]`` are signals, ``[C, H, W]`` an image."""
    return DataKind.IMAGE if len(shape) == 3 else DataKind.SIGNAL


def shaped(kind: DataKind, shape: Sequence[int]) -> tuple[int, ...]:
    """The per-sample shape of ``kind`` for a declared ``shape`` (one channel added where it has none)."""
    if len(shape) not in RANKS[kind]:
        raise ValueError(f"{_a(kind)} sample needs a shape of {' or '.join(map(str, RANKS[kind]))} axes, but got {list(shape)}")
    s = tuple(int(v) for v in shape)
    if kind is DataKind.SIGNAL and len(s) == 1:
        return (1, s[0])
    if kind is DataKind.SEQUENCE and len(s) == 1:
        return (s[0], 1)
    if kind is DataKind.IMAGE and len(s) == 2:
        return (1, *s)
    return s


def infer_kind(sample: Sequence[int]) -> tuple[DataKind, tuple[int, ...] | None]:
    """(kind, axis order) of an array's samples whose kind was not declared; the axis order is
    the permutation that brings a sample into the kind's layout (``None``: already there).

    One axis: tabular. Two axes: square → a one-channel image ``(H, W)``; otherwise the shorter
    axis holds the channels: ``(C, L)`` a signal when it comes first, ``(L, C)`` a sequence when
    last. Three axes: an image, channels last (``(H, W, C)``, moved first) when the last axis has
    1, 3 or 4 entries and the first does not, or when a square ``H == W`` comes first and the last
    axis is smaller (6 spectral bands, 2 polarizations: ``(32, 32, 6)`` was read as 32 channels of
    32 x 6).
    """
    if len(sample) == 1:
        return DataKind.TABULAR, None
    if len(sample) == 2:
        if sample[0] == sample[1]:
            return DataKind.IMAGE, None
        return (DataKind.SIGNAL if sample[0] < sample[1] else DataKind.SEQUENCE), None
    if len(sample) == 3:
        if (sample[-1] in _CHANNELS and sample[0] not in _CHANNELS) or (sample[0] == sample[1] and sample[-1] < sample[0]):
            return DataKind.IMAGE, (2, 0, 1)
        return DataKind.IMAGE, None
    raise ValueError(f"samples need 1 to 3 axes (features; channels and length; channels, height and width), but got shape {tuple(sample)}")


def canonical(kind: DataKind, sample: Sequence[int], order: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The per-sample shape in ``kind``'s layout, after the axis ``order`` (a two-axis image gets its channel)."""
    s = tuple(sample[i] for i in order) if order is not None else tuple(sample)
    if kind is DataKind.IMAGE and len(s) == 2:
        return (1, *s)
    if kind in (DataKind.SIGNAL, DataKind.SEQUENCE) and len(s) == 1:
        return shaped(kind, s)
    return s


def default_kind(input_shape: Sequence[int]) -> DataKind:
    """The kind a model assumes when none is given (hpbench's layout before kinds were declared):
    ``(F,)`` tabular, ``(T, F)`` a sequence, ``(C, H, W)`` an image."""
    return {1: DataKind.TABULAR, 2: DataKind.SEQUENCE}.get(len(input_shape), DataKind.IMAGE)


def as_sequence(kind: DataKind, shape: Sequence[int]) -> tuple[int, int, bool]:
    """(steps, features, transpose) for a model that reads sequences ``(L, C)``: a signal
    ``(C, L)`` is transposed; an image ``(C, H, W)`` is H steps (rows) of C·W features; a table
    ``(F,)`` is F steps of one feature."""
    if kind is DataKind.TABULAR:
        return math.prod(shape), 1, False
    if kind is DataKind.SEQUENCE:
        return shape[0], shape[1], False
    if kind is DataKind.SIGNAL:
        return shape[1], shape[0], True
    c, h, w = shape
    return h, c * w, False


def as_signal(kind: DataKind, shape: Sequence[int]) -> tuple[int, int, bool]:
    """(channels, length, transpose) for a model that reads signals ``(C, L)`` (1-D convolutions):
    a sequence ``(L, C)`` is transposed. Tables and images are not signals."""
    if kind is DataKind.SIGNAL:
        return shape[0], shape[1], False
    if kind is DataKind.SEQUENCE:
        return shape[1], shape[0], True
    raise ValueError(f"{_a(kind)} sample {tuple(shape)} is not a signal or sequence")


def _a(kind: DataKind) -> str:
    return ("an " if kind is DataKind.IMAGE else "a ") + kind.value


class LayoutError(ValueError):
    """A declared ``shape``/``kind`` that does not fit the samples: names the key, the rule and the value."""

    def __init__(self, *, key: str, rule: str, value: object) -> None:
        super().__init__(f"{key}: {rule}" + ("" if value is None else f", but got {value}"))
        self.key, self.rule, self.value = key, rule, value


def arrange(x: Any, *, reshape: Sequence[int] | None, order: Sequence[int] | None) -> Any:
    """Samples ``(n, *stored)`` reshaped to ``reshape`` and their axes put in ``order`` (contiguous);
    either may be None (as stored). A :class:`Layout`'s, and a trained model's encoding's."""
    if reshape is not None:
        x = x.reshape(len(x), *reshape)
    if order is not None:
        import numpy as np

        x = np.ascontiguousarray(x.transpose(0, *(a + 1 for a in order)))
    return x


@dataclass(frozen=True, kw_only=True)
class Layout:
    """How stored samples become model inputs: reshaped to ``reshape`` (when not None), the
    axes put in ``order`` (a channels-last image), giving ``input_shape`` of ``kind``."""

    kind: DataKind
    input_shape: tuple[int, ...]
    reshape: tuple[int, ...] | None = None  # a sample's shape before ``order`` (None: as stored)
    order: tuple[int, ...] | None = None  # the axis permutation of a sample (None: as stored)
    note: str = ""  # how the layout was decided, for the report ("inferred from the sample shape")

    @property
    def identity(self) -> bool:
        return self.reshape is None and self.order is None


def resolve_layout(stored: Sequence[int], *, shape: Sequence[int] | None = None, kind: str | None = None,
                   default: str | None = None, where: str = "") -> Layout:
    """The layout of samples stored as ``stored`` given a declared ``shape`` and ``kind`` (each
    may be None) and the dataset's own kind (``default``). Raises :class:`LayoutError` naming the
    ``data.shape`` / ``data.kind`` key when they do not fit the samples (of ``where``, a file)."""
    stored = tuple(int(v) for v in stored)
    of = f" of {where}" if where else ""
    size = math.prod(stored)
    if shape is not None:
        k = DataKind(kind) if kind is not None else kind_of_shape(shape)
        if math.prod(shape) != size:
            raise LayoutError(key="data.shape", rule=f"must hold the {size} feature values of each sample{of} (its product is {math.prod(shape)})",
                              value=list(shape))
        if not 1 <= len(shape) <= 3:
            raise LayoutError(key="data.shape", rule="has 1 ([L]), 2 ([C, L]) or 3 ([C, H, W]) axes", value=list(shape))
        if len(shape) not in RANKS[k]:
            raise LayoutError(key="data.shape", rule=f"{_a(k)} sample has {' or '.join(map(str, RANKS[k]))} axes", value=list(shape))
        target = shaped(k, shape)
        if k is DataKind.IMAGE and len(stored) == 3 and target != stored and (stored[2], stored[0], stored[1]) == target:
            # [C, H, W] declared for samples stored channels-last: their axes are moved (a reshape scrambled every image)
            return Layout(kind=k, input_shape=target, order=(2, 0, 1), note=f"declared image {list(shape)}: stored channels-last (H, W, C), moved")
        return Layout(kind=k, input_shape=target, reshape=target if target != stored else None, note=f"declared {k.value} {list(shape)}")
    if kind is None and default is not None:
        return Layout(kind=DataKind(default), input_shape=stored)
    if kind is None:
        if not 1 <= len(stored) <= 3:  # infer_kind's rule, said as the study key that fixes it
            raise LayoutError(key="data.shape", rule=f"must be declared for the samples{of}, shaped {list(stored)}: hpbench reads samples of 1 "
                              f"to 3 axes (features; channels and length; channels, height and width), [{size}] flattens them",
                              value=None)
        k, order = infer_kind(stored)
        target = canonical(k, stored, order)
        how = "channels-last (H, W, C) moved to (C, H, W)" if order else "inferred from the sample shape"
        return Layout(kind=k, input_shape=target, order=order, reshape=target if order is None and target != stored else None,
                      note=f"{k.value} {target}: {how}")
    k = DataKind(kind)
    if k is DataKind.TABULAR:
        return Layout(kind=k, input_shape=(size,), reshape=(size,) if len(stored) != 1 else None, note="declared tabular (flattened)")
    if len(stored) not in RANKS[k]:
        raise LayoutError(key="data.kind", rule=f"{_a(k)} sample has {' or '.join(map(str, RANKS[k]))} axes (the samples{of} are shaped "
                          f"{stored}: declare data.shape to reshape them)", value=k.value)
    order = None
    if k is DataKind.IMAGE and len(stored) == 3:
        order = infer_kind(stored)[1]
    target = canonical(k, stored, order)
    return Layout(kind=k, input_shape=target, order=order, reshape=target if order is None and target != stored else None,
                  note=f"declared {k.value}" + (": channels-last (H, W, C) moved to (C, H, W)" if order else ""))
