"""Train a built model on an explicit split, optionally on a subset of users: what the benchmarks
compare.

``chronorec train`` names its split (``loo`` / ``temporal``) and trains on every user. Comparing
pre-training with less labelled data, or ID-only with ID+text items on a cold-start split, needs
the same training on a given :class:`~chronorec.data.split.Split` and user subset; this is that,
built from the trainer's own parts (``make_optimizer``, ``train_loop``, the ``EarlyStopping`` and
``TimeLimit`` callbacks on full-ranking validation NDCG@10), so the only difference from
``chronorec train --init`` is what it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from chronorec.data.batches import train_windows
from chronorec.data.dataset import SequenceData
from chronorec.data.split import Split
from chronorec.errors import ChronorecError
from chronorec.evaluation.harness import evaluate_as_configured
from chronorec.models.base import SequenceModel
from chronorec.pretrain.runner import select_users
from chronorec.training.callbacks import EarlyStopping, TimeLimit
from chronorec.training.config import TrainConfig
from chronorec.training.loop import train_loop
from chronorec.training.optim import make_optimizer


@dataclass
class SplitTrainResult:
    """Best validation metrics (the model holds the best weights when returned)."""

    valid: dict[str, float]
    best_epoch: int
    epochs: int
    seconds: float
    windows: int
    history: list[dict[str, Any]] = field(default_factory=list)


def train_on_split(
    model: SequenceModel,
    data: SequenceData,
    split: Split,
    config: TrainConfig,
    *,
    users: np.ndarray | None = None,
    device: torch.device | str = "cpu",
) -> SplitTrainResult:
    """Train ``model`` in place on ``split``'s training events (only ``users``' when given),
    validating every epoch and stopping early; the model ends with its best weights.

    Uses ``config``'s optimisation settings (lr, batch size, epochs, patience, seed, ...) at a
    constant learning rate; its ``data``, ``split``, ``init`` and ``eval_every`` fields are ignored
    (the caller builds and initialises the model).
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
    best: dict[str, Any] = {}

    def validate() -> dict[str, float]:
        return evaluate_as_configured(model, data, split.valid, config, device).metrics

    def keep_best(epoch: int, valid: dict[str, float]) -> None:
        best["valid"] = valid
        best["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    callbacks = [
        EarlyStopping(validate, patience=config.patience, on_best=keep_best),
        TimeLimit(config.max_train_seconds),
    ]
    state = train_loop(model, windows, optimizer, config, device=device, callbacks=callbacks)
    if not best:
        raise ChronorecError("training ran no epoch (check epochs and the time limit)")
    model.load_state_dict(best["state"])
    return SplitTrainResult(
        best["valid"],
        state.best_epoch,
        len(state.history),
        state.elapsed,
        len(windows),
        state.history,
    )


def user_subset(data: SequenceData, split: Split, fraction: float, seed: int) -> np.ndarray:
    """A random ``fraction`` of the users who have a training window (internal ids), fixed by
    ``seed``."""
    if not 0 < fraction <= 1:
        raise ChronorecError(f"user fraction must be in (0, 1], got {fraction}")
    users = np.flatnonzero(split.train_lengths(data)[1:] >= 2) + 1
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(users, size=max(1, round(fraction * len(users))), replace=False))
