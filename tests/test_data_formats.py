"""Public benchmarks in the formats they ship in (bug hunt s52/h1 #3, #4, #6-#9): a CSV without a
header line, a spreadsheet's empty columns, UCI/LIBSVM/ARFF/idx/pickle files and folders, a sparse
matrix saved in an .npz, UTF-16 text, and the re-save lines of CSVs separated otherwise. Each is one
line naming the file, the key, the rule and the value; read and checked without Ray."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pandas as pd
import pytest

from hpbench.errors import StudyError
from hpbench.preflight.run import check_data
from tests.test_user_data import study_file  # the one-key-data study both files read

OTHER_FILES_RULE = ("data.dataset: must be a file hpbench reads (.csv, .csv.gz/.bz2/.xz, .parquet, .npz, .npy) or "
                    "'package.module:load' (your own loader)")


def refused(tmp_path, data: str) -> list[str]:
    """The problems of a study refused when it is read, or else by the pre-flight's data checks."""
    try:
        study = study_file(tmp_path, data)
    except StudyError as err:
        return [str(p) for p in err.problems]
    return [str(p) for p in check_data(study).problems]


def numbers(n: int = 60, k: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 90, size=(n, k))
    x[:, 0] = np.arange(n) % 2  # the label, first as MNIST's CSV has it
    return x


# -- 3. no header line ----------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["label", "1", "7"])
def test_a_csv_without_a_header_line_is_refused_as_headerless_before_its_names_are_checked(tmp_path, target):
    """MNIST as CSV (pjreddie's: a label and 784 pixels, no header) was refused as naming '52' twice.
    A first line of numbers with one repeated is no header (a line of distinct numbers is read as
    names, with a warning: below)."""
    x = numbers()
    x[0, 1:3] = 7  # a value twice in the first line: pandas would rename the second '7.1'
    path = tmp_path / "mnist_train.csv"
    np.savetxt(path, x, fmt="%d", delimiter=",")
    problems = refused(tmp_path, f'dataset = "{path}"\ntarget = "{target}"')
    assert problems == [f"{path}: data.dataset: must start with a header line naming its columns, but got a first line of numbers "
                        f"({', '.join(str(v) for v in x[0, :5])}, ...) (the file seems to have no header line: add one, "
                        "pandas.read_csv(path, header=None, names=[...]).to_csv(new_path, index=False))"], problems


def test_a_header_of_pandas_own_column_numbers_is_a_header(tmp_path):
    """``DataFrame(array).to_csv(index=False)`` names the columns 0..n-1: numbers, and names all the same."""
    path = tmp_path / "frame.csv"
    pd.DataFrame(numbers()[:, ::-1]).to_csv(path, index=False)
    checked = check_data(study_file(tmp_path, f'dataset = "{path}"\ntarget = "5"'))
    assert checked.problems == [] and not [w for w in checked.warnings if "header line" in w], checked.warnings


def _digits_selected(path):  # integer labels after dropping constant columns, the target added as df[k] = y: 1..3, 5..10
    df = pd.DataFrame(numbers(60, 10)[:, ::-1] * 0.5).drop(columns=[3, 9]).rename(columns=lambda c: c + 1)
    df[10] = np.arange(60) % 2
    df.to_csv(path, index=False)


def _years(path):
    pd.DataFrame(numbers(60, 3) * 0.5, columns=[2019, 2020, 2021]).to_csv(path, index=False)


def _pima(path):  # no header line: the first sample's values are distinct, so they read as names
    rows = [[6, 148, 72, 35, 0, 33.6, 0.627, 50, 1]] + [[i % 9, 100 + i, 70, 30, i % 3, 30.5, 0.5, 20 + i, i % 2] for i in range(40)]
    path.write_text("\n".join(",".join(str(v) for v in row) for row in rows) + "\n")


@pytest.mark.parametrize(("make", "target", "first"), [(_digits_selected, "10", "1, 2, 3, 5, 6, ..."), (_years, "2021", "2019, 2020, 2021"),
                                                      (_pima, "1", "6, 148, 72, 35, 0, ...")])
