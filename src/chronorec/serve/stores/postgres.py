"""An event store in PostgreSQL, through psycopg 3 (the optional ``postgres`` extra).

Every write sends a notification naming the users it changed (by key) on the channel
``chronorec_changes``; PostgreSQL delivers it when the transaction commits, in commit order, to
every process listening. Each store object listens on a connection of its own; when that
connection is lost, notices may have been missed, so its listener is told to drop everything.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import replace
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

CHANNEL = "chronorec_changes"
_PAYLOAD_BYTES = 7900  # PostgreSQL refuses notification payloads of 8000 bytes or more
_SCHEMA_LOCK = 0x6368726F6E6F  # an advisory lock: replicas starting together create tables once

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS store_secret (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        value BYTEA NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS events (
        seq BIGSERIAL PRIMARY KEY,
        user_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        timestamp DOUBLE PRECISION NOT NULL,
        event_type TEXT)""",
    "ALTER TABLE events ADD COLUMN IF NOT EXISTS user_key TEXT",
    "ALTER TABLE events ADD COLUMN IF NOT EXISTS event_id TEXT",
    "ALTER TABLE events ADD COLUMN IF NOT EXISTS event_key TEXT",
    """CREATE TABLE IF NOT EXISTS tombstones (
        user_key TEXT PRIMARY KEY,
        forgotten_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS items (
        seq BIGSERIAL PRIMARY KEY,
        item_id TEXT NOT NULL UNIQUE,
        title TEXT,
        categories TEXT)""",
]
_INDEXES = [
    "DROP INDEX IF EXISTS events_by_user",  # an older schema's index on user ids
    "CREATE INDEX IF NOT EXISTS events_by_user_key ON events (user_key)",
    "CREATE UNIQUE INDEX IF NOT EXISTS events_by_event_key ON events (event_key)",
]
_INSERT = (
    "INSERT INTO events (user_id, item_id, timestamp, event_type, user_key, event_id, event_key)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_key) DO NOTHING RETURNING seq"
)
_FOR_USER = (
    "SELECT user_id, item_id, timestamp, event_type, seq, event_id FROM events"
    " WHERE user_key = %s AND user_id = %s ORDER BY timestamp DESC, seq DESC LIMIT %s"
)
_LATEST = (
    "SELECT user_id, item_id, timestamp, event_type, seq, event_id FROM events"
    " WHERE seq > %s AND (%s::text IS NULL OR item_id = %s) ORDER BY seq DESC LIMIT %s"
)
_SCAN = (
    "SELECT user_id, item_id, timestamp, event_type, seq, event_id FROM events"
    " WHERE seq > %s ORDER BY seq LIMIT %s"
)
_PUT_ITEM = (
    "INSERT INTO items (item_id, title, categories) VALUES (%s, %s, %s) ON CONFLICT (item_id)"
    " DO UPDATE SET title = EXCLUDED.title, categories = EXCLUDED.categories"
)
_TOMBSTONE = (
    "INSERT INTO tombstones VALUES (%s, %s)"
    " ON CONFLICT (user_key) DO UPDATE SET forgotten_at = EXCLUDED.forgotten_at"
)


