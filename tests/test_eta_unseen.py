"""benchmarks/eta.py's held-out studies (``--unseen``) and user study files (``--study``): each is
a valid study, run under its own ``[study] name``, and nothing else runs when they are given."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNSEEN = sorted((ROOT / "benchmarks" / "eta_unseen").glob("*.toml"))


@pytest.mark.parametrize("path", UNSEEN, ids=lambda p: p.stem)
def test_every_held_out_study_is_valid(path):
    from hpbench.study.parse import load_study

    study = load_study(path)
    assert study.settings.name.startswith("unseen-")


def test_given_study_files_replace_the_built_in_set(tmp_path):
    from benchmarks import eta

    got = eta.studies(tmp_path, only=None, claims=True, extra=UNSEEN)
    assert [name for name, _ in got] == [eta.study_name(p) for p in UNSEEN]
    assert len({name for name, _ in got}) == len(UNSEEN) >= 6  # six kinds of work, each its own results folder
    assert not (tmp_path / "tiny.toml").exists()  # the built-in set's studies were not written
    assert {name for name, _ in eta.studies(tmp_path, only=None, claims=False)} >= {"quickstart", "eta-tiny"}


def test_the_user_loader_gives_a_larger_table():
    from benchmarks.eta_unseen.data import wide_table

    x, y = wide_table()
    assert x.shape == (20_000, 40) and x.dtype.name == "float32" and sorted(set(y.tolist())) == [0, 1, 2, 3, 4]


def test_no_history_moves_the_history_and_prices_aside_and_puts_them_back(tmp_path, monkeypatch):
    """``--no-history``: inside, the machine has no search history nor kept prices (its device model
    stays); after, the files are back as they were and what the run wrote in their place is gone,
    also when the study failed."""
    from benchmarks import eta
    from hpbench.cost import history, priced, prices

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = history.default_cache_dir()
    cache.mkdir(parents=True)
    files = {history.history_file(cache): '{"searches": [1]}', prices.cache_file(cache): "{}", priced.cache_file(cache): "{}"}
    model = cache / "host-cpu-t1.json"
    for f, text in {**files, model: "model"}.items():
        f.write_text(text)
    with pytest.raises(RuntimeError), eta.no_history():
        assert not any(f.exists() for f in files) and model.exists()
        history.history_file(cache).write_text('{"searches": [2]}')  # the run's own record
        raise RuntimeError("search failed")
    assert {f: f.read_text() for f in files} == files and model.read_text() == "model"


def test_new_study_sets_the_studys_own_records_aside_and_puts_the_history_back(tmp_path, monkeypatch):
    """``--new-study``: inside, the history holds the other studies' records only; after, it is as
    it was (what the run wrote dropped), also when the study failed."""
    import json

    from benchmarks import eta
    from hpbench.cost import history

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = history.default_cache_dir()
    cache.mkdir(parents=True)
    path = history.history_file(cache)
    v = history.SCHEMA
    before = json.dumps({"searches": [{"study": "a", "schema": v}, {"study": "b", "schema": v}, {"study": "a", "schema": v}]})
    path.write_text(before)
    with pytest.raises(RuntimeError), eta.new_study("a"):
        assert [r["study"] for r in history.load(cache)] == ["b"]
        history.append(cache, {"study": "a", "schema": v})  # the run's own record
        raise RuntimeError("search failed")
    assert path.read_text() == before
