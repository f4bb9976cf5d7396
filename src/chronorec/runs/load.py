"""Loading a trained run: its configuration, best model and dataset, checked against each other."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.errors import ChronorecError
from chronorec.models import Recommender
from chronorec.runs.checkpoint import load_model
from chronorec.runs.layout import RunFolder
from chronorec.scoring import Ranker
from chronorec.scoring.index import ApproxIndex
from chronorec.training.config import TrainConfig


@dataclass(frozen=True)
class Run:
    """A trained run folder, loaded: what every command and the service start from."""

    folder: RunFolder
    config: TrainConfig
    model: Recommender  # the selected model, in eval mode
    description: dict[str, Any]  # model.json: name, settings, sizes, version, selected epoch
    data: SequenceData

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def version(self) -> str:
        """The model's name and a digest of its weights:
        changes exactly when the checkpoint does."""
        digest = hashlib.sha256()
        with open(self.folder.weights, "rb") as weights:
            for chunk in iter(lambda: weights.read(1 << 20), b""):
                digest.update(chunk)
        return f"{self.description['model']}-{digest.hexdigest()[:12]}"

    def ranker(self, index: ApproxIndex | None = None) -> Ranker:
        """The ranker of this run's model (exact unless an approximate ``index`` is given)."""
        return Ranker(self.model, index=index)


def load_run(path: str | Path, device: str | torch.device = "cpu") -> Run:
    """Load the run folder at ``path``; one-line errors for a missing or inconsistent folder."""
    folder = RunFolder(Path(path))
    config = TrainConfig.load(folder.require_config())
    model, description = load_model(folder.path, device)
    data = load_dataset(config.data)
    if data.num_items != model.num_items:
        raise ChronorecError(
            f"{folder.path}: the model knows {model.num_items} items, its dataset {data.num_items}"
        )
    return Run(folder, config, model, description, data)
