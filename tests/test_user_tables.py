"""Tables as users have them (bug hunt s50/h6): a regression target with a few '?' cells or a text
ID chosen as the target, a header behind a UTF-8 BOM or a blank line, Parquet files written with
their DataFrame's index, Decimal and boolean-with-a-gap columns, and predicting on no rows. Read
and checked without Ray (``check_data``: the pre-flight's data half)."""

from __future__ import annotations

import decimal

import numpy as np
import pandas as pd
import pytest

from hpbench.data.splits import unstratified
from hpbench.data.user import load_file
from hpbench.errors import StudyError
from hpbench.preflight.run import check_data
from hpbench.study.parse import load_study


def study_file(tmp_path, data: str, *, metric: str = "val_loss"):
    path = tmp_path / "study.toml"
    path.write_text(f'[study]\nname = "ut"\nmetric = "{metric}"\ntrials = 2\nsearcher = "random"\nscheduler = "none"\n'
                    f'[data]\n{data}\n[model]\nfamily = "mlp"\ndepth = 1\nwidth = 8\n[train]\nmax_epochs = 1\n'
                    "[space]\nlr = { loguniform = [1e-3, 1e-1] }\n", encoding="utf-8")
    return load_study(path)


def checked(tmp_path, data: str, **kw) -> tuple[list[str], list[str]]:
    found = check_data(study_file(tmp_path, data, **kw))
    return [str(p) for p in found.problems], found.warnings


def table(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"age": rng.integers(18, 80, n), "income": rng.normal(50, 15, n).round(2), "color": rng.choice(["red", "blue"], n)})
    df["label"] = np.where(df.age > 50, "yes", "no")
    return df


# -- 1. the target: mostly numbers, or one class per row ---------------------------------------------
def test_a_regression_target_with_question_marks_is_refused_naming_them_not_trained_as_classes(tmp_path):
    df = table().drop(columns=["label"])
    df["price"] = (df.age * 3.1 + 0.123).round(3).astype(object)
    df.loc[[3, 9], "price"] = "?"
    path = tmp_path / "price.csv"
    df.to_csv(path, index=False)
    for metric in ("val_loss", "val_rmse"):  # the metric the user meant is not blamed
        problems, warned = checked(tmp_path, f'dataset = "{path}"\ntarget = "price"', metric=metric)
        assert len(problems) == 1, problems
        assert problems[0].startswith(f"{path}: data.target: must hold numbers only (it is mostly numbers), but got text '?' (lines 5, 11)")
        assert not any("stratify" in w for w in warned)
    problems, _ = checked(tmp_path, f'dataset = "{path}"\ntarget = "price"\ntask = "regression"')
    assert len(problems) == 1 and "(lines 5, 11)" in problems[0], problems


def test_a_text_id_as_the_target_is_refused_once_but_many_real_classes_are_not(tmp_path):
    df = table(300)
    df["cust_id"] = [f"C{i:05d}" for i in range(300)]
    path = tmp_path / "ids.csv"
    df.to_csv(path, index=False)
    problems, warned = checked(tmp_path, f'dataset = "{path}"\ntarget = "cust_id"')
    assert len(problems) == 1 and problems[0].startswith(f"{path}: data.target: ") and 'data.task = "regression"' in problems[0], problems
    assert "300 classes in 300 rows" in problems[0] and len(warned) <= 1
    # asked for as classes: trained, and the classes too small to stratify are told in one line
    problems, warned = checked(tmp_path, f'dataset = "{path}"\ntarget = "cust_id"\ntask = "multiclass"')
    assert problems == [] and len([w for w in warned if "stratify" in w]) == 1, warned
    # 1,000 rows of 100 classes (10 each) is a classification dataset
    many = table(1000)
    many["kind"] = [f"k{i % 100}" for i in range(1000)]
    many.to_csv(path, index=False)
    problems, _ = checked(tmp_path, f'dataset = "{path}"\ntarget = "kind"')
    assert problems == []


def test_classes_too_few_to_stratify_are_told_in_one_line_naming_a_few_and_the_count():
    y_train, y_val = np.array([0, 0, 1, 1, *range(2, 40)]), np.array([0, 1])
    said = unstratified("multiclass", {"training": y_train, "validation": y_val}, classes=tuple(f"c{i}" for i in range(40)))
    assert said == ["38 classes have 1 sample, too few to stratify (none in the validation split): 'c2', 'c3', 'c4' and 35 more"]
    one = unstratified("multiclass", {"training": np.array([0, 0, 1, 1, 2]), "validation": np.array([0, 1])})
    assert one == ["class 2 has 1 sample, too few to stratify: none in the validation split"]


