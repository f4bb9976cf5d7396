"""Train a built model on an explicit split, optionally on a subset of users: what the benchmarks compare.

``chronorec train`` names its split (``loo`` / ``temporal``) and trains on every user. Comparing
pre-training with less labelled data, or ID-only with ID+text items on a cold-start split, needs the
same loop on a given :class:`~chronorec.data.split.Split` and user subset; this is that loop, built from
the trainer's own pieces (``make_optimizer``, ``train_epoch``, full-ranking validation, early stopping
on NDCG@10), so the only difference from ``chronorec train --init`` is what it is given.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from chronorec.data.batches import train_windows
from chronorec.data.dataset import SequenceData
from chronorec.data.split import Split
from chronorec.errors import ChronorecError
from chronorec.evaluation.harness import evaluate_cases
from chronorec.models.base import SequenceModel
from chronorec.pretrain.runner import select_users
from chronorec.training.config import TrainConfig
from chronorec.training.trainer import SELECT_METRIC, make_optimizer, train_epoch


@dataclass
class FitResult:
    """Best validation metrics (the model holds the best weights when returned)."""

    valid: dict[str, float]
    best_epoch: int
    epochs: int
    seconds: float
    windows: int
    history: list[dict[str, Any]] = field(default_factory=list)


def fit_on_split(
    model: SequenceModel,
    data: SequenceData,
    split: Split,
    config: TrainConfig,
    *,
    users: np.ndarray | None = None,
    device: torch.device | str = "cpu",
) -> FitResult:
    """Train ``model`` in place on ``split``'s training events (only ``users``' when given), early-stopped.

    Uses ``config``'s optimisation settings (lr, batch size, epochs, patience, seed, ...); its ``data``,
    ``split`` and ``init`` fields are ignored (the caller builds and initialises the model).
    """
    device = torch.device(device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    model.to(device)
    windows = train_windows(data, split.train_end, config.max_len, config.stride or None)
    if users is not None:
        windows = select_users(windows, users)
    if len(windows) == 0:
        raise ChronorecError("no training window for the chosen users")
    optimizer = make_optimizer(model, config, device)
    ks = tuple(config.ks)
    best_score, best_epoch, bad, elapsed = -math.inf, 0, 0, 0.0
    best_state: dict[str, torch.Tensor] = {}
    best_valid: dict[str, float] = {}
    history: list[dict[str, Any]] = []
    for epoch in range(1, config.epochs + 1):
        if bad >= config.patience or (config.max_train_seconds and elapsed >= config.max_train_seconds):
            break
        t0 = time.perf_counter()
        loss = train_epoch(model, windows, optimizer, config, epoch=epoch, device=device)
        valid = evaluate_cases(model, data, split.valid, max_len=config.max_len, ks=ks,
                               exclude_seen=config.exclude_seen, device=device,
                               memory_budget_mb=config.eval_memory_mb).metrics
        elapsed += time.perf_counter() - t0
        history.append({"epoch": epoch, "loss": loss, "valid": valid, "seconds": elapsed})
        if valid[SELECT_METRIC] > best_score:
            best_score, best_epoch, bad, best_valid = valid[SELECT_METRIC], epoch, 0, valid
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
    if not best_state:
        raise ChronorecError("training ran no epoch (check epochs and the time limit)")
    model.load_state_dict(best_state)
    return FitResult(best_valid, best_epoch, len(history), elapsed, len(windows), history)


def user_subset(data: SequenceData, split: Split, fraction: float, seed: int) -> np.ndarray:
    """A random ``fraction`` of the users who have a training window (internal ids), fixed by ``seed``."""
    if not 0 < fraction <= 1:
        raise ChronorecError(f"user fraction must be in (0, 1], got {fraction}")
    users = np.flatnonzero(split.train_lengths(data)[1:] >= 2) + 1
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(users, size=max(1, round(fraction * len(users))), replace=False))
