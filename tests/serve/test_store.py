"""The event stores, each test on SQLite and on PostgreSQL: durable, ordered, idempotent by event
id, forgettable without keeping the id, safe under concurrent writers, and telling other processes
what changed."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from chronorec.errors import ChronorecError
from chronorec.serve.stores import (
    CATALOGUE_CHANGED,
    Event,
    EventStore,
    Item,
    SQLiteStore,
    open_store,
)


@pytest.fixture
def stores(store_url: str) -> Iterator[Callable[[], EventStore]]:
    """Opens stores on one location (as several processes would); closes them all at the end."""
    opened: list[EventStore] = []

    def open_one() -> EventStore:
        opened.append(open_store(store_url))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


def sql(store_url: str, query: str) -> list[tuple]:
    """Rows of ``query``, read straight from the store's database."""
    if store_url.startswith("sqlite:///"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            return conn.execute(query).fetchall()
    import psycopg

    with psycopg.connect(store_url) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


def test_events_come_back_newest_first_with_increasing_seq(
    stores: Callable[[], EventStore],
) -> None:
    store = stores()
    stored = store.add(
        [
            Event("u", "a", 10.0),
            Event("u", "b", 30.0, "buy"),
            Event("u", "c", 20.0),
            Event("v", "a", 5.0),
        ]
    )
    seqs = [e.seq for e in stored]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert [e.item_id for e in store.for_user("u")] == ["b", "c", "a"]
    assert [e.item_id for e in store.for_user("u", limit=2)] == ["b", "c"]
    assert store.for_user("u")[0].event_type == "buy"
    assert store.for_user("nobody") == []
    assert store.count() == 4


def test_latest_lists_every_user_newest_stored_first_after_a_seq(
    stores: Callable[[], EventStore],
) -> None:
    store = stores()
    first, *rest = store.add([Event("u", "a", 10.0), Event("v", "b", 5.0), Event("w", "a", 1.0)])
    assert [(e.user_id, e.item_id) for e in store.latest(10)] == [
        ("w", "a"),
        ("v", "b"),
        ("u", "a"),
    ]
    assert [e.user_id for e in store.latest(10, after=first.seq)] == ["w", "v"]
    assert [e.user_id for e in store.latest(10, item_id="a")] == ["w", "u"]
    assert [e.user_id for e in store.latest(1)] == ["w"]


def test_scan_pages_through_the_whole_log_oldest_stored_first(
    stores: Callable[[], EventStore],
) -> None:
    store = stores()
    stored = store.add([Event(f"u{n % 3}", f"i{n}", float(100 - n)) for n in range(7)])
    pages, after = [], 0
    while page := store.scan(after=after, limit=3):
        pages.append([e.item_id for e in page])
        after = page[-1].seq
    assert pages == [["i0", "i1", "i2"], ["i3", "i4", "i5"], ["i6"]]
    assert [e.seq for e in store.scan()] == [e.seq for e in stored]


def test_an_event_id_is_stored_once_however_often_it_comes(
    stores: Callable[[], EventStore],
) -> None:
    store, other = stores(), stores()
    first = store.add([Event("u", "a", 1.0, event_id="e1"), Event("u", "b", 2.0)])
    assert [e.event_id for e in first] == ["e1", None]
    # Again, from another process, in a batch that also repeats an id of its own.
    again = other.add(
        [
            Event("u", "a", 1.0, event_id="e1"),
            Event("u", "c", 3.0, event_id="e2"),
            Event("u", "c", 3.0, event_id="e2"),
            Event("u", "b", 2.0),  # no id: no guarantee, stored again
        ]
    )
    assert [(e.item_id, e.event_id) for e in again] == [("c", "e2"), ("b", None)]
    assert store.count() == 4
    assert [e.event_id for e in store.for_user("u")] == ["e2", None, None, "e1"]


def test_concurrent_retries_of_one_event_store_it_once(stores: Callable[[], EventStore]) -> None:
    processes = [stores(), stores()]
    stored: list[Event] = []
    lock = threading.Lock()

    def retry(store: EventStore) -> None:
        for n in range(20):
            got = store.add([Event("u", "i", float(n), event_id=f"e{n}")])
            with lock:
                stored.extend(got)

    threads = [threading.Thread(target=retry, args=(p,)) for p in processes for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stored) == 20 and processes[0].count() == 20


def test_forget_deletes_events_and_is_remembered(
    stores: Callable[[], EventStore], store_url: str
) -> None:
    store = stores()
    store.add([Event("u", "a", 1.0), Event("u", "b", 2.0), Event("v", "a", 1.0)])
    assert not store.is_forgotten("u")
    assert store.forget("u") == 2
    assert store.for_user("u") == [] and store.is_forgotten("u") and store.count() == 1
    store.close()
    again = stores()
    assert again.is_forgotten("u") and not again.is_forgotten("v")
    # The tombstone holds a keyed hash, not the id.
    tombstones = sql(store_url, "SELECT user_key FROM tombstones")
    assert tombstones == [(again.user_key("u"),)] and again.user_key("u") != "u"


def test_forgetting_someone_nobody_knows_changes_nothing(
    stores: Callable[[], EventStore], store_url: str
) -> None:
    store = stores()
    store.add([Event("v", "a", 1.0)])
    assert store.forget("typo") is None and not store.is_forgotten("typo")
    assert sql(store_url, "SELECT count(*) FROM tombstones") == [(0,)]
    # A user known from elsewhere (the training data) is forgotten with no posted event.
    assert store.forget("trained", known=True) == 0 and store.is_forgotten("trained")
    assert store.forget("trained", known=True) is None  # forgotten already: nothing to do
    assert store.count() == 1


def test_user_keys_are_secret_to_the_store_and_the_same_in_every_process(
    stores: Callable[[], EventStore], tmp_path: Path
) -> None:
    first, second = stores(), stores()
    assert first.user_key("u") == second.user_key("u") != first.user_key("v")
    elsewhere = SQLiteStore(tmp_path / "elsewhere.sqlite")
    assert elsewhere.user_key("u") != first.user_key("u")
    elsewhere.close()


def test_concurrent_writers_lose_nothing(stores: Callable[[], EventStore]) -> None:
    store = stores()
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


class Changes:
    """What a watching store reports, collected for the test."""

    def __init__(self) -> None:
        self.keys: list[str | None] = []

    def __call__(self, keys: Sequence[str] | None) -> None:
        self.keys.extend(keys if keys is not None else [None])

    def wait_for(self, wanted: set[str], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not wanted <= set(self.keys) and time.monotonic() < deadline:
            time.sleep(0.005)
        return wanted <= set(self.keys)


def test_a_store_hears_of_other_processes_changes_but_not_its_own(
    stores: Callable[[], EventStore],
) -> None:
    watching, other = stores(), stores()
    heard = Changes()
    watching.watch(heard)
    watching.add([Event("mine", "a", 1.0)])
    other.add([Event("u", "a", 1.0), Event("v", "b", 2.0), Event("u", "c", 3.0)])
    other.forget("w", known=True)
    assert heard.wait_for({other.user_key(u) for u in ("u", "v", "w")})
    time.sleep(0.1)  # time for a wrong notice about its own write to arrive too
    assert watching.user_key("mine") not in heard.keys and None not in heard.keys
    assert "u" not in heard.keys  # keys, never ids


def test_the_catalogue_keeps_items_in_the_order_first_added_with_their_latest_text(
    stores: Callable[[], EventStore],
) -> None:
    store = stores()
    assert store.items() == []
    store.put_items([Item("b", "Bee", "Insect|Small"), Item("a", "Ant")])
    store.put_items([Item("c"), Item("b", "Bumblebee", None)])
    assert stores().items() == [  # durable: another store object on the place reads them
        Item("b", "Bumblebee", None),
        Item("a", "Ant", None),
        Item("c", None, None),
    ]
    store.put_items([])
    assert len(store.items()) == 3 and store.count() == 0


def test_other_processes_hear_of_a_catalogue_change(stores: Callable[[], EventStore]) -> None:
    watching, other = stores(), stores()
    heard = Changes()
    watching.watch(heard)
    watching.put_items([Item("mine")])
    time.sleep(0.1)
    assert CATALOGUE_CHANGED not in heard.keys  # not of its own
    other.put_items([Item("x", "X")])
    assert heard.wait_for({CATALOGUE_CHANGED})


def old_schema(sqlite: bool) -> list[str]:
    """The schema before keyed hashes: events indexed by user id, forgotten ids in plain text."""
    seq = "INTEGER PRIMARY KEY AUTOINCREMENT" if sqlite else "BIGSERIAL PRIMARY KEY"
    return [
        f"CREATE TABLE events (seq {seq}, user_id TEXT NOT NULL, item_id TEXT NOT NULL,"
        " timestamp REAL NOT NULL, event_type TEXT)",
        "CREATE INDEX events_by_user ON events (user_id, timestamp, seq)",
        "CREATE TABLE forgotten_users (user_id TEXT PRIMARY KEY, forgotten_at REAL NOT NULL)",
        "INSERT INTO events (user_id, item_id, timestamp) VALUES ('kept-user', 'kept-item', 1.0)",
        "INSERT INTO forgotten_users VALUES ('gone-user', 1.0)",
    ]


def test_a_store_of_the_older_schema_is_moved_to_keyed_hashes(store_url: str) -> None:
    sqlite = store_url.startswith("sqlite:///")
    if sqlite:
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            for statement in old_schema(sqlite):
                conn.execute(statement)
    else:
        import psycopg

        with psycopg.connect(store_url) as conn:
            for statement in old_schema(sqlite):
                conn.execute(statement)  # type: ignore[arg-type]
    store = open_store(store_url)
    try:
        assert store.is_forgotten("gone-user") and not store.is_forgotten("other")
        assert sql(store_url, "SELECT user_key FROM tombstones") == [(store.user_key("gone-user"),)]
        assert [e.item_id for e in store.for_user("kept-user")] == ["kept-item"]
        assert store.forget("kept-user") == 1
    finally:
        store.close()
    if sqlite:  # and the ids are gone from the file, not just from the tables
        path = Path(store_url.removeprefix("sqlite:///"))
        for name in (b"gone-user", b"kept-user", b"kept-item"):
            assert all(name not in p.read_bytes() for p in path.parent.glob(f"{path.name}*"))


def test_sqlite_is_in_wal_mode_and_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "e.sqlite"
    store = open_store(path)
    assert isinstance(store, SQLiteStore) and store.journal_mode() == "wal"
    store.add([Event("u", "a", 1.0)])
    store.close()
    again = open_store(f"sqlite:///{path}")
    assert [e.item_id for e in again.for_user("u")] == ["a"]
    again.close()


def test_the_url_scheme_chooses_the_store_and_an_unknown_one_is_one_clear_line(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/by-url.sqlite")
    assert isinstance(store, SQLiteStore) and store.path == tmp_path / "by-url.sqlite"
    store.close()
    with pytest.raises(ChronorecError, match="unknown event store 'mysql://'") as caught:
        open_store("mysql://admin:hunter2@db.example/events")
    assert "hunter2" not in str(caught.value)  # a URL's password is never echoed
    assert "postgresql://" in str(caught.value)
    with pytest.raises(ChronorecError, match="sqlite:///PATH"):
        open_store("sqlite://relative.sqlite")


def test_an_unreachable_postgresql_is_one_clear_line_without_the_password() -> None:
    pytest.importorskip("psycopg", reason="the `postgres` extra is not installed")
    from tests.serve.conftest import free_port

    url = f"postgresql://admin:hunter2@127.0.0.1:{free_port()}/events?connect_timeout=2"
    with pytest.raises(ChronorecError, match="cannot reach the PostgreSQL event store") as caught:
        open_store(url)
    assert "hunter2" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_lost_listening_connection_drops_everything_then_listens_again(
    postgres_url: str,
) -> None:
    import psycopg

    watching, other = open_store(postgres_url), open_store(postgres_url)
    try:
        heard = Changes()
        watching.watch(heard)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            ).fetchall()
        assert killed == [(True,)]
        deadline = time.monotonic() + 10
        while None not in heard.keys and time.monotonic() < deadline:
            time.sleep(0.01)
        assert None in heard.keys  # whatever happened meanwhile is unknown: drop everything
        other.add([Event("after", "a", 1.0)])
        assert heard.wait_for({other.user_key("after")})
    finally:
        watching.close()
        other.close()
