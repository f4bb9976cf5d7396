"""The format table: one module per format, auto-detection and its order, the --format help."""

from __future__ import annotations

import importlib

import polars as pl
import pytest

from chronorec.data.formats import FORMATS, format_help, resolve_format
from chronorec.data.formats.base import InputFormat
from chronorec.data.reading import sniff_delimiter
from chronorec.errors import InputError


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
    assert resolve_format(write(name, content)) == expected


def test_parquet_detected_by_magic_bytes(tmp_path):
    p = tmp_path / "log.bin"
    pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [1]}).write_parquet(p)
    assert resolve_format(p) == "parquet"


def test_unknown_extension_and_unknown_format(write):
    with pytest.raises(InputError, match=r"log\.json.*cannot detect the format"):
        resolve_format(write("log.json", '{"a": 1}\n'))
    with pytest.raises(InputError, match="unknown format 'xlsx'"):
        resolve_format(write("log.csv", "a\n"), "xlsx")


def test_delimiter_sniffing():
    assert sniff_delimiter("a;b;c") == ";"
    assert sniff_delimiter("a\tb,c\td") == "\t"
    assert sniff_delimiter("abc") == ","


def test_every_format_is_one_module_with_a_complete_entry():
    assert list(FORMATS) == ["parquet", "recbole", "movielens", "tsv", "csv", "sequences"]
    for name, fmt in FORMATS.items():
        assert isinstance(fmt, InputFormat) and fmt.name == name
        assert importlib.import_module(f"chronorec.data.formats.{name}").FORMAT is fmt
        assert fmt.label and fmt.description and "\n" not in fmt.description


def test_format_help_is_built_from_the_table():
    assert format_help() == "auto|parquet|recbole|movielens|tsv|csv|sequences"


def test_a_format_with_unknown_options_is_refused():
    with pytest.raises(ValueError, match="unknown options"):
        InputFormat(
            name="x", label="X", description="x", read=lambda p, o: pl.LazyFrame(),
            matches_file=lambda s: False, matches_text=lambda lines: False,
            options=frozenset({"sheet"}),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        # A file name beats the text: u.data is MovieLens even with a RecBole-like header.
        ("u.data", "user_id:token\titem_id:token\n1\t2\n", "movielens"),
        # A RecBole header beats the tab count, '::' beats the comma count, tabs beat commas.
        ("x.dat", "user_id:token\titem_id:token\n1\t2\n", "recbole"),
        ("x.dat", "1::a,b::3\n2::c,d::4\n", "movielens"),
        ("x.txt", "u,1\ti\n v,2\tj\n", "tsv"),
    ],
)
def test_detection_order(write, name, content, expected):
    assert resolve_format(write(name, content)) == expected


def test_parquet_magic_bytes_beat_the_extension(tmp_path):
    p = tmp_path / "log.csv"
    pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [1]}).write_parquet(p)
    assert resolve_format(p) == "parquet"


def test_text_detection_needs_text(write):
    with pytest.raises(InputError, match="binary"):
        resolve_format(write("log.txt", b"\x00\x01\x02\x03"))
    with pytest.raises(InputError, match="no data rows"):
        resolve_format(write("log.txt", "\n  \n"))
