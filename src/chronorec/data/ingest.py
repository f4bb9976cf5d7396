"""Readers that turn interaction logs and item metadata files into canonical polars tables.

Every interaction reader returns a :class:`polars.LazyFrame` in file order with these columns:

- ``_row`` (Int64): 1-based number of the source data row (header not counted; for ``movielens``
  and ``sequences`` it is the line number). Used in error messages; file order breaks timestamp ties.
- ``user_id``, ``item_id`` (String): original ids, surrounding whitespace stripped, empty -> null.
- ``timestamp``: the raw value (String for text formats, the native type for Parquet, Int64 positions
  for ``sequences`` without a times file). :func:`to_unix_seconds` converts it.
- ``event_type`` (String), only when the log has an event column.
- ``rating``: the raw value, only when the log has a rating column. :func:`to_float` converts it.

Nothing is parsed or dropped here apart from blank lines: deciding what is a bad row (and counting it)
is the job of :mod:`chronorec.data.prepare`. Fatal problems (missing or empty file, undecodable text,
missing column, unknown format) raise :class:`~chronorec.errors.InputError` naming the file.

Formats
-------
``csv``/``tsv``
    Delimited text with a header row (or give ``columns=`` names for a headerless file). ``csv``
    guesses the delimiter from the first line among ``,`` tab ``;`` ``|`` unless ``delimiter`` is given.
``parquet``
    Any Parquet file; ids are cast to strings, the timestamp keeps its type (ints, floats, strings,
    dates and datetimes all work).
``recbole``
    RecBole atomic files (``.inter``): tab-separated, header fields ``name:type``; the ``:type``
    suffix is dropped, so ``user_id:token`` is found as ``user_id``.
``movielens``
    ``u.data`` (tab: user item rating timestamp, no header) or ``ratings.dat``
    (``user::item::rating::timestamp``). Column options are ignored, except ``event_col="rating"``,
    which makes the rating levels the event types.
``sequences``
    One line per user, whitespace-separated, ``user item item ...`` oldest first. An optional times
    file of the same shape (``user t t ...``) gives the timestamps; without one an event's timestamp
    is its position in the user's history (0, 1, 2, ... counted across all of that user's lines).

``auto`` (see :func:`resolve_format`) decides from the file name and, for ``.txt``/``.dat``/no
extension, from the first 64 KiB of text.

Timestamps
----------
Numbers are unix seconds, except that a number whose absolute value exceeds ``1e11`` is taken as
unix milliseconds (``1e11`` s is in the year 5138, ``1e11`` ms is March 1973, so real data is never
ambiguous). Fractions are floored. Strings that are not numbers must be ISO-8601 dates or date-times
(``2021-03-04``, ``2021-03-04T05:06``, ``2021-03-04 05:06:07.123``, with an optional ``Z`` or
``+hh:mm`` offset; also the hour-only ``2021-03-04 05`` used by Tianchi logs). Without an offset the
time is taken as UTC.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import polars as pl

from chronorec.errors import ChronorecError, InputError

FORMATS: tuple[str, ...] = ("csv", "tsv", "parquet", "recbole", "movielens", "sequences")
"""Interaction formats that :func:`read_interactions` understands (plus ``auto``)."""
FORMAT_LABELS: dict[str, str] = {
    "csv": "CSV", "tsv": "TSV", "parquet": "Parquet", "recbole": "RecBole atomic file",
    "movielens": "MovieLens ratings", "sequences": "sequences",
}  # fmt: skip

ROW = "_row"
USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, RATING = (
    "user_id",
    "item_id",
    "timestamp",
    "event_type",
    "rating",
)
TITLE, CATEGORIES = "title", "categories"

MS_THRESHOLD = 10**11
"""Numeric timestamps with an absolute value above this are unix milliseconds, below it seconds."""

MOVIELENS_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)  # fmt: skip
"""The 19 genre flags of MovieLens-100K ``u.item``, in column order (as listed in ``u.genre``)."""

_PEEK_BYTES = 64 * 1024
_DELIMITER_CANDIDATES = (",", "\t", ";", "|")
_RECBOLE_HEADER = re.compile(r"^[^\s:]+:(token|token_seq|float|float_seq)$")
_ISO_NAIVE = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S%.f")
_ISO_OFFSET = ("%Y-%m-%d %H:%M%z", "%Y-%m-%d %H:%M:%S%.f%z")
# A byte that never appears in text logs: splitting on it yields whole lines.
_LINE_SEPARATOR = "\x1f"


# --------------------------------------------------------------------------- file checks


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


def peek_text(path: Path, n_bytes: int = _PEEK_BYTES) -> str:
    """Decode the first ``n_bytes`` of ``path`` as UTF-8; raise InputError for binary or other encodings."""
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


def _lines(text: str) -> list[str]:
    """Non-blank lines of a peeked chunk, without a possibly truncated last line."""
    lines = text.splitlines()
    if len(text) >= _PEEK_BYTES - 3 and not text.endswith("\n") and len(lines) > 1:
        lines = lines[:-1]
    return [ln for ln in lines if ln.strip()]


def _polars_error(path: Path, what: str, err: Exception) -> InputError:
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
        raise _polars_error(path, what, e) from None


# --------------------------------------------------------------------------- format detection


def sniff_delimiter(first_line: str) -> str:
    """The most frequent of ``,`` tab ``;`` ``|`` in ``first_line`` (``,`` if none occurs)."""
    counts = {d: first_line.count(d) for d in _DELIMITER_CANDIDATES}
    best = max(_DELIMITER_CANDIDATES, key=lambda d: counts[d])  # ties: earlier candidate wins
    return best if counts[best] > 0 else ","


def resolve_format(path: str | os.PathLike[str], format: str = "auto") -> str:
    """Return the concrete format of ``path``: ``format`` itself, or the detected one for ``auto``.

    Detection rules, first match wins:

    1. Parquet magic bytes, or extension ``.parquet``/``.pq`` -> ``parquet``
    2. extension ``.inter`` -> ``recbole``
    3. file name ``u.data`` or ending in ``ratings.dat`` -> ``movielens``
    4. extension ``.tsv`` -> ``tsv``; ``.csv`` -> ``csv``
    5. extension ``.txt``, ``.dat``, ``.data`` or none: look at the text. RecBole ``name:type``
       header -> ``recbole``; ``::`` separators -> ``movielens``; every line with the same number
       (>= 1) of tabs -> ``tsv``, or of commas -> ``csv``; anything else -> ``sequences``
       (whitespace-separated ``user item item ...``, which also covers ``user item`` per line).
    6. otherwise: InputError asking for an explicit format.

    Raises:
        InputError: unknown format name, or a file whose format cannot be detected.
    """
    p = check_file(path)
    if format != "auto":
        if format not in FORMATS:
            raise InputError(
                f"unknown format '{format}'; known formats: auto, {', '.join(FORMATS)}", path=p
            )
        return format
    with open(p, "rb") as f:
        if f.read(4) == b"PAR1":
            return "parquet"
    name, suffix = p.name.lower(), p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".inter":
        return "recbole"
    if name == "u.data" or name.endswith("ratings.dat"):
        return "movielens"
    if suffix in (".tsv", ".csv"):
        return suffix[1:]
    if suffix not in (".txt", ".dat", ".data", ""):
        raise InputError(
            f"cannot detect the format from the extension '{suffix}'; "
            f"give one of: {', '.join(FORMATS)}",
            path=p,
        )
    lines = _lines(peek_text(p))
    if not lines:
        raise InputError("no data rows", path=p)
    first = lines[0].split("\t")
    if len(first) > 1 and all(_RECBOLE_HEADER.match(f.strip()) for f in first):
        return "recbole"
    if "::" in lines[0]:
        return "movielens"
    for delim, fmt in (("\t", "tsv"), (",", "csv")):
        n = lines[0].count(delim)
        if n >= 1 and all(ln.count(delim) == n for ln in lines):
            return fmt
    return "sequences"


# --------------------------------------------------------------------------- value parsing


def _int_seconds(i: pl.Expr) -> pl.Expr:
    return pl.when(i.abs() > MS_THRESHOLD).then(i // 1000).otherwise(i)


def _float_seconds(f: pl.Expr) -> pl.Expr:
    f = pl.when(f.is_finite()).then(f)
    scaled = pl.when(f.abs() > MS_THRESHOLD).then(f / 1000.0).otherwise(f)
    return scaled.floor().cast(pl.Int64, strict=False)


def _iso_seconds(s: pl.Expr) -> pl.Expr:
    # Normalise the ISO variants to what chrono's strptime accepts: space instead of 'T',
    # '+00:00' instead of 'Z', and ':00' minutes for the hour-only form.
    norm = (
        s.str.replace(r"^(\d{4}-\d\d-\d\d)[T ](\d\d)$", "${1} ${2}:00")
        .str.replace(r"^(\d{4}-\d\d-\d\d)T", "${1} ")
        .str.replace(r"[Zz]$", "+00:00")
    )
    naive = [norm.str.to_datetime(f, strict=False, time_unit="us") for f in _ISO_NAIVE]
    aware = [
        norm.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in _ISO_OFFSET
    ]
    return pl.coalesce([d.dt.epoch("s") for d in naive + aware])


def to_unix_seconds(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Expression converting raw timestamps of type ``dtype`` to Int64 unix seconds (null if unparsable).

    See the module docstring for the accepted forms and the milliseconds rule.
    """
    if dtype == pl.String:
        s = expr.str.strip_chars()
        return pl.coalesce(
            _int_seconds(s.cast(pl.Int64, strict=False)),
            _float_seconds(s.cast(pl.Float64, strict=False)),
            _iso_seconds(s),
        )
    if dtype.is_integer():
        return _int_seconds(expr.cast(pl.Int64))
    if dtype.is_float():
        return _float_seconds(expr.cast(pl.Float64))
    if isinstance(dtype, pl.Datetime):
        return expr.dt.epoch("s")
    if dtype == pl.Date:
        return expr.cast(pl.Datetime("us")).dt.epoch("s")
    return pl.lit(None, dtype=pl.Int64)


