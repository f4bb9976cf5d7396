"""Per-user state kept in memory: :class:`UserState` and the bounded :class:`LRU` that holds it.

The cache is keyed by the store's keyed hash of the user id (``EventStore.user_key``), the name
other processes use when they report that a user changed.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch

from chronorec.serve.stores import Event

K = TypeVar("K")
V = TypeVar("V")

# Sort key of one history entry: (0 = training / 1 = posted, timestamp, seq). Training events come
# first whatever their time: the model was trained on them, and posted events are what happened
# since.
Entry = tuple[int, float, int, int, int]  # (source, timestamp, seq, internal item, event type)

ANSWERS_KEPT = 8  # answers (by k and exclude_seen) remembered per user state


@dataclass(frozen=True)
class UserState:
    """What scoring needs for one user; immutable, replaced whole on every change."""

    entries: tuple[Entry, ...]  # the last max_len scorable events, oldest first
    seen: frozenset[int]  # every known item in the user's whole history (for exclude_seen)
    # Seqs of the posted events already applied: a state read from the store may already hold an
    # event whose poster then applies it again.
    posted: frozenset[int]
    query: torch.Tensor | None = None  # cached query vector(s) (vector models), None until computed
    # Answers already computed from exactly this state, by (k, exclude_seen): the only part that
    # changes, filled as requests come; a new state starts with none.
    answers: dict[tuple[int, bool], Any] = field(default_factory=dict, compare=False, repr=False)

    def with_events(self, events: list[tuple[Event, int, int]], max_len: int) -> UserState:
        """This state after posted ``(event, item, event type)`` triples; already applied ones are
        skipped."""
        entries, seen, posted = list(self.entries), set(self.seen), set(self.posted)
        for event, item, etype in events:
            if event.seq in posted:
                continue
            posted.add(event.seq)
            if item:  # unknown items are stored but not scored until a retrain knows them
                bisect.insort(entries, (1, event.timestamp, event.seq, item, etype))
                seen.add(item)
        return UserState(tuple(entries[-max_len:]), frozenset(seen), frozenset(posted))

    def remember(self, key: tuple[int, bool], answer: Any) -> None:
        """Keep ``answer`` for requests with the same ``key`` (a few keys at most)."""
        if len(self.answers) < ANSWERS_KEPT:
            self.answers[key] = answer


class LRU(Generic[K, V]):
    """A bounded least-recently-used map, plus striped locks that serialise work on one key."""

    def __init__(self, capacity: int, stripes: int = 64) -> None:
        self.capacity = capacity
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(stripes)]

    def key_lock(self, key: K) -> threading.Lock:
        return self._stripes[hash(key) % len(self._stripes)]

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        """Drop every entry, waiting for work in progress on any key (which could put back what it
        read before the call)."""
        for stripe in self._stripes:  # in order, and no one else holds two: no deadlock
            stripe.acquire()
        try:
            with self._lock:
                self._data.clear()
        finally:
            for stripe in self._stripes:
                stripe.release()

    def __len__(self) -> int:
        return len(self._data)
