"""Results folders and weights files written by another hpbench, read by this one (bug hunt s52/h4):
a recorded study that this version's rules refuse, a folder of a newer format, an older folder's
integer columns, an old weights file without its encoding, and a resumed folder's earlier repeats
in the progress line and the report. No Ray: folders written by hand, models trained in process."""

from __future__ import annotations

import json
import warnings
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from hpbench.results.study_changes import RECORD_FORMAT
from tests.helpers.report_tables import write_full
from tests.helpers.report_tables import write_tiny as _searched_tiny
from tests.helpers.studies import TINY_STUDY
from tests.test_resume import _folder

runner = CliRunner()


def _edit_record(results: Path, **changes: object) -> None:
    path = results / "study.json"
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


# -- finding 3: best --study-out of a folder whose recorded study this version refuses --------------
def test_study_out_of_a_record_this_version_refuses_names_the_record_not_the_unwritten_file(tmp_path):
    """An older hpbench accepted mode = "min" on val_accuracy; the error named the --study-out
    file, which was never written, as if it held the mistake."""
    results = _searched_tiny(tmp_path)
    record = json.loads((results / "study.json").read_text())
    record["raw"]["study"]["mode"] = "min"
    record["settings"]["mode"] = "min"
    (results / "study.json").write_text(json.dumps(record))
    target = tmp_path / "best.toml"
    r = runner.invoke(app, ["best", str(results), "--study-out", str(target)])
    assert r.exit_code == 2, r.output
    line = " ".join(r.output.split())
    assert f"error: {results / 'study.json'}: study.mode: must be 'max' for val_accuracy" in line
    assert "the study this folder recorded breaks this rule of this version of hpbench" in line
    assert f"{target} was not written" in line and f"error: {target}:" not in line
    assert not target.exists()
    with pytest.raises(hpbench.StudyError) as err:
        hpbench.Results(results).write_best_study(target)
    assert err.value.source == str(results / "study.json") and err.value.key == "study.mode" and not target.exists()


# -- finding 4: the results folder's format -------------------------------------------------------------
def test_a_resume_refuses_a_newer_format_and_a_format_that_is_no_number_leaving_the_folder_as_it_was(tmp_path):
    """A newer hpbench's folder was continued and rewritten in this version's format, dropping
    what it did not know; ``"format": null`` gave a TypeError traceback."""
    from hpbench.dispatch.plan import SearchOptions, plan_search
    from hpbench.results.files import OutputError

    out = tmp_path / "r"
    _folder(out, 2)
    written = json.loads((out / "study.json").read_text())
    study = _tiny()
    for value, said in ((RECORD_FORMAT + 1, f"results format {RECORD_FORMAT + 1}; this hpbench ({hpbench.__version__}) knows "
                                            f"format {RECORD_FORMAT} and older"),
                        (None, "format: must be the whole number"), ("2b", "format: must be the whole number")):
        _edit_record(out, format=value, future_key={"x": 1})
        before = (out / "study.json").read_text()
        with pytest.raises(OutputError) as err:
            plan_search(study, SearchOptions(out=out, resume=True))
        assert str(err.value).startswith(f"{out / 'study.json'}: ") and said in str(err.value) and "\n" not in str(err.value)
        assert (out / "study.json").read_text() == before
    _edit_record(out, format=RECORD_FORMAT + 1)
    (tmp_path / "tiny.toml").write_text(TINY_STUDY)
    r = runner.invoke(app, ["search", str(tmp_path / "tiny.toml"), "--out", str(out), "--resume"])
    assert r.exit_code == 2 and "Traceback" not in r.output and f"results format {RECORD_FORMAT + 1}" in r.output
    assert written["format"] == RECORD_FORMAT and written["hpbench_version"] == hpbench.__version__  # which hpbench wrote it


def test_a_folder_without_a_format_is_the_oldest_and_continues(tmp_path):
    from hpbench.dispatch.plan import SearchOptions, plan_search

    out = tmp_path / "r"
    _folder(out, 2)
    record = json.loads((out / "study.json").read_text())
    record.pop("format"), record.pop("hpbench_version", None)  # as every hpbench before the format wrote it
    (out / "study.json").write_text(json.dumps(record))
    assert plan_search(_tiny(), SearchOptions(out=out, resume=True)).previous is not None