def to_float(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Expression converting raw ratings to finite Float64 (null if missing or not a number)."""
    if dtype == pl.String:
        expr = expr.str.strip_chars()
    elif not dtype.is_numeric():
        return pl.lit(None, dtype=pl.Float64)
    f = expr.cast(pl.Float64, strict=False)
    return pl.when(f.is_finite()).then(f)


def _clean_str(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Ids and event names as stripped strings; empty strings count as missing."""
    if dtype.is_integer():
        return expr.cast(pl.String)  # never blank or padded: skip two passes over every string
    s = expr.cast(pl.String) if dtype != pl.String else expr
    s = s.str.strip_chars()
    return pl.when(s.str.len_bytes() > 0).then(s)


# --------------------------------------------------------------------------- interaction readers


def _scan_lines(path: Path) -> pl.LazyFrame:
    """Lazy ``_row``, ``line`` table with one row per line (blank lines give a null line)."""
    return pl.scan_csv(
        path,
        has_header=False,
        separator=_LINE_SEPARATOR,
        quote_char=None,
        infer_schema=False,
        new_columns=["line"],
        row_index_name=ROW,
        row_index_offset=1,
    ).with_columns(pl.col(ROW).cast(pl.Int64))


def _schema(lf: pl.LazyFrame, path: Path, what: str) -> pl.Schema:
    try:
        return lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as e:
        raise _polars_error(path, what, e) from None


def _select_canonical(
    lf: pl.LazyFrame,
    path: Path,
    what: str,
    *,
    user_col: str,
    item_col: str,
    time_col: str,
    event_col: str | None,
    rating_col: str | None,
) -> pl.LazyFrame:
    """Check the named columns exist and rename them to the canonical names.

    ``event_col``/``rating_col`` of None mean "use ``event_type``/``rating`` if present".
    """
    schema = _schema(lf, path, what)
    available = [c for c in schema.names() if c != ROW]
    hint = ""
    if what in ("CSV", "TSV"):
        hint = " (if the file has no header row, give its column names with `columns`)"

    def need(col: str, role: str) -> str:
        if col not in schema:
            raise InputError(
                f"missing required {role} column '{col}'; available columns: "
                + ", ".join(repr(c) for c in available)
                + hint,
                path=path,
            )
        return col

    cols = {
        USER_ID: need(user_col, "user"),
        ITEM_ID: need(item_col, "item"),
        TIMESTAMP: need(time_col, "timestamp"),
    }
    for canon, given, role in ((EVENT_TYPE, event_col, "event"), (RATING, rating_col, "rating")):
        if given is not None:
            cols[canon] = need(given, role)
        elif canon in schema:
            cols[canon] = canon
    exprs = [pl.col(ROW).cast(pl.Int64)]
    for canon, src in cols.items():
        e = pl.col(src)
        if canon in (USER_ID, ITEM_ID, EVENT_TYPE):
            e = _clean_str(e, schema[src])
        exprs.append(e.alias(canon))
    return lf.select(exprs)


def _read_delimited(
    path: Path, separator: str, columns: tuple[str, ...] | None, *, quote_char: str | None = '"'
) -> pl.LazyFrame:
    if len(separator) != 1:
        raise ChronorecError(
            f"the delimiter must be one character, got {separator!r} (use format 'movielens' for '::')"
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


def _read_recbole(path: Path) -> pl.LazyFrame:
    # RecBole never quotes fields, and token_seq text may contain quote characters.
    lf = _read_delimited(path, "\t", None, quote_char=None)
    names = _schema(lf, path, "RecBole atomic file").names()
    return lf.rename({n: n.split(":", 1)[0] for n in names if n != ROW and ":" in n})


def _read_movielens(path: Path) -> pl.LazyFrame:
    first = next(iter(_lines(peek_text(path))), "")
    sep = "::" if "::" in first else "\t"
    fields = pl.col("line").str.split(sep, literal=True)
    names = (USER_ID, ITEM_ID, RATING, TIMESTAMP)
    return (
        _scan_lines(path)
        .filter(pl.col("line").str.strip_chars().str.len_bytes() > 0)
        .select(
            ROW,
            *(
                fields.list.get(i, null_on_oob=True).str.strip_chars().alias(n)
                for i, n in enumerate(names)
            ),
        )
    )


def _tokens(path: Path) -> pl.LazyFrame:
    """``_row``, ``user_id``, ``values`` (list of the remaining tokens) for non-blank lines."""
    tok = pl.col("line").str.extract_all(r"\S+")
    return (
        _scan_lines(path)
        .select(ROW, tok.alias("tok"))
        .filter(pl.col("tok").list.len() > 0)
        .select(
            ROW,
            pl.col("tok").list.first().alias(USER_ID),
            pl.col("tok").list.slice(1).alias("values"),
        )
    )


def _check_times_shape(seq: pl.LazyFrame, times: pl.LazyFrame, times_path: Path) -> None:
    """Raise InputError at the first line where the times file does not mirror the sequences file."""
    a = seq.select(ROW, pl.col(USER_ID).alias("u"), pl.col("values").list.len().alias("n"))
    b = times.select(ROW, pl.col(USER_ID).alias("tu"), pl.col("values").list.len().alias("tn"))
    joined = a.join(b, on=ROW, how="full", coalesce=True)
    bad = joined.filter(
        (pl.col("u") != pl.col("tu")).fill_null(True)
        | (pl.col("n") != pl.col("tn")).fill_null(True)
    )
    first = collect(bad.sort(ROW).head(1), times_path, "times file")
    if first.height == 0:
        return
    r = first.row(0, named=True)
    if r["u"] is None:
        msg = "line has no counterpart in the sequences file"
    elif r["tu"] is None:
        msg = "missing line: the sequences file has a sequence here"
    elif r["u"] != r["tu"]:
        msg = f"user '{r['tu']}' does not match user '{r['u']}' on the same line of the sequences file"
    else:
        msg = f"{r['tn']} timestamp(s) but {r['n']} item(s) on the same line of the sequences file"
    raise InputError(
        f"times file does not match the sequences file: {msg}", path=times_path, row=r[ROW]
    )


def _read_sequences(path: Path, times: Path | None) -> pl.LazyFrame:
    peek_text(path)
    seq = _tokens(path).filter(pl.col("values").list.len() > 0)
    if times is None:
        return (
            seq.explode("values")
            .rename({"values": ITEM_ID})
            # Position within the user's whole history, in file order.
            .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over(USER_ID).alias(TIMESTAMP))
        )
    times = check_file(times)
    peek_text(times)
    t = _tokens(times).filter(pl.col("values").list.len() > 0)
    _check_times_shape(seq, t, times)
    return (
        seq.join(
            t.select(ROW, pl.col("values").alias(TIMESTAMP)),
            on=ROW,
            how="inner",
            maintain_order="left",
        )
        .rename({"values": ITEM_ID})
        .explode([ITEM_ID, TIMESTAMP])
    )


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
        format: one of :data:`FORMATS` or ``auto``.
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
    fmt = resolve_format(p, format)
    if times is not None and fmt != "sequences":
        raise InputError(
            f"a times file only applies to format 'sequences', not '{fmt}'", path=Path(times)
        )
    names = dict(
        user_col=user_col,
        item_col=item_col,
        time_col=time_col,
        event_col=event_col,
        rating_col=rating_col,
    )
    if delimiter == "\\t":
        delimiter = "\t"
    if fmt in ("csv", "tsv"):
        if delimiter is None:
            delimiter = (
                "\t" if fmt == "tsv" else sniff_delimiter(next(iter(_lines(peek_text(p))), ""))
            )
        what = "CSV" if fmt == "csv" else "TSV"
        return _select_canonical(_read_delimited(p, delimiter, columns), p, what, **names)
    if fmt == "parquet":
        lf = pl.scan_parquet(p).with_row_index(ROW, offset=1)
        return _select_canonical(lf, p, "Parquet", **names)
    if fmt == "recbole":
        return _select_canonical(_read_recbole(p), p, "RecBole atomic file", **names)
    if fmt == "movielens":
        lf = _read_movielens(p)
        if event_col is None:
            return lf
        if event_col != RATING:
            raise ChronorecError(f"a MovieLens log's only possible event column is 'rating', got '{event_col}'")
        # Rating levels as event types: the stand-in for view/cart/buy on data that has none.
        return lf.with_columns(pl.col(RATING).alias(EVENT_TYPE))
    return _read_sequences(p, Path(times) if times is not None else None)


# --------------------------------------------------------------------------- item metadata


def _movielens_genres(item_path: Path) -> list[str]:
    """Genre names from ``u.genre`` beside ``u.item`` (``name|index`` lines), else the standard 19."""
    genre_file = item_path.with_name("u.genre")
    if not genre_file.is_file():
        return list(MOVIELENS_GENRES)
    pairs = []
    for line in genre_file.read_text(encoding="latin-1").splitlines():
        name, _, idx = line.rpartition("|")
        if name and idx.strip().isdigit():
            pairs.append((int(idx), name))
    return [name for _, name in sorted(pairs)] or list(MOVIELENS_GENRES)


def _read_latin1_lines(path: Path, sep: str) -> pl.DataFrame:
    """Lines of a small latin-1 file split on ``sep`` into a list column ``f`` (plus ``_row``)."""
    utf8 = path.read_bytes().decode("latin-1").encode("utf-8")  # every byte is valid latin-1
    lines = pl.read_csv(
        utf8, has_header=False, separator=_LINE_SEPARATOR, quote_char=None, infer_schema=False,
        new_columns=["line"], row_index_name=ROW, row_index_offset=1,
    )  # fmt: skip
    return lines.filter(pl.col("line").str.strip_chars().str.len_bytes() > 0).select(
        pl.col(ROW).cast(pl.Int64), pl.col("line").str.split(sep, literal=True).alias("f")
    )


def _read_movielens_items(path: Path) -> pl.DataFrame:
    """MovieLens-100K ``u.item``: id|title|date|video date|url|19 genre flags (latin-1)."""
    genres = _movielens_genres(path)
    df = _read_latin1_lines(path, "|")
    width = 5 + len(genres)
    bad = df.filter(pl.col("f").list.len() != width).head(1)
    if bad.height:
        n = bad["f"].list.len()[0]
        raise InputError(
            f"expected {width} '|'-separated fields (MovieLens u.item), found {n}",
            path=path,
            row=bad[ROW][0],
        )
    flags = [
        pl.when(pl.col("f").list.get(5 + i).str.strip_chars() == "1").then(pl.lit(g))
        for i, g in enumerate(genres)
    ]
    cats = pl.concat_str(flags, separator="|", ignore_nulls=True)
    return df.select(
        ROW,
        pl.col("f").list.get(0).alias(ITEM_ID),
        pl.col("f").list.get(1).alias(TITLE),
        pl.when(cats != "").then(cats).alias(CATEGORIES),
    )


def _read_movielens_movies(path: Path) -> pl.DataFrame:
    """MovieLens-1M ``movies.dat``: ``id::title::Genre|Genre`` (latin-1)."""
    df = _read_latin1_lines(path, "::")
    bad = df.filter(pl.col("f").list.len() != 3).head(1)
    if bad.height:
        raise InputError(
            "expected 'id::title::genres' (MovieLens movies.dat)", path=path, row=bad[ROW][0]
        )
    return df.select(
        ROW,
        pl.col("f").list.get(0).alias(ITEM_ID),
        pl.col("f").list.get(1).alias(TITLE),
        pl.col("f").list.get(2).alias(CATEGORIES),
    )


def _read_generic_items(path: Path) -> pl.DataFrame:
    """CSV/TSV/Parquet/RecBole ``.item`` with ``item_id`` and optional ``title``/``categories``."""
    fmt = "recbole" if path.suffix.lower() == ".item" else resolve_format(path)
    if fmt == "parquet":
        lf = pl.scan_parquet(path).with_row_index(ROW, offset=1)
    elif fmt in ("csv", "tsv", "recbole"):
        peek_text(path)
        sep = "\t" if fmt != "csv" else sniff_delimiter(next(iter(_lines(peek_text(path))), ""))
        lf = pl.scan_csv(
            path, separator=sep, infer_schema=False, row_index_name=ROW, row_index_offset=1,
            quote_char=None if fmt == "recbole" else '"',
        )  # fmt: skip
    else:
        raise InputError(f"cannot read item metadata in format '{fmt}'", path=path)
    schema = _schema(lf, path, "item metadata")
    # RecBole headers carry a ':type' suffix; token_seq values are space-separated lists.
    base = {n: n.split(":", 1)[0] for n in schema.names()}
    seq_cols = {base[n] for n in schema.names() if n.endswith("_seq")}
    lf = lf.rename({n: b for n, b in base.items() if n != b})
    schema = {base[n]: t for n, t in schema.items()}
    if ITEM_ID not in schema:
        raise InputError(
            f"missing required column '{ITEM_ID}'; available columns: "
            + ", ".join(repr(c) for c in schema if c != ROW),
            path=path,
        )
    title = next((c for c in (TITLE, "movie_title", "name") if c in schema), None)
    cats = next(
        (c for c in (CATEGORIES, "category", "genres", "genre", "class") if c in schema), None
    )
    exprs = [
        pl.col(ROW).cast(pl.Int64),
        _clean_str(pl.col(ITEM_ID), schema[ITEM_ID]).alias(ITEM_ID),
    ]
    exprs.append(
        pl.col(title).cast(pl.String).alias(TITLE)
        if title
        else pl.lit(None, pl.String).alias(TITLE)
    )
    if cats:
        c = _clean_str(pl.col(cats), schema[cats])
        if cats in seq_cols:
            c = c.str.replace_all(r"\s+", "|")
        exprs.append(c.alias(CATEGORIES))
    else:
        exprs.append(pl.lit(None, pl.String).alias(CATEGORIES))
    return collect(lf.select(exprs), path, "item metadata")


def read_items(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read item metadata into ``item_id``, ``title``, ``categories`` (``|``-separated) columns.

    Understands MovieLens ``u.item`` (genre names from ``u.genre`` beside it when present) and
    ``movies.dat``, RecBole ``.item`` files (``movie_title`` -> title, ``class`` -> categories), and
    CSV/TSV/Parquet files with an ``item_id`` column and optional ``title`` and ``categories``.

    Raises:
        InputError: unreadable file, no ``item_id`` column, a missing or repeated item id.
    """
    p = check_file(path)
    name = p.name.lower()
    if name == "u.item":
        df = _read_movielens_items(p)
    elif name.endswith("movies.dat"):
        df = _read_movielens_movies(p)
    else:
        df = _read_generic_items(p)
    if df.height == 0:
        raise InputError("no data rows", path=p)
    missing = df.filter(pl.col(ITEM_ID).is_null()).head(1)
    if missing.height:
        raise InputError("missing item id", path=p, row=missing[ROW][0], field=ITEM_ID)
    dup = df.filter(pl.col(ITEM_ID).is_duplicated()).sort(ROW)
    if dup.height:
        first, again = dup[ROW][0], dup.filter(pl.col(ITEM_ID) == dup[ITEM_ID][0])[ROW][1]
        raise InputError(
            f"item id '{dup[ITEM_ID][0]}' repeats row {first}", path=p, row=again, field=ITEM_ID
        )
    return df.select(ITEM_ID, TITLE, CATEGORIES)
