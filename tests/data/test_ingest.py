"""read_interactions: every format on small hand-written files, and the fatal read errors."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest

from chronorec.data import ingest
from chronorec.errors import ChronorecError, InputError


def read(path, **kw) -> pl.DataFrame:
    return ingest.read_interactions(path, **kw).collect()


def rows(df: pl.DataFrame, *cols: str) -> list[tuple]:
    return list(df.select(cols or df.columns).iter_rows())


# --------------------------------------------------------------------------- formats


def test_csv_canonical_columns_row_numbers_and_stripping(write):
    p = write("log.csv", "user_id,item_id,timestamp,extra\n u1 ,i1,10,x\nu2,  ,11,y\nu3,i3,12,z\n")
    df = read(p)
    assert df.columns == ["_row", "user_id", "item_id", "timestamp"]
    assert df.schema["_row"] == pl.Int64 and df.schema["user_id"] == pl.String
    assert rows(df) == [(1, "u1", "i1", "10"), (2, "u2", None, "11"), (3, "u3", "i3", "12")]


def test_csv_custom_columns_delimiter_and_optional_columns(write):
    p = write("log.csv", "who;what;when;kind;stars\na;x;1;view;4.5\nb;y;2;buy;3\n")
    df = read(
        p,
        delimiter=";",
        user_col="who",
        item_col="what",
        time_col="when",
        event_col="kind",
        rating_col="stars",
    )
    assert rows(df, "user_id", "item_id", "timestamp", "event_type", "rating") == [
        ("a", "x", "1", "view", "4.5"),
        ("b", "y", "2", "buy", "3"),
    ]


def test_csv_sniffs_delimiter_and_uses_default_optional_columns(write):
    p = write("log.csv", "user_id\titem_id\ttimestamp\tevent_type\trating\nu\ti\t5\tclick\t1\n")
    df = read(p)
    assert rows(df, "user_id", "event_type", "rating") == [("u", "click", "1")]


def test_headerless_csv_with_column_names(write):
    p = write("UserBehavior.csv", "1,10,7,pv,100\n1,11,7,buy,101\n2,10,7,pv\n")
    df = read(
        p, columns=("user_id", "item_id", "cat", "behavior", "timestamp"), event_col="behavior"
    )
    assert rows(df, "_row", "user_id", "event_type", "timestamp") == [
        (1, "1", "pv", "100"),
        (2, "1", "buy", "101"),
        (3, "2", "pv", None),  # truncated line: missing fields become nulls, validation drops them
    ]


def test_ids_are_kept_verbatim(write):
    p = write("log.csv", "user_id,item_id,timestamp\n007,0042,1\n")
    assert rows(read(p), "user_id", "item_id") == [("007", "0042")]


def test_blank_lines_are_not_rows(write):
    p = write("log.csv", "user_id,item_id,timestamp\nu1,i1,1\n\nu2,i2,2\n")
    assert rows(read(p), "_row", "user_id") == [(1, "u1"), (3, "u2")]


def test_tsv(write):
    p = write("log.tsv", "user_id\titem_id\ttimestamp\nu1\ti1,with comma\t5\n")
    assert rows(read(p), "user_id", "item_id", "timestamp") == [("u1", "i1,with comma", "5")]


def test_parquet_keeps_native_types(write, tmp_path):
    p = tmp_path / "log.parquet"
    pl.DataFrame(
        {
            "user_id": [1, 2],
            "item_id": [10, 20],
            "timestamp": [
                datetime(2021, 1, 1, tzinfo=timezone.utc),
                datetime(2021, 1, 2, tzinfo=timezone.utc),
            ],
            "rating": [1.5, 2.0],
        }
    ).write_parquet(p)
    df = read(p)
    assert rows(df, "_row", "user_id", "item_id") == [(1, "1", "10"), (2, "2", "20")]
    assert isinstance(df.schema["timestamp"], pl.Datetime) and df.schema["rating"] == pl.Float64


def test_recbole_header_types_are_dropped(write):
    p = write(
        "x.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n",
    )
    assert rows(read(p), "user_id", "item_id", "rating", "timestamp") == [
        ("196", "242", "3", "881250949")
    ]


def test_movielens_u_data_and_ratings_dat(write):
    a = write("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    b = write("ratings.dat", "196::242::3::881250949\n186::302::3::891717742\n")
    for p in (a, b):
        df = read(p)
        assert df.columns == ["_row", "user_id", "item_id", "rating", "timestamp"]
        assert rows(df) == [
            (1, "196", "242", "3", "881250949"),
            (2, "186", "302", "3", "891717742"),
        ]


def test_movielens_ratings_as_event_types(write):
    p = write("u.data", "196\t242\t3\t881250949\n186\t302\t5\t891717742\n")
    df = read(p, event_col="rating")
    assert rows(df, "rating", "event_type") == [("3", "3"), ("5", "5")]
    with pytest.raises(ChronorecError, match="only possible event column is 'rating'"):
        read(p, event_col="genre")


def test_sequences_positions_count_across_a_users_lines(write):
    p = write("seq.txt", "u1 a b c\nu2 d\n\nu1  e\tf\n")
    df = read(p)
    assert rows(df, "_row", "user_id", "item_id", "timestamp") == [
        (1, "u1", "a", 0), (1, "u1", "b", 1), (1, "u1", "c", 2),
        (2, "u2", "d", 0),
        (4, "u1", "e", 3), (4, "u1", "f", 4),
    ]  # fmt: skip


def test_sequences_with_times_file(write):
    p = write("items.txt", "u1 a b\nu2 c\n")
    t = write("times.txt", "u1 100 200\nu2 300\n")
    df = read(p, times=t)
    assert rows(df, "user_id", "item_id", "timestamp") == [
        ("u1", "a", "100"),
        ("u1", "b", "200"),
        ("u2", "c", "300"),
    ]


@pytest.mark.parametrize(
    ("times", "message"),
    [
        ("u1 100\nu2 300\n", r"1 timestamp\(s\) but 2 item\(s\)"),
        ("u1 100 200\nuX 300\n", "user 'uX' does not match user 'u2'"),
        ("u1 100 200\n", "missing line"),
        ("u1 100 200\nu2 300\nu3 400\n", "no counterpart"),
    ],
)
def test_times_file_shape_mismatch_names_file_and_row(write, times, message):
    p = write("items.txt", "u1 a b\nu2 c\n")
    t = write("times.txt", times)
    with pytest.raises(InputError, match=message) as e:
        read(p, times=t)
    assert e.value.path == t and e.value.row in (1, 2, 3)


# --------------------------------------------------------------------------- fatal read errors


def test_fatal_read_errors_name_the_file(write, tmp_path):
    with pytest.raises(InputError, match="file not found"):
        ingest.read_interactions(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        ingest.read_interactions(tmp_path)
    with pytest.raises(InputError, match="empty"):
        ingest.read_interactions(write("e.csv", ""))
    with pytest.raises(
        InputError, match=r"missing required user column 'uid'; available columns: 'a', 'b'"
    ):
        ingest.read_interactions(write("c.csv", "a,b\n1,2\n"), user_col="uid")
    with pytest.raises(InputError, match="event column 'kind'"):
        ingest.read_interactions(
            write("d.csv", "user_id,item_id,timestamp\n1,2,3\n"), event_col="kind"
        )
    with pytest.raises(InputError, match="times file only applies"):
        ingest.read_interactions(
            write("f.csv", "user_id,item_id,timestamp\n1,2,3\n"), times=write("t.txt", "1 2\n")
        )


@pytest.mark.parametrize(
    ("option", "flag"),
    [
        ({"user_col": "uid"}, "--user-col"),
        ({"item_col": "iid"}, "--item-col"),
        ({"time_col": "when"}, "--time-col"),
        ({"event_col": "kind"}, "--event-col"),
        ({"rating_col": "stars"}, "--rating-col"),
    ],
)
def test_missing_column_names_it_the_columns_found_and_the_option(write, option, flag):
    p = write("c.csv", "user_id,item_id,timestamp\n1,2,3\n")
    with pytest.raises(InputError) as e:
        ingest.read_interactions(p, **option)
    message = str(e.value)
    assert "\n" not in message
    assert f"column '{next(iter(option.values()))}'" in message
    assert "available columns: 'user_id', 'item_id', 'timestamp'" in message
    assert f"{flag} NAME" in message
    assert "--columns a,b,c" in message and "without a header row" in message


def test_missing_column_suggests_columns_only_where_it_helps(write, tmp_path):
    # Column names already given: the fix is the column option, not --columns again.
    headerless = write("h.csv", "1,2,3\n")
    with pytest.raises(InputError, match="--time-col NAME") as e:
        ingest.read_interactions(headerless, columns=("user_id", "item_id", "t"))
    assert "--columns" not in str(e.value)
    # Parquet always names its columns.
    p = tmp_path / "log.parquet"
    pl.DataFrame({"user_id": [1], "item": [2], "timestamp": [3]}).write_parquet(p)
    with pytest.raises(InputError, match="--item-col NAME") as e:
        ingest.read_interactions(p)
    assert "--columns" not in str(e.value)


# --------------------------------------------------------------------------- real data


def test_real_ml100k_u_data_and_recbole_agree(data_root):
    a = read(data_root / "ml-100k/original/u.data")
    b = read(data_root / "ml-100k/recbole_atomic/ml-100k.inter")
    assert a.height == b.height == 100_000
    cols = ["user_id", "item_id", "rating", "timestamp"]
    assert a.select(cols).equals(b.select(cols))
    assert a["user_id"].n_unique() == 943 and a["item_id"].n_unique() == 1682
