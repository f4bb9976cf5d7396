"""prepare(): the written folder, bad input, filters, ids, determinism, pseudonymization."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronorec.data import PrepareConfig, PrepareResult, prepare, schema
from chronorec.data.encode import encode, pseudonym
from chronorec.data.filters import kcore
from chronorec.errors import ChronorecError, InputError

LOG = """user_id,item_id,timestamp,event_type,rating
alice,i1,100,view,4
bob,i2,100,view,3
alice,i2,200,buy,5
carol,i1,50,view,2
bob,i1,300,cart,4
"""


def load(out: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict]:
    return (
        pl.read_parquet(out / schema.INTERACTIONS_FILE),
        pl.read_parquet(out / schema.USERS_FILE),
        pl.read_parquet(out / schema.ITEMS_FILE),
        json.loads((out / schema.MANIFEST_FILE).read_text()),
    )


def joined(out: Path) -> pl.DataFrame:
    """Interactions with original ids, in file order."""
    inter, users, items, _ = load(out)
    return inter.join(users, on="user", maintain_order="left").join(
        items, on="item", maintain_order="left"
    )


# --------------------------------------------------------------------------- output format


def test_writes_folder_per_schema(write, out):
    items = write("items.csv", "item_id,title,categories\ni1,One,a|b\ni9,Nine,\n")
    result = prepare(PrepareConfig(write("log.csv", LOG), out, items=items))
    assert isinstance(result, PrepareResult)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [schema.INTERACTIONS_FILE, schema.USERS_FILE, schema.ITEMS_FILE, schema.MANIFEST_FILE]
    )
    inter, users, items_df, manifest = load(out)
    assert inter.schema == pl.Schema(
        {
            "user": pl.Int32,
            "item": pl.Int32,
            "timestamp": pl.Int64,
            "event_type": pl.Int16,
            "rating": pl.Float32,
        }
    )
    assert users.schema == pl.Schema({"user": pl.Int32, "user_id": pl.String})
    assert items_df.schema == pl.Schema(
        {"item": pl.Int32, "item_id": pl.String, "title": pl.String, "categories": pl.String}
    )
    # Dense ids by first appearance in time order: carol@50, alice@100 (row 1), bob@100 (row 2).
    assert users.rows() == [(1, "carol"), (2, "alice"), (3, "bob")]
    assert items_df.rows() == [(1, "i1", "One", "a|b"), (2, "i2", None, None)]
    assert inter.rows() == [
        (1, 1, 50, 3, 2.0),
        (2, 1, 100, 3, 4.0), (2, 2, 200, 1, 5.0),
        (3, 2, 100, 3, 3.0), (3, 1, 300, 2, 4.0),
    ]  # fmt: skip
    assert manifest["event_types"] == ["buy", "cart", "view"]
    assert set(manifest) >= {
        "format_version", "source", "options", "counts", "interactions", "users", "items",
        "dropped", "event_types", "has_ratings", "created",
    }  # fmt: skip
    assert manifest["format_version"] == schema.FORMAT_VERSION
    assert manifest["source"]["format"] == "csv" and len(manifest["source"]["sha256"]) == 64
    assert manifest["source"]["items"]["sha256"] and manifest["source"]["times"] is None
    assert (manifest["interactions"], manifest["users"], manifest["items"]) == (5, 3, 2)
    assert manifest["has_ratings"] is True
    assert manifest["counts"] == {
        "rows_read": 5,
        "after_validation": 5,
        "after_rating_filter": 5,
        "after_kcore": 5,
    }
    assert (
        manifest["options"]["input"].endswith("log.csv") and manifest["options"]["strict"] is False
    )
    assert result.dropped == manifest["dropped"] and result.counts == manifest["counts"]


def test_without_events_or_ratings(write, out):
    prepare(PrepareConfig(write("log.csv", "user_id,item_id,timestamp\nu,i,1\n"), out))
    inter, _, _, manifest = load(out)
    assert inter.columns == ["user", "item", "timestamp"]
    assert manifest["event_types"] == [] and manifest["has_ratings"] is False


def test_every_format_prepares_the_same_log(write, tmp_path):
    t = [1614834367, 1614834368, 1614834369]
    files = {
        "csv": write("a.csv", "".join(["user_id,item_id,timestamp\n", f"u1,a,{t[0]}\n",
                                       f"u1,b,{t[1]}\n", f"u2,a,{t[2]}\n"])),
        "tsv": write("a.tsv", f"user_id\titem_id\ttimestamp\nu1\ta\t{t[0]}\n"
                     f"u1\tb\t{t[1]}\nu2\ta\t{t[2]}\n"),
        "recbole": write("a.inter", "user_id:token\titem_id:token\ttimestamp:float\n"
                         f"u1\ta\t{t[0]}\nu1\tb\t{t[1]}\nu2\ta\t{t[2]}\n"),
        "ms": write("ms.csv", f"user_id,item_id,timestamp\nu1,a,{t[0]}000\nu1,b,{t[1]}500\n"
                    f"u2,a,{t[2]}999\n"),
        "iso": write("iso.csv", "user_id,item_id,timestamp\nu1,a,2021-03-04T05:06:07Z\n"
                     "u1,b,2021-03-04T07:06:08+02:00\nu2,a,2021-03-04 05:06:09\n"),
        "sequences": write("s.txt", "u1 a b\nu2 a\n"),
    }  # fmt: skip
    times = write("t.txt", f"u1 {t[0]} {t[1]}\nu2 {t[2]}\n")
    pq = tmp_path / "a.parquet"
    pl.DataFrame(
        {"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "a"], "timestamp": t}
    ).write_parquet(pq)
    files["parquet"] = pq
    results = {}
    for name, path in files.items():
        out = tmp_path / "outs" / name
        prepare(PrepareConfig(path, out, times=times if name == "sequences" else None))
        results[name] = joined(out).select("user_id", "item_id", "timestamp").rows()
    expected = [("u1", "a", t[0]), ("u1", "b", t[1]), ("u2", "a", t[2])]
    assert all(r == expected for r in results.values()), results


def test_existing_dataset_is_replaced_but_other_folders_are_not(write, out):
    log = write("log.csv", LOG)
    prepare(PrepareConfig(log, out))
    prepare(PrepareConfig(log, out, user_core=2))
    assert load(out)[3]["options"]["user_core"] == 2
    assert [p.name for p in out.parent.iterdir()] == ["ds"]
    precious = out.parent / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ChronorecError, match="not a prepared dataset"):
        prepare(PrepareConfig(log, precious))
    assert (precious / "notes.txt").read_text() == "keep me"


# --------------------------------------------------------------------------- bad input

HEADER = "user_id,item_id,timestamp\n"


def _cfg(write, tmp_path, case: str) -> tuple[PrepareConfig, Path, dict]:
    """A config for one kind of bad input, the file the error must name, and expected row/field."""
    out = tmp_path / "outs" / "ds"
    log = lambda text, name="log.csv": write(name, text)  # noqa: E731
    good = HEADER + "u1,i1,1\nu1,i2,2\n"
    if case == "nonexistent":
        p = tmp_path / "missing.csv"
        return PrepareConfig(p, out), p, {}
    if case == "directory":
        p = tmp_path / "in"
        p.mkdir(exist_ok=True)
        return PrepareConfig(p, out), p, {}
    if case == "empty":
        p = log("")
        return PrepareConfig(p, out), p, {}
    if case == "header_only":
        p = log(HEADER)
        return PrepareConfig(p, out), p, {}
    if case == "blank_sequences":
        p = log("\n\n  \n", "seq.txt")
        return PrepareConfig(p, out, format="sequences"), p, {}
    if case == "missing_column":
        p = log("user_id,item,timestamp\nu,i,1\n")
        return (
            PrepareConfig(p, out),
            p,
            {
                "message": "missing required item column 'item_id'; "
                "available columns: 'user_id', 'item'"
            },
        )
    if case == "unknown_format":
        p = log(good)
        return PrepareConfig(p, out, format="excel"), p, {"message": "unknown format 'excel'"}
    if case == "strict_timestamp":
        p = log(good + "u2,i1,yesterday\n")
        return (
            PrepareConfig(p, out, strict=True),
            p,
            {"row": 3, "field": "timestamp", "message": "'yesterday'"},
        )
    if case == "strict_missing":
        p = log("uid,item_id,timestamp\nu1,i1,1\n,i2,2\n")
        return PrepareConfig(p, out, strict=True, user_col="uid"), p, {"row": 2, "field": "uid"}
    if case == "strict_duplicate":
        p = log(good + "u1,i1,1970-01-01T00:00:01Z\n")  # the same second as row 1
        return PrepareConfig(p, out, strict=True), p, {"row": 3, "message": "duplicate of row 1"}
    if case == "strict_rating":
        p = log("user_id,item_id,timestamp,rating\nu1,i1,1,4\nu1,i2,2,five\n")
        return PrepareConfig(p, out, strict=True), p, {"row": 2, "field": "rating"}
    if case == "strict_times_file":
        p, t = log("u1 a b\n", "s.txt"), log("u1 1 soon\n", "t.txt")
        return PrepareConfig(p, out, times=t, strict=True), t, {"row": 1, "field": "timestamp"}
    if case == "non_utf8":
        p = log(HEADER.encode() + "u1,caf\xe9,1\n".encode("latin-1") * 3)
        return PrepareConfig(p, out), p, {"message": "UTF-8"}
    if case == "binary":
        p = log(bytes(range(256)) * 4, "blob.dat")
        return PrepareConfig(p, out), p, {"message": "binary"}
    if case == "garbage_parquet":
        p = log(b"PAR1" + b"\x00garbage" * 10, "log.parquet")
        return PrepareConfig(p, out), p, {"message": "cannot read as Parquet"}
    if case == "ragged_row":
        p = log(good + "u1,i3,3,extra\n")
        return (
            PrepareConfig(p, out),
            p,
            {"message": "cannot read as CSV: a row has more fields than the header"},
        )
    if case == "kcore_empties":
        p = log(good)
        return PrepareConfig(p, out, user_core=3), p, {"message": "no interactions left"}
    if case == "all_invalid":
        p = log(HEADER + "u1,i1,never\nu2,,1\n")
        return PrepareConfig(p, out), p, {"message": "no interactions left"}
    if case == "min_rating_without_ratings":
        p = log(good)
        return PrepareConfig(p, out, min_rating=3), p, {"message": "no rating column"}
    if case == "bad_items":
        items = log("id,title\ni1,x\n", "items.csv")
        return PrepareConfig(log(good), out, items=items), items, {"message": "'item_id'"}
    if case == "missing_items":
        items = tmp_path / "in" / "nope.item"
        return PrepareConfig(log(good), out, items=items), items, {"message": "not found"}
    if case == "times_shape":
        p, t = log("u1 a b\nu2 c\n", "s.txt"), log("u1 1 2\nu2 3 4\n", "t.txt")
        return (
            PrepareConfig(p, out, times=t),
            t,
            {"row": 2, "message": "2 timestamp(s) but 1 item(s)"},
        )
    if case == "times_not_sequences":
        t = log("u1 1\n", "t.txt")
        return PrepareConfig(log(good), out, times=t), t, {"message": "only applies"}
    raise AssertionError(case)


BAD_CASES = [
    "nonexistent", "directory", "empty", "header_only", "blank_sequences", "missing_column",
    "unknown_format", "strict_timestamp", "strict_missing", "strict_duplicate", "strict_rating",
    "strict_times_file", "non_utf8", "binary", "garbage_parquet", "ragged_row", "kcore_empties",
    "all_invalid", "min_rating_without_ratings", "bad_items", "missing_items", "times_shape",
    "times_not_sequences",
]  # fmt: skip


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_fatal_names_the_file_and_writes_nothing(
    write, tmp_path, assert_no_output, case
):
    cfg, culprit, expect = _cfg(write, tmp_path, case)
    with pytest.raises(InputError) as e:
        prepare(cfg)
    err = e.value
    assert str(err).startswith(str(culprit)), str(err)
    assert err.path is not None and Path(err.path) == culprit
    if "row" in expect:
        assert err.row == expect["row"] and f"row {expect['row']}" in str(err)
    if "field" in expect:
        assert err.field == expect["field"] and f"field '{expect['field']}'" in str(err)
    if "message" in expect:
        assert expect["message"] in str(err)
    assert "\n" not in str(err)
    assert_no_output(cfg.out)


def test_invalid_options():
    with pytest.raises(ChronorecError, match="user_core"):
        PrepareConfig("a.csv", "out", user_core=-1)
    with pytest.raises(ChronorecError, match="salt"):
        PrepareConfig("a.csv", "out", pseudonymize_users="")


# --------------------------------------------------------------------------- row-level drops


def test_non_strict_drops_and_counts_by_reason(write, out):
    log = write(
        "log.csv",
        "user_id,item_id,timestamp,rating\n"
        "u1,i1,1,4\n"  # kept
        "u1,,2,4\n"  # missing item
        ",i1,3,4\n"  # missing user
        "u1,i2,,4\n"  # missing timestamp
        "u1,i2,whenever,4\n"  # unparsable timestamp
        "u1,i3,4,great\n"  # unparsable rating
        "u1,i1,1,5\n"  # duplicate of row 1 (rating does not matter)
        "u1,i1,1970-01-01 00:00:01,3\n"  # duplicate of row 1, written as ISO-8601
        "u2,i1,2,2\n"  # kept, then dropped by min_rating
        "u2,i2,5,4.5\n",  # kept
    )
    result = prepare(PrepareConfig(log, out, min_rating=3))
    assert result.dropped == {
        "missing_value": 3, "unparsable_timestamp": 1, "unparsable_rating": 1, "duplicate": 2,
        "below_min_rating": 1, "kcore": 0,
    }  # fmt: skip
    assert result.counts == {
        "rows_read": 10,
        "after_validation": 3,
        "after_rating_filter": 2,
        "after_kcore": 2,
    }
    assert sum(result.dropped.values()) == result.counts["rows_read"] - result.interactions
    assert joined(out).select("user_id", "item_id", "rating").rows() == [
        ("u1", "i1", 4.0),
        ("u2", "i2", 4.5),
    ]


def test_taobao_truncated_last_line_is_dropped_as_missing(write, out):
    log = write("UserBehavior.csv", "1,10,7,pv,1511544070\n1,11,7,buy,1511544071\n2,10,7,pv")
    cols = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")
    result = prepare(PrepareConfig(log, out, columns=cols, event_col="behavior_type"))
    assert result.dropped["missing_value"] == 1 and result.interactions == 2
    assert load(out)[3]["event_types"] == ["buy", "pv"]


# --------------------------------------------------------------------------- ordering and ids


def test_timestamp_ties_keep_source_row_order(write, out):
    log = write("log.csv", HEADER + "u,c,5\nu,a,5\nu,z,1\nu,b,5\nv,a,5\n")
    prepare(PrepareConfig(log, out))
    assert joined(out).filter(pl.col("user_id") == "u")["item_id"].to_list() == ["z", "c", "a", "b"]


def test_sequences_ties_keep_position_order(write, out):
    p, t = write("s.txt", "u c a b\n"), write("t.txt", "u 7 7 7\n")
    prepare(PrepareConfig(p, out, times=t))
    assert joined(out)["item_id"].to_list() == ["c", "a", "b"]


def test_id_maps_round_trip(write, out):
    log = write("log.csv", LOG)
    prepare(PrepareConfig(log, out))
    inter, users, items, _ = load(out)
    assert users["user"].to_list() == list(range(1, users.height + 1))
    assert items["item"].to_list() == list(range(1, items.height + 1))
    assert users["user_id"].is_unique().all() and items["item_id"].is_unique().all()
    assert inter["user"].min() >= 1 and inter["item"].min() >= 1  # 0 is padding
    int_to_str = dict(users.iter_rows())
    str_to_int = {v: k for k, v in int_to_str.items()}
    assert all(int_to_str[str_to_int[s]] == s for s in str_to_int)
    assert all(str_to_int[int_to_str[i]] == i for i in int_to_str)
    original = pl.read_csv(log, infer_schema=False).select(
        "user_id", "item_id", pl.col("timestamp").cast(pl.Int64)
    )
    back = joined(out).select("user_id", "item_id", "timestamp")
    assert sorted(back.rows()) == sorted(original.rows())


def test_deterministic_output(write, tmp_path):
    log = write("log.csv", LOG)
    a, b = tmp_path / "a", tmp_path / "b"
    prepare(PrepareConfig(log, a, user_core=1))
    prepare(PrepareConfig(log, b, user_core=1))
    for name in (schema.INTERACTIONS_FILE, schema.USERS_FILE, schema.ITEMS_FILE):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_pseudonymize_users(write, tmp_path):
    log = write(
        "log.csv",
        LOG.replace("alice", "alice_7f3q")
        .replace("bob", "bob_x9zz")
        .replace("carol", "carol_k2w8"),
    )
    outs = {}
    for name, salt in (("s1", "pepper"), ("s1b", "pepper"), ("s2", "other-salt"), ("plain", None)):
        outs[name] = tmp_path / name
        prepare(PrepareConfig(log, outs[name], pseudonymize_users=salt))
    users = {k: pl.read_parquet(v / schema.USERS_FILE) for k, v in outs.items()}
    assert users["s1"].equals(users["s1b"])
    assert set(users["s1"]["user_id"]).isdisjoint(users["s2"]["user_id"])
    assert users["s1"]["user_id"].to_list() == [
        pseudonym(u, "pepper") for u in users["plain"]["user_id"]
    ]
    assert all(len(u) == 16 for u in users["s1"]["user_id"])
    # The dense numbering and the log itself do not depend on the pseudonyms.
    assert users["s1"]["user"].equals(users["plain"]["user"])
    assert (outs["s1"] / schema.INTERACTIONS_FILE).read_bytes() == (
        outs["plain"] / schema.INTERACTIONS_FILE
    ).read_bytes()
    for f in outs["s1"].iterdir():
        data = f.read_bytes()
        for secret in (b"alice_7f3q", b"bob_x9zz", b"carol_k2w8", b"pepper"):
            assert secret not in data, (f.name, secret)
    assert (
        json.loads((outs["s1"] / schema.MANIFEST_FILE).read_text())["options"]["pseudonymize_users"]
        is True
    )


# --------------------------------------------------------------------------- k-core


def test_kcore_needs_more_than_one_pass(write, out):
    # u3 has 1 event: dropping it leaves i3 with 1 event, dropping that leaves u2 with 1, and so on.
    log = write(
        "log.csv",
        HEADER + "u1,i1,1\nu1,i2,2\nu2,i1,3\nu2,i2,4\nu2,i3,5\nu3,i3,6\nu4,i3,7\nu4,i4,8\n",
    )
    result = prepare(PrepareConfig(log, out, user_core=2, item_core=2))
    assert sorted(joined(out).select("user_id", "item_id").rows()) == [
        ("u1", "i1"), ("u1", "i2"), ("u2", "i1"), ("u2", "i2"),
    ]  # fmt: skip
    assert result.dropped["kcore"] == 4 and result.counts["after_kcore"] == 4


events = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=events, ku=st.integers(0, 4), ki=st.integers(0, 4))
def test_kcore_reaches_the_largest_fixpoint(events, ku, ki):
    df = pl.DataFrame(
        {"user_id": [f"u{u}" for u, _ in events], "item_id": [f"i{i}" for _, i in events]},
        schema={"user_id": pl.String, "item_id": pl.String},
    ).with_row_index("_ord")
    kept = kcore(df, ku, ki)
    # Every survivor meets both thresholds ...
    if kept.height:
        assert kept.group_by("user_id").len()["len"].min() >= ku
        assert kept.group_by("item_id").len()["len"].min() >= ki
    # ... and it is the largest such sub-log: brute-force peeling one offender at a time agrees.
    rows = list(df.iter_rows())
    while True:
        uc, ic = {}, {}
        for _, u, i in rows:
            uc[u] = uc.get(u, 0) + 1
            ic[i] = ic.get(i, 0) + 1
        bad = next((r for r in rows if uc[r[1]] < ku or ic[r[2]] < ki), None)
        if bad is None:
            break
        rows = [r for r in rows if r[1] != bad[1] or uc[bad[1]] >= ku]
        rows = [r for r in rows if r[2] != bad[2] or ic[bad[2]] >= ki]
    assert sorted(kept.rows()) == sorted(rows)


def test_encode_numbers_by_first_appearance_in_time():
    df = pl.DataFrame(
        {
            "_ord": [0, 1, 2],
            "user_id": ["b", "a", "b"],
            "item_id": ["y", "x", "x"],
            "timestamp": [5, 1, 0],
        },
        schema_overrides={"_ord": pl.UInt32},
    )
    enc = encode(df)
    assert enc.users.rows() == [(1, "b"), (2, "a")] and enc.items.rows() == [(1, "x"), (2, "y")]
    assert enc.interactions.rows() == [(1, 1, 0), (1, 2, 5), (2, 1, 1)]


# --------------------------------------------------------------------------- real data


def test_real_ml100k_both_sources_give_the_same_dataset(data_root, tmp_path):
    ml = data_root / "ml-100k"
    a = prepare(PrepareConfig(ml / "original/u.data", tmp_path / "a", items=ml / "original/u.item"))
    b = prepare(PrepareConfig(ml / "recbole_atomic/ml-100k.inter", tmp_path / "b"))
    for r in (a, b):
        assert (r.interactions, r.users, r.items) == (100_000, 943, 1_682)
        assert sum(r.dropped.values()) == 0
    assert (tmp_path / "a" / schema.INTERACTIONS_FILE).read_bytes() == (
        tmp_path / "b" / schema.INTERACTIONS_FILE
    ).read_bytes()
    inter, _, items, manifest = load(tmp_path / "a")
    assert manifest["source"]["format"] == "movielens" and manifest["has_ratings"]
    assert inter["timestamp"].min() == 874724710 and inter["timestamp"].max() == 893286638
    assert items["title"].null_count() == 0
    assert inter.equals(inter.sort(["user", "timestamp"], maintain_order=True))
    c = prepare(
        PrepareConfig(
            ml / "original/u.data", tmp_path / "c", user_core=50, item_core=50, min_rating=4
        )
    )
    assert c.counts["after_rating_filter"] == 34_174 + 21_201
    inter_c = pl.read_parquet(tmp_path / "c" / schema.INTERACTIONS_FILE)
    assert inter_c.group_by("user").len()["len"].min() >= 50
    assert inter_c.group_by("item").len()["len"].min() >= 50
