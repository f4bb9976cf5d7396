"""Where posted events live: an :class:`EventStore` interface, SQLite (default) and PostgreSQL behind it.

Every write is durable when ``add`` returns: SQLite runs in WAL mode with ``synchronous=FULL`` (one
fsync per commit). An fsync costs milliseconds, so concurrent writers are grouped: one writer thread
commits whatever has queued up in a single transaction, and each caller waits for its own commit.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    """One event as posted (original ids) and, once stored, its sequence number ``seq``."""

    user_id: str
    item_id: str
    timestamp: float  # unix seconds
    event_type: str | None = None
    seq: int = 0  # assigned by the store; increases with every stored event


class EventStore(Protocol):
    """The operations the service needs; each is safe to call from many threads."""

    def add(self, events: list[Event]) -> list[Event]:
        """Store ``events`` durably; return them with their ``seq``."""

    def for_user(self, user_id: str, limit: int | None = None) -> list[Event]:
        """The user's events, newest first (by timestamp, then ``seq``), at most ``limit``."""

    def forget(self, user_id: str) -> int:
        """Delete the user's events and remember that they asked to be forgotten; return how many."""

    def is_forgotten(self, user_id: str) -> bool:
        """Whether :meth:`forget` was called for this user (their training history must not be used)."""

    def count(self) -> int:
        """Events stored in total."""

    def close(self) -> None: ...


def open_store(location: str | Path) -> EventStore:
    """A PostgreSQL store for a ``postgresql://`` URL, else a SQLite file at ``location``."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresStore(text)
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite:///")
    return SQLiteStore(Path(text))


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    timestamp REAL NOT NULL,
    event_type TEXT
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user_id, timestamp, seq);
CREATE TABLE IF NOT EXISTS forgotten_users (user_id TEXT PRIMARY KEY, forgotten_at REAL NOT NULL);
"""


class SQLiteStore:
    """One SQLite file in WAL mode: readers never wait for the writer, writes are group-committed."""

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        self._writer = self._connect()
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._writer.executescript(_SQLITE_SCHEMA)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, Any, Future] | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._write_loop, name="event-store-writer", daemon=True
        )
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) in the writer.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _reader(self) -> sqlite3.Connection:
        """A connection per thread: WAL lets them read concurrently with each other and the writer."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    # --- writes: queued to one thread that commits everything pending at once ---

    def _submit(self, op: str, arg: Any) -> Any:
        done: Future = Future()
        self._queue.put((op, arg, done))
        return done.result()

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                jobs.append(nxt)
            self._commit(jobs)

    def _commit(self, jobs: list[tuple[str, Any, Future]]) -> None:
        cur = self._writer.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            results = [self._apply(cur, op, arg) for op, arg, _ in jobs]
            cur.execute("COMMIT")
        except Exception as exc:  # the whole batch failed: every caller hears about it
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            for _, _, done in jobs:
                done.set_exception(exc)
            return
        for (_, _, done), result in zip(jobs, results):
            done.set_result(result)

    @staticmethod
    def _apply(cur: sqlite3.Cursor, op: str, arg: Any) -> Any:
        if op == "add":
            stored = []
            for e in arg:
                cur.execute(
                    "INSERT INTO events (user_id, item_id, timestamp, event_type) VALUES (?, ?, ?, ?)",
                    (e.user_id, e.item_id, e.timestamp, e.event_type),
                )
                stored.append(
                    Event(e.user_id, e.item_id, e.timestamp, e.event_type, int(cur.lastrowid))
                )
            return stored
        if op == "forget":
            deleted = cur.execute("DELETE FROM events WHERE user_id = ?", (arg,)).rowcount
            cur.execute("INSERT OR REPLACE INTO forgotten_users VALUES (?, ?)", (arg, time.time()))
            return deleted
        raise ValueError(op)

    def add(self, events: list[Event]) -> list[Event]:
        return self._submit("add", list(events)) if events else []

    def forget(self, user_id: str) -> int:
        return self._submit("forget", user_id)

    # --- reads ---

    def for_user(self, user_id: str, limit: int | None = None) -> list[Event]:
        rows = (
            self._reader()
            .execute(
                "SELECT user_id, item_id, timestamp, event_type, seq FROM events WHERE user_id = ?"
                " ORDER BY timestamp DESC, seq DESC LIMIT ?",
                (user_id, -1 if limit is None else limit),
            )
            .fetchall()
        )
        return [Event(*row) for row in rows]

    def is_forgotten(self, user_id: str) -> bool:
        sql = "SELECT 1 FROM forgotten_users WHERE user_id = ?"
        return self._reader().execute(sql, (user_id,)).fetchone() is not None

    def count(self) -> int:
        return int(self._reader().execute("SELECT count(*) FROM events").fetchone()[0])

    def journal_mode(self) -> str:
        return str(self._reader().execute("PRAGMA journal_mode").fetchone()[0])

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()


_PG_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS events (
        seq BIGSERIAL PRIMARY KEY,
        user_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        timestamp DOUBLE PRECISION NOT NULL,
        event_type TEXT)""",
    "CREATE INDEX IF NOT EXISTS events_by_user ON events (user_id, timestamp, seq)",
    "CREATE TABLE IF NOT EXISTS forgotten_users (user_id TEXT PRIMARY KEY, forgotten_at DOUBLE PRECISION NOT NULL)",
]