def test_a_header_line_of_distinct_numbers_is_read_as_names_with_a_warning(tmp_path, make, target, first):
    """Bug hunt s52/v1 #1: a header of numbers (a frame's integer labels after a column selection,
    years) was refused as no header line, with no way past it; Pima's first sample can't be told from one."""
    path = tmp_path / "numbers.csv"
    make(path)
    checked = check_data(study_file(tmp_path, f'dataset = "{path}"\ntarget = "{target}"'))
    assert checked.problems == []
    assert [w for w in checked.warnings if "header line" in w] == [
        f"{path}: the header line reads as numbers ({first}), taken as the column names: names that are numbers (years, wavelengths) are "
        "fine; if the file has no header line, its first sample was taken as the column names and is not trained on: add one, "
        "pandas.read_csv(path, header=None, names=[...]).to_csv(new_path, index=False)"], checked.warnings


def test_a_target_not_found_in_a_header_line_of_distinct_numbers_is_told_the_file_may_have_no_header(tmp_path):
    path = tmp_path / "pima.csv"
    _pima(path)
    assert refused(tmp_path, f'dataset = "{path}"\ntarget = "Outcome"') == [
        f"{path}: data.target: must name a column of the file, but got 'Outcome' (the header line holds values (6, 148, 72, 35, 0, ...): "
        "if the file has no header line, add one, pandas.read_csv(path, header=None, names=[...]).to_csv(new_path, index=False))"]


