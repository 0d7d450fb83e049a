"""What a search leaves on disk that nothing reads, removed when it ends (bug hunt s52/h5, finding 2).

- Ray's session folder (``$TMPDIR/ray/session_*``, ``/tmp/ray`` by default: its logs, sockets and
  Tune's per-trial driver artifacts, ~290 KB for a 3-trial search, ~2 MB for 200 trials) of a
  local runtime the command started itself, once it has shut that runtime down after a search that
  ended well or was interrupted (:func:`hpbench.dispatch.ray_runtime.shutdown`). It is kept when the
  command failed (its raylet's and workers' logs may say why), and so is the session of the warm
  runtime (``hpbench ray start``), of a cluster joined with ``--address`` and of a runtime a Python
  caller keeps up between searches. 1,612 sessions (755 MB) had piled up in one machine's ``/tmp/ray``.
- Ray Tune's experiment folders in ``RESULTS/.ray`` (its snapshot, ``tuner.pkl``, the searcher's
  state and one empty folder per trial: 25% of a 200-trial results folder). Tune reads a trial's
  checkpoint there while the search runs (a retried trial's, weights from another node); hpbench
  resumes from its own tables and ``optuna.db``, never from Tune's snapshot
  (:mod:`hpbench.dispatch.written_trials`). A ``storage_path`` the user gave is left alone.
- The files of a search stopped (Ctrl-C, SIGTERM) before it recorded a trial, in a results folder
  the command made: "nothing to resume", and the folder goes too, unless it holds other files. A
  search that failed keeps them (they say what was tried).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

from hpbench.results.files import OPTUNA_DB, STUDY_JSON, STUDY_TOML, TRIALS, WEIGHTS_DIR
from hpbench.results.parts import table_exists
from hpbench.results.weights import INCOMING_DIR

TUNE_DIR = ".ray"  # Ray Tune's storage in the results folder, unless the search was given a storage_path
SESSION_PREFIX = "session_"  # Ray's session folders in its temp folder ...
SESSION_LATEST = "session_latest"  # ... and its link to the newest one, which another runtime may hold now


def session_folder() -> str:
    """The session folder of the Ray runtime this process is connected to ('' where Ray cannot say:
    a Ray Client connection): Ray's temp folder and the session's name, as the runtime tells them."""
    ray = sys.modules.get("ray")
    if ray is None:
        return ""
    try:
        ctx = ray.get_runtime_context()
        temp, name = str(ctx.get_temp_dir()), str(ctx.get_session_name())
    except Exception:
        return ""
    if not temp or not name.startswith(SESSION_PREFIX) or name == SESSION_LATEST or os.sep in name:
        return ""
    return os.path.join(temp, name)


def remove_session(folder: str) -> None:
    """Remove a Ray session folder (after its runtime was shut down): only a folder named
    ``session_*`` (not the ``session_latest`` link), and the link where it still names this one."""
    path = Path(folder)
    if not folder or not path.name.startswith(SESSION_PREFIX) or path.name == SESSION_LATEST or path.is_symlink() or not path.is_dir():
        return
    shutil.rmtree(path, ignore_errors=True)
    latest = path.parent / SESSION_LATEST
    with contextlib.suppress(OSError):
        if latest.is_symlink() and os.readlink(latest) == str(path):
            latest.unlink()


def drop_tune_storage(out: Path) -> None:
    """``out/.ray``, Tune's storage of the search that ends now (and of earlier runs there): under
    the results folder's lock, no other search is using it."""
    shutil.rmtree(out / TUNE_DIR, ignore_errors=True)


def drop_unrecorded(out: Path) -> None:
    """A search that recorded no trial in ``out``, a folder it made: its study record, its Optuna
    database and what its trials handed over are removed (nothing to resume from them). Any other
    file stays, and with it the folder."""
    if not out.is_dir() or table_exists(out, TRIALS):
        return
    for name in (STUDY_JSON, STUDY_TOML, OPTUNA_DB, f"{OPTUNA_DB}-wal", f"{OPTUNA_DB}-shm", f"{OPTUNA_DB}-journal"):
        with contextlib.suppress(OSError):
            (out / name).unlink(missing_ok=True)
    for folder in (TUNE_DIR, INCOMING_DIR):
        shutil.rmtree(out / folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        (out / WEIGHTS_DIR).rmdir()  # empty: no trial kept weights
