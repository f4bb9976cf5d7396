"""``csv``: delimited text with a header row, or with ``columns`` named for a headerless file.

The delimiter is guessed from the first line among ``,`` tab ``;`` ``|`` unless ``delimiter`` is
given. Uses ``delimiter``, ``columns`` and the column options.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from chronorec.data.formats.base import (
    COLUMN_OPTIONS,
    FileSniff,
    InputFormat,
    same_count_on_every_line,
)
from chronorec.data.reading import (
    ReadOptions,
    first_line,
    scan_delimited,
    select_canonical,
    sniff_delimiter,
)

LABEL = "CSV"


def matches_file(sniff: FileSniff) -> bool:
    """Extension ``.csv``."""
    return sniff.suffix == ".csv"


def matches_text(lines: Sequence[str]) -> bool:
    """Every line has the same number (at least one) of commas."""
    return same_count_on_every_line(lines, ",")


def read(path: Path, options: ReadOptions) -> pl.LazyFrame:
    """The log with its named columns renamed to the canonical ones."""
    delimiter = options.delimiter
    if delimiter is None:
        delimiter = sniff_delimiter(first_line(path))
    lf = scan_delimited(path, delimiter, options.columns)
    return select_canonical(lf, path, LABEL, options, headerless=True)


FORMAT = InputFormat(
    name="csv",
    label=LABEL,
    description="delimited text with a header row (or --columns); delimiter guessed",
    read=read,
    matches_file=matches_file,
    matches_text=matches_text,
    options=COLUMN_OPTIONS | {"delimiter", "columns"},
)
