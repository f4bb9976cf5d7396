"""The real MovieLens-100K (titles and genres included), prepared once per test session that asks
for it."""

from __future__ import annotations

from pathlib import Path

from chronorec.data import registry
from chronorec.data.dataset import SequenceData, load_dataset


def prepared_ml100k(data_root: Path, out: Path) -> SequenceData:
    """Prepare ml-100k from the local raw files (never downloads) into ``out`` and load it."""
    result = registry.prepare_known("ml-100k", out, data_root=data_root, download=False)
    return load_dataset(result.out)
