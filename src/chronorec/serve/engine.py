"""The scoring side of the service: the loaded model, per-user state, recommendations and fallbacks.

A :class:`Bundle` is everything loaded from one run folder (model, dataset, ranker, popularity,
a per-user cache). The :class:`Engine` holds one bundle and replaces it in a single reference
assignment on reload: a request reads ``engine.bundle`` once and finishes on that bundle, so a swap
never mixes two models in one answer and never fails a request.

A user's history is their training history followed by every event posted since, ordered by
timestamp (then arrival). The cache keeps, per user, the last ``max_len`` scorable events and the
query vector computed from them: a new event updates the cached events in place, so the next
recommendation costs one forward pass, and repeated requests none (their answer is kept too).

Other processes on the same store change users too: the store reports them (by key), and their
cached state is dropped, to be read again from the store by the next request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chronorec.api import Recommendation
from chronorec.data.batches import SeqBatch, history_batch
from chronorec.data.dataset import SequenceData
from chronorec.runs.load import Run, load_run
from chronorec.scoring import Ranker
from chronorec.scoring.index import build_index
from chronorec.scoring.popularity import Popularity
from chronorec.serve.state import LRU, Entry, UserState
from chronorec.serve.stores import Event, EventStore

log = logging.getLogger("chronorec.serve")


@dataclass
class Bundle:
    """One loaded run: immutable once built, except its caches."""

    version: str
    run: Run  # the loaded run folder: config, model, dataset
    model: Any
    data: SequenceData
    max_len: int
    ranker: Ranker
    popularity: Popularity  # the fallback when the model reads nothing of a history
    # Used when a posted event has no (known) type; 0 when the data has no types.
    default_event_type: int
    exclude_seen: bool  # the run's own setting: the default when a request does not say
    users: LRU[str, UserState] = field(default_factory=lambda: LRU(100_000))  # by user key
    items: LRU[int, torch.Tensor] = field(default_factory=lambda: LRU(10_000))
    forward_passes: int = 0
    _stats_lock: threading.Lock = field(default_factory=threading.Lock)

    def count_forward_pass(self) -> None:
        with self._stats_lock:  # ``+=`` on an attribute can lose updates between threads
            self.forward_passes += 1

    def event_type(self, name: str | None) -> int:
        names = self.data.event_type_names
        return names.index(name) + 1 if name in names else self.default_event_type

    def reads_any(self, entries: tuple[Entry, ...] | list[Entry]) -> bool:
        """Whether the model reads at least one of ``entries`` (it skips items it never trained
        on)."""
        items = torch.tensor([[e[3] for e in entries]], dtype=torch.int64)
        return bool(entries) and bool(self.ranker.reads_any(items)[0])

    def recommendation(self, item: int, score: float) -> Recommendation:
        return Recommendation(str(self.data.item_ids[item]), float(score), self.data.title(item))


def load_bundle(
    run_dir: Path,
    *,
    cache_size: int = 100_000,
    approx_above: int = 100_000,
    target_recall: float = 0.99,
) -> Bundle:
    run = load_run(run_dir, "cpu")
    data = run.data
    data.user_index(""), data.item_index("")  # build the id lookups now, not in the first requests
    bundle = Bundle(
        version=run.version,
        run=run,
        model=run.model,
        data=data,
        max_len=run.config.max_len,
        ranker=run.ranker(),
        popularity=Popularity(data),
        default_event_type=1 if data.num_event_types else 0,
        exclude_seen=run.config.exclude_seen,
        users=LRU(cache_size),
    )
    if bundle.ranker.by_vectors and data.num_items > approx_above:
        assert bundle.ranker.vectors is not None
        index = build_index(
            bundle.ranker.vectors.float().contiguous().numpy(),
            approx_above=approx_above,
            calibration_queries=_calibration_queries(bundle),
            target_recall=target_recall,
        )
        bundle.ranker = run.ranker(index)
    return bundle


def _calibration_queries(bundle: Bundle, n: int = 256) -> np.ndarray:
    """What the approximate index will actually be asked: query vectors of ``n`` users' training
    histories (recommendations) and of ``n`` one-item sessions (similar items)."""
    data = bundle.data
    rng = np.random.default_rng(0)
    users = rng.choice(np.arange(1, data.num_users + 1), min(n, data.num_users), replace=False)
    items = rng.choice(np.arange(1, data.num_items + 1), min(n, data.num_items), replace=False)
    rows = [_training_entries(bundle, int(u)) for u in users]
    rows += [[(1, 0.0, 0, int(i), bundle.default_event_type)] for i in items]
    queries = bundle.ranker.queries(bundle.ranker.read(_batch(bundle, rows)))
    return queries.reshape(-1, queries.shape[-1]).float().numpy()  # every interest of every row


def _training_entries(bundle: Bundle, u: int) -> list[Entry]:
    data = bundle.data
    lo, hi = int(data.offsets[u]), int(data.offsets[u + 1])
    lo = max(lo, hi - bundle.max_len)
    types = data.event_types[lo:hi].tolist() if data.event_types is not None else [0] * (hi - lo)
    return [
        (0, float(t), 0, int(i), int(e))
        for i, t, e in zip(data.items[lo:hi].tolist(), data.timestamps[lo:hi].tolist(), types)
    ]


def _batch(bundle: Bundle, rows: list[list[Entry]]) -> SeqBatch:
    items = [[e[3] for e in row] for row in rows]
    times = [[int(e[1]) for e in row] for row in rows]
    types = [[e[4] for e in row] for row in rows] if bundle.data.event_types is not None else None
    return history_batch(items, times, types, bundle.max_len)


@dataclass(frozen=True)
class Ranking:
    recommendations: list[Recommendation]
    fallback: bool  # True: popularity, because there was no scorable history
    model_version: str


class Engine:
    """Recommendations from the current bundle and the event store."""

    def __init__(
        self,
        run_dir: str | Path,
        store: EventStore,
        *,
        cache_size: int = 100_000,
        approx_above: int = 100_000,
        target_recall: float = 0.99,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.store = store
        self._options: dict[str, Any] = {
            "cache_size": cache_size,
            "approx_above": approx_above,
            "target_recall": target_recall,
        }
        self._reload_lock = threading.Lock()
        self.bundle = load_bundle(self.run_dir, **self._options)
        self.reloads = 0
        store.watch(self._drop_changed)  # before any state is cached: no change slips by

    def reload(self) -> tuple[str, str]:
        """Load the run folder's checkpoint again and swap it in; return (old, new) versions.

        The new bundle is built completely before the one assignment that publishes it; on any error
        the old one stays in service.
        """
        with self._reload_lock:
            old = self.bundle
            new = load_bundle(self.run_dir, **self._options)
            self.bundle = new
            self.reloads += 1
            return old.version, new.version

    # --- events ---

    def add_events(self, events: list[Event]) -> tuple[list[Event], int]:
        """Store events durably, then bring cached user states up to date; return the events
        stored (those already stored by ``event_id`` left out) and how many name unknown items."""
        stored = self.store.add(events)
        b = self.bundle
        by_user: dict[str, list[tuple[Event, int, int]]] = {}
        unknown = 0
        for e in stored:
            item = b.data.item_index(e.item_id) or 0
            unknown += item == 0
            key = self.store.user_key(e.user_id)
            by_user.setdefault(key, []).append((e, item, b.event_type(e.event_type)))
        for key, triples in by_user.items():
            with b.users.key_lock(key):
                state = b.users.get(key)
                if state is not None:
                    b.users.put(key, state.with_events(triples, b.max_len))
        return stored, unknown

    def forget(self, user_id: str) -> int | None:
        """Delete the user's posted events and ignore their training history from now on; return
        how many events were deleted, or None (nothing changed) for a user nobody knows."""
        b = self.bundle
        known = b.data.user_index(user_id) is not None
        deleted = self.store.forget(user_id, known=known)
        if deleted is not None:
            key = self.store.user_key(user_id)
            with b.users.key_lock(key):
                b.users.pop(key)
        return deleted

    def _drop_changed(self, keys: Sequence[str] | None) -> None:
        """Another process changed these users (None: maybe any): their cached state goes."""
        b = self.bundle
        if keys is None:
            b.users.clear()
            return
        for key in keys:
            # Under the key's lock: a state being read from the store before the change is put
            # in the cache before this, not after, so it cannot outlive the change.
            with b.users.key_lock(key):
                b.users.pop(key)

    # --- recommendations ---

    def _user_state(self, b: Bundle, user_id: str) -> tuple[str, UserState]:
        """The user's key and cached state (read from the store and the run when not cached)."""
        # Reading the store under the user's lock: an event posted meanwhile is either in what we
        # read or applied to the cached state by its poster after we put it there (``posted``
        # dedupes).
        key = self.store.user_key(user_id)
        with b.users.key_lock(key):
            state = b.users.get(key)
            if state is None:
                state = self._load_state(b, user_id)
                b.users.put(key, state)
        return key, state

    def _load_state(self, b: Bundle, user_id: str) -> UserState:
        u = None if self.store.is_forgotten(user_id) else b.data.user_index(user_id)
        entries: list[Entry] = _training_entries(b, u) if u is not None else []
        seen: set[int] = set()
        if u is not None:
            seen.update(b.data.items[b.data.offsets[u] : b.data.offsets[u + 1]].tolist())
        state = UserState(tuple(entries), frozenset(seen), frozenset())
        posted = self.store.for_user(user_id)[::-1]  # oldest first
        triples = [
            (e, b.data.item_index(e.item_id) or 0, b.event_type(e.event_type)) for e in posted
        ]
        return state.with_events(triples, b.max_len)

    def user_history(self, user_id: str) -> SeqBatch:
        """The user's current history (training events, then every event posted since) as the model
        would be fed it: a batch of one, before the model's own skipping of untrained items."""
        b = self.bundle
        return _batch(b, [list(self._user_state(b, user_id)[1].entries)])

    def cached_answer(self, user_id: str, k: int, exclude_seen: bool) -> Ranking | None:
        """What :meth:`recommend_user` would answer, if it is cached (else None). Never waits for
        the store or scores: cheap enough for the event loop."""
        state = self.bundle.users.get(self.store.user_key(user_id))
        return None if state is None else state.answers.get((k, exclude_seen))

    def recommend_user(self, user_id: str, k: int, exclude_seen: bool) -> Ranking:
        b = self.bundle  # one bundle for the whole request
        key, state = self._user_state(b, user_id)
        answer: Ranking | None = state.answers.get((k, exclude_seen))
        if answer is not None:
            return answer
        if not b.reads_any(state.entries):
            answer = self._popular(b, k, state.seen if exclude_seen else frozenset())
        else:
            if b.ranker.by_vectors and state.query is None:
                encoded = self._with_query(b, state)
                with b.users.key_lock(key):
                    if b.users.get(key) is state:  # unchanged meanwhile: the vector is its own
                        b.users.put(key, encoded)
                state = encoded
            answer = self._rank(b, state, k, state.seen if exclude_seen else frozenset())
        state.remember((k, exclude_seen), answer)
        return answer

    def recommend_session(
        self, events: list[tuple[str, float | None, str | None]], k: int, exclude_seen: bool
    ) -> tuple[Ranking, int]:
        """Recommendations after an anonymous session of ``(item id, timestamp or None, event type
        or None)``.

        Also returns how many of its items the model leaves out: unknown ones and those it never
        trained on.
        """
        b = self.bundle
        now = time.time()
        entries: list[Entry] = []
        for n, (item_id, timestamp, event_type) in enumerate(events):
            item = b.data.item_index(item_id)
            if item is not None:
                entries.append(
                    (1, now if timestamp is None else timestamp, n, item, b.event_type(event_type))
                )
        entries.sort()
        state = UserState(
            tuple(entries[-b.max_len :]), frozenset(e[3] for e in entries), frozenset()
        )
        exclude = state.seen if exclude_seen else frozenset()
        left_out = len(events) - sum(bool(b.model.readable_items[e[3]]) for e in entries)
        if not b.reads_any(entries):
            return self._popular(b, k, exclude), left_out
        if b.ranker.by_vectors:
            state = self._with_query(b, state)
        return self._rank(b, state, k, exclude), left_out

    def similar(self, item_id: str, k: int) -> Ranking | None:
        """Items the model ranks highest right after ``item_id`` alone (None: unknown item; the
        popular items, flagged as a fallback, for an item with no training event).

        This is the model's own notion of "goes with": it works the same for every model (sequence,
        Markov, popularity) and needs no second index. The item itself is left out.
        """
        b = self.bundle
        item = b.data.item_index(item_id)
        if item is None:
            return None
        # No training event: the model knows nothing that goes with it.
        if not b.model.readable_items[item]:
            return self._popular(b, k, frozenset({item}))
        state = UserState(
            ((1, 0.0, 0, item, b.default_event_type),), frozenset({item}), frozenset()
        )
        if b.ranker.by_vectors:
            query = b.items.get(item)
            if query is None:
                query = self._with_query(b, state).query
                assert query is not None  # a vector model's state has a query once encoded
                b.items.put(item, query)
            state = replace(state, query=query)
        return self._rank(b, state, k, frozenset({item}))

    @staticmethod
    def _with_query(b: Bundle, state: UserState) -> UserState:
        """``state`` with its query vector: one forward pass over its (at most max_len) events."""
        query = b.ranker.queries(b.ranker.read(_batch(b, [list(state.entries)])))[0]
        b.count_forward_pass()
        return replace(state, query=query)

    @staticmethod
    def _rank(b: Bundle, state: UserState, k: int, exclude: frozenset[int]) -> Ranking:
        batch = _batch(b, [list(state.entries)])
        banned = torch.tensor([sorted(exclude)], dtype=torch.int64) if exclude else None
        if state.query is None:  # the model scores every item itself
            values, ids = b.ranker.top_k(batch, k, exclude=banned)
            b.count_forward_pass()
        else:
            read = b.ranker.read(batch)
            values, ids = b.ranker.top_k_for(state.query[None], read.items, k, exclude=banned)
        finite = torch.isfinite(values[0])  # exclusions may leave fewer than k items
        recs = [
            b.recommendation(int(i), float(s))
            for s, i in zip(values[0][finite].tolist(), ids[0][finite].tolist())
        ]
        return Ranking(recs, False, b.version)

    @staticmethod
    def _popular(b: Bundle, k: int, exclude: frozenset[int]) -> Ranking:
        picked = b.popularity.top_k(k, exclude)
        return Ranking([b.recommendation(i, share) for i, share in picked], True, b.version)
