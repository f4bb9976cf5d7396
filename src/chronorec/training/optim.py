"""What training optimises and how: AdamW, the learning-rate schedule, the sampled item loss."""

from __future__ import annotations

import math

import torch

from chronorec.data.batches import TrainWindows
from chronorec.models.losses import PerTargetNegativesLoss, SampledSoftmaxLoss
from chronorec.training.config import TrainConfig
from chronorec.training.distributed import DistContext


def make_optimizer(
    model: torch.nn.Module, config: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """AdamW; no weight decay on embeddings, biases and norms (decaying them only hurts recall)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() < 2 or "embedding" in name else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, fused=device.type == "cuda")


def steps_per_epoch(windows: int, batch_size: int, ctx: DistContext) -> int:
    """Optimizer steps in one epoch of ``windows`` training windows on each of the ranks."""
    return math.ceil(windows // ctx.world_size / max(1, batch_size // ctx.world_size))


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-step learning rate: linear warmup, then cosine decay to zero at ``config.epochs``.

    A schedule that ends puts the best epoch near a known point instead of letting constant-rate
    noise nudge the validation score upward for dozens of epochs.
    """
    if config.lr_schedule == "constant":
        return None
    warmup = config.warmup_epochs * steps_per_epoch
    total = max(config.epochs * steps_per_epoch, warmup + 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / (total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_sampled_loss(
    windows: TrainWindows, num_items: int, config: TrainConfig, ctx: DistContext
) -> SampledSoftmaxLoss | PerTargetNegativesLoss:
    """The sampled item loss: per-target negatives (softmax or gBCE) when asked for, else a
    sampled softmax whose log-Q correction uses the training targets' popularity."""
    if config.negatives_per_target or config.sampled_objective == "gbce":
        return PerTargetNegativesLoss(
            num_items,
            config.negatives,
            config.sampled_objective,
            config.gbce_t,
            torch.Generator().manual_seed(config.seed * 7 + ctx.rank),
        )
    items = windows.items
    targets = items[:, 1:][(items[:, :-1] != 0) & (items[:, 1:] != 0)]
    counts = torch.bincount(targets, minlength=num_items + 1)
    generator = torch.Generator().manual_seed(config.seed * 7 + ctx.rank)
    return SampledSoftmaxLoss(
        counts, config.negatives, config.negative_sampler, config.in_batch_negatives, generator
    )
