"""``tsv``: tab-separated text with a header row, or with ``columns`` named for a headerless file.

Uses ``delimiter`` (default tab), ``columns`` and the column options.
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
from chronorec.data.reading import ReadOptions, scan_delimited, select_canonical

LABEL = "TSV"


def matches_file(sniff: FileSniff) -> bool:
    """Extension ``.tsv``."""
    return sniff.suffix == ".tsv"


def matches_text(lines: Sequence[str]) -> bool:
    """Every line has the same number (at least one) of tabs."""
    return same_count_on_every_line(lines, "\t")


def read(path: Path, options: ReadOptions) -> pl.LazyFrame:
    """The log with its named columns renamed to the canonical ones."""
    delimiter = "\t" if options.delimiter is None else options.delimiter
    lf = scan_delimited(path, delimiter, options.columns)
    return select_canonical(lf, path, LABEL, options, headerless=True)


FORMAT = InputFormat(
    name="tsv",
    label=LABEL,
    description="tab-separated text with a header row (or --columns)",
    read=read,
    matches_file=matches_file,
    matches_text=matches_text,
    options=COLUMN_OPTIONS | {"delimiter", "columns"},
)
