"""Saved model weights of finished trials: ``results/<name>/weights/<trial>.pt``.

The trainable puts the trial's final (restored-best) model into its last Tune checkpoint as
:data:`WEIGHTS_FILE`; the driver copies it from there (wherever Tune's storage is: a shared
filesystem or cloud storage on a cluster), so workers never write driver paths.

Where weights files lie, torch-free: the file format (what a weights file holds, writing and
reading it) is :mod:`hpbench.train.weights`'s.

Other studies refer to a saved trial as ``"RESULTS_DIR:TRIAL"`` (``TRIAL`` a trial number or
``best``): ``[model] init_from`` (transfer learning) and ``[distill] teacher``. Those files may
come from anyone's results folder, so they are never trusted: :func:`check_weights_file` reads
the pickle inside a weights file without running it and refuses any that would call code other
than torch's tensor rebuilding (a crafted pickle runs arbitrary code when loaded), and the
trainer loads them with ``torch.load(weights_only=True)`` too (:mod:`hpbench.train.weights`).
"""

from __future__ import annotations

import json
import os
import pickletools
import re
import zipfile
from pathlib import Path
from typing import Any

from hpbench.results.files import STUDY_JSON, TRIALS, WEIGHTS_DIR, atomic_write_bytes
from hpbench.results.keep import no_weights_in
from hpbench.results.parts import read_table, table_exists
from hpbench.results.ranking import ranked_rows

WEIGHTS_FILE = "weights.pt"  # name inside a Tune checkpoint directory


def weights_path(out: Path, trial: int) -> Path:
    return Path(out) / WEIGHTS_DIR / f"{int(trial)}.pt"


def save_from_checkpoint(out: Path, trial: int, checkpoint: Any) -> Path | None:
    """Copy the weights file of a trial's last Tune checkpoint (if it has one) atomically."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as d:
        src = Path(d) / WEIGHTS_FILE
        if not src.is_file():
            return None
        dest = weights_path(out, trial)
        atomic_write_bytes(dest, src.read_bytes())
    return dest


INCOMING_DIR = ".incoming"  # where a trial on the driver's own node leaves its final weights


def save_from_file(out: Path, trial: int, src: str | Path) -> Path | None:
    """Move weights a trial on the driver's node wrote (atomically: same filesystem rename)."""
    src = Path(src)
    if not src.is_file():
        return None
    dest = weights_path(out, trial)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    return dest


def drop_unrecorded(out: Path, kept: set[int]) -> list[Path]:
    """Remove ``out``'s weights files of trials other than ``kept`` (the trial numbers of the rows a
    resumed search keeps); returns them. A trial's weights are saved as it ends, before its row's end
    is written: a driver killed between the two left ``weights/N.pt`` of a trial the resume drops and
    runs again, and a new trial given number ``N`` (numbers go on from the kept rows') was read with
    those weights, or had them replaced (bug hunt s48/h2, finding 1)."""
    gone = []
    folder = Path(out) / WEIGHTS_DIR
    for path in folder.glob("*.pt") if folder.is_dir() else ():
        if re.fullmatch(r"\d+\.pt", path.name) and int(path.stem) not in kept:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            gone.append(path)
    return gone


class ReferenceError_(ValueError):
    """A ``RESULTS_DIR:TRIAL`` reference that names no saved weights; the message is the rule."""


def resolve_reference(ref: str, *, base_dir: Path | None = None) -> Path:
    """The weights file a ``"RESULTS_DIR:TRIAL"`` reference names (absolute path)."""
    if not isinstance(ref, str) or ":" not in ref:
        raise ReferenceError_("must be 'RESULTS_DIR:TRIAL', e.g. 'results/digits:3' or 'results/digits:best'")
    where, _, trial = ref.rpartition(":")
    cands = [Path(where)] + ([base_dir / where] if base_dir is not None and not Path(where).is_absolute() else [])
    directory = next((c for c in cands if (c / STUDY_JSON).is_file()), None)
    if directory is None:
        raise ReferenceError_(f"must name a results directory (one with {STUDY_JSON}); {where!r} is not one")
    if trial == "best":
        try:
            number = best_trial(directory)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:  # a folder's content is never trusted
            raise ReferenceError_(f"{where}: cannot tell its best trial: its {STUDY_JSON} or {TRIALS} is unreadable ({type(err).__name__}: {err})") from None
        if number is None:
            raise ReferenceError_(f"{where} has no finished trial with a metric value to call 'best'")
    else:
        try:
            number = int(trial)
        except ValueError:
            raise ReferenceError_("TRIAL must be a trial number or 'best'") from None
    path = weights_path(directory, number)
    if not path.is_file():
        why = no_weights_in(directory, number)  # it diverged in its first epoch, or [study] keep_weights deleted it
        raise ReferenceError_(f"{where}: {why}" if why else
                              f"trial {number} of {where} has no saved weights ({WEIGHTS_DIR}/{number}.pt): is it a finished trial?")
    try:
        check_weights_file(path)
    except WeightsFileError as err:
        raise ReferenceError_(str(err)) from None
    return path.resolve()