def _tiny():
    import tomllib

    from hpbench.study.parse import parse_study

    return parse_study(tomllib.loads(TINY_STUDY))


def test_readers_of_a_newer_format_warn_once_and_read_it(tmp_path):
    results = write_full(tmp_path)
    _edit_record(results, format=RECORD_FORMAT + 1, hpbench_version="9.0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = hpbench.Results(results)
        assert res.best.trial == 1 and len(hpbench.load(results)) == len(res.trials)
        res.report(Console(file=StringIO(), width=200), sections=["leaderboard"])
    newer = [w for w in caught if "results format" in str(w.message)]
    assert len(newer) == 1, [str(w.message) for w in caught]
    assert str(newer[0].message).startswith(f"{results / 'study.json'}: written by hpbench 9.0 in results format {RECORD_FORMAT + 1}")
    assert newer[0].category.__name__ == "NewerFormatWarning" and issubclass(newer[0].category, UserWarning)
    other = write_full(tmp_path / "same")  # this version's own format: no warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hpbench.Results(other).report(Console(file=StringIO(), width=200), sections=["leaderboard"])
        hpbench.load(other)
    assert not [w for w in caught if "results format" in str(w.message)]


# -- finding 6: an older folder's whole-number columns held as floats ---------------------------------
INT_COLUMNS = ("repeat", "repeat_of", "seed", "epochs", "best_epoch", "n_params")


def _old_rows() -> list[dict[str, object]]:
    """Rows as an older folder's table reads back: its integer columns as floats (1.0, NaN)."""
    base = {"status": "finished", "stop_reason": "completed", "lr": 0.01, "best_val_accuracy": 0.9}
    return [{**base, "trial": 0, "trial_id": "t0", "epochs": 3.0, "best_epoch": 3.0, "n_params": 100.0, "repeat": None, "repeat_of": None, "seed": None},
            {**base, "trial": 1, "trial_id": "t1", "epochs": 3.0, "best_epoch": 2.0, "n_params": 100.0, "repeat": 1.0, "repeat_of": 0.0, "seed": 1.0}]


def test_a_resumed_older_folder_writes_its_integer_columns_as_int64(tmp_path):
    """A resume wrote repeat, repeat_of and seed as float64 (the earlier rows read back as 1.0)."""
    from hpbench.results.tables import trials_frame

    new = {"status": "finished", "stop_reason": "completed", "lr": 0.02, "best_val_accuracy": 0.8, "trial": 2, "trial_id": "t2",
           "epochs": 3, "best_epoch": 3, "n_params": 100}
    df = trials_frame([*_old_rows(), new], ["lr"])
    assert {c: str(df[c].dtype) for c in INT_COLUMNS} == dict.fromkeys(INT_COLUMNS, "Int64")
    assert df["seed"].tolist()[1] == 1 and pd.isna(df["seed"].tolist()[0])
    assert str(trials_frame([{**new, "lr": 0.5}, {**new, "trial": 3, "trial_id": "t3", "lr": 1.0}], ["lr"])["lr"].dtype) == "float64"
    halves = trials_frame([{**new, "n_params": 1.5}, {**new, "trial": 3, "trial_id": "t3", "n_params": None}], ["lr"])
    assert str(halves["n_params"].dtype) == "float64"  # not whole numbers: left as they are


def test_load_of_an_older_folder_gives_int64_integer_columns(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    pd.DataFrame(_old_rows()).to_parquet(out / "trials.parquet")  # as an older hpbench wrote it: float64
    (out / "study.json").write_text(json.dumps({"name": "old", "settings": {"metric": "val_accuracy", "mode": "max"}, "space": {}}))
    df = hpbench.load(out)
    assert {c: str(df[c].dtype) for c in INT_COLUMNS} == dict.fromkeys(INT_COLUMNS, "Int64")
    assert str(df["lr"].dtype) == "float64"


# -- finding 7: a weights file that keeps no encoding ------------------------------------------------
def test_a_weights_file_without_its_encoding_warns_that_its_preprocessing_is_not_applied(tmp_path):
    torch = pytest.importorskip("torch")  # noqa: F841
    from hpbench.api.predict import load_predictor
    from hpbench.train import weights
    from tests.test_predict import trained

    _, run = trained(tmp_path, '{"dataset": "digits", "preprocess": ["standardize"]}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # this version's file keeps it: no warning
        run.load_predictor()
    rec = weights.load_record(run.weights)
    weights.save({k: v for k, v in rec.items() if k != "encoding"}, tmp_path / "old.pt")  # written before the encoding was kept
    with pytest.warns(UserWarning, match="keeps no record of how the data was encoded") as said:
        p = load_predictor(tmp_path / "old.pt")
    assert p.encoding is None and len(said) == 1
    assert "written before hpbench kept it" in str(said[0].message) and "standardize" in str(said[0].message)
    assert said[0].filename == __file__  # the caller's line
    weights.save({**rec, "encoding": None}, tmp_path / "streamed.pt")  # streamed data's keeps none either
    with pytest.warns(UserWarning, match="trained on streamed data"):
        load_predictor(tmp_path / "streamed.pt")


# -- finding 8: a resumed folder's earlier repeats ----------------------------------------------------
def test_a_resumed_search_s_progress_counts_its_trials_not_the_earlier_repeats(tmp_path):
    """``9/5 done``: the earlier run's repeats were counted against the study's trials."""
    from hpbench.dispatch.progress import Progress
    from hpbench.results.store import ResultsStore

    base = {"status": "finished", "stop_reason": "completed", "optimizer": "adam", "epochs": 2, "best_epoch": 2}
    earlier = [{**base, "trial": i, "trial_id": f"t{i}", "lr": 0.01 * (i + 1), "best_val_accuracy": 0.5 + i / 10} for i in range(3)]
    earlier += [{**base, "trial": 3 + i, "trial_id": f"r{i}", "lr": 0.03, "best_val_accuracy": 0.7, "repeat": i + 1, "repeat_of": 2,
                 "seed": i + 1} for i in range(2)]
    earlier.append({**base, "trial": 5, "trial_id": "r2", "lr": 0.02, "repeat": 1, "repeat_of": 1, "seed": 1, "stop_reason": "pruned"})
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=["optimizer", "lr"])
    store.load(earlier, [])
    assert store.counts_apart() == {"completed": 2, "pruned": 1}
    con = Console(file=StringIO(), width=200)
    progress = Progress(store=store, n_trials=5, console=con, study_name="tiny", apart=store.counts_apart())
    assert progress._summary().startswith("3/5 done, 0 running")
    assert "pruned" not in progress._summary()
    store.start("t6", {"optimizer": "adam", "lr": 0.5})
    assert progress._summary().startswith("3/5 done, 1 running")


def test_the_report_says_which_repeated_configurations_an_earlier_ranking_chose(tmp_path):
    """``Repeats: top 4 configurations`` was said with repeats_top = 3 after a resume: the earlier
    top 3 kept their repeats and the new top one was added."""
    results = write_full(tmp_path)  # repeats of trials 1 and 3; the search ranks 1, 6, 3
    record = json.loads((results / "study.json").read_text())

    def title() -> str:
        out = StringIO()
        hpbench.Results(results).report(Console(file=out, width=250), sections=["leaderboard"])
        return next(line.strip() for line in out.getvalue().splitlines() if "Repeats:" in line)

    assert title() == "Repeats: top 2 configurations re-run with other seeds"  # no repeats_top recorded: as before
    for top, said in ((3, "Repeats: top 2 configurations re-run with other seeds"),
                      (2, "Repeats: 2 configurations re-run with other seeds (1 of the top 2 now; 1 chosen by an earlier run's ranking)")):
        record["settings"]["repeats_top"] = top
        (results / "study.json").write_text(json.dumps(record))
        assert title() == said
