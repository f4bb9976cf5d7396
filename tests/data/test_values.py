"""Raw values: timestamps to unix seconds (seconds, milliseconds, ISO-8601), ratings to floats."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from chronorec.data.values import MS_THRESHOLD, to_float, to_unix_seconds


def _seconds(values, dtype=pl.String) -> list:
    s = pl.Series("t", values, dtype=dtype)
    return pl.DataFrame([s]).select(to_unix_seconds(pl.col("t"), s.dtype)).to_series().to_list()


def test_seconds_milliseconds_and_iso_agree():
    t = 1614834367  # 2021-03-04T05:06:07Z
    assert _seconds([str(t), str(t * 1000), str(t * 1000 + 999), f"{t}.75", "2021-03-04T05:06:07Z",
                     "2021-03-04 05:06:07", "2021-03-04T07:06:07+02:00",
                     "2021-03-04T05:06:07.123456Z", " 1614834367 "]) == [t] * 9  # fmt: skip
    assert _seconds([t, t * 1000], pl.Int64) == [t, t]
    assert _seconds([float(t) + 0.5, t * 1000.0], pl.Float64) == [t, t]
    assert _seconds(["2021-03-04", "2021-03-04 05", "2021-03-04T05:06"]) == [
        1614816000, 1614834000, 1614834360,
    ]  # fmt: skip


def test_unparsable_timestamps_are_null():
    assert _seconds(["junk", "", "nan", "inf", "2021-13-40", "12:00", None]) == [None] * 7


def test_millisecond_threshold_is_documented_value():
    # 1e11 seconds would be the year 5138: above it a number is milliseconds.
    assert _seconds([str(MS_THRESHOLD), str(MS_THRESHOLD + 1000)]) == [
        MS_THRESHOLD,
        10**8 + 1,
    ]


def test_datetime_and_date_columns():
    dt = datetime(2021, 3, 4, 5, 6, 7)
    assert _seconds([dt], pl.Datetime("ms")) == [1614834367]
    assert _seconds([dt.date()], pl.Date) == [1614816000]


def test_rating_parsing():
    s = pl.Series("r", [" 4.5", "x", "", None, "nan", "3"])
    out = pl.DataFrame([s]).select(to_float(pl.col("r"), pl.String)).to_series().to_list()
    assert out == [4.5, None, None, None, None, 3.0]
