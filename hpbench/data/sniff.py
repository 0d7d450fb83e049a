"""What a data file is, told from its first bytes before pandas reads it: no text at all (an Excel
workbook named .csv), UTF-16 text, text separated by something other than commas, a first line of
values rather than names (no header line), or a format hpbench does not read whose conversion is
known (UCI's ``.data``, LIBSVM, ARFF, MNIST's idx files, a pickle, a folder).

Each function returns words for a message ('' when nothing is wrong); nothing here raises.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Sequence
from pathlib import Path

from hpbench.data.files import head_bytes, open_text

# The first bytes of files that are often named .csv by mistake.
MAGIC = ((b"PAR1", "a Parquet file (name it .parquet)"), (b"PK\x03\x04", "a zip archive (an Excel .xlsx file is one)"),
         (b"\x1f\x8b", "a gzip archive"), (b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"),
         (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Word file"), (b"\xff\xd8\xff", "a JPEG image"), (b"\x93NUMPY", "a NumPy .npy array"))
# Byte-order marks of text that is not UTF-8 (Excel's "Unicode Text" is UTF-16 with tabs): its NUL bytes read as binary data
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
SNIFF_BYTES = 4096

_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")
_DECIMAL_COMMA = re.compile(r"\s*[-+]?\d*,\d+\s*")  # '0,686', '-17,112'
_SVMLIGHT = re.compile(r"\s*[-+]?[\d.]+(\s+(qid:)?\d+:[-+\d.eE]+)+\s*(#.*)?")  # '+1 3:1 11:0.5'
NO_HEADER_FIX = "pandas.read_csv(path, header=None, names=[...]).to_csv(new_path, index=False)"


def binary_kind(path: str) -> str:
    """What a file named .csv holds when it is not UTF-8 text ('' when it looks like text)."""
    try:
        head = head_bytes(path, SNIFF_BYTES)  # a compressed CSV's text, decompressed
    except (OSError, EOFError, ValueError) as err:  # also a .csv.gz that is no gzip archive (lzma.LZMAError is an OSError)
        return f"unreadable: {getattr(err, 'strerror', None) or err}"
    for magic, what in MAGIC:
        if head.startswith(magic):
            return what
    encoding = next((enc for bom, enc in _BOMS if head.startswith(bom)), "")
    if encoding:  # checked before the NUL bytes, which every ASCII character of it has
        line = head.decode(encoding, errors="replace").lstrip("\ufeff").split("\n", 1)[0]
        sep = ", sep='\\t'" if "\t" in line and "," not in line else ""
        return (f"{encoding.upper()} text (its first bytes are the byte-order mark), not UTF-8: re-save it as UTF-8, "
                f"pandas.read_csv(path, encoding='{encoding}'{sep}).to_csv(new_path, index=False)")
    if b"\x00" in head:
        return "binary data (NUL bytes)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not just a character cut at the end of the sample
            return f"binary or non-UTF-8 data (byte {head[err.start]:#04x} at offset {err.start})"
    return ""


def _first_lines(path: str, n: int = 2) -> list[str]:
    """A CSV's first ``n`` lines that are not blank (decoded leniently, a BOM dropped)."""
    try:
        text = head_bytes(path, SNIFF_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff")
    except (OSError, EOFError, ValueError):
        return []
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()][:n]


def other_separator(path: str) -> str:
    """The separator of a CSV whose first lines split on ``;``, a tab or runs of spaces and hold no
    comma ('' when it looks comma-separated): hpbench reads commas (European spreadsheets save ``;``
    with decimal commas, UCI and HAR files separate by spaces, and pandas then read each row as one
    column, or more fields than the header). Spaces count when the first two lines, neither with a
    comma, both split into the same number of fields, at least 2 (a one-column file's name may hold
    a space)."""
    lines = _first_lines(path)
    if not lines or "," in lines[0]:
        return ""
    sep = next((sep for sep in (";", "\t") if sep in lines[0]), "")
    if sep:
        return sep
    widths = {len(line.split()) for line in lines}
    spaced = len(lines) == 2 and "," not in lines[1] and len(widths) == 1 and widths.pop() >= 2
    return r"\s+" if spaced else ""


def resave_call(path: str, sep: str) -> str:
    """The pandas line that re-saves a CSV separated by ``sep`` as hpbench reads it: ``decimal=','``
    only where its values have decimal commas, ``header=None`` where its first line holds numbers."""
    rows = [_split(line, sep) for line in _first_lines(path, 6)]
    decimal = ", decimal=','" if any(is_decimal_comma(c.strip('"')) for row in rows for c in row) else ""
    header = ", header=None, names=[...]" if rows and values_not_names(rows[0]) else ""
    return f"pandas.read_csv(path, sep={sep_text(sep)}{decimal}{header}).to_csv(new_path, index=False)"


def sep_text(sep: str) -> str:
    """A separator as Python source: ';', '\\t', r'\\s+'."""
    return "r'\\s+'" if sep == r"\s+" else repr(sep)


def _split(line: str, sep: str) -> list[str]:
    return line.split() if sep == r"\s+" else line.split(sep)


