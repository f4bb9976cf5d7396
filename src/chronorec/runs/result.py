"""What a finished training run produced: :class:`TrainResult` and the records it writes
(``history.json``, ``metrics.json`` and the training curve)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chronorec._io import write_json
from chronorec.runs.layout import CURVE_FILE, HISTORY_FILE, METRICS_FILE
from chronorec.training.config import TrainConfig
from chronorec.training.plots import plot_training_curve


@dataclass
class TrainResult:
    """What a finished run produced. ``valid``/``test`` are the best checkpoint's metrics."""

    run_dir: Path
    model: str
    valid: dict[str, float]
    test: dict[str, float]
    best_epoch: int
    epochs: int
    train_seconds: float
    seconds_to_best: float
    params: int
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def data_wait_share(self) -> float | None:
        """Mean over epochs of the share of the training pass spent waiting for batches (None:
        no epochs)."""
        shares = [s for h in self.history if (s := h.get("data_wait_share")) is not None]
        return statistics.fmean(shares) if shares else None


def write_records(
    result: TrainResult,
    config: TrainConfig,
    *,
    dataset: str,
    split_info: dict[str, Any],
    untrained_targets: dict[str, float],
    curve: bool,
) -> None:
    """Write ``history.json``, ``metrics.json`` and (when ``curve``) the training curve of
    ``result`` into its run folder."""
    run_dir, history = result.run_dir, result.history
    write_json(run_dir / HISTORY_FILE, history)
    write_json(
        run_dir / METRICS_FILE,
        {
            "dataset": dataset,
            "model": config.model,
            "split": config.split,
            "exclude_seen": config.exclude_seen,
            "valid": result.valid,
            "test": result.test,
            "best_epoch": result.best_epoch,
            "epochs": result.epochs,
            "train_seconds": result.train_seconds,
            "seconds_to_best": result.seconds_to_best,
            "params": result.params,
            "data_wait_share": result.data_wait_share,
            "split_info": split_info,
            "untrained_targets": untrained_targets,
        },
    )
    if curve and history:
        title = f"{config.model} on {dataset}"
        plot_training_curve(history, run_dir / CURVE_FILE, title=title)