# What a weights file's pickle may name: torch's tensor rebuilding and the containers it uses.
# torch.save of a dict of tensors names nothing else; anything more (os.system, builtins.eval,
# a user class) is code the file would run when loaded.
_SAFE_GLOBALS = frozenset({("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"),
                           ("collections", "OrderedDict"), ("torch.storage", "UntypedStorage"), ("torch.storage", "TypedStorage")})
_STORAGE = re.compile(r"[A-Z][A-Za-z0-9]*Storage")  # torch.FloatStorage, torch.BFloat16Storage, ...
_CODE_OPS = frozenset({"INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4"})  # build objects of arbitrary classes
_NAME_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"})
MAX_PICKLE_BYTES = 64 * 2**20  # the pickle holds names and shapes only (the tensors' bytes are separate zip members)


class WeightsFileError(ValueError):
    """A weights file that is not one hpbench wrote (unreadable, or a pickle that would run code)."""


def check_weights_file(path: Path) -> None:
    """Refuse, without loading it, a weights file whose pickle names anything but torch's tensor
    rebuilding: the format ``torch.save`` writes is a zip archive whose ``data.pkl`` is read here
    opcode by opcode (nothing is executed)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(names) != 1:
                raise WeightsFileError(f"{path}: not a weights file written by hpbench (no single data.pkl in the archive)")
            if z.getinfo(names[0]).file_size > MAX_PICKLE_BYTES:
                raise WeightsFileError(f"{path}: not a weights file written by hpbench (its pickle is too large)")
            data = z.read(names[0])
    except (OSError, zipfile.BadZipFile, KeyError) as err:
        raise WeightsFileError(f"{path}: not a weights file written by hpbench (torch's zip format): {err}") from None
    for name in _pickled_names(path, data):
        module, _, attr = name.partition(" ")
        if (module, attr) not in _SAFE_GLOBALS and not (module == "torch" and _STORAGE.fullmatch(attr)):
            raise WeightsFileError(f"{path}: refused: loading it would run {module}.{attr} (a weights file holds tensors and plain data only)")


def _pickled_names(path: Path, data: bytes) -> list[str]:
    """The ``"module name"`` globals a pickle names, read opcode by opcode. ``STACK_GLOBAL`` takes
    its two names from the two pushes before it, literal strings or memo entries holding strings
    (how pickle writes them); a global whose name comes from anything else, and the opcodes that
    build objects of arbitrary classes, are refused."""
    names: list[str] = []
    pushed: list[str | None] = []  # per opcode since the start: the string it pushed, or None
    memo: dict[int, str | None] = {}
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in _CODE_OPS:
                raise WeightsFileError(f"{path}: refused: its pickle builds objects ({op.name}), which a weights file never does")
            if op.name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(str(arg))] = pushed[-1] if pushed else None
            elif op.name in ("GET", "BINGET", "LONG_BINGET"):
                pushed.append(memo.get(int(str(arg))))
            elif op.name in _NAME_OPS:
                pushed.append(arg.decode("latin-1") if isinstance(arg, bytes) else str(arg))
            elif op.name == "GLOBAL":
                names.append(str(arg))
                pushed.append(None)
            elif op.name == "STACK_GLOBAL":
                module, attr = (pushed[-2], pushed[-1]) if len(pushed) >= 2 else (None, None)
                if module is None or attr is None:
                    raise WeightsFileError(f"{path}: refused: its pickle names a global through something other than plain text")
                names.append(f"{module} {attr}")
                pushed.append(None)
            else:
                pushed.append(None)
    except WeightsFileError:
        raise
    except Exception as err:  # a truncated or garbled pickle
        raise WeightsFileError(f"{path}: not a readable weights file: {err}") from None
    return names


def best_trial(directory: Path) -> int | None:
    """The finished search trial (not a repeat or a device comparison, as ``Results.best`` and the
    leaderboard) with the best value of its study's metric (that has saved weights)."""
    record = json.loads((directory / STUDY_JSON).read_text(encoding="utf-8"))
    metric, mode = str(record["settings"]["metric"]), str(record["settings"]["mode"])
    if not table_exists(directory, TRIALS):
        return None
    rows = ranked_rows(read_table(directory, TRIALS).to_dict("records"), metric=metric, mode=mode)
    return next((int(r["trial"]) for r in rows if weights_path(directory, int(r["trial"])).is_file()), None)


def trial_of(path: str | Path) -> tuple[Path, int]:
    """(results directory, trial number) of a weights file path."""
    p = Path(path)
    return p.parent.parent, int(p.stem)
