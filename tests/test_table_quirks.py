"""The pre-flight's warnings of public benchmark tables' quirks (hpbench.preflight.table_quirks,
bug hunt s52h1 findings 1, 2 and 5): class labels alike but for spaces, a trailing '.' or case;
a numeric column of row numbers; UCI's '?' marker in a text column. Warnings, not problems: the
study still passes. No Ray: the rules on small DataFrames, then the pre-flight on CSV and Parquet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hpbench.config import DataConfig
from hpbench.preflight.data import DataContext
from hpbench.preflight.run import start
from hpbench.preflight.table_quirks import id_columns, missing_markers, near_duplicate_labels
from tests.test_preflight import study_file


def ctx(source: str = "d.csv", **options: object) -> DataContext:
    return DataContext(source=source, data=DataConfig(dataset=source, options={"target": "label", **options}), seed=0)


def features(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=n), "k": rng.integers(0, 5, n)}


def warned(path, *, target: str = "label", extra: str = "") -> list[str]:
    pending = start(study_file(path.parent, data=f'dataset = "{path}"\ntarget = "{target}"\npreprocess = ["standardize"]{extra}'))
    assert pending.result() == []
    return pending.warnings


# -- class labels alike -------------------------------------------------------------------------------
def test_class_labels_alike_but_for_spaces_a_trailing_dot_or_case_are_a_warning(tmp_path):
    """UCI Adult's adult.data and adult.test put together trained 4 classes (' >50K', ' >50K.', ...), silently."""
    labels = [" >50K"] * 30 + [" >50K."] * 10 + [" <=50K"] * 40 + [" <=50K."] * 20
    df = pd.DataFrame({**features(100), "label": labels})
    said = near_duplicate_labels(df, ctx())
    assert said == ["d.csv: data.target 'label': classes that differ only by surrounding spaces, a trailing '.' or letter case train as "
                    "separate classes: ' <=50K' (40 rows) and ' <=50K.' (20 rows); ' >50K' (30 rows) and ' >50K.' (10 rows). "
                    "The same class? Clean the labels first (df['label'] = df['label'].str.rstrip('.')); if they are different classes, ignore this"]
    yes = pd.DataFrame({**features(60), "label": ["yes"] * 20 + ["Yes"] * 10 + [" yes"] * 5 + ["no"] * 25})
    said = near_duplicate_labels(yes, ctx())
    assert len(said) == 1 and "' yes' (5 rows) and 'Yes' (10 rows) and 'yes' (20 rows)" in said[0]
    assert "df['label'] = df['label'].str.strip().str.lower()" in said[0]
    # distinct classes, numbers, a regression, a category column's unused categories: no word
    assert near_duplicate_labels(pd.DataFrame({**features(40), "label": ["cat", "dog"] * 20}), ctx()) == []
    assert near_duplicate_labels(pd.DataFrame({**features(40), "label": np.arange(40) % 3}), ctx()) == []
    assert near_duplicate_labels(yes, ctx(task="regression")) == []
    cats = pd.DataFrame({**features(40), "label": pd.Categorical(["a", "b"] * 20, categories=["a", "b", "A"])})
    assert near_duplicate_labels(cats, ctx()) == []
    # through the pre-flight, a CSV and a Parquet file: once each
    df.to_csv(tmp_path / "adult.csv", index=False)
    assert [w for w in warned(tmp_path / "adult.csv") if "trailing '.'" in w] == [said_of(tmp_path / "adult.csv")]
    df.to_parquet(tmp_path / "adult.parquet", index=False)
    assert [w for w in warned(tmp_path / "adult.parquet") if "trailing '.'" in w] == [said_of(tmp_path / "adult.parquet")]


def said_of(path) -> str:
    return (f"{path}: data.target 'label': classes that differ only by surrounding spaces, a trailing '.' or letter case train as separate "
            "classes: ' <=50K' (40 rows) and ' <=50K.' (20 rows); ' >50K' (30 rows) and ' >50K.' (10 rows). The same class? Clean the labels "
            "first (df['label'] = df['label'].str.rstrip('.')); if they are different classes, ignore this")


