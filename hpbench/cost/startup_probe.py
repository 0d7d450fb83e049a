"""This machine's start-up, measured once: a small real search (:data:`STUDY`) run when the machine
is calibrated (``hpbench devices``; an estimate that calibrates a new machine), so that the first
estimate made here prices what no FLOP count sees (the imports, Ray's start, a fresh worker, the
start of the repeats' fused groups, the test split, the final table, the exit) at this machine's
pace.

Before it, a machine with no search history was priced at the prior (:class:`Figures`), whose
figures were measured on another machine: on a faster one the start-up was priced 11.2 s for 5-7 s
measured (session 25), the repeats' first fused group 5.2 s for 3.0 s. The probe's records are
the search-history records its two commands write, as any search does; they are kept beside the
device models (``<host>-probe.json``), apart from the search history, and :func:`prior` reads
their machine figures (:data:`MACHINE_FIGURES`) over the prior's.
The machine's own searches replace them as they are recorded (:func:`hpbench.cost.learned.figures`).
What depends on the study searched (the speed ratio, where early stopping ends trials) stays the
prior's: one small MLP search says nothing of another study's networks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hpbench.cost.figures import PRIOR, Figures
from hpbench.cost.history import SCHEMA as RECORD_SCHEMA
from hpbench.cost.history import device_cache_files
from hpbench.cost.history import load as load_history
from hpbench.cost.learned import figures
from hpbench.results.files import atomic_write_json

SCHEMA = 1
# Set to 0 to never run the probe from an estimate (``hpbench devices --no-probe`` for the command):
# a machine whose estimates should start no Ray (the test suite's, which prices as the prior does).
ENV_OFF = "HPBENCH_STARTUP_PROBE"
# The figures a search of any study measures alike: the machine's, not the study's.
MACHINE_FIGURES = ("startup_s", "data_s", "ray_s", "fresh_worker_s", "setup_s", "tail_s", "fused_start_s", "test_s", "test_cold_s", "report_s",
                   "exit_s")
REPEATS = 3  # the probe's repeats of its best configuration (small MLPs: one fused group)
PROBED = "this machine's probe search"
TIMEOUT_S = 120.0  # each of its two commands (~11 s here): a Ray that hangs costs an estimate at most this, once
# Eight trials (the helper trains early trials while Ray starts, as in a search of 4 or more; the
# final table scores parameter importances, as for 3 or more), two at once, a test split: ~11 s
# here; then its repeats (another ~11 s: the command's start-up again, one fused group, the test
# split with torch loaded).
STUDY_NAME = "hpbench-startup-probe"
STUDY = """\
[study]
name = "hpbench-startup-probe"
seed = 0
metric = "val_accuracy"
trials = 8
searcher = "tpe"
scheduler = "asha"
max_concurrent = 2

[data]
dataset = "digits"
preprocess = ["standardize"]
test_fraction = 0.2

[model]
family = "mlp"

[train]
max_epochs = 6
early_stopping = { monitor = "val_loss", patience = 2 }

[resources]
cpus_per_trial = 1

[space]
optimizer = { choice = ["sgd", "adam"] }
lr = { loguniform = [1e-3, 1e-1] }
batch_size = { choice = [64, 256] }
"model.width" = { choice = [32, 128] }
"""


def cache_file(cache_dir: Path) -> Path:
    return cache_dir / f"{platform.node() or 'host'}-probe.json"


def measure(cache_dir: Path, *, log: Callable[[str], None] | None = None, timeout_s: float = TIMEOUT_S) -> list[dict[str, Any]] | None:
    """Run the probe in child processes on a local Ray of their own (``RAY_ADDRESS`` dropped), with
    a scratch cache holding this machine's device models (its helper prices trials as any search's
    does, without calibrating again) and no history: the search, then the same command with
    ``--repeats`` (the search done: only the repeats of its best configuration, as fused groups,
    and the test split after them). Keep their records in :func:`cache_file` and return them.
    None, with the reason logged, when the search failed: the prior stays (an estimate never
    fails for want of it); the repeats' failure keeps the search's record alone."""
    say = log or (lambda _m: None)
    say("timing a small search on this machine (its start-up, repeats, final table and exit, as the ETA prices them) ...")
    with tempfile.TemporaryDirectory(prefix="hpbench-probe-") as tmp:
        devices = Path(tmp) / "hpbench" / "devices"
        devices.mkdir(parents=True)
        for f in device_cache_files(cache_dir):
            shutil.copy2(f, devices / f.name)
        study = Path(tmp) / "probe.toml"
        study.write_text(STUDY, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env["XDG_CACHE_HOME"] = tmp
        cmd = [sys.executable, "-m", "hpbench", "search", str(study), "--out", str(Path(tmp) / "results")]
        records: list[dict[str, Any]] = []
        for what, args in (("search", []), ("repeats", ["--repeats", str(REPEATS)])):
            try:
                proc = _run([*cmd, *args], env=env, cwd=tmp, timeout_s=timeout_s)
            except (OSError, subprocess.TimeoutExpired) as err:
                say(f"the probe's {what} did not finish ({type(err).__name__})")
                break
            done = [r for r in load_history(devices) if r.get("command")]
            if proc.returncode != 0 or len(done) <= len(records):
                tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or [""]
                say(f"the probe's {what} failed (exit {proc.returncode}: {tail[0][:200]})")
                break
            records.append(done[-1])
    if not records:
        say("the start-up stays the prior's")
        return None
    atomic_write_json(cache_file(cache_dir), {"schema": SCHEMA, "at": time.time(), "machine": machine(), "records": records})
    return records


def _run(cmd: list[str], *, env: dict[str, str], cwd: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``cmd`` in a session of its own: past ``timeout_s``, and when this command stops (Ctrl-C, or a
    SIGTERM the command takes as one), the whole group goes (the search and the Ray it started), not
    the search alone, before the probe's folder is removed. A Ctrl-C left the probe's search
    running on its own Ray, which wrote its tables into the folder again once it was removed (bug
    hunt s52/h5, finding 1)."""
    with subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except BaseException:
            _stop_group(proc)
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


