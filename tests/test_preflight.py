"""The pre-flight checks without Ray: bad data and broken user code are found before any trial,
each problem naming its file or entry point, the column or key, the rule and the bad value, all
of them at once. The networks are tried in this process (the search tries them in its helper)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hpbench.preflight import PreflightFailed
from hpbench.preflight.run import check_study, preflight
from hpbench.preflight.shapes import cases
from hpbench.study.parse import load_study

BAD = "tests.helpers.bad_user_code"


def study_file(tmp_path, *, data: str, model: str = 'family = "mlp"\ndepth = 1\nwidth = 8', space: str = "lr = { loguniform = [1e-3, 1e-1] }",
               train: str = "max_epochs = 2", metric: str = "val_loss", optimizer: str = 'name = "adam"'):
    path = tmp_path / "study.toml"
    path.write_text(f'[study]\nname = "pf"\nmetric = "{metric}"\ntrials = 2\nsearcher = "random"\nscheduler = "none"\n'
                    f"[data]\n{data}\n[model]\n{model}\n[optimizer]\n{optimizer}\n[train]\n{train}\n[space]\n{space}\n", encoding="utf-8")
    return load_study(path)


def csv(tmp_path, text: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def table(n: int = 40, *, label=None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.integers(18, 90, n), "income": rng.random(n) * 1000,
                         "label": label if label is not None else np.arange(n) % 2})


def problems_of(study) -> list[str]:
    return [str(p) for p in check_study(study)]


def one(study) -> str:
    found = problems_of(study)
    assert len(found) == 1, found
    return found[0]


# -- data files ----------------------------------------------------------------------------------
def test_a_good_csv_passes_and_its_data_is_not_read_twice(tmp_path):
    """The pre-flight hands what it loaded to prepare(): the file is not read again."""
    from hpbench.data.prepare import prepare

    path = tmp_path / "good.csv"
    table().to_csv(path, index=False)
    study = study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"')
    preflight(study)
    path.unlink()
    d = study.config["data"]
    s = prepare(dataset=d["dataset"], options={"target": "label"}, val_fraction=d["val_fraction"], test_fraction=d["test_fraction"],
                preprocess=tuple(d["preprocess"]), seed=study.settings.seed)
    assert len(s.x_train) + len(s.x_val) == 40 and s.task == "binary"


def test_missing_target_column_names_file_key_and_suggests(tmp_path):
    path = tmp_path / "d.csv"
    table().to_csv(path, index=False)
    msg = one(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "lable"'))
    assert msg.startswith(f"{path}: data.target:") and "'lable'" in msg and "did you mean 'label'" in msg


def test_missing_values_named_by_column_and_line(tmp_path):
    df = table().astype({"age": float})
    df.loc[[3, 10], "age"] = np.nan
    df.loc[5, "label"] = np.nan
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    found = problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"'))
    assert f"{path}: column 'age': must have no missing values, but got 2 empty (lines 5, 12)" in found
    assert f"{path}: data.target: must have no missing values, but got 1 empty (line 7)" in found


def problems_or_refusal(tmp_path, **kw) -> list[str]:
    """The pre-flight's problems, or the study validation's when it refuses the file first (a
    data file's header is read there)."""
    from hpbench.errors import StudyError

    try:
        study = study_file(tmp_path, **kw)
    except StudyError as err:
        return [str(p) for p in err.problems]
    return problems_of(study)


@pytest.mark.parametrize(("content", "fragment"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64)), "a PNG image"),
    (b"PAR1\x15\x04\x15\x10", "a Parquet file (name it .parquet)"),
    (b"PK\x03\x04\x14\x00\x06\x00", "a zip archive"),
    (b"age,label\n1,0\x00\x00\x01\n", "binary data (NUL bytes)"),
    (b"age,label\n", "must hold at least one row of data, but got a header only"),
    (b"age,label\n1,0\n2,1,7,7\n", "ParserError: Error tokenizing data. C error: Expected 2 fields in line 3, saw 4"),
    (b"age,label\n1,0,5,5\n2,1\n", "rows with more fields than the header line"),
])
def test_a_csv_that_is_not_a_csv(tmp_path, content, fragment):
    path = tmp_path / "d.csv"
    path.write_bytes(content)
    found = problems_or_refusal(tmp_path, data=f'dataset = "{path}"\ntarget = "label"')
    assert any(fragment in m and str(path) in m for m in found), found


def test_prose_named_csv(tmp_path):
    path = csv(tmp_path, "These are my notes about the experiment\nnothing tabular here\n")
    found = problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"'))
    assert any("(header): must name comma-separated columns" in p and "'These are my notes" in p for p in found)
    assert any("data.target: must name a column of the file, but got 'label'" in p for p in found)


def test_numbers_written_as_text_and_a_free_text_column(tmp_path):
    df = table(150)
    df["age"] = df["age"].astype(str)
    df.loc[[2, 9], "age"] = "?"
    df["note"] = [f"visit {i}" for i in range(150)]
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    found = problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"'))
    assert f"{path}: column 'age': must hold numbers only (it is mostly numbers), but got text '?' (lines 4, 11)" in found
    assert any(p.startswith(f"{path}: column 'note': a text column is a category") and "150 distinct values" in p for p in found)