# -- row numbers as a feature ---------------------------------------------------------------------
def test_a_numeric_column_of_row_numbers_is_a_warning(tmp_path):
    """Kaggle Titanic's PassengerId (1..n, one per row) trained as a feature, silently."""
    n = 60
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"PassengerId": rng.permutation(np.arange(1, n + 1)), **features(n), "label": np.arange(n) % 2})
    assert id_columns(df, ctx()) == ["d.csv: column 'PassengerId': every row has its own whole number, 1..60 (one per row, the row number "
                                     "plus a constant): an ID, not a feature: drop it (new rows' IDs lie outside the range it trains on, and "
                                     "in a file sorted by class it gives the label away); if it measures something (a time step), ignore this"]
    as_floats = df.assign(PassengerId=df["PassengerId"] + 891.0)  # 892..951 as floats (Kaggle's test.csv)
    assert "892..951" in id_columns(as_floats, ctx())[0]
    # not IDs: a small integer feature, a run with a gap or a repeat, whole-number halves, too few rows, the target
    assert id_columns(df.drop(columns="PassengerId"), ctx()) == []
    gap = df.assign(PassengerId=np.r_[np.arange(1, n), n + 1])
    twice = df.assign(PassengerId=np.r_[np.arange(1, n), 1])
    halves = df.assign(PassengerId=np.arange(n) * (n - 0.5) / (n - 1))  # spans 0..59.5
    repeat = df.assign(PassengerId=np.r_[1, 1, np.arange(3, n + 1)])  # spans 1..60, but one number twice
    assert id_columns(gap, ctx()) == [] and id_columns(twice, ctx()) == [] and id_columns(halves, ctx()) == [] and id_columns(repeat, ctx()) == []
    assert id_columns(df.iloc[:19], ctx()) == []
    assert id_columns(df.assign(label=np.arange(n)), ctx(task="regression"))[0].startswith("d.csv: column 'PassengerId'")  # only it
    # through the pre-flight: a CSV, a named index to_csv wrote after set_index("id"), a Parquet file
    df.to_csv(tmp_path / "train.csv", index=False)
    assert [w.split(": ")[1] for w in warned(tmp_path / "train.csv") if "an ID, not a feature" in w] == ["column 'PassengerId'"]
    df.drop(columns="PassengerId").rename_axis("id").to_csv(tmp_path / "indexed.csv")  # the index 0..59, named
    said = [w for w in warned(tmp_path / "indexed.csv") if "an ID, not a feature" in w]
    assert len(said) == 1 and said[0].startswith(f"{tmp_path / 'indexed.csv'}: column 'id': every row has its own whole number, 0..59")
    df.to_parquet(tmp_path / "train.parquet", index=False)
    assert len([w for w in warned(tmp_path / "train.parquet") if "column 'PassengerId'" in w]) == 1


def test_a_column_named_as_time_or_order_of_measurement_is_no_id(tmp_path):
    """Bug hunt s52/v1 #5: a series' 'step' 0..299 and a yearly table's 'year' 1700..1999 were called IDs to drop."""
    n = 60
    df = pd.DataFrame({**features(n), "label": np.arange(n) % 2})
    for name, start_at in [("step", 0), ("year", 1700), ("Year", 1700), ("t", 0), ("timestep", 0), ("TimeStep", 1), ("time_s", 0),
                           ("steps", 0), ("days", 1), ("epoch", 1), ("iteration", 1), ("iter", 0), ("age", 18), ("week", 1), ("month_no", 1)]:
        assert id_columns(df.assign(**{name: np.arange(start_at, start_at + n)}), ctx()) == [], name
    for name in ["id", "PassengerId", "customer_id", "time_id", "row", "Unnamed_index", "sample"]:  # IDs and others: still said
        said = id_columns(df.assign(**{name: np.arange(1, n + 1)}), ctx())
        assert len(said) == 1 and said[0].startswith(f"d.csv: column {name!r}: every row has its own whole number, 1..60"), name
    # through the pre-flight: a time series' step column
    df.assign(step=np.arange(n)).to_csv(tmp_path / "ts.csv", index=False)
    assert not [w for w in warned(tmp_path / "ts.csv") if "an ID, not a feature" in w]


