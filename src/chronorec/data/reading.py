"""Pieces shared by the readers of interaction logs and item metadata.

Canonical column names of a reader's output, the options a format may use, file checks, peeking at
the first bytes of text, lazy scans of delimited and line-based files, renaming the user's columns
to the canonical ones, and turning polars failures into one-line
:class:`~chronorec.errors.InputError` messages that name the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from chronorec.errors import ChronorecError, InputError

ROW = "_row"
USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, RATING = (
    "user_id",
    "item_id",
    "timestamp",
    "event_type",
    "rating",
)
TITLE, CATEGORIES = "title", "categories"

PEEK_BYTES = 64 * 1024
"""How much of a text file format detection and delimiter guessing look at."""
_DELIMITER_CANDIDATES = (",", "\t", ";", "|")
# A byte that never appears in text logs: splitting on it yields whole lines.
LINE_SEPARATOR = "\x1f"

# The command-line option that names the column of each role, for missing-column errors.
_COLUMN_OPTIONS = {
    "user": "--user-col",
    "item": "--item-col",
    "timestamp": "--time-col",
    "event": "--event-col",
    "rating": "--rating-col",
}


@dataclass(frozen=True)
class ReadOptions:
    """The reading options of :func:`chronorec.data.ingest.read_interactions`.

    Each format uses some of them (its ``options``) and ignores the rest.

    Attributes:
        delimiter: field separator for delimited text (one character; ``\\t`` means tab).
        columns: names for the columns of a headerless delimited file.
        user_col, item_col, time_col: required columns.
        event_col, rating_col: optional columns; None uses ``event_type``/``rating`` when present,
            a name makes that column required.
        times: a file of timestamps with the same shape as the log (``sequences``).
    """

    delimiter: str | None = None
    columns: tuple[str, ...] | None = None
    user_col: str = USER_ID
    item_col: str = ITEM_ID
    time_col: str = TIMESTAMP
    event_col: str | None = None
    rating_col: str | None = None
    times: Path | None = None

    def __post_init__(self) -> None:
        # A backslash-t typed on a command line arrives as two characters; it means tab.
        if self.delimiter == "\\t":
            object.__setattr__(self, "delimiter", "\t")


# --------------------------------------------------------------------------- files and text


def check_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a :class:`Path` if it is an existing, non-empty regular file.

    Raises:
        InputError: naming the file, if it is missing, a directory, or empty.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=p)
    if p.is_dir():
        raise InputError("is a directory, expected a file", path=p)
    if not p.is_file():
        raise InputError("not a regular file", path=p)
    if p.stat().st_size == 0:
        raise InputError("file is empty", path=p)
    return p


def peek_text(path: Path, n_bytes: int = PEEK_BYTES) -> str:
    """Decode the first ``n_bytes`` of ``path`` as UTF-8.

    Raises:
        InputError: for a binary file or text in another encoding.
    """
    with open(path, "rb") as f:
        head = f.read(n_bytes)
    if b"\x00" in head:
        raise InputError("looks like a binary file, expected UTF-8 text", path=path)
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as e:
        # The read may have cut a multi-byte character in half: that is not an error.
        if (
            len(head) == n_bytes
            and e.start >= len(head) - 3
            and e.reason == "unexpected end of data"
        ):
            return head[: e.start].decode("utf-8")
        raise InputError(
            f"not valid UTF-8 text (byte offset {e.start}); re-encode the file as UTF-8", path=path
        ) from None


def text_lines(text: str) -> list[str]:
    """Non-blank lines of a peeked chunk, without a possibly truncated last line."""
    lines = text.splitlines()
    if len(text) >= PEEK_BYTES - 3 and not text.endswith("\n") and len(lines) > 1:
        lines = lines[:-1]
    return [ln for ln in lines if ln.strip()]


def first_line(path: Path) -> str:
    """The first non-blank line of a text file ("" if there is none)."""
    return next(iter(text_lines(peek_text(path))), "")


def sniff_delimiter(line: str) -> str:
    """The most frequent of ``,`` tab ``;`` ``|`` in ``line`` (``,`` if none occurs)."""
    counts = {d: line.count(d) for d in _DELIMITER_CANDIDATES}
    best = max(_DELIMITER_CANDIDATES, key=lambda d: counts[d])  # ties: earlier candidate wins
    return best if counts[best] > 0 else ","


# --------------------------------------------------------------------------- polars failures


def polars_error(path: Path, what: str, err: Exception) -> InputError:
    """Turn a polars/OS read failure into a one-line InputError naming the file."""
    msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "utf-8" in msg.lower() or "utf8" in msg.lower():
        return InputError("not valid UTF-8 text; re-encode the file as UTF-8", path=path)
    if "more fields than defined" in msg:
        msg = "a row has more fields than the header (quote values that contain the delimiter)"
    return InputError(f"cannot read as {what}: {msg}", path=path)


def collect(lf: pl.LazyFrame, path: Path, what: str) -> pl.DataFrame:
    """Collect ``lf``, reporting read/parse failures as InputError for ``path``.

    Uses the streaming engine: the file is read in batches, so only the result has to fit in memory.
    """
    try:
        return lf.collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as e:
        raise polars_error(path, what, e) from None


def collect_schema(lf: pl.LazyFrame, path: Path, what: str) -> pl.Schema:
    """The schema of ``lf``, reporting read failures (e.g. a bad header) as InputError."""
    try:
        return lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as e:
        raise polars_error(path, what, e) from None


# --------------------------------------------------------------------------- scans


def scan_lines(path: Path) -> pl.LazyFrame:
    """Lazy ``_row``, ``line`` table with one row per line (blank lines give a null line)."""
    return pl.scan_csv(
        path,
        has_header=False,
        separator=LINE_SEPARATOR,
        quote_char=None,
        infer_schema=False,
        new_columns=["line"],
        row_index_name=ROW,
        row_index_offset=1,
    ).with_columns(pl.col(ROW).cast(pl.Int64))


def scan_delimited(
    path: Path, separator: str, columns: tuple[str, ...] | None, *, quote_char: str | None = '"'
) -> pl.LazyFrame:
    """Lazy table of a delimited text file, every value a string, numbered by ``_row``.

    ``columns`` names the columns of a file without a header row. Blank lines are not rows.

    Raises:
        ChronorecError: ``separator`` is not one character.
        InputError: the file is not UTF-8 text.
    """
    if len(separator) != 1:
        raise ChronorecError(
            f"the delimiter must be one character, got {separator!r} "
            "(use format 'movielens' for '::')"
        )
    peek_text(path)
    return pl.scan_csv(
        path,
        separator=separator,
        has_header=columns is None,
        new_columns=list(columns) if columns is not None else None,
        infer_schema=False,  # keep ids verbatim ("007" stays "007"); parsing happens in validation
        quote_char=quote_char,
        row_index_name=ROW,
        row_index_offset=1,
        truncate_ragged_lines=False,
    ).filter(
        # Blank lines come back as all-null rows; they are not data rows.
        pl.any_horizontal(pl.all().exclude(ROW).is_not_null())
    )


# --------------------------------------------------------------------------- canonical columns


def clean_str(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Ids and event names as stripped strings; empty strings count as missing."""
    if dtype.is_integer():
        return expr.cast(pl.String)  # never blank or padded: skip two passes over every string
    s = expr.cast(pl.String) if dtype != pl.String else expr
    s = s.str.strip_chars()
    return pl.when(s.str.len_bytes() > 0).then(s)


