"""Read an interaction log, in any of the :mod:`chronorec.data.formats`, into one canonical table.

Every format's reader returns a :class:`polars.LazyFrame` in file order with these columns:

- ``_row`` (Int64): 1-based number of the source data row (header not counted; for ``movielens``
  and ``sequences`` it is the line number). Used in error messages; file order breaks timestamp
  ties.
- ``user_id``, ``item_id`` (String): original ids, surrounding whitespace stripped, empty -> null.
- ``timestamp``: the raw value (String for text formats, the native type for Parquet, Int64
  positions for ``sequences`` without a times file).
  :func:`chronorec.data.values.to_unix_seconds` converts it.
- ``event_type`` (String), only when the log has an event column.
- ``rating``: the raw value, only when the log has a rating column.
  :func:`chronorec.data.values.to_float` converts it.

Nothing is parsed or dropped here apart from blank lines: deciding what is a bad row (and counting
it) is the job of :mod:`chronorec.data.validate`. Fatal problems (missing or empty file, undecodable
text, missing column, unknown format) raise :class:`~chronorec.errors.InputError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from chronorec.data.formats import FORMATS, resolve_format
from chronorec.data.reading import ITEM_ID, TIMESTAMP, USER_ID, ReadOptions, check_file
from chronorec.errors import InputError


def read_interactions(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    delimiter: str | None = None,
    columns: tuple[str, ...] | None = None,
    user_col: str = USER_ID,
    item_col: str = ITEM_ID,
    time_col: str = TIMESTAMP,
    event_col: str | None = None,
    rating_col: str | None = None,
    times: str | os.PathLike[str] | None = None,
) -> pl.LazyFrame:
    """Lazily read an interaction log into the canonical columns described in the module docstring.

    Args:
        path: the log file.
        format: a name in :data:`chronorec.data.formats.FORMATS`, or ``auto``.
        delimiter: field separator for ``csv``/``tsv`` (one character; ``\\t`` is accepted).
        columns: names for the columns of a headerless ``csv``/``tsv`` file.
        user_col, item_col, time_col: required columns (``csv``, ``tsv``, ``parquet``, ``recbole``).
        event_col, rating_col: optional columns; None uses ``event_type``/``rating`` when present,
            a name makes that column required.
        times: for ``sequences``, a file of timestamps with the same shape as ``path``.

    Raises:
        InputError: missing/empty/undecodable file, unknown format, missing column, times file
            that does not match the sequences.
    """
    p = check_file(path)
    fmt = FORMATS[resolve_format(p, format)]
    if times is not None and "times" not in fmt.options:
        takers = " or ".join(f"'{f.name}'" for f in FORMATS.values() if "times" in f.options)
        raise InputError(
            f"a times file only applies to format {takers}, not '{fmt.name}'", path=Path(times)
        )
    options = ReadOptions(
        delimiter=delimiter,
        columns=columns,
        user_col=user_col,
        item_col=item_col,
        time_col=time_col,
        event_col=event_col,
        rating_col=rating_col,
        times=Path(times) if times is not None else None,
    )
    return fmt.read(p, options)
