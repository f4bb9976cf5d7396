"""``parquet``: any Parquet file with named columns.

Ids are cast to strings; the timestamp keeps its type (ints, floats, strings, dates and datetimes
all work). Uses the column options.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from chronorec.data.formats.base import COLUMN_OPTIONS, FileSniff, InputFormat, never
from chronorec.data.reading import ROW, ReadOptions, select_canonical

LABEL = "Parquet"


def matches_file(sniff: FileSniff) -> bool:
    """The Parquet magic bytes ``PAR1``, or extension ``.parquet``/``.pq``."""
    return sniff.magic == b"PAR1" or sniff.suffix in (".parquet", ".pq")


def read(path: Path, options: ReadOptions) -> pl.LazyFrame:
    """The log with its named columns renamed to the canonical ones."""
    lf = pl.scan_parquet(path).with_row_index(ROW, offset=1)
    return select_canonical(lf, path, LABEL, options, headerless=False)


FORMAT = InputFormat(
    name="parquet",
    label=LABEL,
    description="Parquet with named columns; timestamps of any type",
    read=read,
    matches_file=matches_file,
    matches_text=never,
    options=COLUMN_OPTIONS,
)
