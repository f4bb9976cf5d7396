"""The scoring side of the service: the loaded model, per-user state, recommendations and fallbacks.

A :class:`Bundle` is everything loaded from one run folder (model, dataset, top-K index, popularity,
a per-user cache). The :class:`Engine` holds one bundle and replaces it in a single reference
assignment on reload: a request reads ``engine.bundle`` once and finishes on that bundle, so a swap
never mixes two models in one answer and never fails a request.

A user's history is their training history followed by every event posted since, ordered by
timestamp (then arrival). The cache keeps, per user, the last ``max_len`` scorable events and the
query vector computed from them: a new event updates the cached events in place, so the next
recommendation costs one forward pass, and repeated requests none.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from chronorec.api import Recommendation
from chronorec.data.batches import history_batch
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.errors import ChronorecError
from chronorec.models.base import SequenceModel
from chronorec.serve.index import ApproxIndex, ExactIndex, build_index, top_k
from chronorec.serve.store import Event, EventStore
from chronorec.runs.checkpoint import WEIGHTS_FILE, load_model
from chronorec.training.config import TrainConfig

K = TypeVar("K")
V = TypeVar("V")

# Sort key of one history entry: (0 = training / 1 = posted, timestamp, seq). Training events come
# first whatever their time: the model was trained on them, and posted events are what happened since.
Entry = tuple[int, float, int, int, int]  # (source, timestamp, seq, internal item, event type)


@dataclass(frozen=True)
class UserState:
    """What scoring needs for one user; immutable, replaced whole on every change."""

    entries: tuple[Entry, ...]  # the last max_len scorable events, oldest first
    seen: frozenset[int]  # every known item in the user's whole history (for exclude_seen)
    # Seqs of the posted events already applied: a state read from the store may already hold an
    # event whose poster then applies it again.
    posted: frozenset[int]
    query: np.ndarray | None = None  # cached query vector (sequence models), None until computed

    def with_events(self, events: list[tuple[Event, int, int]], max_len: int) -> UserState:
        """This state after posted ``(event, item, event type)`` triples; already applied ones are skipped."""
        entries, seen, posted = list(self.entries), set(self.seen), set(self.posted)
        for event, item, etype in events:
            if event.seq in posted:
                continue
            posted.add(event.seq)
            if item:  # unknown items are stored but not scored until a retrain knows them
                bisect.insort(entries, (1, event.timestamp, event.seq, item, etype))
                seen.add(item)
        return UserState(tuple(entries[-max_len:]), frozenset(seen), frozenset(posted))


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

    def __len__(self) -> int:
        return len(self._data)


@dataclass
class Bundle:
    """One loaded run: immutable once built, except its caches."""

    version: str
    model: Any
    data: SequenceData
    max_len: int
    # None: the model scores items itself (count-based models, or a score() of their own).
    index: ExactIndex | ApproxIndex | None
    repeat_bias: float | None
    popularity: np.ndarray  # (I + 1,) share of training events per item
    popular_order: np.ndarray  # internal item ids, most popular first
    # Used when a posted event has no (known) type; 0 when the data has no types.
    default_event_type: int
    exclude_seen: bool  # the run's own setting: the default when a request does not say
    users: LRU[str, UserState] = field(default_factory=lambda: LRU(100_000))
    items: LRU[int, np.ndarray] = field(default_factory=lambda: LRU(10_000))
    forward_passes: int = 0
    _stats_lock: threading.Lock = field(default_factory=threading.Lock)

    def count_forward_pass(self) -> None:
        with self._stats_lock:  # ``+=`` on an attribute can lose updates between threads
            self.forward_passes += 1

    def event_type(self, name: str | None) -> int:
        names = self.data.event_type_names
        return names.index(name) + 1 if name in names else self.default_event_type

    def reads_any(self, entries: tuple[Entry, ...] | list[Entry]) -> bool:
        """Whether the model reads at least one of ``entries`` (it skips items it never trained on)."""
        readable = self.model.readable_items
        return any(bool(readable[e[3]]) for e in entries)

    def recommendation(self, item: int, score: float) -> Recommendation:
        return Recommendation(str(self.data.item_ids[item]), float(score), self.data.title(item))


def model_version(run_dir: Path, model_name: str) -> str:
    """The model's name and a digest of its weights: changes exactly when the checkpoint does."""
    digest = hashlib.sha256()
    with open(run_dir / WEIGHTS_FILE, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return f"{model_name}-{digest.hexdigest()[:12]}"


def load_bundle(
    run_dir: Path,
    *,
    cache_size: int = 100_000,
    approx_above: int = 100_000,
    target_recall: float = 0.99,
) -> Bundle:
    config_path = run_dir / "config.toml"
    if not config_path.is_file():
        raise ChronorecError(
            f"{run_dir}: not a run folder (no config.toml); train one with `chronorec train`"
        )
    config = TrainConfig.load(config_path)
    model, meta = load_model(run_dir, "cpu")
    data = load_dataset(config.data)
    if data.num_items != model.num_items:
        raise ChronorecError(
            f"{run_dir}: the model knows {model.num_items} items, its dataset {data.num_items}"
        )
    data.user_index(""), data.item_index("")  # build the id lookups now, not in the first requests
    counts = np.bincount(data.items, minlength=data.num_items + 1).astype(np.float64)
    counts[0] = 0.0
    bundle = Bundle(
        version=model_version(run_dir, meta["model"]),
        model=model,
        data=data,
        max_len=config.max_len,
        index=None,
        repeat_bias=None,
        popularity=counts / max(counts.sum(), 1.0),
        popular_order=np.argsort(-counts[1:], kind="stable") + 1,
        default_event_type=1 if data.num_event_types else 0,
        exclude_seen=config.exclude_seen,
        users=LRU(cache_size),
    )
    # The index replaces ``model.score`` only where that is the plain dot product of SequenceModel.
    if isinstance(model, SequenceModel) and type(model).score is SequenceModel.score:
        with torch.inference_mode():
            vectors = model.item_vectors().detach().float().contiguous().numpy()
        calibration = _calibration_queries(bundle) if data.num_items > approx_above else None
        bundle.index = build_index(
            vectors,
            approx_above=approx_above,
            calibration_queries=calibration,
            target_recall=target_recall,
        )
        bundle.repeat_bias = (
            None if model.repeat_bias is None else float(model.repeat_bias.detach())
        )
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
    with torch.inference_mode():
        return bundle.model.encode(_batch(bundle, rows))[:, -1].float().numpy()


def _training_entries(bundle: Bundle, u: int) -> list[Entry]:
    data = bundle.data
    lo, hi = int(data.offsets[u]), int(data.offsets[u + 1])
    lo = max(lo, hi - bundle.max_len)
    types = data.event_types[lo:hi].tolist() if data.event_types is not None else [0] * (hi - lo)
    return [
        (0, float(t), 0, int(i), int(e))
        for i, t, e in zip(data.items[lo:hi].tolist(), data.timestamps[lo:hi].tolist(), types)
    ]


def _batch(bundle: Bundle, rows: list[list[Entry]]) -> Any:
    items = [[e[3] for e in row] for row in rows]
    times = [[int(e[1]) for e in row] for row in rows]
    types = [[e[4] for e in row] for row in rows] if bundle.data.event_types is not None else None
    return bundle.model.readable(history_batch(items, times, types, bundle.max_len))


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
        self._options = {
            "cache_size": cache_size,
            "approx_above": approx_above,
            "target_recall": target_recall,
        }
        self._reload_lock = threading.Lock()
        self.bundle = load_bundle(self.run_dir, **self._options)
        self.reloads = 0

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
        """Store events durably, then bring cached user states up to date; return them and the unknown-item count."""
        stored = self.store.add(events)
        b = self.bundle
        by_user: dict[str, list[tuple[Event, int, int]]] = {}
        unknown = 0
        for e in stored:
            item = b.data.item_index(e.item_id) or 0
            unknown += item == 0
            by_user.setdefault(e.user_id, []).append((e, item, b.event_type(e.event_type)))
        for user, triples in by_user.items():
            with b.users.key_lock(user):
                state = b.users.get(user)
                if state is not None:
                    b.users.put(user, state.with_events(triples, b.max_len))
        return stored, unknown

    def forget(self, user_id: str) -> int:
        deleted = self.store.forget(user_id)
        b = self.bundle
        with b.users.key_lock(user_id):
            b.users.pop(user_id)
        return deleted

    # --- recommendations ---

    def _user_state(self, b: Bundle, user_id: str) -> UserState:
        # Reading the store under the user's lock: an event posted meanwhile is either in what we read
        # or applied to the cached state by its poster after we put it there (``posted`` dedupes).
        with b.users.key_lock(user_id):
            state = b.users.get(user_id)
            if state is None:
                state = self._load_state(b, user_id)
                b.users.put(user_id, state)
        return state

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

    def recommend_user(self, user_id: str, k: int, exclude_seen: bool) -> Ranking:
        b = self.bundle  # one bundle for the whole request
        state = self._user_state(b, user_id)
        if not b.reads_any(state.entries):
            return self._popular(b, k, state.seen if exclude_seen else frozenset())
        if b.index is not None and state.query is None:
            encoded = self._with_query(b, state)
            with b.users.key_lock(user_id):
                if (
                    b.users.get(user_id) is state
                ):  # unchanged meanwhile: the vector is still its own
                    b.users.put(user_id, encoded)
            state = encoded
        return self._rank(b, state, k, state.seen if exclude_seen else frozenset())

    def recommend_session(
        self, events: list[tuple[str, float | None, str | None]], k: int, exclude_seen: bool
    ) -> tuple[Ranking, int]:
        """Recommendations after an anonymous session of ``(item id, timestamp or None, event type or None)``.

        Also returns how many of its items the model leaves out: unknown ones and those it never trained on.
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
        if b.index is not None:
            state = self._with_query(b, state)
        return self._rank(b, state, k, exclude), left_out

    def similar(self, item_id: str, k: int) -> Ranking | None:
        """Items the model ranks highest right after ``item_id`` alone (None: unknown item; the popular
        items, flagged as a fallback, for an item with no training event).

        This is the model's own notion of "goes with": it works the same for every model (sequence,
        Markov, popularity) and needs no second index. The item itself is left out.
        """
        b = self.bundle
        item = b.data.item_index(item_id)
        if item is None:
            return None
        if not b.model.readable_items[item]:  # no training event: the model knows nothing that goes with it
            return self._popular(b, k, frozenset({item}))
        state = UserState(
            ((1, 0.0, 0, item, b.default_event_type),), frozenset({item}), frozenset()
        )
        if b.index is not None:
            query = b.items.get(item)
            if query is None:
                query = self._with_query(b, state).query
                b.items.put(item, query)
            state = replace(state, query=query)
        return self._rank(b, state, k, frozenset({item}))

    @staticmethod
    def _with_query(b: Bundle, state: UserState) -> UserState:
        """``state`` with its query vector: one forward pass over its (at most max_len) events."""
        with torch.inference_mode():
            query = b.model.encode(_batch(b, [list(state.entries)]))[0, -1].float().numpy()
        b.count_forward_pass()
        return replace(state, query=query)

    @torch.inference_mode()
    def _rank(self, b: Bundle, state: UserState, k: int, exclude: frozenset[int]) -> Ranking:
        history = sorted({e[3] for e in state.entries if b.model.readable_items[e[3]]})  # what the model read
        if b.index is None:  # the model scores every item itself
            scores = b.model.score(_batch(b, [list(state.entries)]))[0].float()
            b.count_forward_pass()
            values, ids = top_k(scores, k, exclude)
        elif isinstance(b.index, ExactIndex):
            scores = b.index.scores(state.query)
            if b.repeat_bias is not None:
                scores[history] += b.repeat_bias
            values, ids = top_k(scores, k, exclude)
        else:
            values, ids = self._rank_approx(b, state.query, history, k, exclude)
        recs = [b.recommendation(int(i), float(s)) for s, i in zip(values.tolist(), ids.tolist())]
        return Ranking(recs, False, b.version)

    @staticmethod
    def _rank_approx(
        b: Bundle, query: np.ndarray, history: list[int], k: int, exclude: frozenset[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Approximate candidates, plus the history items scored exactly (they may carry the repeat bias)."""
        assert b.index is not None
        values, ids = b.index.search(query, k, exclude)
        candidates = dict(zip(ids.tolist(), values.tolist()))
        if b.repeat_bias is not None and history:
            vectors = b.model.item_vectors().detach()[history].float().numpy()
            for item, score in zip(history, (vectors @ query).tolist()):
                if item not in exclude:
                    candidates[item] = score + b.repeat_bias
        best = sorted(candidates.items(), key=lambda kv: -kv[1])[:k]
        return np.array([s for _, s in best]), np.array([i for i, _ in best], dtype=np.int64)

    @staticmethod
    def _popular(b: Bundle, k: int, exclude: frozenset[int]) -> Ranking:
        order = b.popular_order[: k + len(exclude)]
        picked = [int(i) for i in order.tolist() if i not in exclude][:k]
        return Ranking([b.recommendation(i, b.popularity[i]) for i in picked], True, b.version)
