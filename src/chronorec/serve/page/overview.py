"""The overview: what the dataset holds, its events over time, the model card of the run served."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chronorec.data.dataset import SequenceData
from chronorec.runs.load import Run

# Bin widths for events over time, finest first: the first that needs at most MAX_BINS bins wins.
BIN_WIDTHS = (
    ("hour", 3_600),
    ("day", 86_400),
    ("week", 7 * 86_400),
    ("month", 30 * 86_400),
    ("year", 365 * 86_400),
)
MAX_BINS = 240
SAMPLE_USERS = 5  # the most active users, offered as examples to look at
DEFAULT_SESSION_GAP_MINUTES = 30.0  # the multiscale model's default; other models have none


@dataclass(frozen=True)
class TimeBins:
    """Equal time bins that cover a dataset: the first starts at ``start``, each ``width`` long."""

    unit: str
    width: int  # seconds
    start: int  # unix seconds, a multiple of ``width``
    count: int

    @classmethod
    def covering(cls, first: int, last: int) -> TimeBins:
        """The finest bins that cover ``first``..``last`` in at most ``MAX_BINS`` bins."""
        for unit, width in BIN_WIDTHS:
            start = first - first % width
            count = (last - start) // width + 1
            if count <= MAX_BINS or unit == BIN_WIDTHS[-1][0]:
                return cls(unit, width, start, int(count))
        raise AssertionError("unreachable: the last width always fits")

    def histogram(
        self, timestamps: np.ndarray, types: np.ndarray | None, type_names: tuple[str, ...]
    ) -> dict[str, Any]:
        """Events per bin, one series per event type (one series when the data has no types)."""
        bins = np.clip((timestamps - self.start) // self.width, 0, self.count - 1)
        if types is None or not type_names:
            groups = [("events", bins)]
        else:
            groups = [(name, bins[types == t]) for t, name in enumerate(type_names, 1)]
        return {
            "unit": self.unit,
            "width": self.width,
            "x": (self.start + self.width * np.arange(self.count)).tolist(),
            "series": [
                {"name": name, "counts": np.bincount(b, minlength=self.count).tolist()}
                for name, b in groups
            ],
        }


def time_bins(data: SequenceData) -> TimeBins:
    """The bins of the dataset's events over time (an item's events reuse them, so both align)."""
    if len(data.timestamps) == 0:
        return TimeBins("day", 86_400, 0, 1)
    return TimeBins.covering(int(data.timestamps.min()), int(data.timestamps.max()))


def dataset_summary(data: SequenceData) -> dict[str, Any]:
    """Counts (users, items, events, by event type) and events over time."""
    lengths = data.lengths()[1:]
    by_type = []
    if data.event_types is not None and data.event_type_names:
        counts = np.bincount(data.event_types, minlength=data.num_event_types + 1)
        by_type = [
            {"name": name, "events": int(counts[t])}
            for t, name in enumerate(data.event_type_names, 1)
        ]
    empty = len(data.timestamps) == 0
    return {
        "name": data.name,
        "users": data.num_users,
        "items": data.num_items,
        "events": len(data.items),
        "event_types": by_type,
        "first": None if empty else int(data.timestamps.min()),
        "last": None if empty else int(data.timestamps.max()),
        "median_events_per_user": float(np.median(lengths)) if len(lengths) else 0.0,
        "has_titles": data.titles is not None,
        "events_over_time": time_bins(data).histogram(
            data.timestamps, data.event_types, data.event_type_names
        ),
    }


def most_active_users(data: SequenceData, n: int = SAMPLE_USERS) -> list[str]:
    """The ``n`` users with the most events: examples worth a look."""
    active = np.argsort(-data.lengths()[1:], kind="stable")[:n] + 1
    return [str(data.user_ids[u]) for u in active.tolist()]


def model_card(run: Run, version: str) -> dict[str, Any]:
    """The model, its size and settings, its metrics and its training curve, from the run folder."""
    description = run.description
    metrics = _read_json(run.folder.metrics) or {}
    history = _read_json(run.folder.history) or []
    curve = [
        {"epoch": row.get("epoch"), "loss": row.get("loss"), "valid": row.get("valid") or {}}
        for row in history
        if isinstance(row, dict)
    ]
    return finite(
        {
            "model": description.get("model", run.model.name),
            "version": version,
            "parameters": run.model.num_parameters(),
            "settings": description.get("params", {}),
            "max_len": run.config.max_len,
            "split": run.config.split,
            "exclude_seen": run.config.exclude_seen,
            "selected_epoch": description.get("epoch"),
            "epochs": metrics.get("epochs", len(curve)),
            "train_seconds": metrics.get("train_seconds"),
            "valid": metrics.get("valid") or description.get("valid") or {},
            "test": metrics.get("test") or {},
            "curve": curve,
            "session_gap_seconds": 60.0 * session_gap_minutes(run),
        }
    )


def session_gap_minutes(run: Run) -> float:
    """The gap that starts a new session: the model's own setting where it has one."""
    gap = getattr(run.model.config, "session_gap_minutes", None)
    return float(gap) if gap else DEFAULT_SESSION_GAP_MINUTES


def finite(value: Any) -> Any:
    """``value`` with each NaN or infinity (a diverged loss, say) as None: JSON has neither."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _read_json(path: Path) -> Any:
    """A run file's content; None when the run has none (a pre-trained run has no metrics)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
