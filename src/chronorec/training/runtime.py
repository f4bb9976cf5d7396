"""Where a training process runs and how it starts reproducibly: the device and the seeds."""

from __future__ import annotations

import numpy as np
import torch

from chronorec.errors import ChronorecError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; asking for absent CUDA is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ChronorecError(f"device '{name}' requested but CUDA is not available")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed PyTorch's and NumPy's global generators (initial weights, dropout)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
