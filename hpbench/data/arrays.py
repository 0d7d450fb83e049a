"""NumPy files: ``dataset = "data.npz"`` holding arrays ``x``, ``y`` (and optionally ``x_val``,
``y_val``, ``x_test``, ``y_test``), or ``.npy`` files named by ``[data] x`` / ``y`` (and
``x_val`` ... ``y_test``). An archive in Keras' layout (``keras.datasets.mnist``'s ``mnist.npz``:
``x_train``, ``y_train``, ``x_test``, ``y_test``) is read as ``x``, ``y`` and the test split given
with them. Suffixes match in any case.

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
KERAS_ARRAYS = {"x": "x_train", "y": "y_train"}  # Keras' names of the training arrays, read when x and y are absent


@dataclass(frozen=True, kw_only=True)
class NpyHeader:
    """A ``.npy`` array's shape and dtype, and where its data starts in the file."""

    path: str
    shape: tuple[int, ...]
    dtype: str  # numpy's dtype string, e.g. "<f4"
    offset: int  # bytes before the data
    fortran: bool
    member: str = ""  # its array's name in a .npz archive ('' for a .npy file)

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


def _read_header(f: Any, path: str, member: str = "") -> NpyHeader:
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path}: not a NumPy .npy array ({err})") from None
    return NpyHeader(path=path, shape=tuple(int(v) for v in shape), dtype=np.dtype(dtype).str, offset=int(f.tell()), fortran=bool(fortran),
                     member=member)


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
                        name = member[: -len(NPY_SUFFIX)]
                        out[name] = _read_header(f, f"{path}:{member}", name)
    except zipfile.BadZipFile:
        raise ValueError(f"{path}: not a NumPy .npz archive (np.savez writes one)") from None
    return out


def npz_names(stored: list[str]) -> dict[str, str]:
    """hpbench's array names (``x``, ``y``, ``x_val``, ...) -> the archive's names of them: its own
    (``x``, ``y``, ...), or Keras' ``x_train`` / ``y_train`` for ``x`` / ``y`` when it has neither."""
    names = {k: k for k in stored if k in ARRAYS}
    if "x" not in names and "y" not in names and all(k in stored for k in KERAS_ARRAYS.values()):
        names.update(KERAS_ARRAYS)
    return names


def headers(dataset: str, options: dict[str, Any]) -> dict[str, NpyHeader]:
    """The headers of a NumPy dataset's arrays by name (``x``, ``y``, ``x_val``, ...)."""
    if is_npz(dataset):
        stored = npz_headers(dataset)
        names = npz_names(list(stored))
        missing_xy(dataset, names, stored)
        return {name: stored[member] for name, member in names.items()}
    return {name: npy_header(dataset if name == "x" else options[name]) for name in ARRAYS if name == "x" or options.get(name)}


def missing_xy(dataset: str, names: dict[str, str], stored: dict[str, NpyHeader]) -> None:
    """An archive holds ``x`` and ``y`` (or Keras' ``x_train``/``y_train``); one that does not is
    told every array it holds, and how to re-save it."""
    missing = [n for n in ("x", "y") if n not in names]
    if not missing:
        return
    held = ", ".join(f"{k!r} {h.shape} {np.dtype(h.dtype).name}" for k, h in stored.items()) or "no arrays"
    raise ValueError(f"{dataset}: needs arrays 'x' (the inputs) and 'y' (one label per sample), or Keras' 'x_train' and 'y_train', "
                     f"but {' and '.join(repr(n) for n in missing)} {'is' if len(missing) == 1 else 'are'} missing: the file holds {held} "
                     "(re-save it with these names: np.savez(path, x=..., y=...), and x_val/y_val, x_test/y_test for given splits)")


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
            raise ArrayError(f"{h.path}: array {name!r} must hold numbers, but has dtype {_dtype_words(h)}: {_save_as_numbers(name, h)}",
                             array=name)
        if name.startswith("x") and len(h.shape) < 2:
            raise ArrayError(f"{h.path}: array {name!r} must be shaped (n, ...) with at least one feature, but has shape {h.shape}", array=name)
        if name.startswith("y") and not (len(h.shape) == 1 or (len(h.shape) == 2 and h.shape[1] == 1)):
            one_object = np.dtype(h.dtype).kind == "O" and h.shape == ()  # a sparse matrix or a list pickled whole by np.savez
            raise ArrayError(f"{h.path}: array {name!r} must hold one label per sample, shaped (n,), but has shape {h.shape}"
                             + (f" (one-hot labels: save the class numbers, {name}.argmax(1))" if one_hot(dataset, h) else "")
                             + (f" (one Python object: a scipy sparse matrix? save {name}.toarray().ravel(); a list: np.asarray({name}))"
                                if one_object else ""), array=name)
    for xn, yn in (("x", "y"), *SPLIT_ARRAYS.values()):
        if xn in heads and heads[xn].n != heads[yn].n:
            raise ValueError(f"{dataset}: {xn!r} and {yn!r} must have one row per sample, but have {heads[xn].n} and {heads[yn].n}")
        if xn in heads and heads[xn].sample_shape != heads["x"].sample_shape:
            raise ValueError(f"{dataset}: {xn!r} must have samples shaped like 'x' {heads['x'].sample_shape}, but has {heads[xn].sample_shape}")


