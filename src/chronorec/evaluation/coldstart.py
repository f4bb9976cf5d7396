"""Cold-start evaluation: next-item prediction
whose target is an item training has (almost) never seen.

Protocol (a temporal split with a cold-item filter):

- Cut-offs at quantiles of all event times: training uses events before ``t_valid`` (the
  ``1 - test - valid`` quantile); validation cases are every event in ``[t_valid, t_test)``;
  the test window is ``[t_test, end]`` (the last ``test_fraction`` of events).
- Cold items are those first seen in the last ``late_fraction`` of time and with at most
  ``max_train_interactions`` training events (with
  ``late_fraction <= test_fraction + valid_fraction`` they have none at all).
- Test cases are every test-window event on a cold item (``test``), and every other test-window
  event (``warm_test``, for reference); a case's history is all of that user's earlier events, known
  as input at that moment but never trained on.

Full-ranking metrics restricted to the cold cases then show whether a model can place items it has
no interaction data for, e.g. ID-only vs ID + text item vectors (:mod:`chronorec.models.text`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from chronorec.data.dataset import SequenceData
from chronorec.data.split import EvalCases, Split
from chronorec.errors import ChronorecError
from chronorec.evaluation.harness import DEFAULT_KS, evaluate_cases
from chronorec.models.base import Recommender


@dataclass(frozen=True)
class ColdStartSplit:
    """A split whose test cases target cold items, the other test-window cases,
    and the cold-item flags."""

    split: Split  # train_end, valid (ordinary next-item), test (targets are cold items)
    warm_test: EvalCases  # test-window cases whose target is not cold
    cold_items: np.ndarray  # (I + 1,) bool
    train_counts: np.ndarray  # (I + 1,) int64: training events per item
    info: dict


def _quantile_cut(timestamps: np.ndarray, fraction: float) -> int:
    """Integer cut-off at the ``1 - fraction`` quantile of event times
    (rounded up, as the temporal split does)."""
    return int(np.ceil(np.quantile(timestamps, 1 - fraction)))


def _check_fractions(late: float, test: float, valid: float, max_train_interactions: int) -> None:
    """One-line errors for cold-start split settings out of range."""
    for name, value in (
        ("late_fraction", late),
        ("test_fraction", test),
        ("valid_fraction", valid),
    ):
        if not 0 < value < 1:
            raise ChronorecError(f"cold-start split: {name} must be in (0, 1), got {value}")
    if test + valid >= 1:
        raise ChronorecError("cold-start split: test_fraction + valid_fraction must be < 1")
    if max_train_interactions < 0:
        raise ChronorecError("cold-start split: max_train_interactions must be >= 0")


def _cold_items(
    data: SequenceData, in_train: np.ndarray, t_late: int, max_train_interactions: int
) -> tuple[np.ndarray, np.ndarray]:
    """Items first seen at ``t_late`` or later with at most ``max_train_interactions`` training
    events ``(I + 1,)`` bool, and every item's training event count."""
    num_items = data.num_items
    train_counts = np.bincount(data.items[in_train], minlength=num_items + 1).astype(np.int64)
    first_seen = np.full(num_items + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_seen, data.items, data.timestamps)
    cold = (
        (first_seen >= t_late)
        & (first_seen < np.iinfo(np.int64).max)
        & (train_counts <= max_train_interactions)
    )
    cold[0] = False
    return cold, train_counts


def coldstart_split(
    data: SequenceData,
    *,
    late_fraction: float = 0.1,
    test_fraction: float = 0.1,
    valid_fraction: float = 0.1,
    max_train_interactions: int = 0,
) -> ColdStartSplit:
    """Hold out items first seen late in time and evaluate
    on the test-window events that target them."""
    _check_fractions(late_fraction, test_fraction, valid_fraction, max_train_interactions)
    ts = data.timestamps
    t_valid = _quantile_cut(ts, test_fraction + valid_fraction)
    t_test = _quantile_cut(ts, test_fraction)
    t_late = _quantile_cut(ts, late_fraction)
    starts = data.offsets[:-1]
    owner = np.repeat(np.arange(len(starts)), np.diff(data.offsets))  # (N,) user of each event
    position = np.arange(len(ts)) - starts[owner]  # (N,) index within the user's sequence
    # Events are time-ordered within a user, so "before t_valid" is a prefix.
    train_end = starts + np.bincount(owner[ts < t_valid], minlength=len(starts))
    in_train = np.arange(len(ts)) < train_end[owner]
    cold, train_counts = _cold_items(data, in_train, t_late, max_train_interactions)

    # Every event of the validation window is a case, as in the test window: users are active in
    # bursts, so one case per user left validation with a few dozen cases
    # and early stopping on noise.
    valid_events = np.flatnonzero((ts >= t_valid) & (ts < t_test) & (position > 0))
    in_test = (ts >= t_test) & (position > 0)  # a case needs some history before it
    test_events = np.flatnonzero(in_test)
    is_cold = cold[data.items[test_events]]
    cold_events, warm_events = test_events[is_cold], test_events[~is_cold]
    info = {
        "valid_cutoff": t_valid,
        "test_cutoff": t_test,
        "late_cutoff": t_late,
        "late_fraction": late_fraction,
        "test_fraction": test_fraction,
        "valid_fraction": valid_fraction,
        "max_train_interactions": max_train_interactions,
        "cold_items": int(cold.sum()),
        "cold_cases": len(cold_events),
        "warm_cases": len(warm_events),
        "valid_cases": len(valid_events),
        "train_events": int(in_train.sum()),
    }
    split = Split(
        name="coldstart",
        train_end=train_end,
        valid=EvalCases(owner[valid_events].astype(np.int64), valid_events.astype(np.int64)),
        test=EvalCases(owner[cold_events].astype(np.int64), cold_events.astype(np.int64)),
        info=info,
    )
    warm = EvalCases(owner[warm_events].astype(np.int64), warm_events.astype(np.int64))
    return ColdStartSplit(split, warm, cold, train_counts, info)


def evaluate_coldstart(
    model: Recommender,
    data: SequenceData,
    cs: ColdStartSplit,
    *,
    max_len: int,
    ks: tuple[int, ...] = DEFAULT_KS,
    exclude_seen: bool = False,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, float]]:
    """Full-ranking metrics on the cold cases (``cold``),
    the other test-window cases (``warm``) and validation."""
    out: dict[str, dict[str, float]] = {}
    for name, cases in (("cold", cs.split.test), ("warm", cs.warm_test), ("valid", cs.split.valid)):
        if len(cases) == 0:
            out[name] = {}
            continue
        result = evaluate_cases(
            model, data, cases, max_len=max_len, ks=ks, exclude_seen=exclude_seen, device=device
        )
        # The median rank (1-based) shows movement
        # where cold targets are still far below any cut-off.
        out[name] = result.metrics | {"median_rank": float(result.ranks.double().median()) + 1}
    return out
