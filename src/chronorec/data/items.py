"""Read item metadata (titles and categories) into one canonical table.

Understands MovieLens ``u.item`` (genre names from ``u.genre`` beside it when present) and
``movies.dat``, RecBole ``.item`` files (``movie_title`` -> title, ``class`` -> categories), and
CSV/TSV/Parquet files with an ``item_id`` column and optional ``title`` and ``categories``.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from chronorec.data.formats import resolve_format
from chronorec.data.reading import (
    CATEGORIES,
    ITEM_ID,
    LINE_SEPARATOR,
    ROW,
    TITLE,
    check_file,
    clean_str,
    collect,
    collect_schema,
    first_line,
    peek_text,
    sniff_delimiter,
)
from chronorec.errors import InputError

MOVIELENS_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
"""The 19 genre flags of MovieLens-100K ``u.item``, in column order (as listed in ``u.genre``)."""

_TITLE_COLUMNS = (TITLE, "movie_title", "name")
_CATEGORY_COLUMNS = (CATEGORIES, "category", "genres", "genre", "class")


# --------------------------------------------------------------------------- MovieLens


def _movielens_genres(item_path: Path) -> list[str]:
    """Genre names from ``u.genre`` beside ``u.item`` (``name|index`` lines), else the usual 19."""
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
        utf8, has_header=False, separator=LINE_SEPARATOR, quote_char=None, infer_schema=False,
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


# --------------------------------------------------------------------------- tables with a header


def _scan_item_table(path: Path) -> pl.LazyFrame:
    """CSV/TSV/Parquet/RecBole ``.item`` as a lazy table numbered by ``_row``."""
    fmt = "recbole" if path.suffix.lower() == ".item" else resolve_format(path)
    if fmt == "parquet":
        return pl.scan_parquet(path).with_row_index(ROW, offset=1)
    if fmt not in ("csv", "tsv", "recbole"):
        raise InputError(f"cannot read item metadata in format '{fmt}'", path=path)
    peek_text(path)
    sep = "\t" if fmt != "csv" else sniff_delimiter(first_line(path))
    return pl.scan_csv(
        path, separator=sep, infer_schema=False, row_index_name=ROW, row_index_offset=1,
        quote_char=None if fmt == "recbole" else '"',
    )  # fmt: skip


def _read_generic_items(path: Path) -> pl.DataFrame:
    """A table with ``item_id`` and optional title and categories columns (see the module doc)."""
    lf = _scan_item_table(path)
    schema = collect_schema(lf, path, "item metadata")
    # RecBole headers carry a ':type' suffix; token_seq values are space-separated lists.
    base = {n: n.split(":", 1)[0] for n in schema.names()}
    seq_cols = {base[n] for n in schema.names() if n.endswith("_seq")}
    lf = lf.rename({n: b for n, b in base.items() if n != b})
    types = {base[n]: t for n, t in schema.items()}
    if ITEM_ID not in types:
        raise InputError(
            f"missing required column '{ITEM_ID}'; available columns: "
            + ", ".join(repr(c) for c in types if c != ROW),
            path=path,
        )
    title = next((c for c in _TITLE_COLUMNS if c in types), None)
    cats = next((c for c in _CATEGORY_COLUMNS if c in types), None)
    title_expr = pl.col(title).cast(pl.String) if title else pl.lit(None, pl.String)
    cats_expr = pl.lit(None, pl.String)
    if cats:
        cats_expr = clean_str(pl.col(cats), types[cats])
        if cats in seq_cols:
            cats_expr = cats_expr.str.replace_all(r"\s+", "|")
    exprs = [
        pl.col(ROW).cast(pl.Int64),
        clean_str(pl.col(ITEM_ID), types[ITEM_ID]).alias(ITEM_ID),
        title_expr.alias(TITLE),
        cats_expr.alias(CATEGORIES),
    ]
    return collect(lf.select(exprs), path, "item metadata")


# --------------------------------------------------------------------------- entry point


def _check_ids(df: pl.DataFrame, path: Path) -> None:
    """Raise InputError for an empty table, a missing item id or a repeated one."""
    if df.height == 0:
        raise InputError("no data rows", path=path)
    missing = df.filter(pl.col(ITEM_ID).is_null()).head(1)
    if missing.height:
        raise InputError("missing item id", path=path, row=missing[ROW][0], field=ITEM_ID)
    dup = df.filter(pl.col(ITEM_ID).is_duplicated()).sort(ROW)
    if dup.height:
        first, again = dup[ROW][0], dup.filter(pl.col(ITEM_ID) == dup[ITEM_ID][0])[ROW][1]
        raise InputError(
            f"item id '{dup[ITEM_ID][0]}' repeats row {first}", path=path, row=again, field=ITEM_ID
        )


def read_items(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read item metadata into ``item_id``, ``title``, ``categories`` (``|``-separated) columns.

    See the module docstring for the files understood.

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
    _check_ids(df, p)
    return df.select(ITEM_ID, TITLE, CATEGORIES)
