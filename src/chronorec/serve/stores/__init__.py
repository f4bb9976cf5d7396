"""Where posted events live, chosen by URL: ``open_store("sqlite:///events.sqlite")``.

A bare path is a SQLite file. To add a store, write a module here with a class that takes the URL
and implements :class:`EventStore`, and add its scheme to ``_STORES``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from chronorec.errors import ChronorecError
from chronorec.serve.stores.base import (
    CATALOGUE_CHANGED,
    ChangeListener,
    Event,
    EventStore,
    Item,
)
from chronorec.serve.stores.postgres import PostgresStore
from chronorec.serve.stores.sqlite import SQLiteStore

__all__ = [
    "CATALOGUE_CHANGED",
    "ChangeListener",
    "Event",
    "EventStore",
    "Item",
    "PostgresStore",
    "SQLiteStore",
    "open_store",
]

# URL scheme -> what opens a store from the whole URL.
_STORES: dict[str, Callable[[str], EventStore]] = {
    "sqlite": SQLiteStore.from_url,
    "postgresql": PostgresStore,
    "postgres": PostgresStore,
}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_store(location: str | Path) -> EventStore:
    """The event store at ``location``: a file path (SQLite) or a URL whose scheme names the store.

    Example:
        >>> store = open_store("sqlite:///events.sqlite")  # doctest: +SKIP
    """
    text = str(location)
    match = _SCHEME.match(text)
    if match is None:
        return SQLiteStore(Path(text))
    scheme = match.group(1).lower()
    if scheme not in _STORES:
        # Only the scheme is echoed: the rest of a URL may hold a password.
        known = ", ".join(f"{name}://" for name in _STORES)
        raise ChronorecError(
            f"unknown event store '{scheme}://': use a file path or one of {known}"
        )
    return _STORES[scheme](text)