class PostgresStore:
    """PostgreSQL at a ``postgresql://`` URL, one connection per thread.

    The server already commits concurrent transactions together, so no group commit is needed here.
    """

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - depends on the environment
            raise ChronorecError(
                "a PostgreSQL event store needs psycopg: pip install 'chronorec[postgres]'"
            ) from None
        self._psycopg = psycopg
        self._url = url
        self.origin = secrets.token_hex(8)  # this store object's mark on the notices it sends
        self._local = threading.local()
        self._conns: list[Any] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None
        self._secret = self._prepare()

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self._url, autocommit=True)
        except self._psycopg.OperationalError as exc:
            # The first line only: psycopg's message names host and port, never the password.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ChronorecError(f"cannot reach the PostgreSQL event store: {first}") from None

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = self._connect()
            with self._lock:
                self._conns.append(conn)
        return conn

    def _prepare(self) -> bytes:
        """Create or update the schema and read the store's secret."""
        conn = self._conn()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO store_secret VALUES (1, %s) ON CONFLICT (id) DO NOTHING",
                (new_secret(),),
            )
            secret = bytes(conn.execute("SELECT value FROM store_secret").fetchone()[0])
            _key_old_events(conn, secret)
            _hash_old_tombstones(conn, secret)
            for statement in _INDEXES:
                conn.execute(statement)
        return secret

    def user_key(self, user_id: str) -> str:
        """The keyed hash that names the user in tombstones and change notices."""
        return user_key(self._secret, user_id)

    def add(self, events: list[Event]) -> list[Event]:
        """Store ``events`` in one transaction; return those stored (not already there by
        ``event_id``), with their ``seq``."""
        if not events:
            return []
        conn, stored = self._conn(), []
        with conn.transaction():
            for e in events:
                inserted = conn.execute(_INSERT, stored_row(e, self._secret)).fetchone()
                if inserted is not None:  # None: an event with this event_id is stored already
                    stored.append(replace(e, seq=int(inserted[0])))
            self._notify(conn, users_changed(stored, self._secret))
        return stored

    def forget(self, user_id: str, *, known: bool = False) -> int | None:
        """Delete the user's events and leave a tombstone (see the protocol)."""
        conn, key = self._conn(), self.user_key(user_id)
        with conn.transaction():
            sql = "DELETE FROM events WHERE user_key = %s AND user_id = %s"
            deleted = conn.execute(sql, (key, user_id)).rowcount
            if not deleted:
                sql = "SELECT 1 FROM tombstones WHERE user_key = %s"
                if not known or conn.execute(sql, (key,)).fetchone() is not None:
                    return None
            conn.execute(_TOMBSTONE, (key, time.time()))
            self._notify(conn, [key])
        return int(deleted)

    def put_items(self, items: list[Item]) -> None:
        """Add ``items`` to the catalogue or update them, in one transaction (see the protocol)."""
        if not items:
            return
        conn = self._conn()
        with conn.transaction():
            with conn.cursor() as cur:
                cur.executemany(_PUT_ITEM, [(i.item_id, i.title, i.categories) for i in items])
            self._notify(conn, [CATALOGUE_CHANGED])

    def items(self) -> list[Item]:
        """Every item of the catalogue, in the order each was first added."""
        sql = "SELECT item_id, title, categories FROM items ORDER BY seq"
        return [Item(*row) for row in self._conn().execute(sql).fetchall()]

    def _notify(self, conn: Any, keys: list[str]) -> None:
        """Tell every listening process (at commit) which users changed, as few notices as fit."""
        for payload in _payloads(self.origin, keys):
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    def for_user(self, user_id: str, limit: int | None = None) -> list[Event]:
        """The user's events, newest first, at most ``limit``."""
        rows = self._conn().execute(_FOR_USER, (self.user_key(user_id), user_id, limit)).fetchall()
        return [Event(*row) for row in rows]

    def latest(self, limit: int, *, after: int = 0, item_id: str | None = None) -> list[Event]:
        """Up to ``limit`` events stored after ``after``, newest first (of ``item_id`` if given)."""
        rows = self._conn().execute(_LATEST, (after, item_id, item_id, limit)).fetchall()
        return [Event(*row) for row in rows]

    def scan(self, *, after: int = 0, limit: int = 10_000) -> list[Event]:
        """Up to ``limit`` events stored after ``after``, oldest first."""
        return [Event(*row) for row in self._conn().execute(_SCAN, (after, limit)).fetchall()]

    def is_forgotten(self, user_id: str) -> bool:
        """Whether :meth:`forget` was called for this user."""
        sql = "SELECT 1 FROM tombstones WHERE user_key = %s"
        return self._conn().execute(sql, (self.user_key(user_id),)).fetchone() is not None

    def count(self) -> int:
        """Events stored in total."""
        return int(self._conn().execute("SELECT count(*) FROM events").fetchone()[0])

    def watch(self, listener: ChangeListener) -> None:
        """Listen for other processes' changes from now on (see the protocol); the listening
        connection is open when this returns."""
        if self._watcher is not None:
            raise RuntimeError("this store is watched already")
        conn = self._listening_connection()
        self._watcher = threading.Thread(
            target=self._watch_loop, args=(conn, listener), name="event-store-watcher", daemon=True
        )
        self._watcher.start()

    def _listening_connection(self) -> Any:
        conn = self._connect()
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def _watch_loop(self, conn: Any, listener: ChangeListener) -> None:
        while conn is not None and not self._closed.is_set():
            try:
                for notice in conn.notifies(timeout=0.2):  # back to check for close() at times
                    origin, _, keys = notice.payload.partition(" ")
                    if origin != self.origin and keys:
                        listener(keys.split(" "))
            except self._psycopg.Error:
                if self._closed.is_set():
                    break
                log.warning("event store: the listening connection was lost; reconnecting")
                conn.close()
                conn = self._reconnect(listener)
        if conn is not None:
            conn.close()

    def _reconnect(self, listener: ChangeListener) -> Any:
        """A new listening connection once the server answers (None: the store is closing).

        What was missed meanwhile is unknown, so the listener drops everything, after listening
        again so that nothing slips in between.
        """
        while not self._closed.wait(0.5):
            try:
                conn = self._listening_connection()
            except ChronorecError:
                continue
            listener(None)
            return conn
        return None

    def close(self) -> None:
        """Stop listening and close every thread's connection."""
        self._closed.set()
        if self._watcher is not None:
            self._watcher.join()
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


def _payloads(origin: str, keys: list[str]) -> list[str]:
    """``"ORIGIN KEY KEY ..."`` notices, each under PostgreSQL's payload limit."""
    payloads, current = [], origin
    for key in keys:
        if len(current) + 1 + len(key) > _PAYLOAD_BYTES:
            payloads.append(current)
            current = origin
        current += " " + key
    if current != origin:
        payloads.append(current)
    return payloads


def _key_old_events(conn: Any, secret: bytes) -> None:
    """Fill the key column of events stored by an older schema, user by user."""
    users = conn.execute("SELECT DISTINCT user_id FROM events WHERE user_key IS NULL").fetchall()
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE events SET user_key = %s WHERE user_id = %s AND user_key IS NULL",
            [(user_key(secret, user_id), user_id) for (user_id,) in users],
        )


def _hash_old_tombstones(conn: Any, secret: bytes) -> None:
    """Move tombstones of an older schema, which named users by id, to keyed hashes."""
    if conn.execute("SELECT to_regclass('forgotten_users')").fetchone()[0] is None:
        return
    rows = conn.execute("SELECT user_id, forgotten_at FROM forgotten_users").fetchall()
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO tombstones VALUES (%s, %s) ON CONFLICT (user_key) DO NOTHING",
            [(user_key(secret, user_id), at) for user_id, at in rows],
        )
    conn.execute("DROP TABLE forgotten_users")