def test_dates_written_as_text_are_said_as_dates_not_as_too_many_categories(tmp_path):
    """A CSV's timestamp column got "a text column is a category ... at most 100 distinct values",
    which says nothing of what it is nor what to do (a Parquet datetime column was named as a date)."""
    df = table(150)
    df["when"] = pd.date_range("2024-01-01", periods=150, freq="h").astype(str)
    df["day"] = [f"03/{1 + i % 28:02d}/2024 {i % 24:02d}:30" for i in range(150)]
    df["note"] = [f"visit {i}" for i in range(150)]
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    found = problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"'))
    assert (f"{path}: column 'when': must hold numbers or text categories, not dates or durations (derive numbers from it first: "
            "a day of the week, seconds since a start), but got 150 distinct dates or times, e.g. '2024-01-01 00:00:00'") in found
    assert any(p.startswith(f"{path}: column 'day': must hold numbers or text categories, not dates") for p in found)
    assert any(p.startswith(f"{path}: column 'note': a text column is a category") for p in found)  # free text stays free text


def test_numbers_a_spreadsheet_formatted_are_named_not_one_hot_encoded(tmp_path):
    """'3,366.33' and '15.5%' were read as text: a few distinct ones were one-hot encoded as
    categories without a word, more than 100 got "a text column is a category"."""
    df = table(150)
    df["price"] = [f"{1000 + 37.5 * i:,.2f}" for i in range(150)]
    df["share"] = [f"{i % 4 * 25}%" for i in range(150)]  # 4 distinct: one-hot before
    df["cost"] = [f"${i % 3 + 1}" for i in range(150)]
    df["grade"] = [f"G{i % 3}" for i in range(150)]  # a real category stays one
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    found = problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"'))
    rule = "must hold plain numbers, not numbers written with thousands separators, currency or percent signs (save them as plain numbers)"
    assert f"{path}: column 'price': {rule}, but got text like '1,000.00'" in found
    assert f"{path}: column 'share': {rule}, but got text like '0%'" in found
    assert f"{path}: column 'cost': {rule}, but got text like '$1'" in found
    assert len(found) == 3  # nothing on 'grade'


