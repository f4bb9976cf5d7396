"""Item metadata: MovieLens u.item and movies.dat, generic CSV/TSV/Parquet/RecBole tables."""

from __future__ import annotations

import polars as pl
import pytest

from chronorec.data.items import read_items
from chronorec.errors import InputError
from tests.data.test_ingest import rows

U_ITEM = (
    "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "2|Caf\xe9 (1995)|01-Jan-1995||http://y|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n"
    "3|Nothing (1995)|||http://z|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
)


def test_movielens_u_item_latin1_with_standard_genres(write):
    df = read_items(write("u.item", U_ITEM.encode("latin-1")))
    assert rows(df) == [
        ("1", "Toy Story (1995)", "Animation|Children's|Comedy"),
        ("2", "Caf\xe9 (1995)", "Action|Adventure|Thriller"),
        ("3", "Nothing (1995)", None),
    ]


def test_movielens_u_item_uses_u_genre_beside_it(write):
    names = [f"g{i}" for i in range(19)]
    write("u.genre", "".join(f"{n}|{i}\n" for i, n in enumerate(names)) + "\n")
    df = read_items(write("u.item", U_ITEM.encode("latin-1")))
    assert df["categories"].to_list() == ["g3|g4|g5", "g1|g2|g16", None]


def test_movielens_movies_dat(write):
    df = read_items(
        write("movies.dat", "1::Toy Story (1995)::Animation|Comedy\n".encode("latin-1"))
    )
    assert rows(df) == [("1", "Toy Story (1995)", "Animation|Comedy")]


def test_generic_items_csv_tsv_parquet_recbole(write, tmp_path):
    a = write("items.csv", 'item_id,title,categories,price\ni1,"A, the",x|y,3\ni2,,,4\n')
    assert rows(read_items(a)) == [("i1", "A, the", "x|y"), ("i2", None, None)]
    b = write("items.tsv", "item_id\tother\ni1\tq\n")
    assert rows(read_items(b)) == [("i1", None, None)]
    c = tmp_path / "items.parquet"
    pl.DataFrame({"item_id": [5], "title": ["five"]}).write_parquet(c)
    assert rows(read_items(c)) == [("5", "five", None)]
    d = write(
        "x.item",
        "item_id:token\tmovie_title:token_seq\tclass:token_seq\n1\tToy Story\tAnimation Comedy\n",
    )
    assert rows(read_items(d)) == [("1", "Toy Story", "Animation|Comedy")]


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
        read_items(p)
    assert str(e.value).startswith(str(p))


def test_real_ml100k_items(data_root):
    df = read_items(data_root / "ml-100k/original/u.item")
    assert df.height == 1682
    assert rows(df.head(1)) == [("1", "Toy Story (1995)", "Animation|Children's|Comedy")]
