"""The data files hpbench reads as tables, told by their names: CSV (plain, or compressed as
``.csv.gz``, ``.csv.bz2``, ``.csv.xz``, which pandas and the standard library decompress) and
Parquet. Suffixes are matched in any case (``DATA.CSV``, as Windows tools save it).

A compressed CSV is read whole, as every CSV is (tables are not streamed); only its first bytes
are decompressed to sniff it (:func:`head_bytes`) and to read its header (:func:`open_text`).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

CSV_COMPRESSIONS: dict[str, Callable[..., IO[Any]]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
CSV_SUFFIXES = (".csv", *(f".csv{c}" for c in CSV_COMPRESSIONS))
PARQUET_SUFFIX = ".parquet"
TABLE_SUFFIXES = (*CSV_SUFFIXES, PARQUET_SUFFIX)

# The texts pandas.read_csv reads as a missing value by default (its documented na_values list):
# a category written 'NA' (Kaggle's House Prices: Alley = NA, no alley) is read as missing unless kept
NA_TEXTS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN",
            "None", "n/a", "nan", "null")


def is_table(name: str) -> bool:
    """A CSV (compressed or not) or Parquet file, by its name."""
    return name.lower().endswith(TABLE_SUFFIXES)


def is_csv(name: str) -> bool:
    return name.lower().endswith(CSV_SUFFIXES)


def is_parquet(name: str) -> bool:
    return name.lower().endswith(PARQUET_SUFFIX)


def compression(name: str) -> str:
    """A compressed CSV's compression suffix ('.gz', ...), '' for a plain one."""
    low = name.lower()
    return next((c for c in CSV_COMPRESSIONS if low.endswith(f".csv{c}")), "")


def _open(path: str) -> IO[bytes]:
    opener = CSV_COMPRESSIONS.get(compression(path))
    return opener(path, "rb") if opener else open(path, "rb")


def head_bytes(path: str, n: int) -> bytes:
    """The first ``n`` bytes of a CSV's text (decompressed). Raises ``OSError`` (a file that is not
    the archive its name says: ``gzip.BadGzipFile``), ``EOFError`` or ``lzma.LZMAError``."""
    with _open(path) as f:
        return f.read(n)


def open_text(path: str) -> IO[str]:
    """A CSV's text (decompressed), for reading its header line; a UTF-8 BOM (Excel's "CSV UTF-8"
    writes one) is dropped, as pandas drops it: kept, '\ufeffage' was a column of its own."""
    opener = CSV_COMPRESSIONS.get(compression(path))
    if opener:
        return opener(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


def kept_na_values(keep: tuple[str, ...]) -> list[str]:
    """The texts read as missing when those of ``keep`` are kept as text (``[data] keep_text``)."""
    return [t for t in NA_TEXTS if t not in keep]


def stem(path: str) -> str:
    """A data file's name without its table suffix ('plain' of 'plain.csv.gz')."""
    name = Path(path).name
    suffix = next((s for s in TABLE_SUFFIXES if name.lower().endswith(s) and len(name) > len(s)), "")
    return name[: len(name) - len(suffix)] if suffix else Path(path).stem
