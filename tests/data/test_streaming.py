"""The streaming prepare against an independent eager reference, and across input formats.

``prepare`` reads through polars' streaming engine and keeps ids as categorical codes; these tests
recompute the dataset of the real MovieLens-100K with plain eager polars on whole string tables and
expect the same dense ids, sequences and timestamps.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from chronorec.data import PrepareConfig, ingest, prepare, schema
from chronorec.data.validate import validate
from tests.data.test_prepare import load

ML100K_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]


@pytest.fixture(scope="module")
def udata(real_data_root: Path) -> Path:
    path = real_data_root / "ml-100k" / "original" / "u.data"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def read_udata(path: Path) -> pl.DataFrame:
    """u.data as strings, in file order, with the 0-based position as ``ord``."""
    raw = pl.read_csv(
        path, separator="\t", has_header=False, new_columns=ML100K_COLUMNS, infer_schema=False
    )
    return raw.with_row_index("ord")


def reference(
    log: pl.DataFrame, user_core: int = 0, item_core: int = 0, min_rating: float | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The prepared tables computed eagerly on strings, straight from the definitions."""
    log = log.with_columns(pl.col("timestamp").cast(pl.Int64), pl.col("rating").cast(pl.Float64))
    if min_rating is not None:
        log = log.filter(pl.col("rating") >= min_rating)
    while True:  # k-core: drop until every user and item meets its threshold
        kept = log.filter(
            (pl.len().over("user_id") >= user_core) & (pl.len().over("item_id") >= item_core)
        )
        if kept.height == log.height:
            break
        log = kept
    by_time = log.sort("timestamp", "ord")

    def numbering(col: str, dense: str) -> pl.DataFrame:
        ids = by_time.select(pl.col(col).unique(maintain_order=True))
        return ids.with_row_index(dense, offset=1).with_columns(pl.col(dense).cast(pl.Int32))

    users, items = numbering("user_id", "user"), numbering("item_id", "item")
    inter = (
        log.join(users, on="user_id")
        .join(items, on="item_id")
        .sort("user", "timestamp", "ord")
        .select("user", "item", "timestamp", pl.col("rating").cast(pl.Float32))
    )
    return inter, users, items


@pytest.mark.parametrize(
    "options",
    [{}, {"min_rating": 4, "user_core": 20, "item_core": 20}],
    ids=["plain", "filtered"],
)
def test_matches_eager_reference_on_ml100k(udata, tmp_path, options):
    prepare(PrepareConfig(udata, tmp_path / "ds", format="movielens", **options))
    inter, users, items, manifest = load(tmp_path / "ds")
    ref_inter, ref_users, ref_items = reference(read_udata(udata), **options)
    assert users.equals(ref_users.select("user", "user_id"))
    assert items.select("item", "item_id").equals(ref_items.select("item", "item_id"))
    assert inter.equals(ref_inter)  # same dense ids, sequences, timestamps and ratings
    assert manifest["interactions"] == ref_inter.height
    if not options:
        assert (inter.height, users.height, items.height) == (100_000, 943, 1_682)
    else:
        assert manifest["dropped"]["kcore"] > 0 and manifest["dropped"]["below_min_rating"] > 0


def test_parquet_and_csv_of_the_same_log_give_identical_datasets(udata, tmp_path):
    log = read_udata(udata).drop("ord")
    # Add what u.data lacks: event types, exact duplicates and a row without a timestamp.
    log = log.with_columns(
        pl.when(pl.col("rating").cast(pl.Int64) >= 4).then(pl.lit("like")).otherwise(pl.lit("rate"))
        .alias("event_type")
    )  # fmt: skip
    bad = log.head(1).with_columns(pl.lit(None, pl.String).alias("timestamp"))
    log = pl.concat([log, log.head(100), bad])
    typed = log.with_columns(pl.col("user_id", "item_id", "timestamp").cast(pl.Int64))
    csv, parquet = tmp_path / "log.csv", tmp_path / "log.parquet"
    log.write_csv(csv)
    typed.write_parquet(parquet)
    for path in (csv, parquet):
        prepare(PrepareConfig(path, tmp_path / path.suffix[1:]))
    a, b = load(tmp_path / "csv"), load(tmp_path / "parquet")
    for name in (schema.INTERACTIONS_FILE, schema.USERS_FILE, schema.ITEMS_FILE):
        assert (tmp_path / "csv" / name).read_bytes() == (tmp_path / "parquet" / name).read_bytes()
    assert a[3]["source"]["format"] == "csv" and b[3]["source"]["format"] == "parquet"
    for key in ("counts", "dropped", "event_types", "interactions", "users", "items"):
        assert a[3][key] == b[3][key], key
    assert a[3]["dropped"]["duplicate"] == 100 and a[3]["dropped"]["missing_value"] == 1
    assert a[3]["event_types"] == ["like", "rate"] and a[0]["event_type"].n_unique() == 2


def test_rows_are_held_as_fixed_width_codes(udata):
    raw = ingest.read_interactions(udata, format="movielens")
    table, dropped = validate(raw, path=udata, field_names={c: c for c in ML100K_COLUMNS})
    assert table.height == 100_000 and sum(dropped.values()) == 0
    # No per-row strings: ids are categorical codes, everything else numbers.
    assert all(dtype.is_numeric() or isinstance(dtype, pl.Categorical) for dtype in table.dtypes)
