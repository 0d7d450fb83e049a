"""Data larger than memory, measured.

(a) Memory. A memory-mapped-size dataset of at least 4 GiB (``.npy``: N signals of 4 channels x
    256 samples, float32, generated from a seed and written chunk by chunk) is searched by
    ``hpbench search`` in a fresh process: 2 trials of one epoch each, at concurrency 2
    (streamed: ``[data] stream = true``, ``num_workers`` DataLoader workers per trial). A monitor
    polls ``/proc`` every 0.1 s for the driver and every process below it and keeps each one's
    peak resident set (``VmHWM``, the kernel's own high-water mark; file pages read through
    ``pread`` stay in the page cache and do not count). Reported: the driver, each trial
    process (Ray's ``ImplicitFunc`` actors), their DataLoader workers and Ray's own processes.
    Targets: each trial process < 1.5 GiB, the driver < 600 MiB.

(b) Speed. On the same file, steps/s of hpbench's streaming path (the trainer's own
    ``Prepared.train_batches`` + ``train_batches``: DataLoader over batched ``pread`` fetches)
    vs hand-written DataLoader loops over the same data, same model, optimizer, batch size,
    workers and threads, interleaved repeats (alternating which runs first), median of the
    paired ratios. Two hand loops: the per-item ``Dataset`` over ``np.load(mmap_mode="r")``
    that PyTorch's tutorials write, and one with the same batched fetch as hpbench (the
    strongest baseline). Target: hpbench >= 0.95 x the faster hand loop.

The generated files are deleted at the end (also on failure).

    .venv/bin/python benchmarks/data.py              # writes results/benchmarks/data.{json,md}
    .venv/bin/python benchmarks/data.py --gib 0.25   # a quick dry run on a smaller file
    .venv/bin/python benchmarks/data.py --parts b --gib 1 --repeats 9   # (b) again; (a) kept from the last run
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks"
C, L = 4, 256  # one sample: 4 channels x 256 steps of float32 = 4 KiB
CLASSES = 4
TRIAL_LIMIT_MIB, DRIVER_LIMIT_MIB, TARGET_RATIO = 1536, 600, 0.95
MODEL = {"conv_depth": 2, "channels": 8, "kernel": 5, "width": 32}

STUDY = """
[study]
name = "data-bench"
seed = 0
metric = "val_accuracy"
trials = 2
searcher = "random"
scheduler = "none"
max_concurrent = 2

[data]
x = "{x}"
y = "{y}"
stream = true
num_workers = {workers}
val_fraction = 0.05

[model]
family = "cnn"
conv_depth = 2
channels = 8
kernel = 5
width = 32

[train]
max_epochs = 1
batch_size = {batch}

[space]
lr = {{ choice = [0.003, 0.001] }}
"""


def generate(folder: Path, *, gib: float, seed: int = 0) -> tuple[Path, Path, int]:
    """x.npy (n, 4, 256) float32 and y.npy (n,): a class's template waveform at a random
    amplitude under Gaussian noise, written chunk by chunk (never held whole in memory)."""
    n = int(gib * 2**30 // (C * L * 4))
    rng = np.random.default_rng(seed)
    t = np.arange(L) / L
    templates = np.stack([np.stack([np.sin(2 * np.pi * (k + 1) * (t + c / C)) for c in range(C)]) for k in range(CLASSES)]).astype(np.float32)
    y = rng.integers(0, CLASSES, n)
    x_path, y_path = folder / "x.npy", folder / "y.npy"
    np.save(y_path, y)
    with open(x_path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n, C, L)})
        for a in range(0, n, 65536):
            yc = y[a : a + 65536]
            chunk = templates[yc] * rng.uniform(0.5, 1.5, (len(yc), 1, 1)).astype(np.float32)
            chunk += rng.standard_normal(chunk.shape, dtype=np.float32)
            f.write(chunk.tobytes())
    return x_path, y_path, n


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class Monitor(threading.Thread):
    """Peak RSS (VmHWM, MiB) of a process and every process below it, polled every 0.1 s."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak: dict[int, float] = {}
        self.parent: dict[int, int] = {}
        self.cmd: dict[int, str] = {}
        self.stop = threading.Event()

    def _tree(self) -> list[int]:
        kids: dict[int, list[int]] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                st = _status(int(d))
                if "PPid" in st:
                    kids.setdefault(int(st["PPid"]), []).append(int(d))
        out, todo = [], [self.root]
        while todo:
            p = todo.pop()
            out.append(p)
            todo += kids.get(p, [])
        return out

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in self._tree():
                st = _status(pid)
                if "VmHWM" not in st:
                    continue
                self.peak[pid] = max(self.peak.get(pid, 0.0), int(st["VmHWM"].split()[0]) / 1024)
                self.parent[pid] = int(st["PPid"])
                cmd = _cmdline(pid)
                if cmd:
                    self.cmd[pid] = cmd
            self.stop.wait(0.1)

    def groups(self) -> dict[str, list[dict[str, Any]]]:
        trials = {p for p, c in self.cmd.items() if "ImplicitFunc" in c and "ImplicitFunc" not in self.cmd.get(self.parent.get(p, 0), "")}
        out: dict[str, list[dict[str, Any]]] = {"driver": [], "trial": [], "dataloader_worker": [], "other": []}
        for pid, peak in sorted(self.peak.items()):
            group = ("driver" if pid == self.root else "trial" if pid in trials
                     else "dataloader_worker" if self.parent.get(pid) in trials else "other")
            out[group].append({"pid": pid, "peak_mib": round(peak, 1), "cmd": self.cmd.get(pid, "")[:80]})
        return out


