"""What a search leaves on disk (bug hunt s52/h5, finding 2; :mod:`hpbench.dispatch.leftovers`):
the Ray session folder of a runtime the command started and shut down, Tune's ``RESULTS/.ray``,
and the files of a search that recorded nothing in a folder it made."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest

from hpbench.dispatch import leftovers, ray_runtime, runner
from hpbench.dispatch.plan import SearchOptions
from hpbench.study.parse import load_study
from tests.helpers.studies import ROOT, TINY_STUDY


class _FakeRay(types.SimpleNamespace):
    """Ray as far as its runtime's identity and shutdown go: a session folder under ``temp``."""

    def __init__(self, temp: Path, session: str, *, job: str = "01000000") -> None:
        ctx = types.SimpleNamespace(gcs_address="127.0.0.1:6379", get_job_id=lambda: job, get_node_id=lambda: "node",
                                    get_temp_dir=lambda: str(temp), get_session_name=lambda: session)
        super().__init__(up=True, get_runtime_context=lambda: ctx)

    def is_initialized(self) -> bool:
        return self.up

    def shutdown(self) -> None:
        self.up = False


def _session(temp: Path, name: str, *, latest: bool = False) -> Path:
    folder = temp / name
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "raylet.out").write_text("raylet\n")
    if latest:
        (temp / leftovers.SESSION_LATEST).unlink(missing_ok=True)
        (temp / leftovers.SESSION_LATEST).symlink_to(folder)
    return folder


@pytest.fixture
def fake_ray(tmp_path, monkeypatch):
    def start(name: str, *, kind: str = ray_runtime.LOCAL, latest: bool = True, job: str = "01000000") -> tuple[_FakeRay, Path]:
        folder = _session(tmp_path, name, latest=latest)
        ray = _FakeRay(tmp_path, name, job=job)
        monkeypatch.setitem(sys.modules, "ray", ray)
        ray_runtime.record(address=None, kind=kind)
        return ray, folder

    monkeypatch.setattr(ray_runtime, "_started", None)
    return start


def test_the_session_of_a_runtime_the_command_started_goes_with_it(tmp_path, fake_ray):
    """Every CLI search left its Ray session folder (~290 KB; 1,612 of them, 755 MB, in one machine's
    /tmp/ray). The command's shutdown of a local runtime it started removes it, and Ray's
    ``session_latest`` link to it; another session's folder stays."""
    other = _session(tmp_path, "session_2026-12-08_00-00-00_000000_1")
    ray, folder = fake_ray("session_2026-12-08_01-02-03_456789_42")
    ray_runtime.shutdown(drop_session=True)
    assert not ray.up and not folder.exists() and not (tmp_path / leftovers.SESSION_LATEST).is_symlink()
    assert (other / "logs" / "raylet.out").is_file()


def test_the_session_stays_where_the_command_failed_or_did_not_start_the_runtime(tmp_path, fake_ray):
    """Kept: a failed command's (its logs), the warm runtime's and a cluster's (not the search's own),
    and a runtime the caller started since hpbench's (another connection)."""
    ray, folder = fake_ray("session_2026-12-08_01-00-00_000000_1")
    ray_runtime.shutdown(drop_session=False)
    assert not ray.up and folder.is_dir()
    for kind in (ray_runtime.WARM, ray_runtime.CLUSTER):
        ray, folder = fake_ray(f"session_2026-12-08_01-00-00_000000_{kind}", kind=kind)
        ray_runtime.shutdown(drop_session=True)
        assert not ray.up and folder.is_dir()
    ray, folder = fake_ray("session_2026-12-08_02-00-00_000000_2")
    sys.modules["ray"] = _FakeRay(tmp_path, folder.name, job="02000000")  # the caller's own ray.init() since
    ray_runtime.shutdown(drop_session=True)
    assert folder.is_dir() and (tmp_path / leftovers.SESSION_LATEST).resolve() == folder.resolve()


