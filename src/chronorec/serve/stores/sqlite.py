"""The default event store: one SQLite file in WAL mode, writes group-committed.

Every write is durable when ``add`` returns: SQLite runs in WAL mode with ``synchronous=FULL`` (one
fsync per commit). An fsync costs milliseconds, so concurrent writers are grouped: one writer thread
commits whatever has queued up in a single transaction, and each caller waits for its own commit.

Several processes may share the file. Every write also appends the keys of the users it changed
to a ``changes`` table; each process polls ``PRAGMA data_version`` (free when nothing changed) and
reads the rows after the last one it saw. Forgetting is physical: ``secure_delete`` overwrites
deleted rows with zeros, indexes hold keyed hashes only (see ``base``), and the write-ahead log,
which still holds the rows, is checkpointed and truncated before ``forget`` returns.
"""

from __future__ import annotations

import logging
import queue
import secrets
import sqlite3
import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

from chronorec.errors import ChronorecError
from chronorec.serve.stores.base import (
    CATALOGUE_CHANGED,
    ChangeListener,
    Event,
    Item,
    new_secret,
    stored_row,
    user_key,
    users_changed,
)

log = logging.getLogger("chronorec.serve")

URL_PREFIX = "sqlite:///"
POLL_SECONDS = 0.01  # how often a process looks for other processes' changes
CHANGES_KEPT_SECONDS = 600.0  # change rows older than this are deleted

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS store_secret (id INTEGER PRIMARY KEY CHECK (id = 1), value BLOB)",
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        timestamp REAL NOT NULL,
        event_type TEXT,
        user_key TEXT,
        event_id TEXT,
        event_key TEXT)""",
    "CREATE TABLE IF NOT EXISTS tombstones (user_key TEXT PRIMARY KEY, forgotten_at REAL NOT NULL)",
    """CREATE TABLE IF NOT EXISTS changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        origin TEXT NOT NULL,
        user_key TEXT NOT NULL,
        at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS items (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        item_id TEXT NOT NULL UNIQUE,
        title TEXT,
        categories TEXT)""",
]
_INDEXES = [
    "CREATE INDEX IF NOT EXISTS events_by_user_key ON events (user_key)",
    "CREATE UNIQUE INDEX IF NOT EXISTS events_by_event_key ON events (event_key)",
]
_INSERT = (
    "INSERT INTO events (user_id, item_id, timestamp, event_type, user_key, event_id, event_key)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_key) DO NOTHING"
)
_FOR_USER = (
    "SELECT user_id, item_id, timestamp, event_type, seq, event_id FROM events"
    " WHERE user_key = ? AND user_id = ? ORDER BY timestamp DESC, seq DESC LIMIT ?"
)
_LATEST = (
    "SELECT user_id, item_id, timestamp, event_type, seq, event_id FROM events"
    " WHERE seq > ? AND (? IS NULL OR item_id = ?) ORDER BY seq DESC LIMIT ?"
)
_SCAN = (
    "SELECT user_id, item_id, timestamp, event_type, seq, event_id FROM events"
    " WHERE seq > ? ORDER BY seq LIMIT ?"
)
_CHANGED = "INSERT INTO changes (origin, user_key, at) VALUES (?, ?, ?)"
_PUT_ITEM = (
    "INSERT INTO items (item_id, title, categories) VALUES (?, ?, ?) ON CONFLICT (item_id)"
    " DO UPDATE SET title = excluded.title, categories = excluded.categories"
)

_Job = tuple[str, Any, Future[Any]]


class SQLiteStore:
    """One SQLite file in WAL mode: readers never wait for the writer; writes are grouped."""

    def __init__(
        self, path: Path, synchronous: str = "FULL", poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous, self._poll_seconds = synchronous, poll_seconds
        self.origin = secrets.token_hex(8)  # this store object's mark on the changes it writes
        self._writer = self._connect()
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._secret, migrated = _prepare(self._writer)
        if migrated:
            self._truncate_wal()  # the old tombstones held ids
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None
        self._commits = 0
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._write_loop, name="event-store-writer", daemon=True
        )
        self._thread.start()

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """The store for ``sqlite:///PATH`` (``sqlite:////abs/path`` for an absolute path)."""
        if not url.startswith(URL_PREFIX):
            raise ChronorecError(f"a SQLite event store is {URL_PREFIX}PATH, got '{url}'")
        return cls(Path(url.removeprefix(URL_PREFIX)))

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the writer's transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        # Set, not left to how SQLite was built: deleted rows are overwritten with zeros, and
        # sorts of a user's events never spill into temporary files.
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    def _reader(self) -> sqlite3.Connection:
        """A connection per thread: in WAL mode they read alongside each other and the writer."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def user_key(self, user_id: str) -> str:
        """The keyed hash that names the user in tombstones and change notices."""
        return user_key(self._secret, user_id)

    # --- writes: queued to one thread that commits everything pending at once ---

    def _submit(self, op: str, arg: Any) -> Any:
        done: Future[Any] = Future()
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

    def _commit(self, jobs: list[_Job]) -> None:
        cur = self._writer.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            results = [self._apply(cur, op, arg) for op, arg, _ in jobs]
            self._commits += 1
            if self._commits % 1000 == 0:
                old = time.time() - CHANGES_KEPT_SECONDS
                cur.execute("DELETE FROM changes WHERE at < ?", (old,))
            cur.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - not swallowed: every caller of the batch gets it
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            for _, _, done in jobs:
                done.set_exception(exc)
            return
        if any(op == "forget" and result is not None for (op, _, _), result in zip(jobs, results)):
            self._truncate_wal()  # before anyone is told the user is forgotten
        for (_, _, done), result in zip(jobs, results):
            done.set_result(result)

    def _apply(self, cur: sqlite3.Cursor, op: str, arg: Any) -> Any:
        if op == "add":
            stored = []
            for e in arg:
                cur.execute(_INSERT, stored_row(e, self._secret))
                if cur.rowcount == 1:  # 0: an event with this event_id is stored already
                    stored.append(replace(e, seq=int(cur.lastrowid or 0)))
            self._record_changes(cur, users_changed(stored, self._secret))
            return stored
        if op == "forget":
            return self._forget(cur, *arg)
        if op == "items":
            cur.executemany(_PUT_ITEM, [(i.item_id, i.title, i.categories) for i in arg])
            self._record_changes(cur, [CATALOGUE_CHANGED])
            return None
        raise ValueError(op)

    def _forget(self, cur: sqlite3.Cursor, user_id: str, known: bool) -> int | None:
        key = self.user_key(user_id)
        sql = "DELETE FROM events WHERE user_key = ? AND user_id = ?"
        deleted = cur.execute(sql, (key, user_id)).rowcount
        if not deleted:
            tombstone = cur.execute("SELECT 1 FROM tombstones WHERE user_key = ?", (key,))
            if not known or tombstone.fetchone() is not None:
                return None
        cur.execute("INSERT OR REPLACE INTO tombstones VALUES (?, ?)", (key, time.time()))
        self._record_changes(cur, [key])
        return int(deleted)

    def _record_changes(self, cur: sqlite3.Cursor, keys: list[str]) -> None:
        now = time.time()
        cur.executemany(_CHANGED, [(self.origin, key, now) for key in keys])

    def _truncate_wal(self) -> None:
        """Copy the write-ahead log into the database file and cut it to zero bytes."""
        for _ in range(20):
            busy, _, _ = self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.05)  # another connection is mid-read; it finishes in milliseconds
        log.warning("the write-ahead log is still in use; it will be truncated at the next forget")

    def add(self, events: list[Event]) -> list[Event]:
        """Store ``events`` durably; return those stored (not already there by ``event_id``)."""
        return self._submit("add", list(events)) if events else []

    def forget(self, user_id: str, *, known: bool = False) -> int | None:
        """Delete the user's events, leave a tombstone and truncate the log (see the protocol)."""
        deleted = self._submit("forget", (user_id, known))
        return None if deleted is None else int(deleted)

    def put_items(self, items: list[Item]) -> None:
        """Add ``items`` to the catalogue or update them, durably (see the protocol)."""
        if items:
            self._submit("items", list(items))

    # --- reads ---

    def items(self) -> list[Item]:
        """Every item of the catalogue, in the order each was first added."""
        sql = "SELECT item_id, title, categories FROM items ORDER BY seq"
        return [Item(*row) for row in self._reader().execute(sql).fetchall()]

    def for_user(self, user_id: str, limit: int | None = None) -> list[Event]:
        """The user's events, newest first, at most ``limit``."""
        args = (self.user_key(user_id), user_id, -1 if limit is None else limit)
        return [Event(*row) for row in self._reader().execute(_FOR_USER, args).fetchall()]

    def latest(self, limit: int, *, after: int = 0, item_id: str | None = None) -> list[Event]:
        """Up to ``limit`` events stored after ``after``, newest first (of ``item_id`` if given)."""
        rows = self._reader().execute(_LATEST, (after, item_id, item_id, limit)).fetchall()
        return [Event(*row) for row in rows]

    def scan(self, *, after: int = 0, limit: int = 10_000) -> list[Event]:
        """Up to ``limit`` events stored after ``after``, oldest first."""
        return [Event(*row) for row in self._reader().execute(_SCAN, (after, limit)).fetchall()]

    def is_forgotten(self, user_id: str) -> bool:
        """Whether :meth:`forget` was called for this user."""
        sql = "SELECT 1 FROM tombstones WHERE user_key = ?"
        return self._reader().execute(sql, (self.user_key(user_id),)).fetchone() is not None

    def count(self) -> int:
        """Events stored in total."""
        return int(self._reader().execute("SELECT count(*) FROM events").fetchone()[0])

    def journal_mode(self) -> str:
        """SQLite's journal mode (``wal`` once opened)."""
        return str(self._reader().execute("PRAGMA journal_mode").fetchone()[0])

    # --- other processes' changes ---

    def watch(self, listener: ChangeListener) -> None:
        """Poll for other processes' changes from now on and hand their users' keys to
        ``listener`` (see the protocol)."""
        if self._watcher is not None:
            raise RuntimeError("this store is watched already")
        conn = self._connect()
        # data_version first: a commit between the two reads is then seen at the first poll.
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        last = conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]
        self._watcher = threading.Thread(
            target=self._watch_loop,
            args=(conn, listener, version, last),
            name="event-store-watcher",
            daemon=True,
        )
        self._watcher.start()

    def _watch_loop(
        self, conn: sqlite3.Connection, listener: ChangeListener, version: int, last: int
    ) -> None:
        seen_at = time.monotonic()
        sql = "SELECT seq, origin, user_key FROM changes WHERE seq > ? ORDER BY seq"
        while not self._closed.wait(self._poll_seconds):
            try:
                now_version = conn.execute("PRAGMA data_version").fetchone()[0]
                rows = [] if now_version == version else conn.execute(sql, (last,)).fetchall()
            except sqlite3.Error:
                log.exception("event store: looking for other processes' changes failed")
                if time.monotonic() - seen_at > CHANGES_KEPT_SECONDS / 2:
                    listener(None)  # change rows may be deleted before they are read
                continue
            version, seen_at = now_version, time.monotonic()
            if rows:
                last = rows[-1][0]
                keys = [key for _, origin, key in rows if origin != self.origin]
                if keys:
                    listener(keys)
        conn.close()

    def close(self) -> None:
        """Let queued writes finish, then close every connection."""
        self._closed.set()
        if self._watcher is not None:
            self._watcher.join()
        self._queue.put(None)
        self._thread.join()
        self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()