def memory_run(x: Path, y: Path, *, workers: int, batch: int, work: Path) -> dict[str, Any]:
    study = work / "data-bench.toml"
    study.write_text(STUDY.format(x=x, y=y, workers=workers, batch=batch))
    out = work / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "hpbench.cli", "search", str(study), "--out", str(out), "--num-cpus", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    mon = Monitor(proc.pid)
    mon.start()
    stdout, stderr = proc.communicate()
    mon.stop.set()
    mon.join()
    wall = time.time() - t0
    if proc.returncode != 0:
        sys.exit(f"search failed ({proc.returncode}):\n{stdout[-3000:]}\n{stderr[-3000:]}")
    import pandas as pd

    trials = pd.read_parquet(out / "trials.parquet")
    groups = mon.groups()
    return {
        "wall_s": wall, "trials": len(trials), "status": trials["status"].tolist(),
        "best_val_accuracy": trials["best_val_accuracy"].tolist(), "train_s": trials["train_s"].tolist(),
        "driver_peak_mib": max(p["peak_mib"] for p in groups["driver"]),
        "trial_peak_mib": [p["peak_mib"] for p in groups["trial"]],
        "dataloader_worker_peak_mib": [p["peak_mib"] for p in groups["dataloader_worker"]],
        "processes": groups,
    }


# -- (b) steps/s ---------------------------------------------------------------------------------
def _model_and_opt(seed: int = 0) -> tuple[Any, Any]:
    import torch

    from hpbench.models import build_model

    torch.manual_seed(seed)
    model = build_model("cnn", input_shape=(C, L), n_outputs=CLASSES, params=MODEL, kind="signal")
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


class PerItem:
    """The hand-written Dataset of PyTorch's tutorials: one memory-mapped row per item."""

    def __init__(self, x: Path, y: Path) -> None:
        self.x = np.load(x, mmap_mode="r")
        self.y = np.load(y)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> Any:
        import torch

        return torch.from_numpy(np.array(self.x[i])), int(self.y[i])


class Batched(PerItem):
    """A hand-written Dataset fetching a whole batch of rows per call (``__getitems__``)."""

    def __getitems__(self, idx: list[int]) -> Any:
        import torch

        rows = np.sort(np.asarray(idx))
        return [(torch.from_numpy(np.ascontiguousarray(self.x[rows])), torch.from_numpy(self.y[rows]))]

    @staticmethod
    def collate(batch: Any) -> Any:
        return batch[0]


