"""``recbole``: RecBole atomic files (``.inter``).

Tab-separated, header fields ``name:type``; the ``:type`` suffix is dropped, so ``user_id:token``
is found as ``user_id``. Uses the column options.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from chronorec.data.formats.base import COLUMN_OPTIONS, FileSniff, InputFormat
from chronorec.data.reading import (
    ROW,
    ReadOptions,
    collect_schema,
    scan_delimited,
    select_canonical,
)

LABEL = "RecBole atomic file"
_HEADER_FIELD = re.compile(r"^[^\s:]+:(token|token_seq|float|float_seq)$")


def matches_file(sniff: FileSniff) -> bool:
    """Extension ``.inter``."""
    return sniff.suffix == ".inter"


def matches_text(lines: Sequence[str]) -> bool:
    """A first line of at least two tab-separated ``name:type`` fields."""
    fields = lines[0].split("\t")
    return len(fields) > 1 and all(_HEADER_FIELD.match(f.strip()) for f in fields)


def read(path: Path, options: ReadOptions) -> pl.LazyFrame:
    """The log with its named columns renamed to the canonical ones."""
    # RecBole never quotes fields, and token_seq text may contain quote characters.
    lf = scan_delimited(path, "\t", None, quote_char=None)
    names = collect_schema(lf, path, LABEL).names()
    lf = lf.rename({n: n.split(":", 1)[0] for n in names if n != ROW and ":" in n})
    return select_canonical(lf, path, LABEL, options, headerless=False)


FORMAT = InputFormat(
    name="recbole",
    label=LABEL,
    description="RecBole atomic file (.inter, header fields name:type)",
    read=read,
    matches_file=matches_file,
    matches_text=matches_text,
    options=COLUMN_OPTIONS,
)
