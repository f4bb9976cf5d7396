"""The run folder: one place that names every file a run writes and reads.

A run folder holds what ``chronorec train`` (or ``pretrain``) produced::

    config.toml        the full training configuration (rerun with ``--config``)
    model.safetensors  the selected model's weights
    model.json         what rebuilds the model: name, settings, sizes, version
    checkpoint.pt      resume state after the last finished epoch
    history.json       per-epoch loss, validation metrics and time
    metrics.json       the selected model's validation and test metrics
    ranks.npz          per-case ranks on validation and test, for paired comparisons
    curve.png          the training curve
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chronorec.errors import ChronorecError

CONFIG_FILE = "config.toml"
WEIGHTS_FILE = "model.safetensors"
MODEL_FILE = "model.json"
STATE_FILE = "checkpoint.pt"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
RANKS_FILE = "ranks.npz"
CURVE_FILE = "curve.png"


@dataclass(frozen=True)
class RunFolder:
    """Paths of one run folder's files."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def model(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def state(self) -> Path:
        return self.path / STATE_FILE

    @property
    def history(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def ranks(self) -> Path:
        return self.path / RANKS_FILE

    @property
    def curve(self) -> Path:
        return self.path / CURVE_FILE

    def require_config(self) -> Path:
        """The config file; a one-line error when this is not a run folder."""
        if not self.config.is_file():
            raise ChronorecError(
                f"{self.path}: not a run folder (no {CONFIG_FILE}); "
                "train one with `chronorec train`"
            )
        return self.config