def test_single_class_binary_target(tmp_path):
    path = tmp_path / "d.csv"
    table(label=np.ones(40, dtype=int)).to_csv(path, index=False)
    msg = one(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"\ntask = "binary"', metric="val_accuracy"))
    assert msg == f"{path}: data.target: a classification target needs at least 2 classes (nothing to learn from one), but got 1 class: every row is 1"


def test_three_rows_are_too_few_for_the_splits(tmp_path):
    path = csv(tmp_path, "a,b,label\n1,2,0\n3,4,1\n5,6,1\n")
    found = problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"'))
    assert found == [f"{path}: data: needs at least 2 rows to train on and 2 in each evaluation split (more data, or smaller fractions), "
                     "but got 3 samples: 1 for validation (data.val_fraction = 0.2), which leaves 2 to train on"]


def test_test_split_counts_too(tmp_path):
    path = tmp_path / "d.csv"
    table(12).to_csv(path, index=False)
    found = problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"\nval_fraction = 0.25\ntest_fraction = 0.05'))
    assert any(p.startswith(f"{path}: data: needs at least 2 rows to train on") and "1 for test (data.test_fraction = 0.05)" in p
               for p in found), found


def test_searched_batch_sizes_larger_than_the_training_split(tmp_path):
    path = tmp_path / "d.csv"
    table(100).to_csv(path, index=False)
    msg = one(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"', space='batch_size = { choice = [16, 128, 256, "full"] }'))
    assert msg == f'{path}: space.batch_size: must be at most the 80 training rows (or "full"), but got [128, 256]'


def test_a_fixed_batch_size_larger_than_the_data_trains_full_batch(tmp_path):
    path = tmp_path / "d.csv"
    table(30).to_csv(path, index=False)
    assert problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"', train="max_epochs = 2\nbatch_size = 64")) == []


def test_constant_regression_target(tmp_path):
    path = tmp_path / "d.csv"
    table(label=np.full(40, 2.5)).to_csv(path, index=False)
    msg = one(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"\ntask = "regression"'))
    assert msg == f"{path}: data.target: a regression target must vary (r2 is undefined, nothing to learn), but got every row is 2.5"


def test_every_problem_of_a_file_is_reported(tmp_path):
    """Not only the first: a missing value, a single class and a searched batch size at once."""
    df = table(20, label=np.zeros(20, dtype=int)).astype({"income": float})
    df.loc[0, "income"] = np.nan
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    with pytest.raises(PreflightFailed) as err:
        preflight(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"', space='batch_size = { choice = [8, 64] }'))
    keys = [p.key for p in err.value.problems]
    assert keys == ["column 'income'", "data.target", "space.batch_size"], err.value.problems
    assert all(p.source == str(path) for p in err.value.problems)


def test_a_regression_target_of_text(tmp_path):
    path = tmp_path / "d.csv"
    table(label=np.array(["low", "high"] * 20)).to_csv(path, index=False)
    msg = one(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"\ntask = "regression"'))
    assert msg == (f"{path}: data.target: a regression target must be numbers, but got values like 'low', 'high' "
                   '(set data.task = "multiclass" if they are classes)')


# -- user entry points -----------------------------------------------------------------------------
def test_entry_point_module_missing(tmp_path):
    msg = one(study_file(tmp_path, data='dataset = "tests.helpers.no_such_module:load"'))
    assert msg == ("tests.helpers.no_such_module:load: data.dataset: the module must be importable (a package.module on sys.path / PYTHONPATH), "
                   "but got no module named 'tests.helpers.no_such_module'")


def test_entry_point_function_missing(tmp_path):
    msg = one(study_file(tmp_path, data=f'dataset = "{BAD}:load_okay"'))
    assert msg.startswith(f"{BAD}:load_okay: data.dataset: module '{BAD}' must define 'load_okay'") and "did you mean 'load_ok'" in msg


def test_entry_point_that_raises_shows_the_exception_and_only_the_users_frames(tmp_path):
    [p] = check_study(study_file(tmp_path, data=f'dataset = "{BAD}:load_raises"'))
    assert str(p) == f"{BAD}:load_raises: data.dataset: the dataset loader raised: ConnectionError: cannot reach https://example.invalid/data.csv"
    assert [f.split(":")[0] + " " + f.split(" in ")[1].split(":")[0] for f in p.frames] == [
        "tests/helpers/bad_user_code.py load_raises", "tests/helpers/bad_user_code.py _fetch"]
    assert "hpbench/preflight" in p.traceback  # --debug shows everything


def test_a_returned_dataset_that_raises_shows_the_users_frame(tmp_path):
    [p] = check_study(study_file(tmp_path, data=f'dataset = "{BAD}:load_broken_dataset"'))
    assert str(p) == f"{BAD}:load_broken_dataset: data.dataset: reading the returned dataset raised: ValueError: row 0: the image file is missing"
    assert len(p.frames) == 1 and " in __getitem__: raise ValueError(" in p.frames[0]


def test_an_entry_point_that_is_not_a_function(tmp_path):
    msg = one(study_file(tmp_path, data=f'dataset = "{BAD}:SETTINGS"'))
    assert msg == f"{BAD}:SETTINGS: data.dataset: must name a function, but got dict {{'rows': 10}}"


def test_module_that_raises_at_import(tmp_path):
    [p] = check_study(study_file(tmp_path, data='dataset = "tests.helpers.broken_import:load"'))
    assert str(p) == "tests.helpers.broken_import:load: data.dataset: importing the module raised: KeyError: 'dir'"
    assert p.frames and p.frames[-1].startswith("tests/helpers/broken_import.py:5 in <module>")
    assert not any("importlib" in f or "hpbench" in f for f in p.frames)


@pytest.mark.parametrize(("fn", "fragment"), [
    ("load_wrong_return", "the loader's return value is not usable: must return (x, y)"),
    ("load_nan_features", "x: features must be finite numbers (no missing values), but got NaN or inf in 2 rows (indices 4, 17)"),
    ("load_one_class", "y: a classification target needs at least 2 classes"),
    # a class only the given validation split has: every trial failed on it ("Target 2 is out of bounds")
    ("load_val_class_unseen", "y_val holds 1 class the training data (y) has none of: 5"),
    # sys.exit() in the loader ended hpbench with its code and no word
    ("load_exits", "the dataset loader must return its data, not exit the process, but got sys.exit(3)"),
    # np.stack's own words named neither the item nor the shapes
    ("load_ragged_dataset", "item 4 is shaped (3,) where item 0 is shaped (2,)"),
])
def test_entry_point_data_problems(tmp_path, fn, fragment):
    msg = one(study_file(tmp_path, data=f'dataset = "{BAD}:{fn}"'))
    assert msg.startswith(f"{BAD}:{fn}: ") and fragment in msg


def test_a_loader_returning_one_dataframe_is_told_what_to_return(tmp_path):
    """A DataFrame looked like a map-style dataset: df[0] raised a bare KeyError and the message read 'not usable: 0'."""
    msg = one(study_file(tmp_path, data=f'dataset = "{BAD}:load_one_frame"'))
    assert msg.startswith(f"{BAD}:load_one_frame: data.dataset: the loader's return value is not usable: must return (x, y), a dict with 'x' "
                          "and 'y', a torch Dataset or IterableDataset of (x, y) pairs, or {'train': dataset, 'val': ..., 'test': ...}, "
                          "but got one pandas DataFrame (columns 'f0', 'f1', 'f2', 'f3', 'f4', 'label')"), msg
    assert "return (df.drop(columns=['label']), df['label'])" in msg


def test_peek_names_a_returned_dataframe():
    from hpbench.data import peek

    with pytest.raises(ValueError, match=r"load_one_frame: must return \(x, y\).* but got one pandas DataFrame"):
        peek(f"{BAD}:load_one_frame", {})


def test_an_entry_point_in_main_names_no_attribute_of_this_process():
    """The search's pre-flight helper listed its own __main__'s names (Any, Callable, Executor, ...)
    as the did-you-mean for a user's "__main__:build"."""
    from hpbench.preflight.load import import_entry_point

    fn, [p] = import_entry_point("__main__:build", key="model.family")
    assert fn is None and p.key == "model.family" and p.rule.startswith("cannot name a function of __main__"), p
    assert p.hint == "move it into a module of its own (e.g. mymodel.py beside the script) and give 'mymodel:build'"


# -- the gan task's data -----------------------------------------------------------------------------
def gan_study(tmp_path, *, data: str, metric: str | None = None):
    path = tmp_path / "gan.toml"
    ranked = f'metric = "{metric}"\n' if metric else ""
    path.write_text(f'[study]\nname = "g"\n{ranked}trials = 2\nsearcher = "random"\nscheduler = "none"\n[data]\n{data}\n'
                    '[model]\ntask = "gan"\nfamily = "mlp"\ndepth = 1\nwidth = 8\nd_width = 8\n'
                    '[train]\nmax_epochs = 1\nbatch_size = 16\ng_steps_per_epoch = 2\n[space]\nlr = { loguniform = [1e-3, 1e-2] }\n', encoding="utf-8")
    return load_study(path)


@pytest.mark.parametrize(("fn", "fragment"), [
    ("load_raises", "data.dataset: the dataset loader raised: ConnectionError: cannot reach https://example.invalid/data.csv"),
    ("load_one_frame", "data.dataset: the loader's return value is not usable: must return (x, y)"),
    ("load_nan_features", "x: features must be finite numbers (no missing values), but got NaN or inf in 2 rows (indices 4, 17)"),
])
def test_a_gan_with_a_user_loader_goes_through_the_same_preflight(tmp_path, fn, fragment):
    """The gan task skipped the pre-flight: a raw traceback from the cost model, or 'gan.toml: bad data here' from the search."""
    [p] = check_study(gan_study(tmp_path, data=f'dataset = "{BAD}:{fn}"'))
    assert str(p).startswith(f"{BAD}:{fn}: {fragment}"), str(p)
    if fn == "load_raises":
        assert [f.split(" in ")[1].split(":")[0] for f in p.frames] == ["load_raises", "_fetch"]


def test_a_gan_loader_given_an_option_it_does_not_take_is_named(tmp_path):
    [p] = check_study(gan_study(tmp_path, data='dataset = "tests.helpers.bad_user_code:load_no_options"\nn_samples = 100'))
    assert str(p).startswith(f"{BAD}:load_no_options: data.dataset: the dataset loader raised: TypeError: ")
    assert "unexpected keyword argument 'n_samples'" in str(p)


@pytest.mark.parametrize("data", [f'dataset = "{BAD}:load_ok"', 'dataset = "ring8"', 'dataset = "iris"', f'dataset = "{BAD}:load_one_label"'])
def test_a_gans_good_data_passes_and_is_handed_to_its_trials(tmp_path, data):
    """No supervised rule that is not the gan's (a metric of the data's task, batch sizes that fit the split, a
    target of two classes or more: a gan's data of one class is data to generate)."""
    from hpbench.data.prepare import _primed

    _primed.clear()
    study = gan_study(tmp_path, data=data)
    assert preflight(study) == []
    assert any(key[0] == study.config["data"]["dataset"] for key in _primed)


def test_a_gan_ranked_by_class_coverage_needs_data_of_classes(tmp_path):
    """A data file's float target reads as regression: no classifier, no val_class_coverage, and a
    search ranked by it ranked no trial (every trial "completed" with no value, exit 0)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60), "label": rng.random(60)})
    path = tmp_path / "pts.csv"
    frame.to_csv(path, index=False)
    data = f'dataset = "{path}"\ntarget = "label"'
    study = gan_study(tmp_path, data=data, metric="val_class_coverage")
    [p] = check_study(study)
    assert str(p).startswith(f"{path}: study.metric: must be val_frechet_distance for a gan on data of a regression task (no classes to cover), "
                             "but got 'val_class_coverage'"), str(p)
    frame["label"] = np.arange(60) % 3  # classes: the metric is reported
    frame.to_csv(path, index=False)
    assert check_study(gan_study(tmp_path, data=data, metric="val_class_coverage")) == []


# -- networks --------------------------------------------------------------------------------------
def test_user_model_that_does_not_accept_the_data_shape(tmp_path):
    msg = one(study_file(tmp_path, data='dataset = "digits"', model=f'family = "{BAD}:build_wrong_shape"'))
    assert msg.startswith(f"{BAD}:build_wrong_shape: model.family: the network must accept batches shaped (2, 1, 8, 8) "
                          "(the data's input shape (1, 8, 8)): RuntimeError: mat1 and mat2 shapes cannot be multiplied")


def test_user_model_raising_in_its_forward_shows_its_frame(tmp_path):
    [p] = check_study(study_file(tmp_path, data='dataset = "digits"', model=f'family = "{BAD}:build_picky"'))
    assert "ValueError: expected flat rows, got a batch shaped (2, 1, 8, 8)" in str(p)
    [frame] = p.frames
    assert frame.startswith("tests/helpers/bad_user_code.py:") and " in forward: raise ValueError(" in frame


@pytest.mark.parametrize(("fn", "fragment"), [
    ("build_raises", "model.family: building the network raised: KeyError: 'hidden'"),
    ("build_wrong_outputs", "model.family: the network must output (2, 10) for multiclass targets"),
    ("build_nothing", "module 'tests.helpers.bad_user_code' must define 'build_nothing'"),
])
def test_user_model_problems(tmp_path, fn, fragment):
    msg = one(study_file(tmp_path, data='dataset = "digits"', model=f'family = "{BAD}:{fn}"'))
    assert fragment in msg


def test_data_and_network_problems_are_reported_together(tmp_path):
    msgs = problems_of(study_file(tmp_path, data=f'dataset = "{BAD}:load_nan_features"', model=f'family = "{BAD}:build_wrong_shape"'))
    assert [m.split(": ")[1] for m in msgs] == ["x", "model.family"], msgs


def test_builtin_family_on_the_wrong_data(tmp_path):
    """A user loader's data is known only once loaded: a CNN on its table is refused before the search."""
    msg = one(study_file(tmp_path, data=f'dataset = "{BAD}:load_ok"', model='family = "cnn"'))
    assert msg.startswith(f"{tmp_path / 'study.toml'}: model: building the network raised: ValueError:"), msg


def test_batch_norm_and_a_last_batch_of_one_row(tmp_path):
    """Digits 0 and 1: 288 training rows; batch_size 287 leaves one row for the last batch, and
    the fourth CNN block normalizes a 1x1 map: batch norm refuses a single value per channel."""
    msg = one(study_file(tmp_path, data='dataset = "digits"\nclasses = [0, 1]', model='family = "cnn"\nconv_depth = 4\nchannels = 4',
                         space="batch_size = { choice = [16, 287] }"))
    assert "model: the network must train on a last batch of 1 row: ValueError: Expected more than 1 value per channel" in msg
    assert "batch_size 287 leaves 1 of the 288 training rows for the last batch" in msg


def test_a_network_whose_backward_fails_is_not_called_a_shape_problem(tmp_path):
    [p] = check_study(study_file(tmp_path, data='dataset = "digits"', model=f'family = "{BAD}:build_bad_backward"'))
    assert str(p) == (f"{BAD}:build_bad_backward: model.family: the backward pass must run (the forward accepted batches shaped (2, 1, 8, 8) "
                      "(the data's input shape (1, 8, 8))): RuntimeError: my backward is broken")
    assert " in backward: raise RuntimeError(" in p.frames[-1]


# -- optimizers ------------------------------------------------------------------------------------
@pytest.fixture
def plugin_optimizers():
    """Two plugin optimizers, registered for the test: one whose builder raises, one whose first step does."""
    from hpbench.train.optimizers import OPTIMIZERS
    from tests.helpers import bad_user_code as bad

    OPTIMIZERS.register("exploding", doc="raises when built")(bad.exploding_optimizer)
    OPTIMIZERS.register("no_step", doc="raises on its first step")(bad.failing_step_optimizer)
    yield
    for name in ("exploding", "no_step"):
        OPTIMIZERS._entries.pop(name, None)
        OPTIMIZERS._builtin.discard(name)


def test_a_plugin_optimizer_that_raises_is_named_by_its_key_before_any_trial(tmp_path, plugin_optimizers):
    """It was found by the estimate's cost model only ('model.family ...: its training step could not be counted'),
    and a search started Ray for every trial to fail."""
    [p] = check_study(study_file(tmp_path, data='dataset = "iris"', optimizer='name = "exploding"'))
    assert str(p).startswith(f"{tmp_path / 'study.toml'}: optimizer.name: building the optimizer 'exploding' raised: "
                             "RuntimeError: plugin optimizer exploded (3 of the 3 optimizers tried"), str(p)  # each lr the space's extremes and middle
    assert p.frames[-1].startswith("tests/helpers/bad_user_code.py:") and " in exploding_optimizer: raise RuntimeError(" in p.frames[-1]


def test_a_searched_optimizer_whose_step_raises_is_named_with_its_value(tmp_path, plugin_optimizers):
    msg = one(study_file(tmp_path, data='dataset = "iris"', space='optimizer = { choice = ["adam", "no_step"] }\nlr = { loguniform = [1e-3, 1e-1] }'))
    assert msg.startswith(f"{tmp_path / 'study.toml'}: optimizer.name: the optimizer 'no_step' must take a step (its first raised): "
                          "ValueError: no step for you"), msg
    assert msg.endswith("(2 of the 4 optimizers tried, those with optimizer = no_step)"), msg


def test_the_searched_values_that_break_a_network_are_named(tmp_path):
    """Pooling 8x8 images: 1 to 3 blocks work, 4 and 5 pool the map away."""
    msg = one(study_file(tmp_path, data='dataset = "digits"', model=f'family = "{BAD}:build_pooling"',
                         space='"model.depth" = { choice = [1, 2, 3, 4, 5] }\n"model.width" = { choice = [8, 16] }'))
    assert msg.startswith(f"{BAD}:build_pooling: model.family: the network must accept batches shaped (2, 1, 8, 8)")
    assert msg.endswith("(4 of the 10 networks tried, those with model.depth = [4, 5])")


# -- which networks are tried -----------------------------------------------------------------------
def test_every_distinct_network_of_the_quickstart_is_tried():
    from tests.conftest import ROOT

    study = load_study(ROOT / "studies" / "quickstart.toml")
    found = cases(study)
    # model.depth randint [1, 4] x model.width 3 x model.activation 3 (lr, optimizer, init: no shape)
    assert len(found) == 4 * 3 * 3
    assert len({repr(c.model) for c in found}) == 36


def test_a_large_space_is_sampled_with_its_extremes(tmp_path):
    from hpbench.preflight.shapes import MAX_POINTS

    study = study_file(tmp_path, data='dataset = "digits"', model='family = "mlp"',
                       space='"model.width" = { randint = [1, 4096] }\n"model.depth" = { randint = [0, 64] }\n'
                             '"model.dropout" = { uniform = [0.0, 0.5] }')
    found = cases(study)
    assert len(found) <= MAX_POINTS
    widths = {c.model.params["width"] for c in found}
    assert {1, 4096} <= widths and {0, 64} <= {c.model.params["depth"] for c in found}


def test_the_pre_flight_says_how_long_the_data_took(tmp_path):
    """The data's loading and checks are timed (a search's Ray starts after them: the estimate
    prices its start-up with them, hpbench.cost.figures): a loader that takes 0.3 s is seen to."""
    from hpbench.preflight.run import start

    pending = start(study_file(tmp_path, data=f'dataset = "{BAD}:load_slowly"'))
    assert pending.result() == [] and pending.data_s >= 0.3


def test_duplicate_column_names_are_refused(tmp_path):
    """pandas reads a second "label" as "label.1": the target could have been the wrong column, unsaid."""
    from hpbench.errors import StudyError

    path = csv(tmp_path, "label,b,label\n" + "".join(f"{i},{2 * i},{i % 2}\n" for i in range(40)))
    with pytest.raises(StudyError) as err:
        study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"')
    assert f"{path}: data.dataset: must name each column once (pandas would read a second 'label' as 'label.1'), but got ['label']" \
        == str(err.value)  # it said "a second 'a' as 'a.1'" whatever the column, and named the study file


def test_a_column_of_lists_and_a_value_float32_cannot_hold(tmp_path):
    df = table(40)
    df["age"] = df["age"].astype(float)
    df.loc[5, "age"] = 1e39  # finite as float64, infinite as the trials' float32
    df["vec"] = [np.array([1.0, 2.0])] * 40
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    found = problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"'))
    assert any("column 'vec': must hold one number or text per cell" in p for p in found), found
    assert any("column 'age': must hold numbers that float32 holds" in p and "1e+39" in p for p in found), found
    assert not any("pre-flight could not check" in p for p in found), found


def test_a_parquet_date_column_is_refused_and_its_missing_values_are_placed_by_row(tmp_path):
    """A datetime column trained as raw nanoseconds since 1970 (1.6e18) where a CSV's is text; and
    a Parquet's missing values were placed by CSV line numbers (row + 2)."""
    df = table(40)
    df["when"] = pd.date_range("2020-01-01", periods=40, freq="h")
    df["late"] = pd.to_timedelta(np.arange(40), unit="s")
    df["income"] = df["income"].astype("Float64")
    df.loc[[5, 17], "income"] = pd.NA
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    found = problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"'))
    assert any("column 'when': must hold numbers or text categories, not dates" in p and "datetime64" in p for p in found), found
    assert any("column 'late': must hold numbers or text categories, not dates" in p for p in found), found
    assert any("column 'income': must have no missing values" in p and "(rows 5, 17)" in p for p in found), found


def test_an_unnamed_csv_column_is_refused(tmp_path):
    """DataFrame.to_csv writes the row index unless index=False: an unnamed first column (pandas'
    'Unnamed: 0') trained as a feature, in a file sorted by class the label itself."""
    path = tmp_path / "d.csv"
    table(40).to_csv(path)  # index=True, pandas' default
    found = problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"'))
    assert any("(header): must name every column" in p and "index=False" in p and "1 unnamed" in p for p in found), found
    table(40).to_csv(path, index=False)
    assert problems_of(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"')) == []


def test_a_missing_class_label_and_missing_features_name_their_rows(tmp_path):
    x = np.random.default_rng(0).random((30, 3)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.float64)
    y[7] = np.nan
    x[[2, 9], 1] = np.inf
    np.savez(tmp_path / "d.npz", x=x, y=y)
    found = problems_of(study_file(tmp_path, data=f'dataset = "{tmp_path / "d.npz"}"'))
    assert any("x: features must be finite numbers" in p and "rows 2, 9 (of 30" in p for p in found), found
    np.savez(tmp_path / "d.npz", x=np.nan_to_num(x, posinf=0.0), y=y)
    found = problems_of(study_file(tmp_path, data=f'dataset = "{tmp_path / "d.npz"}"'))
    assert any("y: a class label is missing (NaN or inf) in row 7 (of 30" in p for p in found), found


def test_samples_of_four_axes_ask_for_a_declared_shape(tmp_path):
    from hpbench.errors import StudyError

    np.savez(tmp_path / "d.npz", x=np.zeros((20, 2, 2, 2, 2), dtype=np.float32), y=np.arange(20) % 2)
    with pytest.raises(StudyError) as err:
        study_file(tmp_path, data=f'dataset = "{tmp_path / "d.npz"}"')
    assert "data.shape: must be declared" in str(err.value) and "[16] flattens them" in str(err.value)


def test_a_class_only_a_given_split_holds_still_has_its_output():
    """A RawData built by hand (not through the loaders' checks) counts every split's classes."""
    from hpbench.data.datasets import RawData

    x = np.zeros((4, 2), dtype=np.float32)
    raw = RawData(x=x, y=np.array([0, 1, 0, 1]), task="multiclass", name="t", x_val=x[:2], y_val=np.array([2, 0]))
    assert raw.n_outputs == 3


def test_a_metric_the_inferred_task_does_not_report_is_refused_with_the_way_out(tmp_path):
    """50 whole-number classes read as a regression target: a search by val_accuracy ranked no trial
    and exited 0 (an empty leaderboard); early stopping's monitor was silently ignored."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 50, 500)
    df = pd.DataFrame({"a": rng.random(500), "b": rng.random(500), "label": y})
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    study = study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"', metric="val_accuracy",
                       train='max_epochs = 2\nearly_stopping = { monitor = "val_accuracy", patience = 1 }')
    found = problems_of(study)
    assert any(p.startswith(f"{path}: study.metric: must be a metric of the data's regression task") and "'val_accuracy'" in p
               and 'its 50 whole-number values read as a regression target (more than 20): set data.task = "multiclass"' in p for p in found), found
    assert any("train.early_stopping.monitor: must be a metric of the data's regression task" in p for p in found), found
    fixed = study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"\ntask = "multiclass"', metric="val_accuracy")
    assert problems_of(fixed) == []


def test_a_regression_target_far_from_unit_scale_is_a_warning(tmp_path):
    from hpbench.preflight.run import check_data

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    df = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": (x @ [1.0, -2.0, 0.5]) * 1e-6})
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    checked = check_data(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "y"', metric="val_loss"))
    assert checked.problems == []
    assert any("the regression target's standard deviation is" in w and "unit scale" in w for w in checked.warnings), checked.warnings


def test_float64_features_float32_cannot_hold_are_named_as_such(tmp_path):
    x = np.random.default_rng(0).random((30, 3))
    x[[3, 8], 0] = 1e300  # finite, but infinite once the trials read float32: "NaN or inf" before
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(30) % 2)
    found = problems_of(study_file(tmp_path, data=f'dataset = "{tmp_path / "d.npz"}"'))
    assert any("x: features must be numbers float32 holds" in p and "rows 3, 8 (of 30" in p for p in found), found


def test_many_whole_number_labels_are_said_to_be_read_as_a_regression_target(tmp_path):
    """30 classes in an npz trained as one MSE output under the default metric, without a word."""
    from hpbench.preflight.run import start

    rng = np.random.default_rng(0)
    x, y = rng.random((600, 4)).astype(np.float32), np.arange(600) % 30
    np.savez(tmp_path / "d.npz", x=x, y=y)
    pending = start(study_file(tmp_path, data=f'dataset = "{tmp_path / "d.npz"}"'))
    assert pending.result() == []
    assert any("30 distinct whole numbers, read as a regression target" in w and 'task = "multiclass"' in w for w in pending.warnings)
    pending = start(study_file(tmp_path, data='dataset = "diabetes"'))  # a whole-number regression target: no warning
    assert pending.result() == [] and not any("distinct whole numbers" in w for w in pending.warnings)


def test_a_class_holding_most_rows_under_accuracy_is_a_warning(tmp_path):
    """On a 95 / 5 target a network that learned nothing reads val_accuracy 0.95, and nothing said so."""
    from hpbench.preflight.run import start

    df = table(200, label=np.where(np.arange(200) % 20 == 0, "fraud", "ok"))
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    pending = start(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"', metric="val_accuracy"))
    assert pending.result() == []
    assert (f"{path}: data.target: the largest class, 'ok', holds 95% of the rows: always answering it scores val_accuracy 0.95; "
            "read the ranking against that, or rank by val_nll (study.metric)") in pending.warnings
    ranked_by_loss = start(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"', metric="val_loss"))
    assert not any("largest class" in w for w in ranked_by_loss.warnings)  # a loss is not fooled by it
    balanced = start(study_file(tmp_path, data='dataset = "digits"', metric="val_accuracy"))
    assert not any("largest class" in w for w in balanced.warnings)


def test_unscaled_features_far_from_unit_scale_are_a_warning(tmp_path):
    """The default preprocess is none: a CSV's 'mean area' (standard deviation ~350) trained as given, without a word."""
    from hpbench.preflight.run import start

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"area": rng.normal(600.0, 350.0, 120), "ratio": rng.normal(0.0, 1.0, 120), "label": np.arange(120) % 2})
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    pending = start(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"'))
    assert pending.result() == []
    said = [w for w in pending.warnings if "data.preprocess: the features are not scaled" in w]
    assert len(said) == 1 and "'area' has a standard deviation of 3" in said[0] and 'add preprocess = ["standardize"]' in said[0]
    scaled = start(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"\npreprocess = ["minmax"]'))
    assert not any("not scaled" in w for w in scaled.warnings)
    unit = start(study_file(tmp_path, data='dataset = "iris"'))  # centimetres, standard deviations 0.4-1.8: near unit scale
    assert not any("not scaled" in w for w in unit.warnings)
    images = tmp_path / "img.npz"
    np.savez(images, x=(rng.random((60, 8, 8)) * 255).astype(np.uint8), y=np.arange(60) % 2)
    pixels = start(study_file(tmp_path, data=f'dataset = "{images}"', model='family = "cnn"'))
    assert any("the samples are not scaled, and their values reach 25" in w and "(8-bit pixels read 0-255)" in w for w in pixels.warnings)
    digits = start(study_file(tmp_path, data='dataset = "digits"', model='family = "cnn"'))  # pixels 0-16: no word
    assert not any("not scaled" in w for w in digits.warnings)


def test_a_copy_of_the_label_among_the_features_is_a_warning(tmp_path):
    """A class name kept beside its code trained as a feature: every trial scored 1.0 on it, without a word."""
    from hpbench.preflight.run import start

    df = table(120)
    df["label_name"] = np.where(df["label"] == 1, "yes", "no")
    df["group"] = (np.arange(120) // 2) % 2  # as many values as the target, but not going with it
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    pending = start(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"\npreprocess = ["standardize"]'))
    assert pending.result() == []
    copies = [w for w in pending.warnings if "determines data.target" in w]
    assert copies == [f"{path}: column 'label_name': determines data.target 'label' exactly (each of its 2 values goes with one target value): "
                      "a copy of the label? A network learns the copy; drop the column unless it is known whenever a prediction is made"]
    rng = np.random.default_rng(0)
    reg = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    reg["price"] = reg["a"] * 3 + rng.normal(size=120)
    reg["price_k"] = reg["price"] / 1000  # the target in other units
    path = tmp_path / "r.csv"
    reg.to_csv(path, index=False)
    pending = start(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "price"\npreprocess = ["standardize"]'))
    assert [w.split(": ", 2)[1] for w in pending.warnings if "determines data.target" in w] == ["column 'price_k'"]  # not 'a' nor 'b'
    assert any("(is a linear function of it)" in w for w in pending.warnings)


def test_a_network_too_large_for_this_machines_memory_is_refused_before_it_is_built(tmp_path, monkeypatch):
    """A 19 GB network was allocated and written by the pre-flight: on a 24 GB machine the kernel
    killed the command without a word. Counted on the meta device, it is refused first."""
    import hpbench.preflight.memory as memory

    study = study_file(tmp_path, data='dataset = "digits"', model='family = "mlp"\ndepth = 2\nwidth = 4096')  # 17.1M parameters
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 100_000_000)  # 0.1 GB free: 273 MB for a training with Adam do not fit
    msg = one(study)
    assert msg.startswith(f"{study.source}: model: the network must fit in this machine's available memory (0.1 GB), but got 17,088,522 "
                          "parameters, whose training needs 0.273 GB: 0.0684 GB of weights, as much again for their gradients and 2 times as "
                          "much for the state of the optimizer 'adam' (a narrower or shallower network; --no-preflight"), msg
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 10_000_000_000)  # 10 GB: it fits, and is tried as before
    assert problems_of(study) == []


@pytest.mark.parametrize(("optimizer", "fits"), [('name = "adam"', False), ('name = "sgd"', True)])
def test_the_memory_check_counts_the_optimizers_state(tmp_path, monkeypatch, optimizer, fits):
    """The check counted weights and gradients (2x the weights: 137 MB here), but the pre-flight
    steps the optimizer, and Adam's two moments made it ~4x (273 MB): a network between 1/4 and 1/2
    of the available memory passed it and was killed in the pre-flight (bug hunt s51/h1, finding 3)."""
    import hpbench.preflight.memory as memory

    study = study_file(tmp_path, data='dataset = "digits"', model='family = "mlp"\ndepth = 2\nwidth = 4096', optimizer=optimizer)
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 200_000_000)  # 0.2 GB free
    found = problems_of(study)
    if fits:  # SGD keeps no state: 137 MB
        assert found == []
    else:
        assert len(found) == 1 and "needs 0.273 GB" in found[0] and "the optimizer 'adam'" in found[0], found


def test_a_searched_optimizer_is_counted_by_its_heaviest_configuration(tmp_path, monkeypatch):
    import hpbench.preflight.memory as memory

    study = study_file(tmp_path, data='dataset = "digits"', model='family = "mlp"\ndepth = 2\nwidth = 4096', optimizer='name = "sgd"',
                       space='"optimizer.name" = { choice = ["sgd", "momentum", "amsgrad"] }')
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 300_000_000)  # AMSGrad: 5x 68 MB = 342 MB
    found = problems_of(study)
    assert len(found) == 1 and "needs 0.342 GB" in found[0] and "3 times as much for the state of the optimizer 'amsgrad'" in found[0], found


@pytest.mark.parametrize(("name", "params", "copies"), [
    ("sgd", {}, 0), ("momentum", {}, 1), ("nesterov", {}, 1), ("adagrad", {}, 1), ("rmsprop", {}, 1), ("rmsprop", {"momentum": 0.9}, 2),
    ("adam", {}, 2), ("adamw", {}, 2), ("amsgrad", {}, 3),
])
def test_each_optimizers_state_in_copies_of_the_weights(name, params, copies):
    from hpbench.config import OptimizerConfig
    from hpbench.preflight.memory import state_copies, training_bytes

    measured = state_copies(OptimizerConfig(name=name, lr=0.01, params=params))
    assert measured == pytest.approx(copies, rel=1e-5)
    assert training_bytes(4_000_000_000, measured) == (2 + copies) * 4_000_000_000  # 1e9 float32 parameters: weights, gradients, state


def test_an_optimizer_that_raises_counts_no_state_and_is_named_by_its_own_check():
    from hpbench.config import OptimizerConfig
    from hpbench.preflight.memory import heaviest, state_copies

    assert state_copies(OptimizerConfig(name="adam", lr=-1.0)) == 0  # torch refuses a negative lr
    assert heaviest([]).optimizer.name == "adam" and heaviest([]).copies == pytest.approx(2, rel=1e-5)  # the default optimizer


def test_this_machines_available_memory_is_read(tmp_path):
    import os
    import sys

    from hpbench.preflight.memory import available_memory_bytes

    free = available_memory_bytes()
    if not sys.platform.startswith("linux"):
        assert free is None
        return
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert free is not None and 0 < free <= total


@pytest.mark.parametrize("searcher, family", [("random", '{ choice = ["mlp", "gru"] }'), ("grid", '{ grid = ["rnn", "gru"] }')])
def test_a_family_searched_and_fixed_nowhere_else_passes(tmp_path, searcher, family):
    """``family`` only in [space] (the reference: model.family is "required, fixed here or
    searched"): the optimizers' check built a configuration from the optimizer's keys alone and
    raised KeyError: 'family' (hpbench estimate said "error: ...: 'family'"; search a traceback;
    studies/claims/recurrent.toml could not run; bug hunt s47h1)."""
    path = tmp_path / "fam.toml"
    path.write_text(f'[study]\nname = "fam"\ntrials = 2\nsearcher = "{searcher}"\nscheduler = "none"\n[data]\ndataset = "iris"\n'
                    f"[train]\nmax_epochs = 1\n[space]\nfamily = {family}\noptimizer = {{ choice = [\"adam\", \"sgd\"] }}\n", encoding="utf-8")
    assert problems_of(load_study(path)) == []
