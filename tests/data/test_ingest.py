"""Readers: every format on small hand-written files, format detection, timestamps, item metadata."""

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


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.csv", "user_id,item_id,timestamp\n", "csv"),
        ("a.tsv", "user_id\titem_id\ttimestamp\n", "tsv"),
        ("a.inter", "user_id:token\titem_id:token\n", "recbole"),
        ("u.data", "1\t2\t3\t4\n", "movielens"),
        ("ratings.dat", "1::2::3::4\n", "movielens"),
        ("Beauty.txt", "1 1 2 3\n2 4 5\n", "sequences"),
        ("Video.txt", "1 1\n1 2\n2 3\n", "sequences"),
        ("clicks.txt", "SessionId\tItemId\tTime\n3\t21\t1396437466.94\n", "tsv"),
        ("log.txt", "user_id,item_id,timestamp\nu,i,1\n", "csv"),
        ("movies.dat", "1::Toy Story::Comedy\n", "movielens"),
        ("x.txt", "user_id:token\titem_id:token\n1\t2\n", "recbole"),
        ("noext", "u1 a b\n", "sequences"),
    ],
)
def test_auto_detection(write, name, content, expected):
    assert ingest.resolve_format(write(name, content)) == expected


def test_parquet_detected_by_magic_bytes(tmp_path):
    p = tmp_path / "log.bin"
    pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [1]}).write_parquet(p)
    assert ingest.resolve_format(p) == "parquet"


def test_unknown_extension_and_unknown_format(write):
    with pytest.raises(InputError, match=r"log\.json.*cannot detect the format"):
        ingest.resolve_format(write("log.json", '{"a": 1}\n'))
    with pytest.raises(InputError, match="unknown format 'xlsx'"):
        ingest.resolve_format(write("log.csv", "a\n"), "xlsx")


def test_delimiter_sniffing():
    assert ingest.sniff_delimiter("a;b;c") == ";"
    assert ingest.sniff_delimiter("a\tb,c\td") == "\t"
    assert ingest.sniff_delimiter("abc") == ","


# --------------------------------------------------------------------------- timestamps


def _seconds(values, dtype=pl.String) -> list:
    s = pl.Series("t", values, dtype=dtype)
    return (
        pl.DataFrame([s]).select(ingest.to_unix_seconds(pl.col("t"), s.dtype)).to_series().to_list()
    )


def test_seconds_milliseconds_and_iso_agree():
    t = 1614834367  # 2021-03-04T05:06:07Z
    assert _seconds([str(t), str(t * 1000), str(t * 1000 + 999), f"{t}.75", "2021-03-04T05:06:07Z",
                     "2021-03-04 05:06:07", "2021-03-04T07:06:07+02:00", "2021-03-04T05:06:07.123456Z",
                     " 1614834367 "]) == [t] * 9  # fmt: skip
    assert _seconds([t, t * 1000], pl.Int64) == [t, t]
    assert _seconds([float(t) + 0.5, t * 1000.0], pl.Float64) == [t, t]
    assert _seconds(["2021-03-04", "2021-03-04 05", "2021-03-04T05:06"]) == [
        1614816000, 1614834000, 1614834360,
    ]  # fmt: skip


def test_unparsable_timestamps_are_null():
    assert _seconds(["junk", "", "nan", "inf", "2021-13-40", "12:00", None]) == [None] * 7


def test_millisecond_threshold_is_documented_value():
    # 1e11 seconds would be the year 5138: above it a number is milliseconds.
    assert _seconds([str(ingest.MS_THRESHOLD), str(ingest.MS_THRESHOLD + 1000)]) == [
        ingest.MS_THRESHOLD,
        10**8 + 1,
    ]


def test_datetime_and_date_columns():
    dt = datetime(2021, 3, 4, 5, 6, 7)
    assert _seconds([dt], pl.Datetime("ms")) == [1614834367]
    assert _seconds([dt.date()], pl.Date) == [1614816000]


