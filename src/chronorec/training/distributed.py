"""Many processes with PyTorch's own engine: torchrun sets the environment, DDP syncs gradients.

``chronorec train --nproc N`` (or ``torchrun --nproc_per_node N -m chronorec train ...``) starts N
processes; each reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` and joins one process group: NCCL on
CUDA, gloo on the CPU. Multi-node runs are the same command with torchrun's rendezvous options.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from chronorec.errors import ChronorecError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (just ``[obj]`` in one process)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(value)
        return value


def init_from_env(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join the process group torchrun describes in the environment; returns the context and
    this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), world_size, local_rank), device


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``chronorec <argv>`` in ``nproc`` local processes through ``torch.distributed.run``."""
    if nproc < 1:
        raise ChronorecError(f"--nproc must be >= 1, got {nproc}")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "chronorec",
        *argv,
    ]
    return subprocess.call(command)
