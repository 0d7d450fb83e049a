"""The Optuna storage of a search can be any SQLAlchemy URL: a real PostgreSQL server, started
by this test from Debian's ``postgresql`` package (skipped with the reason where it cannot)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import TINY_STUDY

pytestmark = pytest.mark.slow


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else (Path(shutil.which("initdb")).parent if shutil.which("initdb") else None)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A throwaway PostgreSQL cluster on a free port; yields its SQLAlchemy URL."""
    pytest.importorskip("psycopg2", reason="psycopg2 (the dev extra psycopg2-binary) is not installed")
    bin_ = _pg_bin()
    if bin_ is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does this)")
    # not under pytest's tmp dir: it is private to root, and the server runs as another user
    root = Path(tempfile.mkdtemp(prefix="hpbench-pg-"))
    data = root / "data"
    user = None
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the package's user
        user = "postgres"
        shutil.chown(root, user)
    run = (lambda cmd: subprocess.run(["runuser", "-u", user, "--", *cmd], check=True, capture_output=True, text=True)) if user \
        else (lambda cmd: subprocess.run(cmd, check=True, capture_output=True, text=True))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        run([str(bin_ / "initdb"), "-D", str(data), "-U", "hpbench", "--auth=trust"])
        run([str(bin_ / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
             f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"])
    except (subprocess.CalledProcessError, OSError) as err:
        detail = err.stderr if isinstance(err, subprocess.CalledProcessError) else err
        pytest.skip(f"PostgreSQL could not start here: {detail}")
    try:
        run([str(bin_ / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "hpbench", "hpbench"])
        yield f"postgresql+psycopg2://hpbench@127.0.0.1:{port}/hpbench"
    finally:
        run([str(bin_ / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(root, ignore_errors=True)


def test_search_records_the_study_in_postgres(postgres, ray_local, tmp_path):
    import optuna

    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.report.data import load_report
    from hpbench.report.matters import importance
    from hpbench.study.parse import load_study

    src = tmp_path / "tiny.toml"
    src.write_text(TINY_STUDY)
    study = load_study(src)
    out = tmp_path / "results"
    run_search(study, SearchOptions(out=out, num_cpus=2, optuna_storage=postgres), console=Console(file=StringIO()))
    loaded = optuna.load_study(study_name="tiny", storage=postgres)  # what optuna-dashboard does
    done = [t for t in loaded.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 4 and all(set(t.params) == {"optimizer", "lr"} for t in done)
    assert not (out / "optuna.db").exists()
    imp = importance(load_report(out, storage=postgres))
    assert imp["available"] and set(imp["scores"]) == {"optimizer", "lr"}


def _holder(url: str, name: str):
    """Another live search of study ``name``: it holds the name and has a trial running."""
    code = ("import sys, time, optuna\n"
            "from hpbench.dispatch.study_lock import hold_study_name\n"
            "optuna.logging.set_verbosity(optuna.logging.WARNING)\n"
            "with hold_study_name(sys.argv[1], sys.argv[2]):\n"
            "    s = optuna.create_study(study_name=sys.argv[2], storage=sys.argv[1], load_if_exists=True, direction='maximize')\n"
            "    s.ask()\n"
            "    print('running', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, url, name], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "running"
    return proc


def _states(url: str, name: str) -> list[str]:
    import optuna

    return [t.state.name for t in optuna.load_study(study_name=name, storage=url).trials]


def test_the_same_study_name_twice_on_one_storage_is_refused_and_touches_nothing(postgres, tmp_path):
    """A second search of a name that a live search records in the storage: exit 2 before
    anything starts, and the live search's running trial is left running (settling it as failed
    was the old behaviour). Once that search is gone, the name is free again."""
    from typer.testing import CliRunner

    from hpbench.cli import app

    src = tmp_path / "tiny.toml"
    src.write_text(TINY_STUDY.replace('name = "tiny"', 'name = "shared"'))
    live = _holder(postgres, "shared")
    try:
        res = CliRunner().invoke(app, ["search", str(src), "--out", str(tmp_path / "out"), "--storage", postgres])
        flat = " ".join(res.output.split())
        assert res.exit_code == 2, res.output
        assert "another search is recording study 'shared'" in flat and "hpbench@" not in flat.split("storage ")[-1], flat
        assert not (tmp_path / "out").exists()
        assert _states(postgres, "shared") == ["RUNNING"]
    finally:
        live.kill()
        live.wait(timeout=60)
    from hpbench.dispatch.study_lock import hold_study_name

    with hold_study_name(postgres, "shared"):  # the dead search's hold went with its connection
        pass


def test_searches_with_other_names_on_one_storage_leave_each_other_alone(postgres, ray_local, tmp_path):
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import load_study

    live = _holder(postgres, "neighbour")
    try:
        src = tmp_path / "tiny.toml"
        src.write_text(TINY_STUDY.replace('name = "tiny"', 'name = "mine"'))
        run_search(load_study(src), SearchOptions(out=tmp_path / "out", num_cpus=2, optuna_storage=postgres), console=Console(file=StringIO()))
        assert _states(postgres, "neighbour") == ["RUNNING"]  # the other search's running trial untouched
        assert _states(postgres, "mine").count("COMPLETE") == 4
    finally:
        live.kill()
        live.wait(timeout=60)
