"""One loaded run as the service uses it: the :class:`Bundle` (model, dataset, ranker, popularity,
per-user cache) and the history rows its model reads.

A bundle is immutable once built, except its caches; the engine swaps whole bundles (reload, new
catalogue items) by one reference assignment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chronorec.api import Recommendation
from chronorec.data.batches import SeqBatch, history_batch
from chronorec.data.dataset import SequenceData
from chronorec.refresh import store_watermark
from chronorec.runs.load import Run, load_run
from chronorec.scoring import Ranker
from chronorec.scoring.index import build_index
from chronorec.scoring.popularity import Popularity
from chronorec.serve.catalogue import Additions
from chronorec.serve.state import LRU, Entry, UserState


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
    additions: Additions  # catalogue items served beyond the run's own
    watermark: int = 0  # posted events up to this store seq are in the training histories
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


def load_bundle(run_dir: Path, **options: Any) -> Bundle:
    """The bundle of the run folder ``run_dir``; ``options`` as :func:`bundle_of` takes them."""
    run = load_run(run_dir, "cpu")
    return bundle_of(run, run.version, Additions(run.data.num_items), **options)


def bundle_of(
    run: Run,
    version: str,
    additions: Additions,
    *,
    cache_size: int = 100_000,
    approx_above: int = 100_000,
    target_recall: float = 0.99,
) -> Bundle:
    """A bundle serving ``run`` (as loaded, or grown by catalogue ``additions``)."""
    data = run.data
    data.user_index(""), data.item_index("")  # build the id lookups now, not in the first requests
    bundle = Bundle(
        version=version,
        run=run,
        model=run.model,
        data=data,
        max_len=run.config.max_len,
        ranker=run.ranker(),
        popularity=Popularity(data),
        default_event_type=1 if data.num_event_types else 0,
        exclude_seen=run.config.exclude_seen,
        additions=additions,
        watermark=store_watermark(data),
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
    rows = [training_entries(bundle, int(u)) for u in users]
    rows += [[(1, 0.0, 0, int(i), bundle.default_event_type)] for i in items]
    queries = bundle.ranker.queries(bundle.ranker.read(entries_batch(bundle, rows)))
    return queries.reshape(-1, queries.shape[-1]).float().numpy()  # every interest of every row


def training_entries(bundle: Bundle, u: int) -> list[Entry]:
    data = bundle.data
    lo, hi = int(data.offsets[u]), int(data.offsets[u + 1])
    lo = max(lo, hi - bundle.max_len)
    types = data.event_types[lo:hi].tolist() if data.event_types is not None else [0] * (hi - lo)
    return [
        (0, float(t), 0, int(i), int(e))
        for i, t, e in zip(data.items[lo:hi].tolist(), data.timestamps[lo:hi].tolist(), types)
    ]


def entries_batch(bundle: Bundle, rows: list[list[Entry]]) -> SeqBatch:
    items = [[e[3] for e in row] for row in rows]
    times = [[int(e[1]) for e in row] for row in rows]
    types = [[e[4] for e in row] for row in rows] if bundle.data.event_types is not None else None
    return history_batch(items, times, types, bundle.max_len)