def _prepare(conn: sqlite3.Connection) -> tuple[bytes, bool]:
    """Create or update the schema and read the store's secret, in one transaction (replicas may
    open a new file at the same time); also say whether an older schema's ids were removed."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT OR IGNORE INTO store_secret VALUES (1, ?)", (new_secret(),))
        secret = bytes(conn.execute("SELECT value FROM store_secret").fetchone()[0])
        migrated = _key_old_events(conn, secret) | _hash_old_tombstones(conn, secret)
        for statement in _INDEXES:
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return secret, migrated


def _key_old_events(conn: sqlite3.Connection, secret: bytes) -> bool:
    """Give the events of an older schema their key columns, and drop its index on user ids."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    for name in ("user_key", "event_id", "event_key"):
        if name not in columns:
            conn.execute(f"ALTER TABLE events ADD COLUMN {name} TEXT")
    if "user_key" not in columns:
        conn.create_function("user_key", 1, lambda u: user_key(secret, u), deterministic=True)
        conn.execute("UPDATE events SET user_key = user_key(user_id)")
    dropped = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events_by_user'").fetchone()
    conn.execute("DROP INDEX IF EXISTS events_by_user")
    return dropped is not None


def _hash_old_tombstones(conn: sqlite3.Connection, secret: bytes) -> bool:
    """Move tombstones of an older schema, which named users by id, to keyed hashes."""
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'forgotten_users'"
    if conn.execute(sql).fetchone() is None:
        return False
    rows = conn.execute("SELECT user_id, forgotten_at FROM forgotten_users").fetchall()
    conn.executemany(
        "INSERT OR IGNORE INTO tombstones VALUES (?, ?)",
        [(user_key(secret, user_id), at) for user_id, at in rows],
    )
    conn.execute("DROP TABLE forgotten_users")
    return True
