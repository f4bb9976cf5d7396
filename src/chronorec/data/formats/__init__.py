"""The interaction log formats: one module each, and the table that lists them.

Adding a format is one module (an :class:`~chronorec.data.formats.base.InputFormat` named
``FORMAT``) and one line in :data:`FORMATS`.

Detection (``format="auto"``, :func:`resolve_format`) tries, first match wins:

1. every format's ``matches_file`` (magic bytes, file name, extension), in table order;
2. for extensions ``.txt``, ``.dat``, ``.data`` or none only: every format's ``matches_text`` on
   the first 64 KiB of text, in table order;
3. otherwise an InputError asking for an explicit format.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from chronorec.data.formats import csv, movielens, parquet, recbole, sequences, tsv
from chronorec.data.formats.base import FileSniff, InputFormat
from chronorec.data.reading import check_file, peek_text, text_lines
from chronorec.errors import InputError

# The order is the detection order: Parquet's magic bytes beat any name; a RecBole header or
# '::' beats the tab and comma counts; tabs beat commas; anything else is sequences.
FORMATS: Mapping[str, InputFormat] = MappingProxyType(
    {
        f.name: f
        for f in (
            parquet.FORMAT,
            recbole.FORMAT,
            movielens.FORMAT,
            tsv.FORMAT,
            csv.FORMAT,
            sequences.FORMAT,
        )
    }
)
"""Interaction formats by name, in detection order."""

_PLAIN_TEXT_SUFFIXES = (".txt", ".dat", ".data", "")


def format_help() -> str:
    """The choices of ``--format``: ``auto|parquet|recbole|...``."""
    return "|".join(("auto", *FORMATS))


def resolve_format(path: str | os.PathLike[str], format: str = "auto") -> str:
    """Return the concrete format of ``path``: ``format`` itself, or the detected one for ``auto``.

    See the module docstring for the detection rules.

    Raises:
        InputError: missing or empty file, unknown format name, or a file whose format cannot be
            detected.
    """
    p = check_file(path)
    if format != "auto":
        if format not in FORMATS:
            raise InputError(
                f"unknown format '{format}'; known formats: auto, {', '.join(FORMATS)}", path=p
            )
        return format
    sniff = FileSniff.of(p)
    for fmt in FORMATS.values():
        if fmt.matches_file(sniff):
            return fmt.name
    if sniff.suffix not in _PLAIN_TEXT_SUFFIXES:
        raise InputError(
            f"cannot detect the format from the extension '{sniff.suffix}'; "
            f"give one of: {', '.join(FORMATS)}",
            path=p,
        )
    return _detect_from_text(p)


def _detect_from_text(path: Path) -> str:
    """The first format whose ``matches_text`` accepts the first lines of ``path``."""
    lines = text_lines(peek_text(path))
    if not lines:
        raise InputError("no data rows", path=path)
    for fmt in FORMATS.values():
        if fmt.matches_text(lines):
            return fmt.name
    raise InputError(
        f"cannot detect the format from the text; give one of: {', '.join(FORMATS)}", path=path
    )
