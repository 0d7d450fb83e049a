"""``hpbench estimate`` and ``hpbench devices`` through the CLI (no Ray)."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_STUDY
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.cost.figures import Figures

runner = CliRunner()


def _est(path, *args):
    # a terminal wide enough for the summary table's labels on one line: under pytest-xdist a worker's console is 80
    # columns, and "wall time of the search command" wrapped across two lines of its cell
    return runner.invoke(app, ["estimate", str(path), *args], env={"COLUMNS": "200"})


def test_estimate_hypothetical_device_scales_with_flops(write_study):
    path = write_study(TINY_STUDY)
    r10 = _est(path, "--device-flops", "1e13", "--json", "--samples", "3")
    r20 = _est(path, "--device-flops", "2e13", "--json", "--samples", "3")
    assert r10.exit_code == 0, r10.output
    a, b = json.loads(r10.output), json.loads(r20.output)
    assert len(a["configurations"]) == 3
    for x, y in zip(a["configurations"], b["configurations"], strict=True):
        assert x["predicted_s"] == pytest.approx(x["predicted_flops"] / 1e13)
        assert y["predicted_s"] == pytest.approx(x["predicted_s"] / 2)
        assert x["flops_per_step"] > 0 and x["n_params"] > 0
    s = a["summary"]  # the sample of 3 stands for the study's 4 trials
    assert s["n_trials"] == 4
    assert s["worst_case_s"] == pytest.approx(sum(c["predicted_s"] for c in a["configurations"]) * 4 / 3)


@pytest.mark.parametrize("samples", ["2", "4", "7"])
def test_a_sample_of_any_size_prices_the_studys_trials(write_study, samples):
    """--samples N priced the wall time of an N-trial search (N=150 for a 100-trial study, N=16 for
    it under --samples 16), where its help says the sample stands for the trials."""
    r = _est(write_study(TINY_STUDY), "--device-flops", "1e13", "--json", "--samples", samples)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert len(out["configurations"]) == int(samples) and out["summary"]["n_trials"] == 4


def test_estimate_predicts_the_wall_time_of_the_whole_command(write_study, tmp_path):
    """The summary's wall time is the sum of its named parts, inside its interval; with no
    search recorded on this machine (an empty cache folder) the figures are the prior's."""
    r = _est(write_study(TINY_STUDY), "--device-flops", "1e13", "--json", "--cache-dir", str(tmp_path))
    assert r.exit_code == 0, r.output
    w = json.loads(r.output)["summary"]["wall_time"]
    assert set(w["parts"]) == {"startup_s", "trials_s", "turnover_s", "repeats_s", "devices_s", "test_s", "report_s", "exit_s"}
    assert w["total_s"] == pytest.approx(sum(w["parts"].values()), rel=1e-5)
    assert w["low_s"] < w["total_s"] < w["high_s"]
    assert w["parts"]["startup_s"] > 0 and w["parts"]["report_s"] > 0  # the start-up and final table the user waits for
    assert w["sources"]["startup_s"] == "prior" and w["contention"] >= 1.0
    # the start-up is the prior's, with this study's own data seconds (its pre-flight, here) in place of the prior's
    assert w["data_s"] > 0 and w["figure_data_s"] == pytest.approx(Figures().data_s, rel=1e-5)
    assert w["parts"]["startup_s"] == pytest.approx(Figures().startup(early=True, contention=w["contention"], data_s=w["data_s"]), rel=1e-5)


