"""Per-case ranks kept in the run folder at the end of training,
so comparisons need no second evaluation.

The file records a fingerprint of everything the ranks depend on (the dataset's events, the model's
weights and description, the split, the history length and the candidate set); a stored split is
used only when the fingerprint still matches, otherwise the run is evaluated again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chronorec._io import atomic_path
from chronorec.data.dataset import SequenceData
from chronorec.runs.layout import MODEL_FILE, RANKS_FILE, WEIGHTS_FILE
from chronorec.training.config import TrainConfig


def fingerprint(run_dir: Path, data: SequenceData, config: TrainConfig) -> str:
    """Digest of the inputs that decide a run's ranks."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (data.offsets, data.items, data.timestamps, data.event_types):
        digest.update(b"-" if array is None else np.ascontiguousarray(array).tobytes())
    for name in (WEIGHTS_FILE, MODEL_FILE):
        path = run_dir / name
        digest.update(path.read_bytes() if path.is_file() else b"-")
    digest.update(f"{config.split}/{config.max_len}/{config.exclude_seen}".encode())
    return digest.hexdigest()


def save_ranks(
    run_dir: Path,
    data: SequenceData,
    config: TrainConfig,
    results: dict[str, tuple[torch.Tensor, torch.Tensor]],
) -> None:
    """Write ``{split: (ranks, users)}`` for a run whose model files are already written."""
    # Any: the stub of np.savez matches ``**arrays`` against its ``allow_pickle: bool`` too.
    arrays: dict[str, Any] = {
        f"{split}_{part}": tensor.cpu().numpy()
        for split, pair in results.items()
        for part, tensor in zip(("ranks", "users"), pair)
    }
    with atomic_path(run_dir / RANKS_FILE) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, fingerprint=fingerprint(run_dir, data, config), **arrays)


def load_ranks(
    run_dir: Path, data: SequenceData, config: TrainConfig, split: str
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Stored ``(ranks, users)`` of ``split``, or None when absent or made from other data,
    weights or settings."""
    path = run_dir / RANKS_FILE
    if not path.is_file():
        return None
    with np.load(path) as stored:
        if f"{split}_ranks" not in stored or str(stored["fingerprint"]) != fingerprint(
            run_dir, data, config
        ):
            return None
        return torch.from_numpy(stored[f"{split}_ranks"]), torch.from_numpy(
            stored[f"{split}_users"]
        )