def test_rating_parsing():
    s = pl.Series("r", [" 4.5", "x", "", None, "nan", "3"])
    out = pl.DataFrame([s]).select(ingest.to_float(pl.col("r"), pl.String)).to_series().to_list()
    assert out == [4.5, None, None, None, None, 3.0]


# --------------------------------------------------------------------------- item metadata


U_ITEM = (
    "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "2|Caf\xe9 (1995)|01-Jan-1995||http://y|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n"
    "3|Nothing (1995)|||http://z|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
)


def test_movielens_u_item_latin1_with_standard_genres(write):
    df = ingest.read_items(write("u.item", U_ITEM.encode("latin-1")))
    assert rows(df) == [
        ("1", "Toy Story (1995)", "Animation|Children's|Comedy"),
        ("2", "Caf\xe9 (1995)", "Action|Adventure|Thriller"),
        ("3", "Nothing (1995)", None),
    ]


def test_movielens_u_item_uses_u_genre_beside_it(write):
    names = [f"g{i}" for i in range(19)]
    write("u.genre", "".join(f"{n}|{i}\n" for i, n in enumerate(names)) + "\n")
    df = ingest.read_items(write("u.item", U_ITEM.encode("latin-1")))
    assert df["categories"].to_list() == ["g3|g4|g5", "g1|g2|g16", None]


def test_movielens_movies_dat(write):
    df = ingest.read_items(
        write("movies.dat", "1::Toy Story (1995)::Animation|Comedy\n".encode("latin-1"))
    )
    assert rows(df) == [("1", "Toy Story (1995)", "Animation|Comedy")]


def test_generic_items_csv_tsv_parquet_recbole(write, tmp_path):
    a = write("items.csv", 'item_id,title,categories,price\ni1,"A, the",x|y,3\ni2,,,4\n')
    assert rows(ingest.read_items(a)) == [("i1", "A, the", "x|y"), ("i2", None, None)]
    b = write("items.tsv", "item_id\tother\ni1\tq\n")
    assert rows(ingest.read_items(b)) == [("i1", None, None)]
    c = tmp_path / "items.parquet"
    pl.DataFrame({"item_id": [5], "title": ["five"]}).write_parquet(c)
    assert rows(ingest.read_items(c)) == [("5", "five", None)]
    d = write(
        "x.item",
        "item_id:token\tmovie_title:token_seq\tclass:token_seq\n1\tToy Story\tAnimation Comedy\n",
    )
    assert rows(ingest.read_items(d)) == [("1", "Toy Story", "Animation|Comedy")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "items.csv",
            "id,title\n1,a\n",
            "missing required column 'item_id'; available columns: 'id', 'title'",
        ),
        (
            "items.csv",
            "item_id,title\n1,a\n1,b\n",
            "row 2, field 'item_id': item id '1' repeats row 1",
        ),
        ("items.csv", "item_id,title\n,a\n", "row 1, field 'item_id': missing item id"),
        ("items.csv", "item_id,title\n", "no data rows"),
        ("u.item", "1|Toy Story|x\n", "row 1: expected 24"),
        ("items.csv", b"item_id\n\xff\xfe\x00\x01\n", "binary"),
    ],
)
def test_bad_items_files(write, name, content, message):
    p = write(name, content)
    with pytest.raises(InputError, match=message) as e:
        ingest.read_items(p)
    assert str(e.value).startswith(str(p))


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


# --------------------------------------------------------------------------- real data


def test_real_ml100k_u_data_and_recbole_agree(data_root):
    a = read(data_root / "ml-100k/original/u.data")
    b = read(data_root / "ml-100k/recbole_atomic/ml-100k.inter")
    assert a.height == b.height == 100_000
    cols = ["user_id", "item_id", "rating", "timestamp"]
    assert a.select(cols).equals(b.select(cols))
    assert a["user_id"].n_unique() == 943 and a["item_id"].n_unique() == 1682


def test_real_ml100k_items(data_root):
    df = ingest.read_items(data_root / "ml-100k/original/u.item")
    assert df.height == 1682
    assert rows(df.head(1)) == [("1", "Toy Story (1995)", "Animation|Children's|Comedy")]
