"""The event store: durable, ordered, forgettable, safe under concurrent writers."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from chronorec.serve.store import Event, SQLiteStore, open_store


def test_events_come_back_newest_first_with_increasing_seq(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "e.sqlite")
    stored = store.add(
        [
            Event("u", "a", 10.0),
            Event("u", "b", 30.0, "buy"),
            Event("u", "c", 20.0),
            Event("v", "a", 5.0),
        ]
    )
    assert [e.seq for e in stored] == sorted(e.seq for e in stored) and len(
        {e.seq for e in stored}
    ) == 4
    assert [e.item_id for e in store.for_user("u")] == ["b", "c", "a"]
    assert [e.item_id for e in store.for_user("u", limit=2)] == ["b", "c"]
    assert store.for_user("u")[0].event_type == "buy"
    assert store.for_user("nobody") == []
    assert store.count() == 4
    store.close()


def test_sqlite_is_in_wal_mode_and_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "e.sqlite"
    store = open_store(path)
    assert isinstance(store, SQLiteStore) and store.journal_mode() == "wal"
    store.add([Event("u", "a", 1.0)])
    store.close()
    again = open_store(f"sqlite:///{path}")
    assert [e.item_id for e in again.for_user("u")] == ["a"]
    again.close()


def test_forget_deletes_events_and_is_remembered(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "e.sqlite")
    store.add([Event("u", "a", 1.0), Event("u", "b", 2.0), Event("v", "a", 1.0)])
    assert not store.is_forgotten("u")
    assert store.forget("u") == 2
    assert store.for_user("u") == [] and store.is_forgotten("u") and store.count() == 1
    store.close()
    again = SQLiteStore(tmp_path / "e.sqlite")
    assert again.is_forgotten("u") and not again.is_forgotten("v")
    again.close()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "e.sqlite")
    seqs: list[int] = []
    lock = threading.Lock()

    def write(w: int) -> None:
        for n in range(50):
            got = store.add([Event(f"u{w}", f"i{n}", float(n))])
            with lock:
                seqs.extend(e.seq for e in got)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 400 and len(set(seqs)) == 400
    assert [e.item_id for e in store.for_user("u3", limit=1)] == ["i49"]
    store.close()


@pytest.mark.skipif(
    not os.environ.get("CHRONOREC_TEST_POSTGRES_URL"),
    reason="set CHRONOREC_TEST_POSTGRES_URL to test PostgreSQL",
)
def test_postgres_store() -> None:
    pytest.importorskip("psycopg")
    store = open_store(os.environ["CHRONOREC_TEST_POSTGRES_URL"])
    user = f"pg-test-{os.getpid()}"
    before = store.count()
    store.add([Event(user, "a", 1.0), Event(user, "b", 2.0, "buy")])
    assert [e.item_id for e in store.for_user(user)] == ["b", "a"] and store.count() == before + 2
    assert store.forget(user) == 2 and store.is_forgotten(user) and store.for_user(user) == []
    # One connection per thread: concurrent writers each commit their own events.
    threads = [
        threading.Thread(target=lambda w=w: [store.add([Event(f"{user}-{w}", "i", float(n))]) for n in range(25)])
        for w in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(store.for_user(f"{user}-{w}")) for w in range(4)) == 100
    for w in range(4):
        store.forget(f"{user}-{w}")
    store.close()
