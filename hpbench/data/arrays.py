"""NumPy files: ``dataset = "data.npz"`` holding arrays ``x``, ``y`` (and optionally ``x_val``,
``y_val``, ``x_test``, ``y_test``), or ``.npy`` files named by ``[data] x`` / ``y`` (and
``x_val`` ... ``y_test``).

Headers are read without the data (:func:`npy_header`, :func:`npz_headers`): validation and
the driver learn shapes and sizes from them. A ``.npy`` file larger than memory is never loaded
here; :mod:`hpbench.data.stream` reads its rows on demand.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NPZ_SUFFIX = ".npz"
NPY_SUFFIX = ".npy"
ARRAYS = ("x", "y", "x_val", "y_val", "x_test", "y_test")  # the names of the arrays of a NumPy dataset
SPLIT_ARRAYS = {"val": ("x_val", "y_val"), "test": ("x_test", "y_test")}


@dataclass(frozen=True, kw_only=True)
class NpyHeader:
    """A ``.npy`` array's shape and dtype, and where its data starts in the file."""

    path: str
    shape: tuple[int, ...]
    dtype: str  # numpy's dtype string, e.g. "<f4"
    offset: int  # bytes before the data
    fortran: bool

    @property
    def n(self) -> int:
        return self.shape[0] if self.shape else 0

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.shape[1:]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    @property
    def numeric(self) -> bool:
        return np.dtype(self.dtype).kind in "biuf"


def _read_header(f: Any, path: str) -> NpyHeader:
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path}: not a NumPy .npy array ({err})") from None
    return NpyHeader(path=path, shape=tuple(int(v) for v in shape), dtype=np.dtype(dtype).str, offset=int(f.tell()), fortran=bool(fortran))


def npy_header(path: str | Path) -> NpyHeader:
    """The header of a ``.npy`` file (nothing else is read)."""
    with open(path, "rb") as f:
        return _read_header(f, str(path))


def npz_headers(path: str | Path) -> dict[str, NpyHeader]:
    """The arrays of a ``.npz`` file by name, headers only (members are read up to their header)."""
    out: dict[str, NpyHeader] = {}
    try:
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                if member.endswith(NPY_SUFFIX):
                    with z.open(member) as f:
                        out[member[: -len(NPY_SUFFIX)]] = _read_header(f, f"{path}:{member}")
    except zipfile.BadZipFile:
        raise ValueError(f"{path}: not a NumPy .npz archive (np.savez writes one)") from None
    return out


def headers(dataset: str, options: dict[str, Any]) -> dict[str, NpyHeader]:
    """The headers of a NumPy dataset's arrays by name (``x``, ``y``, ``x_val``, ...)."""
    if dataset.endswith(NPZ_SUFFIX):
        return {k: h for k, h in npz_headers(dataset).items() if k in ARRAYS}
    return {name: npy_header(dataset if name == "x" else options[name]) for name in ARRAYS if name == "x" or options.get(name)}


def check_arrays(dataset: str, heads: dict[str, NpyHeader]) -> None:
    """The rules of a NumPy dataset's arrays: ``x`` and ``y`` present; numbers (C order to be
    streamed); a label per sample; a split's ``x_*`` with its ``y_*``; samples of one shape.
    Raises ``ValueError`` naming the array."""
    for name in ("x", "y"):
        if name not in heads:
            raise ValueError(f"{dataset}: needs an array {name!r}, but the file holds {sorted(heads) or 'no arrays'}")
    for split, (xn, yn) in SPLIT_ARRAYS.items():
        if (xn in heads) != (yn in heads):
            have, missing = (xn, yn) if xn in heads else (yn, xn)
            raise ValueError(f"{dataset}: a given {split} split needs both {xn!r} and {yn!r}, but {have!r} comes without {missing!r}")
    for name, h in heads.items():
        if name.startswith("x") and not h.numeric:
            raise ValueError(f"{h.path}: array {name!r} must hold numbers, but has dtype {h.dtype}")
        if name.startswith("x") and len(h.shape) < 2:
            raise ValueError(f"{h.path}: array {name!r} must be shaped (n, ...) with at least one feature, but has shape {h.shape}")
        if name.startswith("y") and not (len(h.shape) == 1 or (len(h.shape) == 2 and h.shape[1] == 1)):
            raise ValueError(f"{h.path}: array {name!r} must hold one label per sample, shaped (n,), but has shape {h.shape}")
    for xn, yn in (("x", "y"), *SPLIT_ARRAYS.values()):
        if xn in heads and heads[xn].n != heads[yn].n:
            raise ValueError(f"{dataset}: {xn!r} and {yn!r} must have one row per sample, but have {heads[xn].n} and {heads[yn].n}")
        if xn in heads and heads[xn].sample_shape != heads["x"].sample_shape:
            raise ValueError(f"{dataset}: {xn!r} must have samples shaped like 'x' {heads['x'].sample_shape}, but has {heads[xn].sample_shape}")


def load_arrays(dataset: str, options: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every array of a NumPy dataset, read into memory."""
    if dataset.endswith(NPZ_SUFFIX):
        with np.load(dataset, allow_pickle=False) as z:
            return {k: _no_objects(lambda k=k: z[k], k, dataset) for k in z.files if k in ARRAYS}
    return {name: _no_objects(lambda name=name: np.load(dataset if name == "x" else options[name], allow_pickle=False), name,
                              dataset if name == "x" else options[name])
            for name in ARRAYS if name == "x" or options.get(name)}


def _no_objects(read: Any, name: str, path: str) -> np.ndarray:
    """``read()``; an array of Python objects (NumPy's pickles, which a data file may not run) is
    refused naming the array and the way out, where NumPy's words name neither."""
    try:
        return read()  # type: ignore[no-any-return]
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise
        raise ValueError(f"{path}: array {name!r} holds Python objects (dtype object), which hpbench does not unpickle from a data file: "
                         f"save it as numbers, or text labels as fixed-width strings ({name}.astype(str))") from None


def is_numpy_dataset(dataset: str) -> bool:
    return dataset.endswith((NPZ_SUFFIX, NPY_SUFFIX))
