"""Users' data files as they come: Keras' .npz layout and arrays under other names, compressed and
upper-case CSVs, the category 'NA', float16 columns, classes labelled by text or by large
numbers. Read and checked without Ray or networks (``check_data``: the pre-flight's data half)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import warnings

import numpy as np
import pandas as pd
import pytest

from hpbench.data.sources import open_data
from hpbench.errors import StudyError
from hpbench.preflight.run import check_data
from hpbench.study.parse import load_study


def study_file(tmp_path, data: str):
    path = tmp_path / "study.toml"
    path.write_text('[study]\nname = "ud"\ntrials = 2\nsearcher = "random"\nscheduler = "none"\n'
                    f'[data]\n{data}\n[model]\nfamily = "mlp"\ndepth = 1\nwidth = 8\n[train]\nmax_epochs = 1\n'
                    "[space]\nlr = { loguniform = [1e-3, 1e-1] }\n", encoding="utf-8")
    return load_study(path)


def checked(tmp_path, data: str) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the study's data."""
    found = check_data(study_file(tmp_path, data))
    return [str(p) for p in found.problems], found.warnings


def table(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.random(n), "b": rng.random(n), "label": np.arange(n) % 2})


# -- 1. .npz arrays under other names ------------------------------------------------------------
def test_an_npz_in_keras_layout_reads_x_train_as_x_and_its_test_split_as_given(tmp_path):
    path = tmp_path / "mnist.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 255, (40, 8, 8), dtype=np.uint8), y_train=np.arange(40) % 4,
             x_test=rng.integers(0, 255, (12, 8, 8), dtype=np.uint8), y_test=np.arange(12) % 4)
    problems, _ = checked(tmp_path, f'dataset = "{path}"')
    assert problems == []
    raw = open_data(str(path), {})
    assert raw.x.shape == (40, 1, 8, 8) and raw.given == ("test",) and raw.x_test.shape == (12, 1, 8, 8)


def test_an_npz_without_x_and_y_lists_every_array_it_holds_and_how_to_resave_it(tmp_path):
    path = tmp_path / "keys.npz"
    np.savez(path, X=np.zeros((30, 5)), Y=np.zeros(30, dtype=np.int64))
    with pytest.raises(StudyError) as err:
        study_file(tmp_path, f'dataset = "{path}"')
    msg = str(err.value)
    assert "the file holds 'X' (30, 5) float64, 'Y' (30,) int64" in msg and "np.savez(path, x=..., y=...)" in msg
    assert msg.count("keys.npz") == 1 and ", but got" not in msg


def test_one_hot_labels_are_told_to_save_their_class_numbers(tmp_path):
    path = tmp_path / "onehot.npz"
    np.savez(path, x=np.zeros((30, 4), dtype=np.float32), y=np.eye(3, dtype=np.float32)[np.arange(30) % 3])
    with pytest.raises(StudyError, match=r"onehot\.npz:y\.npy: array 'y' must hold one label per sample, shaped \(n,\), but has shape "
                                         r"\(30, 3\) \(one-hot labels: save the class numbers, y\.argmax\(1\)\)$"):
        study_file(tmp_path, f'dataset = "{path}"')


def test_inputs_that_are_not_numbers_are_told_what_to_save_under_the_key_the_study_used(tmp_path):
    """An object array named by ``x`` was said under data.dataset with no way out: "array 'x' must
    hold numbers, but has dtype |O" (bug hunt s47h1; the README promises what to save instead)."""
    np.save(tmp_path / "obj.npy", np.array([[1, 2], [3, 4]] * 15, dtype=object))
    np.save(tmp_path / "labels.npy", np.arange(30) % 2)
    np.save(tmp_path / "inputs.npy", np.zeros((30, 2), dtype=np.float32))
    np.save(tmp_path / "text.npy", np.array([["a", "b"]] * 10))
    np.save(tmp_path / "val_labels.npy", np.arange(10) % 2)
    with pytest.raises(StudyError) as err:
        study_file(tmp_path, f'x = "{tmp_path / "obj.npy"}"\ny = "{tmp_path / "labels.npy"}"')
    assert (f"data.x: {tmp_path / 'obj.npy'}: array 'x' must hold numbers, but has dtype object (Python objects, which hpbench does not "
            "unpickle from a data file): save it as numbers, np.save(path, x.astype(np.float32))") in str(err.value)
    with pytest.raises(StudyError) as err:
        study_file(tmp_path, f'dataset = "{tmp_path / "obj.npy"}"\ny = "{tmp_path / "labels.npy"}"')
    assert "data.dataset: " in str(err.value) and "np.save(path, x.astype(np.float32))" in str(err.value)
    with pytest.raises(StudyError) as err:
        study_file(tmp_path, f'x = "{tmp_path / "inputs.npy"}"\ny = "{tmp_path / "labels.npy"}"\n'
                             f'x_val = "{tmp_path / "text.npy"}"\ny_val = "{tmp_path / "val_labels.npy"}"')
    assert "data.x_val: " in str(err.value) and "array 'x_val' must hold numbers, but has dtype str32" in str(err.value)
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([[1, 2]] * 30, dtype=object), y=np.arange(30) % 2, allow_pickle=True)
    with pytest.raises(StudyError) as err:
        study_file(tmp_path, f'dataset = "{path}"')
    assert "data.dataset: " in str(err.value) and "np.savez(path, x=x.astype(np.float32), ...) with the other arrays as they are" in str(err.value)