def longer_row(path: str) -> str:
    """``: line 2 has 15 fields where the header line taken, line 1 '|1x3 Cross validator', has 1`` for a CSV with a row
    longer than its header ('' when none is found): the header pandas took is not always the one
    meant (UCI's adult.test starts with a line of its own)."""
    try:
        with open_text(path) as f:
            header: list[str] | None = None
            for number, row in enumerate(csv.reader(f), start=1):
                if header is None:
                    if row and (len(row) > 1 or row[0].strip()):  # pandas skips blank lines before the header
                        header, at = row, number
                elif len(row) > len(header):
                    text = ",".join(header)
                    shown = text[:40] + ("..." if len(text) > 40 else "")
                    return f": line {number} has {len(row)} fields where the header line taken, line {at} {shown!r}, has {len(header)}"
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, ValueError):
        pass
    return ""


def is_number(cell: str) -> bool:
    return bool(_NUMBER.fullmatch(cell))


def is_decimal_comma(cell: str) -> bool:
    """'0,686': a number written with a decimal comma (or, with 3 digits after it, a thousands separator)."""
    return bool(_DECIMAL_COMMA.fullmatch(cell))


def values_not_names(cells: Sequence[str]) -> bool:
    """Whether a header line may hold values rather than names: at least 2 cells, every one a number
    (a file without a header line: UCI's, Pima, MNIST as CSV; but also names that are numbers:
    wavelengths, years, a frame's integer labels after a column selection). pandas' own names of a
    frame's columns, 0..n-1 (``DataFrame(array).to_csv``) or 1..n, are names."""
    cells = [c.strip().strip('"') for c in cells]
    if len(cells) < 2 or not all(is_number(c) for c in cells):
        return False
    return cells not in ([str(i) for i in range(len(cells))], [str(i) for i in range(1, len(cells) + 1)])


def repeated_values(cells: Sequence[str]) -> bool:
    """Whether a header line of numbers (:func:`values_not_names`) repeats one: no header names two
    columns alike, so it is a first sample (MNIST as CSV, a row of pixels), where pandas would rename
    the second '52' to '52.1'. A line of distinct numbers may be names (years, wavelengths) or a
    sample (Pima's first row): read as names, and the pre-flight warns."""
    cells = [c.strip().strip('"') for c in cells]
    return values_not_names(cells) and len(set(cells)) < len(cells)


def first_values(cells: Sequence[str], n: int = 5) -> str:
    """``6, 148, 72, 35, 0, ...``: a line's first cells."""
    shown = ", ".join(c.strip() for c in cells[:n])
    return shown + (", ..." if len(cells) > n else "")


def unread_format(path: Path) -> str:
    """What an existing file or folder that hpbench does not read is, and how to convert it ('' when
    its format is not recognised)."""
    if path.is_dir():
        images = any(p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif") for p in _some_files(path))
        return (f"a folder{' of images' if images else ''}, where hpbench reads one file: write a loader returning (x, y) arrays or a "
                "torch Dataset and give 'package.module:load' (README: User code)")
    name = path.name.lower()
    head = _head(path)
    if re.search(r"idx\d-ubyte", name) or head[:3] == b"\x00\x00\x08":
        return ("an idx file (MNIST's format): read it with numpy.frombuffer(gzip.open(f).read(), numpy.uint8, offset=16) (labels: offset=8), "
                "reshape the images to (n, 28, 28) and save numpy.savez('mnist.npz', x_train=..., y_train=..., x_test=..., y_test=...)")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return ("a Python pickle (CIFAR's batches are), not read (unpickling runs code): unpickle it yourself and save its arrays, "
                "numpy.savez(new_path, x=..., y=...)")
    text = head.decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()][:2]
    if name.endswith(".arff") or any(line.upper().startswith("@RELATION") for line in text.splitlines()[:20]):
        return ("an ARFF file: data, meta = scipy.io.arff.loadarff(f); pandas.DataFrame(data).to_csv(new_path, index=False) "
                "(its text columns come as bytes: .str.decode('utf-8'))")
    if name.endswith((".svm", ".libsvm", ".svmlight")) or (lines and all(_SVMLIGHT.fullmatch(line) for line in lines)):
        return ("a LIBSVM/svmlight file: x, y = sklearn.datasets.load_svmlight_file(f); numpy.savez(new_path, x=x.toarray(), y=y) "
                "(x is a scipy sparse matrix: .toarray() makes it an array)")
    if lines and "\x00" not in text and "\ufffd" not in text:
        sep = "," if "," in lines[0] else "\t" if "\t" in lines[0] else r"\s+"
        headerless = name.endswith(".data") or values_not_names(_split(lines[0], sep))  # UCI's .data files have no header line
        header = ", header=None, names=[...]" if headerless else ""
        spaces = ", skipinitialspace=True" if sep == "," and ", " in lines[0] else ""  # UCI's ', ' (else each text starts with a space)
        return f"a text table: pandas.read_csv(f, sep={sep_text(sep)}{spaces}{header}).to_csv(new_path, index=False)"
    return ""


def _head(path: Path) -> bytes:
    """A file's first bytes (a gzip archive's decompressed), b'' when unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
        if head.startswith(b"\x1f\x8b"):
            with gzip.open(path, "rb") as z:
                return z.read(SNIFF_BYTES)
        return head
    except (OSError, EOFError):
        return b""


def _some_files(folder: Path, n: int = 200) -> list[Path]:
    """Up to ``n`` files of a folder and its subfolders (an ImageFolder keeps its images one level down)."""
    out: list[Path] = []
    for p in folder.rglob("*"):
        if p.is_file():
            out.append(p)
        if len(out) >= n:
            break
    return out
