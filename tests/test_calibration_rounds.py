"""A repeatable calibration (issue 13): micro-benchmarks and probe epochs in interleaved rounds,
combined per figure (fastest or median), and the suite's fit held within bounds, so that a
degenerate design matrix cannot trade one collinear term for another; the cache schema moves
with it (an older cache is measured again)."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest

from hpbench.cost import microbench as mb
from hpbench.cost.device import SCHEMA, DeviceModel
from hpbench.cost.fit import ANCHORED_MEMORY, ANCHORED_OPS, bounds, fit_coef
from hpbench.cost.predict import FEATURES, seconds


def test_interleaved_rounds_spread_a_burst_over_figures():
    calls: list[str] = []
    own = {"a": 1.0, "b": 2.0, "c": 4.0}
    burst = range(0, 3)  # the first three calls of the calibration meet another process's burst

    def measure(name: str) -> float:
        calls.append(name)
        return own[name] * (3.0 if len(calls) - 1 in burst else 1.0)

    got = mb.interleaved({k: (lambda k=k: measure(k)) for k in own}, rounds=3)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # each round takes each once, the order rotated
    assert {k: len(v) for k, v in got.items()} == {"a": 3, "b": 3, "c": 3}
    # the burst took one sample of each figure: the fastest and the median of every figure are its own value
    assert {k: min(v) for k, v in got.items()} == own
    assert {k: sorted(v)[1] for k, v in got.items()} == own
    # back to back (each figure's samples in a row, as before), the same burst takes every sample of one figure
    calls.clear()
    back_to_back = {k: [measure(k) for _ in range(3)] for k in own}
    assert min(back_to_back["a"]) == 3.0 * own["a"]
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        mb.interleaved({"a": lambda: 1.0}, rounds=0)


def test_rounds_are_combined_element_wise():
    rounds = [(1.0, 5.0, 3.0), (2.0, 4.0, 9.0), (3.0, 1.0, 6.0)]
    assert mb.fastest_rates(rounds) == (3.0, 5.0, 9.0)
    assert mb.median_rates(rounds) == (2.0, 4.0, 6.0)
    for f in (mb.fastest_rates, mb.median_rates):
        with pytest.raises(ValueError, match="rounds of equal length"):
            f([(1.0,), (1.0, 2.0)])
        with pytest.raises(ValueError, match="rounds of equal length"):
            f([])


def test_a_small_sizes_spike_is_not_carried_to_the_larger_sizes():
    """The square-matmul curve made monotone from its largest size down: one small size read 10x
    too fast (its call less an overhead measured at another moment) no longer becomes the peak."""
    spiked = (8e9, 60e9, 321e9, 90e9, 100e9, 104e9)
    assert mb.monotone_from_above(spiked) == (8e9, 60e9, 90e9, 90e9, 100e9, 104e9)
    assert mb.monotone_from_above((3.0, 2.0, 1.0)) == (1.0, 1.0, 1.0)
    assert mb.capped((1e9, 3e11, 5e10), ceiling=1.1e11) == (1e9, 1.1e11, 5e10)


def test_the_micro_benchmarks_take_each_figure_at_its_fastest_or_median_round(monkeypatch):
    """Compute kernels and the dispatch floor at their fastest round; the copy bandwidth and its
    curve at their median round (their measurement functions replaced by fixed sequences)."""
    from hpbench.cost import calibrate as C

    seq = {name: iter(vals) for name, vals in {
        "overhead": [3e-6, 1e-6, 2e-6], "bandwidth": [10e9, 40e9, 20e9],
        "matmul": [(1e9, 2e9), (3e9, 1e9), (2e9, 4e9)], "conv": [(5e9,), (7e9,), (6e9,)], "conv_bwd": [(1e9,), (9e9,), (2e9,)],
        "curve": [(8e9, 1e9), (6e9, 3e9), (7e9, 2e9)], "att": [3.0, 1.0, 2.0]}.items()}
    seen: dict[str, float] = {}

    def matmul(*, device, sizes, overhead_s, repeats):
        seen["matmul overhead"] = overhead_s
        return (1.0, 2.0), next(seq["matmul"])

    shapes = math.prod(len(ax) for ax in mb.ATTENTION_GRID_CPU)
    monkeypatch.setattr(mb, "measure_overhead", lambda *, device, repeats: next(seq["overhead"]))
    monkeypatch.setattr(mb, "measure_bandwidth", lambda *, device, repeats: next(seq["bandwidth"]))
    monkeypatch.setattr(mb, "measure_matmul", matmul)
    monkeypatch.setattr(mb, "measure_conv", lambda *, device, overhead_s: ((7.0,), next(seq["conv"]), next(seq["conv_bwd"])))
    monkeypatch.setattr(mb, "measure_bandwidth_curve", lambda *, device, overhead_s, repeats: ((1.0, 2.0), next(seq["curve"])))
    factors: list[float] = []

    def attention(*, device, axes, overhead_s):
        factors.append(next(seq["att"]))
        fwd = tuple(factors[-1] * (1e-9 + 1e-11 * d) for _bh, _t, d in itertools.product(*mb.ATTENTION_GRID_CPU))
        return fwd, tuple(2 * s for s in fwd)

    monkeypatch.setattr(mb, "attention_grid_seconds", attention)
    got = C.micro_benchmarks(device="cpu", rounds=3)
    assert got["op_overhead_s"] == 1e-6 and seen["matmul overhead"] == 1e-6  # the kernels' rates exclude the fastest floor
    assert got["bandwidth_bytes_per_s"] == 20e9
    assert got["matmul_flops"] == (1.0, 2.0) and got["matmul_flops_per_s"] == (3e9, 4e9) and got["peak_flops_per_s"] == 4e9
    assert got["conv_flops"] == (7.0,) and got["conv_flops_per_s"] == (7e9,) and got["conv_backward_flops_per_s"] == (9e9,)
    assert got["bandwidth_bytes"] == (1.0, 2.0) and got["bandwidth_curve"] == (7e9, 2e9)
    assert factors == [3.0, 1.0, 2.0] and shapes > 2
    fastest = tuple(1e-9 + 1e-11 * d for _bh, _t, d in itertools.product(*mb.ATTENTION_GRID_CPU))  # the fastest round's seconds per score
    assert got["attention_grid"] == mb.ATTENTION_GRID_CPU
    assert got["attention_grid_s"] == (pytest.approx(fastest, rel=1e-9), pytest.approx(tuple(2 * s for s in fastest), rel=1e-9))
    DeviceModel(device="cpu", name="x", threads=1, **got)  # the fields of a device model


def test_each_probe_is_timed_once_per_round_and_its_first_epoch_apart(monkeypatch):
    """measure_rows: every probe's first epoch, then one epoch of every probe per round; a row's
    time is its fastest round (real epochs of two tiny probes)."""
    from hpbench.cost import suite

    order: list[int] = []
    real = suite.probe_epoch

    def counted(p, *, device):
        epoch = real(p, device=device)
        i = len(order_keys)
        order_keys.append(p)

        def timed() -> float:
            order.append(i)
            return epoch()

        return timed

    order_keys: list[object] = []
    monkeypatch.setattr(suite, "probe_epoch", counted)
    probes = (suite.Probe(kind="mlp", n_in=8, depth=1, width=8, batch_size=16, n_train=64, n_val=16),
              suite.Probe(kind="cnn", n_in=8, depth=1, width=4, batch_size=16, n_train=32, n_val=8))
    base = DeviceModel(device="cpu", name="x", threads=1, matmul_flops=(1.0,), matmul_flops_per_s=(1e9,), peak_flops_per_s=1e9)
    rows = suite.measure_rows(base, device="cpu", probes=probes, rounds=3)
    assert order == [0, 1, 0, 1, 1, 0, 0, 1]  # first epochs, then three rounds (rotated)
    assert len(rows) == 2 and all(t > 0 and first > 0 and f["epoch"] == 1.0 for f, t, first in rows)


def _degenerate_suite(true: dict[str, float], n: int = 24) -> list[tuple[dict[str, float], float]]:
    """Probes whose op, backward-op, no-grad-op, module and step counts are all proportional to
    their steps, and whose memory terms are proportional to one another (one column each, as in a
    suite of small networks of one shape): only sums of those coefficients are defined."""
    rng = random.Random(3)
    rows = []
    for _ in range(n):
        steps = rng.choice((5, 20, 60, 200))
        mem = rng.uniform(1e-5, 3e-3)
        f = dict.fromkeys(FEATURES, 0.0) | {"epoch": 1.0, "step": float(steps), "matmul": rng.uniform(1e-4, 5e-2), "memory": mem,
                                             "op": 10.0 * steps, "op_backward": 20.0 * steps, "op_nograd": 5.0 * steps, "module": 4.0 * steps,
                                             "memory_strided": 0.3 * mem, "memory_optimizer": 0.5 * mem, "recurrent": rng.uniform(0, 1e-2)}
        rows.append((f, seconds(f, true) * rng.uniform(0.97, 1.03)))  # and some noise
    return rows


def test_a_degenerate_design_yields_bounded_coefficients():
    floor = 1e-6
    base = DeviceModel(device="cpu", name="x", threads=1, op_overhead_s=floor)
    limits = bounds(base)
    true = {"epoch": 3e-4, "step": 2e-5, "module": 3e-6, "op": 4 * floor, "op_backward": 2 * floor, "op_nograd": 3 * floor,
            "view": 0.0, "matmul": 1.0, "conv": 1.0, "recurrent": 1.2, "memory": 8.0, "memory_strided": 20.0, "memory_optimizer": 1.5,
            "random": 1.0, "activation": 1.0}
    rows = _degenerate_suite(true)
    coef, err = fit_coef(rows, limits=limits)
    assert err < 0.05  # still prices the suite
    for k, (lo, hi) in limits.items():
        assert lo * (1 - 1e-9) <= coef[k] <= hi * (1 + 1e-9), (k, coef[k], lo, hi)

    assert all(coef[k] >= 0.5 * floor for k in ANCHORED_OPS) and all(coef[k] >= 1.0 for k in ANCHORED_MEMORY)
    assert all(v >= 0.0 for v in coef.values())  # never below 0 (a cached model with a negative coefficient is measured again)
    assert coef["matmul"] == 1.0 and coef["conv"] == 1.0
    # where the truth is inside the bounds and the design is not degenerate, the bounds change nothing
    rng = random.Random(5)
    well = [(f | {"op": f["step"] * rng.uniform(5, 40), "op_backward": f["step"] * rng.uniform(5, 80), "op_nograd": f["step"] * rng.uniform(2, 30),
                  "module": f["step"] * rng.uniform(1, 9), "memory_strided": f["memory"] * rng.uniform(0, 1),
                  "memory_optimizer": f["memory"] * rng.uniform(0, 2)}, 0.0) for f, _ in rows]
    well = [(f, seconds(f, true)) for f, _ in well]
    got, err = fit_coef(well, limits=limits)
    assert err < 1e-6
    for k in FEATURES:
        assert got[k] == pytest.approx(true[k], rel=1e-4, abs=1e-12), k
    # times that read a per-op cost below half the dispatch floor: the free fit follows them, the bounded one holds the floor's half
    low = [(f, seconds(f, true | {"op": 0.1 * floor})) for f, _ in well]
    assert fit_coef(low)[0]["op"] == pytest.approx(0.1 * floor, rel=1e-4)
    assert fit_coef(low, limits=limits)[0]["op"] == pytest.approx(0.5 * floor, rel=1e-6)
    with pytest.raises(ValueError, match="low <= high"):
        fit_coef(rows, limits={"op": (2.0, 1.0)})


def test_a_cache_of_an_older_schema_is_measured_again(monkeypatch, tmp_path):
    from hpbench.cost import calibrate as C

    fresh = DeviceModel(device="cpu", name="fresh", threads=1, matmul_flops=(1.0,), matmul_flops_per_s=(1e9,), peak_flops_per_s=1e9,
                        versions=C.identity("cpu"))
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(C, "calibrate", lambda **kw: calls.append(kw) or fresh)
    monkeypatch.setenv(C.WORKER_THREAD_ENV, "1")
    path = C.cache_file(tmp_path, "cpu", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = fresh.to_dict() | {"name": "old", "schema": SCHEMA - 1, "versions": C.identity("cpu") | {"schema": str(SCHEMA - 1)}}
    path.write_text(json.dumps(old), encoding="utf-8")
    assert C.load_cached(path, "cpu") is None
    assert C.device_model(device="cpu", threads=1, cache_dir=tmp_path).name == "fresh" and len(calls) == 1
    assert json.loads(path.read_text(encoding="utf-8"))["schema"] == SCHEMA
    assert C.device_model(device="cpu", threads=1, cache_dir=tmp_path).name == "fresh" and len(calls) == 1  # now cached