def test_only_a_session_folder_is_ever_removed(tmp_path):
    """Nothing but a folder named session_* (not the session_latest link, not a link to one)."""
    mine = _session(tmp_path, "session_2026-12-08_01-00-00_000000_1")
    (tmp_path / "other").mkdir()
    (tmp_path / "session_link").symlink_to(mine)
    for path in (tmp_path / "other", tmp_path / "session_link", tmp_path / leftovers.SESSION_LATEST, tmp_path):
        leftovers.remove_session(str(path))
    leftovers.remove_session("")
    assert (tmp_path / "other").is_dir() and (mine / "logs" / "raylet.out").is_file()
    other = _session(tmp_path, "session_2026-12-08_03-00-00_000000_3", latest=True)  # the newest session: another runtime's
    leftovers.remove_session(str(mine))
    assert not mine.exists() and (tmp_path / leftovers.SESSION_LATEST).resolve() == other.resolve()


def _stopped_before_recording(out: Path, *, extra: str = "", trials: bool = False, error: BaseException | None = None):
    """``_planned`` as far as its files go: the study record, optuna.db, Tune's folder, then a Ctrl-C (or ``error``)."""

    def planned(study, opts, plan, console):
        out.mkdir(parents=True, exist_ok=True)
        for name in ("study.json", "study.toml", "optuna.db", extra, "trials.parquet" if trials else ""):
            if name:
                (out / name).write_text("x")
        (out / ".ray" / "tune-1").mkdir(parents=True)
        (out / ".incoming").mkdir()
        raise error or KeyboardInterrupt()

    return planned


@pytest.mark.parametrize("case", ["made", "existed", "recorded", "other file", "failed"])
def test_a_search_that_recorded_nothing_leaves_no_folder_it_made(tmp_path, monkeypatch, write_study, case):
    """An interrupted search that recorded no trial said "nothing to resume" and kept study.json,
    study.toml, optuna.db and .ray. In a folder it made, they go, and the folder; a folder that was
    there before, one with a trial recorded, or one holding another file keeps its files; so does a
    search that failed (its record says what was tried)."""
    out = tmp_path / "results" / "tiny"
    if case == "existed":
        out.mkdir(parents=True)
    monkeypatch.setattr(runner, "plan_search", lambda study, opts: None)
    monkeypatch.setattr(runner, "_planned", _stopped_before_recording(out, extra="notes.txt" if case == "other file" else "",
                                                                        trials=case == "recorded",
                                                                        error=RuntimeError("Ray did not start") if case == "failed" else None))
    study = load_study(write_study(TINY_STUDY))
    with pytest.raises(RuntimeError if case == "failed" else KeyboardInterrupt):
        runner.run_search(study, SearchOptions(out=out))
    if case == "made":
        assert not (tmp_path / "results").exists()
    elif case == "other file":
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    else:
        assert {"study.json", "study.toml", "optuna.db", ".ray"} <= {p.name for p in out.iterdir()}


@pytest.mark.slow
def test_a_command_search_leaves_neither_its_ray_session_nor_tunes_folder(tmp_path):
    """A CLI search on a Ray of its own: its session folder is gone once it exits 0 (~290 KB each
    before), and so is RESULTS/.ray (Tune's snapshot and one empty folder per trial, never read)."""
    temp = Path(tempfile.mkdtemp(prefix="hpl", dir="/tmp"))  # short: Ray's socket paths live in its session folder
    try:
        study = tmp_path / "tiny.toml"
        study.write_text(TINY_STUDY, encoding="utf-8")
        out = tmp_path / "out"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(temp)}
        env.pop("RAY_ADDRESS", None)
        cmd = [sys.executable, "-m", "hpbench", "search", str(study), "--out", str(out), "--address", "local", "--num-cpus", "2",
               "--set", "study.trials=2", "--set", "train.max_epochs=1"]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (out / "trials.parquet").is_file()
        left = [p.name for p in (temp / "ray").iterdir()] if (temp / "ray").is_dir() else []
        sessions = [n for n in left if n.startswith(leftovers.SESSION_PREFIX)]
        assert (sessions, (out / leftovers.TUNE_DIR).exists()) == ([], False), left
    finally:
        shutil.rmtree(temp, ignore_errors=True)