class ArrayError(ValueError):
    """A rule one array of a NumPy dataset (or of a loader's return) breaks; ``array`` is its name
    (``x``, ``y_val``, ...), so that the study and the pre-flight can name the key that gave its file."""

    def __init__(self, message: str, *, array: str) -> None:
        super().__init__(message)
        self.array = array


def _dtype_words(h: NpyHeader) -> str:
    dtype = np.dtype(h.dtype)
    return "object (Python objects, which hpbench does not unpickle from a data file)" if dtype.kind == "O" else dtype.name


def _save_as_numbers(name: str, h: NpyHeader) -> str:
    """What to save instead of an array of inputs that are not numbers. A 0-d object array is one
    Python object that np.savez pickled whole: a scipy sparse matrix (LIBSVM's load_svmlight_file
    returns one), whose own astype(np.float32) stays sparse and was saved again the same way."""
    if np.dtype(h.dtype).kind == "O" and h.shape == ():
        fix = f"{name}.toarray()"
        how = f"np.savez(path, {name}={fix}, ...)" if h.member else f"np.save(path, {fix})"
        return (f"it is one Python object, shape (), not an array of samples: a scipy sparse matrix? save {how}; "
                f"a list or dict of arrays: np.asarray({name}, dtype=np.float32) or one array per key")
    how = f"np.savez(path, {name}={name}.astype(np.float32), ...) with the other arrays as they are" if h.member else \
        f"np.save(path, {name}.astype(np.float32))"
    return f"save it as numbers, {how} (text or categories encoded as numbers first; samples of one shape, padded if they differ)"


def one_hot(dataset: str, h: NpyHeader) -> bool:
    """Whether a label array shaped (n, k) holds one 1 per row, zeros elsewhere (read whole: labels are small)."""
    if len(h.shape) != 2 or not h.numeric:
        return False
    if is_npz(dataset):
        with np.load(dataset, allow_pickle=False) as z:
            y = z[h.member]
    else:
        y = np.load(h.path, allow_pickle=False, mmap_mode="r")
    return bool(np.isin(y, (0, 1)).all() and (np.sum(y, axis=1) == 1).all())


def load_arrays(dataset: str, options: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every array of a NumPy dataset, read into memory."""
    if is_npz(dataset):
        with np.load(dataset, allow_pickle=False) as z:
            return {name: _no_objects(lambda m=member: z[m], name, dataset) for name, member in npz_names(list(z.files)).items()}
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
        raise ArrayError(f"{path}: array {name!r} holds Python objects (dtype object), which hpbench does not unpickle from a data file: "
                         f"save it as numbers, or text labels as fixed-width strings ({name}.astype(str))", array=name) from None


def is_npz(name: str) -> bool:
    return name.lower().endswith(NPZ_SUFFIX)


def is_npy(name: str) -> bool:
    return name.lower().endswith(NPY_SUFFIX)


def is_numpy_dataset(dataset: str) -> bool:
    return is_npz(dataset) or is_npy(dataset)