def test_estimate_table_output(write_study, tmp_path):
    r = _est(write_study(TINY_STUDY), "--device-flops", "1e12", "--samples", "2", "--cache-dir", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "worst case" in r.output
    assert "wall time of the search command" in r.output and "start-up" in r.output and "turnover" in r.output
    assert "this study's data loads in" in r.output


def test_a_hypothetical_device_is_priced_apart_from_this_machines_load_and_runs(write_study):
    """--device-flops took this machine's measured contention and its runs of the study: a 1e6
    FLOP/s device's search was predicted shorter than one of its own trials."""
    r = _est(write_study(TINY_STUDY), "--device-flops", "1e6", "--json", "--samples", "3")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    w = out["summary"]["wall_time"]
    assert w["contention"] == 1.0 and w["span_scale"] == pytest.approx(1.0)
    assert w["total_s"] >= max(c["predicted_s"] for c in out["configurations"])


@pytest.mark.parametrize("args", [["--device-flops", "0"], ["--device-flops", "-5"], ["--device-flops", "1e-300"], ["--device-flops", "inf"],
                                  ["--grid"]])
def test_estimate_bad_input_exits_2(write_study, args):
    r = _est(write_study(TINY_STUDY), *args)
    assert r.exit_code == 2, r.output
    if args[0] == "--device-flops":  # named once, with its value (it read "--device-flops: --device-flops: ...": bug hunt s49/h2)
        assert r.output.count("--device-flops") == 1 and "at least 1 and finite" in r.output, r.output


def test_estimate_grid_names_the_continuous_dimensions(write_study):
    """It said "the space has continuous dimensions" without naming one (bug hunt s47h1)."""
    r = _est(write_study(TINY_STUDY), "--grid")
    assert r.exit_code == 2
    assert "--grid needs a finite space (choice/grid dimensions only), but space.lr (loguniform [0.001, 0.1]) is continuous" in " ".join(r.output.split())


def test_estimate_missing_study_exits_2(tmp_path):
    assert _est(tmp_path / "nope.toml").exit_code == 2


def test_devices_uses_cache(tmp_path, monkeypatch):
    from hpbench.cost import calibrate as D

    calls = []

    def fake(*, device, threads, log=None, quick=False):
        calls.append(device)
        return D.DeviceModel(device=device, name="fake", threads=threads, matmul_flops=(1.0,), matmul_flops_per_s=(1e9,),
                             peak_flops_per_s=1e9, bandwidth_bytes_per_s=1e10, coef={"op": 1e-6}, versions=D.identity(device))

    monkeypatch.setattr(D, "calibrate", fake)
    monkeypatch.setattr(D, "calibrate_as_worker", fake)  # a process whose thread environment is not a worker's calibrates in a child
    monkeypatch.setattr(D, "local_devices", lambda: ["cpu"])
    r = runner.invoke(app, ["devices", "--cache-dir", str(tmp_path), "--json", "--no-probe"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["name"] == "fake"
    runner.invoke(app, ["devices", "--cache-dir", str(tmp_path), "--json", "--no-probe"])
    assert calls == ["cpu"]  # second call read the cache
    runner.invoke(app, ["devices", "--cache-dir", str(tmp_path), "--json", "--no-probe", "--recalibrate"])
    assert calls == ["cpu", "cpu"]


def test_a_large_study_is_estimated_from_a_bounded_sample(write_study, monkeypatch, tmp_path):
    """Pricing a configuration builds its network and counts a step (~0.1-0.7 s): by default at
    most PRICED configurations stand for the study's trials, their totals scaled to the trials;
    --samples prices exactly what it asks for (and is not scaled)."""
    import hpbench.api.estimate as api_estimate

    monkeypatch.setattr(api_estimate, "PRICED", 2)
    path = write_study(TINY_STUDY)  # 4 trials, random searcher
    r = _est(path, "--device-flops", "1e13", "--json", "--cache-dir", str(tmp_path))
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    s = out["summary"]
    assert len(out["configurations"]) == 2 and s["n_configs"] == 2 and s["n_trials"] == 4
    assert s["worst_case_s"] == pytest.approx(2 * sum(c["predicted_s"] for c in out["configurations"]), rel=1e-5)
    full = json.loads(_est(path, "--device-flops", "1e13", "--json", "--cache-dir", str(tmp_path), "--samples", "4").output)["summary"]
    assert full["n_configs"] == 4 and full["n_trials"] == 4
    assert full["worst_case_s"] == pytest.approx(sum(c["predicted_s"] for c in json.loads(
        _est(path, "--device-flops", "1e13", "--json", "--cache-dir", str(tmp_path), "--samples", "4").output)["configurations"]), rel=1e-5)
    table = _est(path, "--device-flops", "1e13", "--cache-dir", str(tmp_path))
    assert "a sample standing for 4 trials" in " ".join(table.output.split())


def test_the_early_trials_train_inside_the_start_up(write_study, tmp_path, monkeypatch):
    """A fresh local search trains its first trials in the helper while Ray starts
    (hpbench.dispatch.early): the estimate's replay runs the others in Tune's slots."""
    from hpbench.api.estimate import study_estimate
    from hpbench.cost.estimate import search_plan
    from hpbench.cost.figures import SOLO_STARTUP_RATIO, Figures
    from hpbench.cost.walltime import TrialPlan, predict
    from hpbench.dispatch.early_launch import n_early
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))  # 4 trials, 2 at once
    assert n_early(study, n_new=4, fresh=True, local=True, budget=False, shared_storage=False) == 2
    plans = [TrialPlan(epoch_s=float(i + 1), max_epochs=3) for i in range(4)]
    two = search_plan(study, plans, cpus=2, n_early=2)
    assert (len(two.trials), two.early, two.early_max) == (4, 2, 2)
    assert search_plan(study, plans, cpus=2, n_early=9).early == 3  # never all: Tune runs at least one
    assert search_plan(study, plans, cpus=2).early == 0
    # the same trials replayed: with 2 of them inside the start-up, Tune's slots run one round, not two
    fig = Figures()
    early, none = (predict(search_plan(study, plans, cpus=2, n_early=n), figures=fig) for n in (2, 0))
    assert early.trials_s + early.turnover_s < none.trials_s + none.turnover_s
    # ... and a search without them starts sooner (the helper trains nothing beside Ray's start)
    assert none.startup_s == pytest.approx(early.startup_s * SOLO_STARTUP_RATIO, rel=1e-5) and none.startup_s < early.startup_s
    # the estimate asks the search's own rule (hpbench.dispatch.early_launch.n_early) how many
    import hpbench.cost.estimate as E

    seen = []
    real = E.estimate_study
    monkeypatch.setattr(E, "estimate_study", lambda *a, **k: seen.append((k["n_early"], k["n_early_max"])) or real(*a, **k))
    study_estimate(study, device_flops=1e12, preflight=False, cache_dir=tmp_path)
    study_estimate(load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 3"))), device_flops=1e12, preflight=False, cache_dir=tmp_path)
    assert seen == [(2, 2), (0, 0)]  # a search of 3 trials has none; of 4, the 2 launched at once (a quarter of 4 is fewer)


def test_the_helper_trains_more_early_trials_while_they_fit_before_tunes_first_report():
    """After the early trials launched at once, the helper trains more, one after another, until
    Tune's first trial reports (hpbench.dispatch.early, n_early_max): the estimate counts those that
    fit in that window out of Tune's slots, never more than the cap, never the last trial."""
    from hpbench.cost.early_window import EARLY_READY_S, early_count, early_window_s
    from hpbench.cost.figures import Figures
    from hpbench.cost.simulate import SimTrial
    from hpbench.cost.walltime import SearchPlan, TrialPlan, predict

    short = [SimTrial(epoch_s=0.1, epochs=3, score=0.5) for _ in range(24)]  # 0.3 s each
    assert early_count(short, least=2, most=6, window_s=1.0) == 3  # 2 at once, then a third: 0.9 s <= 1.0 s
    assert early_count(short, least=2, most=6, window_s=100.0) == 6  # the cap
    assert early_count(short, least=2, most=6, window_s=0.0) == 2  # those launched at once always run there
    assert early_count(short[:3], least=2, most=6, window_s=100.0) == 2  # Tune runs at least one
    assert early_count(short, least=0, most=0, window_s=100.0) == 0  # no early trials
    fig = Figures()
    assert early_window_s(fig, 1.0) == pytest.approx(fig.startup_s + fig.fresh_worker_s - EARLY_READY_S, rel=1e-5)
    plans = tuple(TrialPlan(epoch_s=0.05, max_epochs=4) for _ in range(24))
    at_once, more = (predict(SearchPlan(trials=plans, concurrency=2, early=2, early_max=m), figures=fig, seeds=2) for m in (2, 6))
    assert more.trials_s < at_once.trials_s and more.epoch_fraction == pytest.approx(at_once.epoch_fraction, rel=1e-5)


def _est_rows(n: int) -> list[dict]:
    return [{"config": i, "optimizer": "nesterov", "lr": 0.000701, "n_params": 563_722, "flops_per_step": 4.76e9, "flops_per_epoch": 5.17e9,
             "predicted_epoch_s": 0.3, "predicted_s": 0.296 * (i + 1), "predicted_s_p10": 0.21, "predicted_s_p90": 0.34 * (i + 1),
             "regime": "memory-bound", "naive_s": 2.3} for i in range(n)]


def test_estimate_table_leaves_out_cost_columns_that_do_not_fit_instead_of_squeezing_them():
    """At a narrow terminal the table keeps each configuration's values and its seconds per trial
    whole and names the columns it left out; with room, every column."""
    from rich.console import Console

    from hpbench.report.cost import estimate_table

    def shown(width: int | None) -> str:
        con = Console(width=width or 240, record=True, color_system=None)
        con.print(estimate_table(_est_rows(3), params=["optimizer", "lr"], width=width))
        return con.export_text()

    wide = shown(None)
    assert all(c in wide for c in ("params", "FLOPs/step", "FLOPs/epoch", "s/epoch", "s/trial (P10-P90)", "bound", "naive s/trial"))
    assert "left out" not in wide
    narrow = shown(60)
    assert "s/trial (P10-P90)" in narrow and "nesterov" in narrow and "0.000701" in narrow
    assert "296.00 ms (210-340 ms)" in narrow and "592.00 ms (210-680 ms)" in narrow and "888.00 ms (0.21-1 s)" in narrow
    assert "left out at 60 columns: naive s/trial" in " ".join(narrow.split()) and "naive s/trial ┃" not in narrow


def test_a_band_is_written_without_exponents():
    from hpbench.report.cost import fmt_band

    assert fmt_band(0.21, 0.34) == " (210-340 ms)"
    assert fmt_band(2.1, 3.3) == " (2.1-3.3 s)"
    assert fmt_band(9.0, 20.0) == " (9-20 s)"
    assert fmt_band(None, 1.0) == ""


def test_mixed_precision_says_it_is_priced_as_fp32(write_study):
    """fp16 on this CPU trained ~10x slower than fp32 and was priced the same, with no note."""
    r = _est(write_study(TINY_STUDY), "--device-flops", "1e12", "--json", "--samples", "2", "--set", "train.precision=fp16")
    assert r.exit_code == 0, r.output
    notes = {c.get("cost_note") for c in json.loads(r.output)["configurations"]}
    assert len(notes) == 1 and "fp16 priced as fp32" in notes.pop()
    r = _est(write_study(TINY_STUDY), "--device-flops", "1e12", "--json", "--samples", "2")
    assert all("priced as fp32" not in (c.get("cost_note") or "") for c in json.loads(r.output)["configurations"])


def test_the_estimate_prints_the_pre_flights_warnings(write_study, tmp_path):
    """The search printed 'class 1 has 1 sample, too few to stratify'; the estimate, the command
    run before anything, printed nothing."""
    table = tmp_path / "imb.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i % 7},{1 if i == 3 else 0}\n" for i in range(200)))
    text = TINY_STUDY.replace('dataset = "digits"', f'dataset = "{table}"\ntarget = "label"').replace('preprocess = ["standardize"]\n', "")
    r = _est(write_study(text), "--device-flops", "1e12", "--samples", "2", "--cache-dir", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "warning:" in r.output and "too few to stratify" in " ".join(r.output.split())
    r = _est(write_study(text), "--device-flops", "1e12", "--samples", "2", "--json", "--cache-dir", str(tmp_path))
    assert any("too few to stratify" in w for w in json.loads(r.output)["summary"]["warnings"])


def test_a_first_calibration_says_what_it_does_and_keeps_the_json_clean(write_study, tmp_path, monkeypatch):
    # a machine's first estimate calibrates for a minute or two: it said nothing all that time (session 43's list)
    from tests.helpers.devices import logged_calibration

    logged_calibration(monkeypatch)
    p = write_study(TINY_STUDY)
    r = runner.invoke(app, ["estimate", str(p), "--cache-dir", str(tmp_path), "--json", "--no-preflight"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "calibrating cpu at 1 thread" in r.stderr and "cpu: a step of the calibration" in r.stderr
    assert json.loads(r.stdout)["summary"]["n_trials"] > 0  # the calibration's lines are not in the JSON
    again = runner.invoke(app, ["estimate", str(p), "--cache-dir", str(tmp_path), "--json", "--no-preflight"], env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert "calibrating" not in again.stderr  # cached: nothing to say


@pytest.mark.parametrize("command", [["estimate", "STUDY"], ["devices", "--no-probe"]])
@pytest.mark.parametrize("cache", ["a_file", "a_file/sub", ""])
def test_a_cache_dir_that_cannot_be_a_folder_is_refused_before_any_work(write_study, tmp_path, monkeypatch, command, cache):
    """Bug hunt s49/h2, finding 5: ``--cache-dir FILE`` calibrated for two minutes, then ended in
    'File exists' (exit 1); now refused at once, as ``--out FILE`` is."""
    import hpbench.cost.calibrate as calibrate
    import hpbench.preflight.run as preflight_run

    monkeypatch.setattr(calibrate, "device_model", lambda *a, **k: pytest.fail("calibrated"))
    monkeypatch.setattr(preflight_run, "start", lambda *a, **k: pytest.fail("pre-flight started"))
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    where = str(tmp_path / cache) if cache else ""
    args = [str(write_study(TINY_STUDY)) if a == "STUDY" else a for a in command]
    r = runner.invoke(app, [*args, "--cache-dir", where])
    flat = " ".join(r.output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())
    assert r.exit_code == 2, r.output
    expected = f"--cache-dir {where}: {tmp_path / 'a_file'} is not a directory" if cache else "'--cache-dir': must be a folder path, not empty"
    assert expected in flat, flat
    if cache == "a_file":  # the API: the same refusal, before any work
        import hpbench
        from hpbench.results.files import OutputError

        with pytest.raises(OutputError, match=r"^cache_dir .*is not a directory"):
            hpbench.estimate(hpbench.Study.from_toml(write_study(TINY_STUDY)), cache_dir=where)


def test_a_calibration_that_replaces_an_older_hpbenchs_model_says_so(write_study, tmp_path, monkeypatch):
    """Bug hunt s52h4 #1: a cached model of an older hpbench's schema is measured again; the
    calibrating line said only "this machine's cost model", not that it replaces an outdated one."""
    from hpbench.cost import history
    from tests.helpers.devices import device_cache, logged_calibration

    logged_calibration(monkeypatch)
    old = device_cache(tmp_path, 1.0).to_dict()
    old.update(schema=6, versions={**old["versions"], "schema": "6"})
    history.device_cache_file(tmp_path, "cpu", 1).write_text(json.dumps(old))
    r = runner.invoke(app, ["estimate", str(write_study(TINY_STUDY)), "--cache-dir", str(tmp_path), "--json", "--no-preflight"],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    flat = " ".join(r.stderr.split())
    assert "calibrating cpu at 1 thread: it replaces this machine's cached cost model, which is from an older hpbench (model schema 6" in flat