STOP_GRACE_S = 2.0  # the probe's group after a SIGTERM, before SIGKILL (its search stops Ray on SIGTERM, as on Ctrl-C)
GONE_WAIT_S = 10.0  # at most, for the group's last processes to be gone once killed


def _stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to ``proc``'s process group, :data:`STOP_GRACE_S` for its leader to end, then SIGKILL
    to the group (a second Ctrl-C during the grace goes straight to it); returns once no process of
    the group is left (at most :data:`GONE_WAIT_S`), the leader reaped."""
    try:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_GRACE_S)
    finally:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        end = time.monotonic() + GONE_WAIT_S
        while time.monotonic() < end:  # the group outlives its leader while Ray's processes (orphans now) die
            try:
                os.killpg(proc.pid, 0)
            except OSError:
                return
            time.sleep(0.02)


def machine() -> dict[str, Any]:
    """What a probe holds for (without importing torch: the driver reads it): this host, its CPUs
    and hpbench's version. A probe of another is not read (the next calibration times it again)."""
    from hpbench._version import __version__

    return {"host": platform.node(), "cpus": os.cpu_count(), "hpbench": __version__}


def wanted() -> bool:
    """Whether an estimate may run the probe (:data:`ENV_OFF` not set to 0)."""
    return os.environ.get(ENV_OFF, "1").strip() not in ("0", "false", "no", "off")


def load(cache_dir: Path | None) -> list[dict[str, Any]] | None:
    """The probe's records kept here, or None (none kept, unreadable, another schema's, another
    machine's or version's: :func:`machine`)."""
    if cache_dir is None:
        return None
    try:
        data = json.loads(cache_file(cache_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("machine") != machine():
        return None
    recs = data.get("records")
    ok = isinstance(recs, list) and recs and all(isinstance(r, dict) and r.get("schema") == RECORD_SCHEMA for r in recs)
    return recs if ok else None


def prior(cache_dir: Path | None, base: Figures | None = None) -> Figures:
    """The figures a search on this machine is priced at before any search ran here: ``base``
    (default: the prior) with the probe's machine figures over it, where a probe ran."""
    got = load(cache_dir)
    return probed(got, base) if got is not None else base or Figures()


def probed(records: Sequence[Mapping[str, Any]], base: Figures | None = None) -> Figures:
    """``base`` with the machine figures that the probe's ``records`` measured (read as a history's:
    each over the contention it ran under), their source saying so. The probe's repeats fuse, so it
    measures no unfused replay's start (a Tuner's start to its first trial: repeats that cannot
    fuse, device comparisons); that is the prior's, scaled by the probe's fused start over the
    prior's: the prior's two (2.0 s and 5.2 s, the old development machine's) stand at 0.385, this
    machine's 24 and 50 searches that measured them at 1.08 s and 2.73 s (medians), 0.40, where the
    prior's 2.0 s had priced transfer_finetune's unfused repeats as a first search at 3.8 s for
    2.6-2.8 s (session 28)."""
    start = base or Figures()
    read = figures(records, prior=start)
    keep = {n: getattr(read, n) for n in MACHINE_FIGURES if read.source(n) != start.source(n)}
    at = records[0].get("started_at") if records else None
    when = dt.datetime.fromtimestamp(float(at), dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if isinstance(at, (int, float)) else "?"
    source = f"{PROBED} ({when})"
    sources = dict.fromkeys(keep, source)
    if "fused_start_s" in keep and start.fused_start_s > 0 and start.source("replay_start_s") == PRIOR:
        # the probe's repeats fuse (one group of small MLPs): an unfused replay's start is scaled from theirs
        ratio = start.replay_start_s / start.fused_start_s
        keep["replay_start_s"] = keep["fused_start_s"] * ratio
        sources["replay_start_s"] = f"{source}, x {ratio:.3f} of its fused repeats' start"
    return replace(start, **keep, sources={**start.sources, **sources})


def probed_figures(figs: Figures) -> dict[str, float]:
    """The figures of ``figs`` that a probe measured (name -> seconds at contention 1)."""
    return {n: float(getattr(figs, n)) for n in MACHINE_FIGURES if figs.source(n).startswith(PROBED)}
