"""Raw values to typed ones: timestamps to unix seconds, ratings to floats.

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

import polars as pl

MS_THRESHOLD = 10**11
"""Numeric timestamps with an absolute value above this are unix milliseconds, below it seconds."""

_ISO_NAIVE = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S%.f")
_ISO_OFFSET = ("%Y-%m-%d %H:%M%z", "%Y-%m-%d %H:%M:%S%.f%z")


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
    """Expression converting raw timestamps of type ``dtype`` to Int64 unix seconds.

    Unparsable values give null. See the module docstring for the accepted forms and the
    milliseconds rule.
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