def _missing_column(
    role: str, col: str, available: list[str], path: Path, suggest_columns: bool
) -> InputError:
    """The error for a required column that is not in the file, naming the option that fixes it."""
    found = ", ".join(repr(c) for c in available)
    fix = f"use {_COLUMN_OPTIONS[role]} NAME to choose another column"
    if suggest_columns:
        fix += ", or --columns a,b,c to name the columns of a file without a header row"
    return InputError(
        f"missing required {role} column '{col}'; available columns: {found}; {fix}", path=path
    )


def select_canonical(
    lf: pl.LazyFrame, path: Path, what: str, options: ReadOptions, *, headerless: bool
) -> pl.LazyFrame:
    """Check the columns named in ``options`` exist and rename them to the canonical names.

    ``headerless`` says whether the format accepts ``columns`` for a file without a header row
    (a missing-column error then suggests it, unless it was given). ``event_col``/``rating_col``
    of None mean "use ``event_type``/``rating`` if present".

    Raises:
        InputError: a required column is missing; names it, the columns found and the option to use.
    """
    schema = collect_schema(lf, path, what)
    available = [c for c in schema.names() if c != ROW]

    def need(col: str, role: str) -> str:
        if col not in schema:
            suggest_columns = headerless and options.columns is None
            raise _missing_column(role, col, available, path, suggest_columns)
        return col

    cols = {
        USER_ID: need(options.user_col, "user"),
        ITEM_ID: need(options.item_col, "item"),
        TIMESTAMP: need(options.time_col, "timestamp"),
    }
    optional = ((EVENT_TYPE, options.event_col, "event"), (RATING, options.rating_col, "rating"))
    for canon, given, role in optional:
        if given is not None:
            cols[canon] = need(given, role)
        elif canon in schema:
            cols[canon] = canon
    exprs = [pl.col(ROW).cast(pl.Int64)]
    for canon, src in cols.items():
        e = pl.col(src)
        if canon in (USER_ID, ITEM_ID, EVENT_TYPE):
            e = clean_str(e, schema[src])
        exprs.append(e.alias(canon))
    return lf.select(exprs)