# -- 2. the header as pandas reads it ----------------------------------------------------------------
@pytest.mark.parametrize("before", ["bom", "blank"])
def test_duplicated_columns_are_refused_behind_a_bom_or_a_blank_first_line(tmp_path, before):
    df = table()
    df.columns = ["age", "income", "color", "age"]
    df["label"] = "x"
    path = tmp_path / "dup.csv"
    if before == "bom":
        df.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        with open(path, "w") as f:
            f.write("\n  \n")
            df.to_csv(f, index=False)
    with pytest.raises(StudyError) as err:
        study_file(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert "must name each column once (pandas would read a second 'age' as 'age.1'), but got ['age']" in str(err.value)


def test_a_blank_first_line_does_not_break_the_shape_check(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(60, 6)).round(4), columns=[f"s{i}" for i in range(6)])
    df["label"] = np.arange(60) % 2
    path = tmp_path / "sig.csv"
    with open(path, "w", encoding="utf-8-sig") as f:
        f.write("\n")
        df.to_csv(f, index=False)
    study = study_file(tmp_path, f'dataset = "{path}"\ntarget = "label"\nshape = [2, 3]')
    assert study is not None


# -- 3. Parquet files written with their index -------------------------------------------------------
def test_a_parquets_string_index_is_no_feature_and_rows_are_counted_by_position(tmp_path):
    df = table()
    df.index = [f"r{i}" for i in range(len(df))]
    df.loc["r5", "income"] = np.nan
    path = tmp_path / "ids.parquet"
    df.to_parquet(path)
    problems, _ = checked(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert problems == [f"{path}: column 'income': must have no missing values, but got 1 empty (row 5)"]
    filtered = table()[lambda d: d.income > 40].copy()
    filtered.loc[filtered.index[3], "income"] = np.nan
    filtered.to_parquet(path)
    problems, _ = checked(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert problems == [f"{path}: column 'income': must have no missing values, but got 1 empty (row 3)"]


def test_a_parquets_index_columns_do_not_count_as_features_in_the_shape_or_in_training(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(80, 6)), columns=[f"s{i}" for i in range(6)])
    df["label"] = np.arange(80) % 2
    path = tmp_path / "sig.parquet"
    df[df.s0 > -1].to_parquet(path)  # a filtered frame: its index is written as __index_level_0__
    assert study_file(tmp_path, f'dataset = "{path}"\ntarget = "label"\nshape = [2, 3]') is not None
    raw = load_file(str(path), target="label")
    assert raw.x.shape[1] == 6 and raw.encoding.columns == tuple(f"s{i}" for i in range(6))


# -- 4. numbers pandas holds as objects --------------------------------------------------------------
def test_a_decimal_column_is_read_as_numbers(tmp_path):
    df = table()
    df["price"] = [decimal.Decimal(f"{v:.2f}") for v in np.linspace(1, 100, len(df))]
    path = tmp_path / "dec.parquet"
    df.to_parquet(path, index=False)
    problems, _ = checked(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert problems == []
    raw = load_file(str(path), target="label")
    assert raw.encoding.categories[raw.encoding.columns.index("price")] is None  # a number, not 120 one-hot categories
    assert raw.x[-1, raw.encoding.dummies.index("price")] == pytest.approx(100.0, rel=1e-5)


def test_a_boolean_column_with_an_empty_cell_gets_only_its_missing_value_problem(tmp_path):
    df = table()
    df["flag"] = (np.arange(len(df)) % 3 == 0).astype(object)
    df.loc[3, "flag"] = ""
    path = tmp_path / "flag.csv"
    df.to_csv(path, index=False)
    problems, _ = checked(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert problems == [f"{path}: column 'flag': must have no missing values, but got 1 empty (line 5)"]


# -- 5. predicting on no rows ------------------------------------------------------------------------
def test_predict_on_an_empty_table_answers_no_rows():
    torch = pytest.importorskip("torch")
    from hpbench.api.predict import Predictor
    from hpbench.data.encoding import Encoding

    enc = Encoding(classes=("a", "b", "c"), columns=("x", "y"), dummies=("x", "y"), categories=(None, None),
                   scale=(("standardize", (1.0, 2.0), (3.0, 4.0)),))
    p = Predictor(model=torch.nn.Linear(2, 3).eval(), task="multiclass", input_shape=(2,), encoding=enc)
    empty = pd.DataFrame({"x": [1.0], "y": [2.0]}).iloc[:0]
    assert p.predict(empty).shape == (0,) and p.predict_proba(empty).shape == (0, 3)
    binary = Predictor(model=torch.nn.Linear(2, 1).eval(), task="binary", input_shape=(2,), encoding=enc)
    assert binary.predict_proba(empty).shape == (0, 2)
    value = Predictor(model=torch.nn.Linear(2, 1).eval(), task="regression", input_shape=(2,), encoding=Encoding(columns=("x", "y"),
                      dummies=("x", "y"), categories=(None, None)))
    assert value.predict(empty).shape == (0,)