# -- 2. too few to stratify: the label as the data holds it -------------------------------------------
@pytest.mark.parametrize(("labels", "said"), [(["cat", "dog"], "'zebra'"), ([100000, 300000], "400000")])
def test_a_class_too_small_to_stratify_is_named_by_its_label_in_the_data_file(tmp_path, labels, said):
    df = table()
    df["label"] = [labels[i % 2] for i in range(len(df) - 1)] + ["zebra" if said == "'zebra'" else 400000]
    path = tmp_path / "animals.csv"
    df.to_csv(path, index=False)
    _, warned = checked(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert f"{path}: data.target: class {said} has 1 sample, too few to stratify: none in the validation split" in warned


# -- 3. float16 columns ----------------------------------------------------------------------------
def test_a_float16_column_is_checked_without_numpys_overflow_warning(tmp_path):
    df = table()
    df["half"] = np.linspace(0, 1, len(df)).astype(np.float16)
    path = tmp_path / "mixed.parquet"
    df.to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # NumPy's "overflow encountered in cast" comparing float16 to float32's max
        problems, _ = checked(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert problems == []


# -- 4. a category written NA ----------------------------------------------------------------------
def _alley(tmp_path) -> str:
    df = table()
    df["Alley"] = ["NA", "Grvl", "NA", "Pave"] * 15
    path = tmp_path / "house.csv"
    df.to_csv(path, index=False)
    return str(path)


def test_cells_read_as_missing_are_named_by_their_text_with_the_key_that_keeps_them(tmp_path):
    path = _alley(tmp_path)
    problems, _ = checked(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert problems == [f"{path}: column 'Alley': must have no missing values, but got 30 cells read as missing: 'NA' "
                        "(lines 2, 4, 6, 8, 10 and 25 more) (where \"NA\" is a category, not a missing value, keep it as text: "
                        "[data] keep_text = [\"NA\"])"]


def test_keep_text_keeps_na_as_a_category(tmp_path):
    path = _alley(tmp_path)
    problems, _ = checked(tmp_path, f'dataset = "{path}"\ntarget = "label"\nkeep_text = ["NA"]')
    assert problems == []
    raw = open_data(path, {"target": "label", "keep_text": ("NA",)})
    assert "Alley_NA" in raw.encoding.dummies


@pytest.mark.parametrize(("data", "fragment"), [
    ('keep_text = ["na"]', "data.keep_text: item 0: unknown text pandas reads as missing, but got 'na' (did you mean 'NA'?)"),
    ('keep_text = [""]', "data.keep_text: item 0: unknown text pandas reads as missing, but got ''"),
])
def test_keep_text_names_texts_pandas_reads_as_missing(tmp_path, data, fragment):
    with pytest.raises(StudyError) as err:
        study_file(tmp_path, f'dataset = "{_alley(tmp_path)}"\ntarget = "label"\n{data}')
    assert fragment in str(err.value)


def test_keep_text_is_refused_for_a_parquet_file(tmp_path):
    path = tmp_path / "t.parquet"
    table().to_parquet(path)
    with pytest.raises(StudyError, match=r"data\.keep_text: applies to CSV files only"):
        study_file(tmp_path, f'dataset = "{path}"\ntarget = "label"\nkeep_text = ["NA"]')


# -- 5. compressed and upper-case file names ----------------------------------------------------------
@pytest.mark.parametrize(("name", "opener"), [("plain.csv.gz", gzip.open), ("plain.csv.bz2", bz2.open), ("plain.csv.xz", lzma.open),
                                              ("PLAIN.CSV", open), ("Plain.Csv.GZ", gzip.open)])
def test_compressed_and_upper_case_csvs_are_read(tmp_path, name, opener):
    path = tmp_path / name
    with opener(path, "wt") as f:
        table().to_csv(f, index=False)
    problems, _ = checked(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert problems == []
    raw = open_data(str(path), {"target": "label"})
    assert raw.x.shape == (60, 2) and raw.name.lower() == "plain"


def test_an_upper_case_npz_is_read(tmp_path):
    path = tmp_path / "DATA.NPZ"
    with path.open("wb") as f:  # (np.savez adds '.npz' to a name without it, in its case)
        np.savez(f, x=np.random.default_rng(0).random((30, 4)), y=np.arange(30) % 2)
    assert checked(tmp_path, f'dataset = "{path}"')[0] == []


def test_a_csv_gz_that_is_no_gzip_archive_is_named(tmp_path):
    path = tmp_path / "plain.csv.gz"
    path.write_text(table().to_csv(index=False))  # plain text under a .gz name
    with pytest.raises(StudyError, match=r"plain\.csv\.gz: data\.dataset: must be a CSV text file, but it is unreadable: Not a gzipped file"):
        study_file(tmp_path, f'dataset = "{path}"\ntarget = "label"')


def test_a_zstandard_csv_is_told_to_recompress(tmp_path):
    path = tmp_path / "plain.csv.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd")
    with pytest.raises(StudyError, match=r"data\.dataset: must be a file hpbench reads .*recompress it as \.csv\.gz"):
        study_file(tmp_path, f'dataset = "{path}"\ntarget = "label"')