def hand_loop(kind: str, x: Path, y: Path, *, steps: int, batch: int, workers: int) -> float:
    """steps/s of a hand-written DataLoader loop over the first ``steps`` batches of a shuffled epoch."""
    import torch
    from torch.utils.data import DataLoader

    ds = PerItem(x, y) if kind == "per_item" else Batched(x, y)
    kw: dict[str, Any] = {"collate_fn": Batched.collate} if kind == "batched" else {}
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0,
                        generator=torch.Generator().manual_seed(0), **kw)
    model, opt = _model_and_opt()
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    it = iter(loader)
    xb, yb = next(it)  # the workers' start is not a step
    t0 = time.perf_counter()
    for xb, yb in itertools.islice(it, steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def hpbench_loop(x: Path, y: Path, *, steps: int, batch: int, workers: int) -> float:
    """steps/s of the trainer's own streaming path over the first ``steps`` batches of an epoch."""
    import torch

    from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig
    from hpbench.train.build import build, load_data
    from hpbench.train.epoch import train_batches
    from hpbench.train.precision import MixedPrecision
    from hpbench.train.tasks import loss_fn

    cfg = TrialConfig(seed=0, data=DataConfig(dataset=str(x), options={"y": str(y)}, stream=True, num_workers=workers, val_fraction=0.05),
                      model=ModelConfig(family="cnn", params=MODEL), optimizer=OptimizerConfig(name="adam", lr=1e-3),
                      train=TrainConfig(max_epochs=1, batch_size=batch), metric="val_accuracy", mode="max")
    data = load_data(cfg, torch.device("cpu"))
    model = build(cfg, data.splits, torch.device("cpu"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = data.train_batches(batch, torch.Generator().manual_seed(0))
    next(batches)  # the workers' start is not a step
    t0 = time.perf_counter()
    train_batches(model, opt, batches=itertools.islice(batches, steps), loss_fn=loss_fn("multiclass"), precision=MixedPrecision.of("fp32", torch.device("cpu")))
    return steps / (time.perf_counter() - t0)


def speed_run(x: Path, y: Path, *, steps: int, batch: int, workers: int, repeats: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    sides = {"hpbench": lambda: hpbench_loop(x, y, steps=steps, batch=batch, workers=workers),
             "hand_per_item": lambda: hand_loop("per_item", x, y, steps=steps, batch=batch, workers=workers),
             "hand_batched": lambda: hand_loop("batched", x, y, steps=steps, batch=batch, workers=workers)}
    for fn in sides.values():  # warm up: page cache, allocator, first-call overheads
        fn()
    rates: dict[str, list[float]] = {k: [] for k in sides}
    for rep in range(repeats):
        order = list(sides.items()) if rep % 2 == 0 else list(sides.items())[::-1]
        for name, fn in order:
            rates[name].append(fn())
    best_hand = max(("hand_per_item", "hand_batched"), key=lambda k: statistics.median(rates[k]))
    ratio = statistics.median(a / b for a, b in zip(rates["hpbench"], rates[best_hand], strict=True))
    return {"steps": steps, "batch_size": batch, "num_workers": workers, "repeats": repeats, "threads": 1,
            "steps_per_s": {k: statistics.median(v) for k, v in rates.items()}, "runs": rates,
            "ratio_vs_best_hand": ratio, "best_hand": best_hand,
            "ratio_vs_per_item": statistics.median(a / b for a, b in zip(rates["hpbench"], rates["hand_per_item"], strict=True)),
            "meets_target": ratio >= TARGET_RATIO}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gib", type=float, default=4.0, help="size of the generated inputs (the issue: at least 4 GiB)")
    ap.add_argument("--workers", type=int, default=1, help="DataLoader workers per trial ([data] num_workers)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=200, help="(b): training steps per timed run")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None, help="where to write the generated files (default: a temporary folder)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--parts", choices=("ab", "a", "b"), default="ab", help="run (a), (b) or both; a part not run is kept from the last data.json")
    ap.add_argument("--render", action="store_true", help="only rewrite data.md from data.json")
    args = ap.parse_args()
    if args.render:
        (args.out / "data.md").write_text("\n".join(render(json.loads((args.out / "data.json").read_text(encoding="utf-8")))) + "\n",
                                          encoding="utf-8")
        return
    previous = json.loads((args.out / "data.json").read_text(encoding="utf-8")) if (args.out / "data.json").is_file() else {}
    if args.parts != "ab" and not previous:
        sys.exit(f"--parts {args.parts}: no earlier {args.out / 'data.json'} to take the other part from")
    work = Path(tempfile.mkdtemp(prefix="hpbench-data-", dir=args.dir))
    t_start = time.perf_counter()
    try:
        t0 = time.perf_counter()
        x, y, n = generate(work, gib=args.gib)
        gen_s = time.perf_counter() - t0
        size = x.stat().st_size
        print(f"generated {x} ({size / 2**30:.2f} GiB, {n} samples of {C}x{L}) in {gen_s:.1f} s", flush=True)
        memory = memory_run(x, y, workers=args.workers, batch=args.batch, work=work) if "a" in args.parts else \
            {"file_gib": round(previous["file_bytes"] / 2**30, 2), **previous["memory"], "from_run": previous.get("run", {"at": "earlier"})}
        print(f"(a) search: {memory['wall_s']:.1f} s; driver peak {memory['driver_peak_mib']:.0f} MiB; trial peaks "
              f"{memory['trial_peak_mib']} MiB; DataLoader workers {memory['dataloader_worker_peak_mib']} MiB", flush=True)
        speed = speed_run(x, y, steps=args.steps, batch=args.batch, workers=args.workers, repeats=args.repeats) if "b" in args.parts else \
            {"file_gib": round(previous["file_bytes"] / 2**30, 2), **previous["speed"], "from_run": previous.get("run", {"at": "earlier"})}
        speed.setdefault("file_gib", round(size / 2**30, 2))
        print(f"(b) steps/s {speed['steps_per_s']}; hpbench / {speed['best_hand']} = {speed['ratio_vs_best_hand']:.3f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    memory.setdefault("file_gib", round(size / 2**30, 2))
    memory["meets_target"] = {"driver": memory["driver_peak_mib"] < DRIVER_LIMIT_MIB,
                              "trials": bool(memory["trial_peak_mib"]) and max(memory["trial_peak_mib"]) < TRIAL_LIMIT_MIB}
    import torch

    result = {"benchmark": "data", "file_bytes": size, "samples": n, "sample_shape": [C, L], "generate_s": gen_s,
              "torch": torch.__version__, "machine": platform.machine(), "cpus": os.cpu_count(),
              "targets": {"trial_peak_mib": TRIAL_LIMIT_MIB, "driver_peak_mib": DRIVER_LIMIT_MIB, "steps_ratio": TARGET_RATIO},
              "memory": memory, "speed": speed, "wall_s": time.perf_counter() - t_start, "files_deleted": not work.exists(),
              "run": {"parts": args.parts, "at": time.strftime("%Y-%m-%d %H:%M:%S"), "load_average": os.getloadavg()}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "data.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = render(result)
    (args.out / "data.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"\nwall {result['wall_s']:.0f} s; wrote {args.out / 'data.json'} and {args.out / 'data.md'}; generated files deleted: {result['files_deleted']}")


def render(result: dict[str, Any]) -> list[str]:
    """The Markdown report of a data.json (what ``--render`` rewrites data.md from)."""
    memory, speed = result["memory"], result["speed"]
    s, runs = speed["steps_per_s"], speed["runs"]

    def paired(other: str) -> str:
        r = sorted(a / b for a, b in zip(runs["hpbench"], runs[other], strict=True))
        return f"{statistics.median(r):.3f} (pairs {r[0]:.2f}-{r[-1]:.2f})"

    def when(part: dict[str, Any]) -> str:
        run = part.get("from_run") or result.get("run", {})
        load = run.get("load_average")
        return f"run of {run.get('at', '?')}" + (f", load average {load[0]:.1f}" if load else "")

    return [
        f"# Data benchmark (samples of {C}x{L} float32; CPU, torch {result['torch']}, {result['cpus']} cores)",
        "",
        f"(a) `hpbench search` on a {memory['file_gib']:.2f} GiB .npy, 2 trials x 1 epoch at concurrency 2, streamed with "
        f"DataLoader workers: {memory['wall_s']:.0f} s ({when(memory)})",
        "",
        "| process | peak RSS (MiB) | target |",
        "|---|---:|---|",
        f"| driver | {memory['driver_peak_mib']:.0f} | < {DRIVER_LIMIT_MIB} |",
        *[f"| trial process {i + 1} | {v:.0f} | < {TRIAL_LIMIT_MIB} |" for i, v in enumerate(memory["trial_peak_mib"])],
        *[f"| DataLoader worker {i + 1} | {v:.0f} | |" for i, v in enumerate(memory["dataloader_worker_peak_mib"])],
        "",
        f"(b) steps/s over a {speed['file_gib']:.2f} GiB .npy ({speed['steps']} steps per run, batch {speed['batch_size']}, "
        f"{speed['num_workers']} DataLoader worker(s), 1 thread, median of {speed['repeats']} interleaved repeats; {when(speed)}):",
        "",
        "| loop | steps/s |",
        "|---|---:|",
        f"| hpbench (trainer's streaming path) | {s['hpbench']:.1f} |",
        f"| hand-written, per-item Dataset over np.load(mmap_mode='r') | {s['hand_per_item']:.1f} |",
        f"| hand-written, batched fetch | {s['hand_batched']:.1f} |",
        "",
        f"paired ratio hpbench / best hand loop ({speed['best_hand']}): **{speed['ratio_vs_best_hand']:.3f}** (target >= {TARGET_RATIO}); "
        f"median of the paired ratios vs the per-item loop {paired('hand_per_item')}, vs the batched loop {paired('hand_batched')}",
    ]


if __name__ == "__main__":
    main()