def test_a_first_line_of_values_and_texts_is_said_to_be_no_header_where_a_target_is_not_found(tmp_path):
    """UCI's adult.data copied to .csv: the did-you-mean listed the first row's values as column names."""
    path = tmp_path / "adult.csv"
    rows = [f"{20 + i}, Private, {1000 + i}, Bachelors, 13, {'<=50K' if i % 2 else '>50K'}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    problems = refused(tmp_path, f'dataset = "{path}"\ntarget = "income"')
    assert problems == [f"{path}: data.target: must name a column of the file, but got 'income' (the header line holds values (20, "
                        "Private, 1000, Bachelors, 13, ...): if the file has no header line, add one, "
                        "pandas.read_csv(path, header=None, names=[...]).to_csv(new_path, index=False))"], problems


# -- 4. a spreadsheet's empty columns -------------------------------------------------------------------
@pytest.mark.parametrize(("header", "row", "said"), [
    ("x1,x2,label,,", "{a},{b},{c},,", "columns 4-5 have no name and no value (a spreadsheet's trailing empty columns)"),
    ("x1,x2,label,", "{a},{b},{c},", "column 4 has no name and no value (a spreadsheet's trailing empty column)"),
    ("x1,,x2,label,,", "{a},,{b},{c},,", "columns 2, 5-6 have no name and no value (as a spreadsheet saves an emptied column)"),
])
def test_a_spreadsheets_empty_columns_are_named_as_such_with_the_line_that_drops_them(tmp_path, header, row, said):
    """Two were "must name each column once (pandas would read a second '' as '.1')", false; one was
    blamed on to_csv's row index, which is a first column."""
    path = tmp_path / "excel.csv"
    lines = [header] + [row.format(a=i * 0.5, b=i % 7, c="pos" if i % 2 else "neg") for i in range(40)]
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    problems = refused(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert problems == [f"{path}: (header): must name every column, but got {said} (delete {'them' if 'columns' in said else 'it'}, or "
                        'pandas.read_csv(path).dropna(axis=1, how="all").to_csv(new_path, index=False))'], problems


def test_an_unnamed_first_column_with_values_keeps_the_row_index_hint(tmp_path):
    path = tmp_path / "indexed.csv"
    pd.DataFrame({"x": np.arange(40) * 0.5, "label": ["a", "b"] * 20}).to_csv(path)
    problems = refused(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert len(problems) == 1 and "row index DataFrame.to_csv writes unless index=False" in problems[0], problems
    assert problems[0].endswith("but got 1 unnamed, the first at position 1"), problems


# -- 6. files and folders of formats hpbench does not read ----------------------------------------------
def _adult_data(path):
    path.write_text("39, State-gov, 77516, <=50K\n50, Private, 83311, >50K\n")


def _spaces_txt(path):
    np.savetxt(path, numbers(4, 3) * 0.25, fmt="%15.7e")


def _libsvm(path):
    path.write_text("-1 1:0.5 4:1.25\n+1 2:-0.75 3:1\n")


def _arff(path):
    path.write_text("% iris\n@RELATION iris\n@ATTRIBUTE a NUMERIC\n@ATTRIBUTE class {x,y}\n@DATA\n1.0,x\n")


def _idx(path):
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(2 * 784))


def _pickle(path):
    path.write_bytes(pickle.dumps({b"data": [1, 2], b"labels": [0]}, protocol=2))


def _folder(path):
    (path / "cat").mkdir(parents=True)
    (path / "cat" / "0.png").write_bytes(b"\x89PNG\r\n")


@pytest.mark.parametrize(("name", "make", "hint"), [
    ("adult.data", _adult_data, "(a text table: pandas.read_csv(f, sep=',', skipinitialspace=True, header=None, names=[...]).to_csv("),
    ("X_train.txt", _spaces_txt, "(a text table: pandas.read_csv(f, sep=r'\\s+', header=None, names=[...]).to_csv(new_path, index=False))"),
    ("a1a.svm", _libsvm, "(a LIBSVM/svmlight file: x, y = sklearn.datasets.load_svmlight_file(f); numpy.savez(new_path, x=x.toarray(), y=y)"),
    ("a1a", _libsvm, "(a LIBSVM/svmlight file: "),
    ("iris.arff", _arff, "(an ARFF file: data, meta = scipy.io.arff.loadarff(f); "),
    ("train-images-idx3-ubyte.gz", _idx, "(an idx file (MNIST's format): read it with numpy.frombuffer("),
    ("data_batch_1", _pickle, "(a Python pickle (CIFAR's batches are), not read (unpickling runs code)"),
    ("images", _folder, "(a folder of images, where hpbench reads one file: write a loader returning (x, y) arrays or a torch Dataset "
                        "and give 'package.module:load'"),
])
def test_an_existing_file_of_another_format_is_told_it_is_not_read_with_its_conversion(tmp_path, name, make, hint):
    """They were an "unknown dataset", the list of the built-in names offered, as for a misspelt name."""
    make(tmp_path / name)
    problems = refused(tmp_path, f'dataset = "{name}"\ntarget = "label"')
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'study.toml'}: {OTHER_FILES_RULE}, but got '{name}' {hint}"), problems
    assert "unknown dataset" not in problems[0] and "digits" not in problems[0]


def test_a_name_that_is_no_file_is_still_an_unknown_dataset(tmp_path):
    problems = refused(tmp_path, 'dataset = "digitz"')
    assert len(problems) == 1 and "unknown dataset" in problems[0] and "did you mean 'digits'?" in problems[0], problems


# -- 7. a sparse matrix in an .npz ----------------------------------------------------------------------
def test_one_python_object_saved_as_x_is_told_to_become_an_array_not_astype(tmp_path):
    """np.savez stores a scipy sparse matrix as a 0-d object array; the hint, x.astype(np.float32), stays sparse."""
    path = tmp_path / "svm.npz"
    x = np.empty((), dtype=object)
    x[()] = {"a sparse": "matrix"}  # any one Python object: what a scipy sparse matrix becomes
    np.savez(path, x=x, y=np.arange(4) % 2)
    problems = refused(tmp_path, f'dataset = "{path}"')
    assert len(problems) == 1 and "array 'x' must hold numbers, but has dtype object" in problems[0], problems
    assert "it is one Python object, shape (), not an array of samples: a scipy sparse matrix? save np.savez(path, x=x.toarray(), ...)" \
        in problems[0] and "astype" not in problems[0].replace("np.asarray(x, dtype=np.float32)", ""), problems


def test_one_python_object_saved_as_y_is_named_so(tmp_path):
    path = tmp_path / "svm.npz"
    y = np.empty((), dtype=object)
    y[()] = [0, 1, 0, 1]
    np.savez(path, x=np.ones((4, 3), dtype=np.float32), y=y)
    problems = refused(tmp_path, f'dataset = "{path}"')
    assert len(problems) == 1 and "array 'y' must hold one label per sample, shaped (n,), but has shape () (one Python object: a scipy " \
        "sparse matrix? save y.toarray().ravel(); a list: np.asarray(y))" in problems[0], problems


# -- 8. UTF-16 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sep", "said"), [(",", "encoding='utf-16')"), ("\t", "encoding='utf-16', sep='\\t')")])
def test_a_utf16_csv_is_told_it_is_utf16_text_to_save_as_utf8(tmp_path, sep, said):
    """Excel's "Unicode Text" was "binary data (NUL bytes)"."""
    path = tmp_path / "utf16.csv"
    pd.DataFrame({"x": np.arange(40) * 0.5, "label": ["a", "b"] * 20}).to_csv(path, index=False, sep=sep, encoding="utf-16")
    problems = refused(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert problems == [f"{path}: data.dataset: must be a CSV text file, but it is UTF-16 text (its first bytes are the byte-order mark), "
                        f"not UTF-8: re-save it as UTF-8, pandas.read_csv(path, {said}.to_csv(new_path, index=False)"], problems


# -- 9. re-save lines ----------------------------------------------------------------------------------
def test_quoted_decimal_commas_are_offered_the_decimal_comma_reading(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("x1,label\n" + "".join(f'"{i},{i * 7 % 1000:03d}",{"pos" if i % 2 else "neg"}\n' for i in range(40)))
    problems = refused(tmp_path, f'dataset = "{path}"\ntarget = "label"')
    assert len(problems) == 1 and problems[0].endswith("but got text like '0,000' (if ',' is a decimal comma here: "
                                                       "pandas.read_csv(path, decimal=',').to_csv(new_path, index=False))"), problems


def test_a_whitespace_separated_csv_gets_one_line_that_re_saves_it(tmp_path):
    """Boston housing renamed .csv: three errors, the two last ones following from the first, and no re-save line."""
    path = tmp_path / "housing.csv"
    np.savetxt(path, numbers(40, 4) * 0.5 + 0.25, fmt="%8.4f")
    problems = refused(tmp_path, f'dataset = "{path}"\ntarget = "MEDV"')
    assert problems == [f"{path}: data.dataset: must be comma-separated with '.' as the decimal mark (re-save it: pandas.read_csv(path, "
                        "sep=r'\\s+', header=None, names=[...]).to_csv(new_path, index=False)), but got lines separated by spaces and "
                        "no comma"], problems


@pytest.mark.parametrize(("decimal", "said"), [(".", "sep=';')"), (",", "sep=';', decimal=',')")])
def test_a_semicolon_csv_is_told_decimal_commas_only_where_it_has_them(tmp_path, decimal, said):
    """winequality-red.csv (';' with '.' decimals) was told to re-save with decimal=','."""
    path = tmp_path / "winequality-red.csv"
    rows = [f"{i * 0.5:.3f};{i % 3}".replace(".", decimal) for i in range(40)]
    path.write_text('"fixed acidity";"quality"\n' + "\n".join(rows) + "\n")
    problems = refused(tmp_path, f'dataset = "{path}"\ntarget = "quality"')
    assert len(problems) == 1 and f"(re-save it: pandas.read_csv(path, {said}.to_csv(new_path, index=False))" in problems[0], problems


def test_rows_longer_than_the_header_name_the_header_line_taken(tmp_path):
    """UCI's adult.test starts with '|1x3 Cross validator': refused rightly, naming neither that line nor a row."""
    path = tmp_path / "adult_test.csv"
    path.write_text("|1x3 Cross validator\n" + "".join(f"{20 + i}, Private, {'<=50K.' if i % 2 else '>50K.'}\n" for i in range(40)))
    problems = refused(tmp_path, f'dataset = "{path}"\ntarget = "income"')
    assert len(problems) == 1 and problems[0].endswith("rows with more fields than the header line (pandas: data would be lost): line 2 "
                                                       "has 3 fields where the header line taken, line 1 '|1x3 Cross validator', has 1"), problems


def test_a_header_with_a_few_numeric_names_still_offers_the_close_name(tmp_path):
    path = tmp_path / "wide.csv"
    pd.DataFrame({"region": ["n", "s"] * 20, "2019": np.arange(40), "2020": np.arange(40) * 2, "label": [0, 1] * 20}).to_csv(path, index=False)
    problems = refused(tmp_path, f'dataset = "{path}"\ntarget = "lable"')
    assert problems == [f"{path}: data.target: must name a column of the file, but got 'lable' (did you mean 'label'?)"], problems