# -- missing-value markers read as text ------------------------------------------------------------
def test_a_missing_value_marker_in_a_text_column_is_a_warning(tmp_path):
    """UCI Adult's ' ?' in workclass trained as a category of its own, where an empty cell is refused as missing."""
    n = 40
    work = ["Private", "State-gov", "Private", "Self-emp"] * 10
    work[3], work[7], work[11] = " ?", " ?", "?"
    occ = ["Sales", "Tech"] * 20
    occ[5] = " NA"  # pandas reads 'NA' as missing, but not after a space
    df = pd.DataFrame({**features(n), "workclass": work, "occupation": occ, "label": np.arange(n) % 2})
    assert missing_markers(df, ctx()) == [
        "d.csv: columns 'workclass' (3 cells ' ?' '?'), 'occupation' (1 cells ' NA'): hold a missing-value marker, which trains as a category "
        "of its own (an empty cell is refused as missing): read the file with pandas.read_csv(path, na_values=['?'], skipinitialspace=True), "
        "then fill or drop those rows and save it again; if it is a category, ignore this"]
    assert "pandas.read_csv(path, skipinitialspace=True)" in missing_markers(df.drop(columns="workclass"), ctx())[0]
    assert missing_markers(df.drop(columns="workclass"), ctx(keep_text=["NA"])) == []  # kept as text by the user's choice
    assert missing_markers(df.drop(columns=["workclass", "occupation"]), ctx()) == []
    parquet = missing_markers(df.drop(columns="occupation"), ctx("d.parquet"))
    assert parquet == ["d.parquet: column 'workclass' (3 cells ' ?' '?'): holds a missing-value marker, which trains as a category of its own "
                       "(an empty cell is refused as missing): make it missing (df = df.replace([' ?', '?'], np.nan)), then fill or drop those "
                       "rows and save it again; if it is a category, ignore this"]
    # through the pre-flight: a CSV written with ', ' as UCI writes it, a Parquet file; 'N/A' is pandas' missing value, refused, not warned
    lines = ["x,workclass,label"] + [f"{i * 0.5}, {'?' if i % 9 == 0 else ('Private' if i % 2 else 'Local-gov')},{i % 2}" for i in range(n)]
    (tmp_path / "adult.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    said = [w for w in warned(tmp_path / "adult.csv") if "missing-value marker" in w]
    assert len(said) == 1 and said[0].startswith(f"{tmp_path / 'adult.csv'}: column 'workclass' (5 cells ' ?'): holds a missing-value marker")
    df.to_parquet(tmp_path / "adult.parquet", index=False)
    assert len([w for w in warned(tmp_path / "adult.parquet") if "missing-value marker" in w]) == 1
    na = df.drop(columns="workclass").assign(occupation=["N/A" if i == 5 else v for i, v in enumerate(occ)])
    na.to_csv(tmp_path / "na.csv", index=False)
    problems = [str(p) for p in start(study_file(tmp_path, data=f'dataset = "{tmp_path / "na.csv"}"\ntarget = "label"')).result()]
    assert len(problems) == 1 and "column 'occupation': must have no missing values" in problems[0]


def test_the_warnings_are_said_once_when_several_data_settings_read_one_file(tmp_path):
    """A searched data key (the validation fraction) makes two data settings of one file: each warning once, not once per setting."""
    n = 60
    df = pd.DataFrame({"PassengerId": np.arange(1, n + 1), **features(n), "label": ["yes", "Yes"] * (n // 2)})
    df.to_csv(tmp_path / "d.csv", index=False)
    pending = start(study_file(tmp_path, data=f'dataset = "{tmp_path / "d.csv"}"\ntarget = "label"\npreprocess = ["standardize"]',
                               space='lr = { loguniform = [1e-3, 1e-1] }\n"data.val_fraction" = { choice = [0.2, 0.3] }'))
    assert pending.result() == []
    assert len([w for w in pending.warnings if "an ID, not a feature" in w]) == 1
    assert len([w for w in pending.warnings if "letter case" in w]) == 1
