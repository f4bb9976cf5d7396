"""chronorec: learn from user behaviour sequences and recommend what each user wants next.

The public API (``prepare``, ``train``, ``evaluate``, ``recommend``, ``benchmark``) is imported on first
use so that ``chronorec --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["prepare", "train", "evaluate", "recommend", "benchmark", "TrainConfig", "load_dataset"]


def __getattr__(name: str) -> Any:
    if name in ("prepare", "train", "evaluate", "recommend", "benchmark"):
        from chronorec import api

        return getattr(api, name)
    if name == "TrainConfig":
        from chronorec.train.config import TrainConfig

        return TrainConfig
    if name == "load_dataset":
        from chronorec.data.dataset import load_dataset

        return load_dataset
    raise AttributeError(f"module 'chronorec' has no attribute {name!r}")
