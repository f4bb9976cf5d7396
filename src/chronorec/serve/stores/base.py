"""What every event store is: the :class:`Event` it keeps and the :class:`EventStore` protocol.

Several service processes (replicas) may share one store. Each caches users' state, so a store
tells every process which users another one changed (:meth:`EventStore.watch`), naming them by a
keyed hash of their id (:func:`user_key`): change notices and the tombstones of forgotten users
never hold an id, and the key is secret to the store, so an id cannot be confirmed by hashing it.

Stores index events by these keys too, never by an id: a B-tree keeps copies of keys in its inner
pages after the rows they came from are deleted, so an index on ids would keep forgotten ids.

A store also keeps the item catalogue's additions (:class:`Item`: items the service was told of
after training) and tells other processes when it changes, through the same notices, under the
name :data:`CATALOGUE_CHANGED`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

# Called with the keys of users whose events another process changed (and CATALOGUE_CHANGED when
# it changed the item catalogue); None when changes may have been missed (a lost connection), so
# that every cached state must go and the catalogue must be read again.
ChangeListener = Callable[[Sequence[str] | None], None]

# The name a change notice gives the item catalogue: never a user key (those are 32 hex digits).
CATALOGUE_CHANGED = "catalogue"

SECRET_BYTES = 32


@dataclass(frozen=True)
class Event:
    """One event as posted (original ids) and, once stored, its sequence number ``seq``."""

    user_id: str
    item_id: str
    timestamp: float  # unix seconds
    event_type: str | None = None
    seq: int = 0  # assigned by the store; increases with every stored event
    # The sender's id for the event: a store keeps at most one event per id, so a retry, or a
    # message consumed twice, is stored once. None: no such guarantee.
    event_id: str | None = None


@dataclass(frozen=True)
class Item:
    """One item of the catalogue: its original id, title and categories (``"A|B"``)."""

    item_id: str
    title: str | None = None
    categories: str | None = None


class EventStore(Protocol):
    """The operations the service needs; each is safe to call from many threads.

    Every write is durable when the call returns: the service answers a post only after it.
    """

    def add(self, events: list[Event]) -> list[Event]:
        """Store ``events`` durably; return those stored, with their ``seq``.

        An event whose ``event_id`` is already stored (or earlier in ``events``) is not stored
        again: atomically, even with other processes writing the same id at the same time.
        """

    def for_user(self, user_id: str, limit: int | None = None) -> list[Event]:
        """The user's events, newest first (by timestamp, then ``seq``), at most ``limit``."""

    def latest(self, limit: int, *, after: int = 0, item_id: str | None = None) -> list[Event]:
        """Up to ``limit`` events stored after sequence number ``after``, newest first; only those
        of ``item_id`` when given (the page's live feed and an item's recent users)."""

    def scan(self, *, after: int = 0, limit: int = 10_000) -> list[Event]:
        """Up to ``limit`` events stored after sequence number ``after``, oldest first: page
        through the whole log with ``after`` = the last ``seq`` read (``chronorec refresh``)."""

    def forget(self, user_id: str, *, known: bool = False) -> int | None:
        """Delete the user's events and leave a tombstone; return how many events were deleted.

        None, changing nothing, when there is nothing to forget: no stored event, and the user is
        neither ``known`` (the caller knows them from elsewhere, e.g. the training data) nor
        without a tombstone already.
        """

    def is_forgotten(self, user_id: str) -> bool:
        """Whether :meth:`forget` was called for this user (then their training history is not
        used)."""

    def user_key(self, user_id: str) -> str:
        """The keyed hash that names the user in tombstones and change notices."""

    def put_items(self, items: list[Item]) -> None:
        """Add ``items`` to the catalogue, or update the title and categories of those already in
        it (an item keeps its place); durable when this returns. Other processes are told."""

    def items(self) -> list[Item]:
        """Every item of the catalogue, in the order each was first added."""

    def watch(self, listener: ChangeListener) -> None:
        """From now until :meth:`close`, call ``listener`` from a thread of the store's own with
        the keys of users whose events another process added or deleted, and with
        :data:`CATALOGUE_CHANGED` when another process changed the catalogue."""

    def count(self) -> int:
        """Events stored in total."""

    def close(self) -> None:
        """Release connections and threads; the store is not used afterwards."""


def new_secret() -> bytes:
    """A random key for :func:`user_key`, made once per store and kept in it."""
    return secrets.token_bytes(SECRET_BYTES)


def user_key(secret: bytes, user_id: str) -> str:
    """The id's keyed hash under the store's secret: BLAKE2b in its keyed mode (a MAC, like
    HMAC), 128 bits in hex; a microsecond, where HMAC through OpenSSL cost up to 200 µs a call
    in the service."""
    return hashlib.blake2b(user_id.encode(), key=secret, digest_size=16).hexdigest()


def event_key(secret: bytes, event_id: str | None) -> str | None:
    """The keyed hash of an event id (None for None), what stores index instead of the id."""
    return None if event_id is None else user_key(secret, "event\x00" + event_id)


def stored_row(e: Event, secret: bytes) -> tuple[object, ...]:
    """The columns (user_id, item_id, timestamp, event_type, user_key, event_id, event_key) of
    ``e``, the order in which every store inserts them."""
    return (
        e.user_id,
        e.item_id,
        e.timestamp,
        e.event_type,
        user_key(secret, e.user_id),
        e.event_id,
        event_key(secret, e.event_id),
    )


def users_changed(events: Sequence[Event], secret: bytes) -> list[str]:
    """The keys of the users of ``events``, each once, in order of first appearance."""
    return list(dict.fromkeys(user_key(secret, e.user_id) for e in events))
