"""A real two-node Ray cluster on this machine: ``hpbench search --address`` runs a study
through it, and the results show trials on both nodes.

The cluster runs under ``ray start --block`` in its own process groups, and the test kills
exactly those groups (even on failure). ``ray stop --force`` would also stop every other
Ray runtime on the machine (other users' tests), so it is not used.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_nodes(address: str, n: int, env: dict[str, str], timeout: float = 90) -> None:
    code = (
        "import ray, sys, time\n"
        f"ray.init(address={address!r}, logging_level='ERROR', log_to_driver=False)\n"
        f"deadline = time.time() + {timeout}\n"
        f"while len([n for n in ray.nodes() if n['Alive']]) < {n} and time.time() < deadline: time.sleep(0.5)\n"
        f"sys.exit(0 if len([n for n in ray.nodes() if n['Alive']]) >= {n} else 1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout + 60)
    assert proc.returncode == 0, f"cluster did not come up with {n} nodes: {proc.stderr[-2000:]}"


@pytest.fixture
def two_node_cluster():
    tmp = Path(tempfile.mkdtemp(prefix="hpbc-", dir="/tmp"))  # short: Ray's socket paths are limited
    port = free_port()
    address = f"127.0.0.1:{port}"
    # a token of the test's own: a fresh machine has no ~/.ray/auth_token, and the test must not write one there
    token = tmp / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus", "1", "--num-gpus", "0", "--disable-usage-stats", "--block"]
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(
            [RAY, "start", "--head", "--port", str(port), "--temp-dir", str(tmp / "head"), "--include-dashboard", "false",
             "--node-ip-address", "127.0.0.1", *common],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(5)
        procs.append(subprocess.Popen(
            [RAY, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for_nodes(address, 2, env)
        yield address, env
    finally:
        for p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        time.sleep(2)
        for p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)


def test_device_auto_follows_the_trials_gpu_share():
    """CPU-only check of GPU placement: ``auto`` picks cuda exactly when Ray gave the trial a GPU."""
    from hpbench.dispatch.trainable import place
    from hpbench.study.parse import parse_study
    from hpbench.study.resolve import trial_config

    raw = {"study": {"name": "g", "mode": "max", "metric": "val_accuracy"}, "data": {"dataset": "digits"},
           "model": {"family": "mlp"}, "train": {"device": "auto"}, "resources": {"gpus_per_trial": 0.25}}
    study = parse_study(raw)
    assert study.resources.gpus_per_trial == 0.25
    cfg = trial_config(study, {})
    assert place(cfg, ["0"]).train.device == "cuda"
    assert place(cfg, []).train.device == "cpu"
    fixed = trial_config(parse_study({**raw, "train": {"device": "cpu"}}), {})
    assert place(fixed, ["0"]).train.device == "cpu"


@pytest.mark.slow
@pytest.mark.cluster
def test_search_through_a_two_node_cluster_uses_both_nodes(two_node_cluster, tmp_path):
    address, env = two_node_cluster
    study = tmp_path / "cluster.toml"
    study.write_text("""
[study]
name = "cluster"
metric = "val_accuracy"
mode = "max"
trials = 4
searcher = "random"
scheduler = "none"
max_concurrent = 2

[data]
dataset = "digits"

[model]
family = "mlp"
depth = 1
width = 16

[train]
max_epochs = 4
batch_size = 64

[resources]
cpus_per_trial = 1

[space]
lr = { loguniform = [1e-3, 1e-1] }
""", encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "hpbench.cli", "search", str(study), "--address", address, "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import hpbench

    trials = hpbench.load(out)
    assert len(trials) == 4 and (trials["status"] == "finished").all()
    assert trials["node_id"].notna().all()
    assert trials["node_id"].nunique() == 2, trials[["trial", "node_id", "pid"]]


@pytest.mark.slow
@pytest.mark.cluster
def test_a_refused_join_is_one_line_without_rays_core_log(two_node_cluster, tmp_path):
    """Bug hunt s48/h2, finding 2: a token cluster joined without RAY_AUTH_MODE printed ~20 of Ray's
    C++ warnings ("gcs_client.cc:210: Failed to get cluster ID from GCS server: Unauthenticated"),
    one a second, before hpbench's one-line refusal. Now only that line, exit 2."""
    address, env = two_node_cluster
    env = {k: v for k, v in env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    study = tmp_path / "join.toml"
    study.write_text('[study]\nname = "join"\nmetric = "val_accuracy"\nmode = "max"\ntrials = 2\n\n[data]\ndataset = "digits"\n\n'
                     '[model]\nfamily = "mlp"\n\n[space]\nlr = { loguniform = [1e-3, 1e-1] }\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "hpbench.cli", "search", str(study), "--address", address, "--out", str(tmp_path / "out"), "--no-preflight"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    said = proc.stdout + proc.stderr
    assert proc.returncode == 2, said[-3000:]
    assert "cannot join the Ray cluster there" in said and "RAY_AUTH_MODE=token" in said
    assert "gcs_client" not in said and "Failed to get cluster ID" not in said, said[-3000:]