class PostgresStore:
    """PostgreSQL through psycopg 3 (an optional dependency), one connection per thread.

    The server already commits concurrent transactions together, so no group commit is needed here.
    """

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - depends on the environment
            from chronorec.errors import ChronorecError

            raise ChronorecError(
                "a PostgreSQL event store needs psycopg: pip install 'psycopg[binary]'"
            ) from None
        self._psycopg = psycopg
        self._url = url
        self._local = threading.local()
        self._conns: list[Any] = []
        self._lock = threading.Lock()
        with self._conn().transaction():
            for statement in _PG_SCHEMA:
                self._conn().execute(statement)

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = self._psycopg.connect(self._url, autocommit=True)
            with self._lock:
                self._conns.append(conn)
        return conn

    def add(self, events: list[Event]) -> list[Event]:
        conn, stored = self._conn(), []
        with conn.transaction():
            for e in events:
                seq = conn.execute(
                    "INSERT INTO events (user_id, item_id, timestamp, event_type) VALUES (%s, %s, %s, %s) RETURNING seq",
                    (e.user_id, e.item_id, e.timestamp, e.event_type),
                ).fetchone()[0]
                stored.append(Event(e.user_id, e.item_id, e.timestamp, e.event_type, int(seq)))
        return stored

    def for_user(self, user_id: str, limit: int | None = None) -> list[Event]:
        rows = (
            self._conn()
            .execute(
                "SELECT user_id, item_id, timestamp, event_type, seq FROM events WHERE user_id = %s"
                " ORDER BY timestamp DESC, seq DESC LIMIT %s",
                (user_id, limit),
            )
            .fetchall()
        )
        return [Event(*row) for row in rows]

    def forget(self, user_id: str) -> int:
        conn = self._conn()
        with conn.transaction():
            deleted = conn.execute("DELETE FROM events WHERE user_id = %s", (user_id,)).rowcount
            conn.execute(
                "INSERT INTO forgotten_users VALUES (%s, %s) ON CONFLICT (user_id) DO UPDATE SET forgotten_at = EXCLUDED.forgotten_at",
                (user_id, time.time()),
            )
        return int(deleted)

    def is_forgotten(self, user_id: str) -> bool:
        return (
            self._conn()
            .execute("SELECT 1 FROM forgotten_users WHERE user_id = %s", (user_id,))
            .fetchone()
            is not None
        )

    def count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
