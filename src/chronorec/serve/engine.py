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

A refreshed run's dataset already holds the store's events up to a sequence number (its
watermark): those are part of its training histories, so a user's posted events before it are
skipped. Items added to the store's catalogue after training are served as soon as they are added,
here or by another process, when the run has text features (see ``catalogue``): the engine swaps
in a bundle grown by them, as a reload would.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from chronorec.api import Recommendation
from chronorec.data.batches import SeqBatch
from chronorec.serve.bundle import Bundle, bundle_of, entries_batch, load_bundle, training_entries
from chronorec.serve.catalogue import CatalogueReader, TextEncoder, takes_new_items, with_items
from chronorec.serve.state import Entry, UserState
from chronorec.serve.stores import CATALOGUE_CHANGED, Event, EventStore, Item

log = logging.getLogger("chronorec.serve")


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
        self._reload_lock = threading.Lock()  # one bundle built at a time: reloads, new items
        self._encoder = TextEncoder()
        self._catalogue_read = CatalogueReader(self._apply_catalogue)
        self.bundle = load_bundle(self.run_dir, **self._options)
        if takes_new_items(self.bundle.model):
            self._encoder.warm_up()
        self.reloads = 0
        store.watch(self._drop_changed)  # before any state is cached: no change slips by
        self._apply_catalogue()  # after watching: an item added meanwhile is read again

    def reload(self, run_dir: str | Path | None = None) -> tuple[str, str]:
        """Load the run folder's checkpoint again (or the run folder ``run_dir``, served from now
        on) and swap it in, with the store's catalogue additions; return (old, new) versions.

        The new bundle is built completely before the one assignment that publishes it; on any error
        the old one stays in service.
        """
        with self._reload_lock:
            path = self.run_dir if run_dir is None else Path(run_dir)
            old = self.bundle
            new = load_bundle(path, **self._options)
            if takes_new_items(new.model):
                self._encoder.warm_up()
            new = self._grown(new, self.store.items()) or new
            self.bundle, self.run_dir = new, path
            self.reloads += 1
            return old.version, new.version

    # --- the item catalogue ---

    def put_items(self, items: list[Item]) -> list[tuple[bool, bool]]:
        """Store ``items`` in the catalogue (durably), serve the new ones when the model can score
        them; return, per item, (known: in the run's own data, recommendable: scored now)."""
        self.store.put_items(items)
        self._apply_catalogue(items)
        b = self.bundle
        answers = []
        for item in items:
            index = b.data.item_index(item.item_id)
            answers.append(
                (index is not None and index <= b.additions.run_items, index is not None)
            )
        return answers

    def _apply_catalogue(self, items: list[Item] | None = None) -> None:
        """Swap in a bundle grown by ``items`` (default: the store's whole catalogue) where the
        current one lacks them; nothing when it lacks none."""
        with self._reload_lock:
            grown = self._grown(self.bundle, self.store.items() if items is None else items)
            if grown is not None:
                self.bundle = grown

    def _grown(self, b: Bundle, items: list[Item]) -> Bundle | None:
        """``b`` grown by the catalogue ``items`` it lacks, with an empty cache (states built on
        ``b`` map the new items to nothing); None when nothing changes."""
        grown = with_items(b.run, b.additions, items, self._encoder)
        if grown is None:
            return None
        run, additions = grown
        return bundle_of(run, b.version, additions, **self._options)

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
        """Another process changed these users (None: maybe any): their cached state goes. A
        change of the catalogue is read in a thread of its own (it may encode texts)."""
        b = self.bundle
        if keys is None or CATALOGUE_CHANGED in keys:
            self._catalogue_read.request()
        if keys is None:
            b.users.clear()
            return
        for key in keys:
            if key == CATALOGUE_CHANGED:
                continue
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
        entries: list[Entry] = training_entries(b, u) if u is not None else []
        seen: set[int] = set()
        if u is not None:
            seen.update(b.data.items[b.data.offsets[u] : b.data.offsets[u + 1]].tolist())
        state = UserState(tuple(entries), frozenset(seen), frozenset())
        # Oldest first; those up to the watermark are in the training history already.
        posted = [e for e in self.store.for_user(user_id)[::-1] if e.seq > b.watermark]
        triples = [
            (e, b.data.item_index(e.item_id) or 0, b.event_type(e.event_type)) for e in posted
        ]
        return state.with_events(triples, b.max_len)

    def user_history(self, user_id: str) -> SeqBatch:
        """The user's current history (training events, then every event posted since) as the model
        would be fed it: a batch of one, before the model's own skipping of untrained items."""
        b = self.bundle
        return entries_batch(b, [list(self._user_state(b, user_id)[1].entries)])

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
        query = b.ranker.queries(b.ranker.read(entries_batch(b, [list(state.entries)])))[0]
        b.count_forward_pass()
        return replace(state, query=query)

    @staticmethod
    def _rank(b: Bundle, state: UserState, k: int, exclude: frozenset[int]) -> Ranking:
        batch = entries_batch(b, [list(state.entries)])
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
