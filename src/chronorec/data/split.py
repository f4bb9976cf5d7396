"""Deterministic train/validation/test splits over per-user sequences.

A split never copies events: it records, per user, where training stops (``train_end``) and, per
evaluation case, the index of the target event in the flat arrays. A case's history is every event
of that user before its target, so the model sees exactly what was known at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from chronorec.data.dataset import SequenceData
from chronorec.errors import ChronorecError

SplitName = Literal["loo", "temporal", "recent"]

# Manifest key of a dataset that names its own validation window (``recent`` split): unix seconds.
VALIDATION_FROM = "validation_from"


@dataclass(frozen=True)
class EvalCases:
    """Prediction cases: user ``users[k]`` with history ``items[offsets[u]:targets[k]]`` must rank
    ``items[targets[k]]``."""

    users: np.ndarray  # (C,) int64 internal user ids
    targets: np.ndarray  # (C,) int64 indices into the flat event arrays

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class Split:
    """Training prefixes and the validation and test cases of one split of a dataset."""

    name: str
    train_end: np.ndarray  # (U + 1,) int64: user u trains on items[offsets[u]:train_end[u]]
    valid: EvalCases
    test: EvalCases
    info: dict

    def train_lengths(self, data: SequenceData) -> np.ndarray:
        return self.train_end - data.offsets[:-1]


def training_items(data: SequenceData, train_end: np.ndarray) -> np.ndarray:
    """``(I + 1,)`` bool: items with at least one event
    in the training prefixes ``offsets[u]:train_end[u]``."""
    starts = data.offsets[:-1]
    owner = np.repeat(np.arange(len(starts)), np.diff(data.offsets))
    in_train = np.arange(len(data.items)) < train_end[owner]
    known = np.zeros(data.num_items + 1, dtype=bool)
    known[data.items[in_train]] = True
    return known


def untrained_target_share(
    data: SequenceData, split: Split, trained: np.ndarray
) -> dict[str, float]:
    """Per evaluation split, the share of targets on items outside ``trained``
    (:func:`training_items`): an ID-only model has never seen them as a positive,
    so it can rank them only by chance."""
    return {
        name: float(np.mean(~trained[data.items[cases.targets]])) if len(cases) else 0.0
        for name, cases in (("valid", split.valid), ("test", split.test))
    }


def leave_one_out(data: SequenceData) -> Split:
    """Last event of each user is the test target, the second last the validation target.

    Users with two events get a test case only; users with one event only train.
    The test history includes the validation event (it is known by then);
    training never sees either.
    """
    starts, ends = data.offsets[:-1], data.offsets[1:]
    lengths = ends - starts
    users = np.arange(len(lengths))
    has_test = lengths >= 2
    has_valid = lengths >= 3
    train_end = np.where(has_valid, ends - 2, np.where(has_test, ends - 1, ends))
    return Split(
        name="loo",
        train_end=train_end,
        valid=EvalCases(users[has_valid], ends[has_valid] - 2),
        test=EvalCases(users[has_test], ends[has_test] - 1),
        info={"valid_cases": int(has_valid.sum()), "test_cases": int(has_test.sum())},
    )


def temporal(data: SequenceData, valid_fraction: float = 0.1, test_fraction: float = 0.1) -> Split:
    """Global split by time: events after the cut-offs are never trained on.

    Cut-offs are the timestamps at the ``1 - valid - test`` and ``1 - test`` quantiles of all events
    (rounded up); training uses events strictly before the first cut-off.
    Each user's first event in the validation window (resp. test window) is a case, if the user has
    some earlier history; training uses only events before the validation cut-off.
    """
    if not (
        0 < valid_fraction < 1 and 0 < test_fraction < 1 and valid_fraction + test_fraction < 1
    ):
        raise ChronorecError("temporal split: fractions must be in (0, 1) and sum to less than 1")
    quantiles = np.quantile(
        data.timestamps, [1 - valid_fraction - test_fraction, 1 - test_fraction]
    )
    t_valid, t_test = (
        int(x) for x in np.ceil(quantiles)
    )  # integer cut-offs: train on ts < t_valid
    starts, ends = data.offsets[:-1], data.offsets[1:]
    users = np.arange(len(starts))
    first_valid = np.empty(len(starts), dtype=np.int64)
    first_test = np.empty(len(starts), dtype=np.int64)
    for u in range(1, len(starts)):  # per-user binary search on sorted timestamps
        ts = data.timestamps[starts[u] : ends[u]]
        first_valid[u] = starts[u] + np.searchsorted(ts, t_valid, side="left")
        first_test[u] = starts[u] + np.searchsorted(ts, t_test, side="left")
    first_valid[0] = first_test[0] = 0
    valid_ok = (first_valid < first_test) & (first_valid > starts) & (users > 0)
    test_ok = (first_test < ends) & (first_test > starts) & (users > 0)
    return Split(
        name="temporal",
        train_end=first_valid,
        valid=EvalCases(users[valid_ok], first_valid[valid_ok]),
        test=EvalCases(users[test_ok], first_test[test_ok]),
        info={
            "valid_cutoff": t_valid,
            "test_cutoff": t_test,
            "valid_cases": int(valid_ok.sum()),
            "test_cases": int(test_ok.sum()),
        },
    )


def events_from(data: SequenceData, cutoff: int) -> tuple[np.ndarray, EvalCases]:
    """Training prefixes that stop at ``cutoff`` (unix seconds), and every later event with some
    earlier history as a case (its history: everything before it, later events included)."""
    starts, ends = data.offsets[:-1], data.offsets[1:]
    owner = np.repeat(np.arange(len(starts)), ends - starts)
    before = np.bincount(owner[data.timestamps < cutoff], minlength=len(starts))
    train_end = starts + before
    position = np.arange(len(data.items))
    is_case = (position >= train_end[owner]) & (position > starts[owner])
    return train_end, EvalCases(owner[is_case].astype(np.int64), position[is_case])


def recent(data: SequenceData) -> Split:
    """Validation on the newest events, test on none: how ``chronorec refresh`` (and the temporal
    replay benchmark) select a model.

    The dataset's manifest names the window (``validation_from``): training stops there for every
    user, and every event in it with earlier history is a validation case.
    """
    cutoff = data.manifest.get(VALIDATION_FROM)
    if cutoff is None:
        raise ChronorecError(
            f"{data.path}: split 'recent' needs a dataset that names its validation window"
            f" ({VALIDATION_FROM} in its manifest, as `chronorec refresh` writes)"
        )
    train_end, valid = events_from(data, int(cutoff))
    none = EvalCases(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    info = {"valid_cutoff": int(cutoff), "valid_cases": len(valid), "test_cases": 0}
    return Split(name="recent", train_end=train_end, valid=valid, test=none, info=info)


def make_split(data: SequenceData, name: str) -> Split:
    """Split by name: ``loo`` (leave-one-out), ``temporal`` or ``recent``."""
    if name == "loo":
        return leave_one_out(data)
    if name == "temporal":
        return temporal(data)
    if name == "recent":
        return recent(data)
    raise ChronorecError(f"unknown split '{name}' (choose loo, temporal or recent)")
