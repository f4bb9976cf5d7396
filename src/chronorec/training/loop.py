"""The training loop: epochs, timed and recorded, with callbacks that decide when to stop.

:func:`run_epochs` is the loop every trainer shares (next-item training, fine-tuning, pre-training):
it runs one epoch function after another, keeps the history and the clock, and calls its
:class:`Callback` objects around each epoch. :func:`train_loop` runs it with next-item epochs
(:func:`train_epoch`). What the loop knows after each epoch is a :class:`LoopState`, which is also
what resuming restores. Nothing is global: the device, the rank and the world size are arguments.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from chronorec.data.batches import TrainWindows
from chronorec.models import SequenceModel
from chronorec.training.config import TrainConfig
from chronorec.training.distributed import DistContext

T = TypeVar("T")
# (epoch, report sequences done) -> the epoch's record: at least "epoch" and "loss"
EpochFn = Callable[[int, Callable[[int], None]], dict[str, Any]]


@dataclass
class LoopState:
    """What the loop knows after each finished epoch (what a resumed run starts from)."""

    epoch: int = 0  # the last finished epoch
    history: list[dict[str, Any]] = field(default_factory=list)
    best_score: float = -math.inf
    best_epoch: int = 0  # 0: no epoch improved the validation score yet
    bad_epochs: int = 0  # epochs since the best one
    elapsed: float = 0.0  # wall seconds in epochs, validation included
    seconds_to_best: float = 0.0
    # CPU seconds of this process (all its threads) spent in epochs: unlike wall time, barely moved
    # by other work on a shared machine, so speed comparisons can quote both.
    cpu_seconds: float = 0.0


class Callback:
    """Hooks the loop calls around each epoch; each does nothing unless overridden."""

    def should_stop(self, state: LoopState) -> bool:
        """Asked before each epoch (also the first one of a resumed run): True ends training."""
        return False

    def on_epoch_start(self, epoch: int) -> None:
        """Before the epoch's training pass."""

    def on_batch_end(self, sequences: int) -> None:
        """After each training step on ``sequences`` sequences (over all ranks)."""

    def on_epoch_end(self, state: LoopState, record: dict[str, Any]) -> None:
        """After the training pass, inside the epoch's time (validation): may add to ``record``."""

    def after_epoch(self, state: LoopState) -> None:
        """After the epoch is recorded (``state.history[-1]``, its time included)."""


def run_epochs(
    run_epoch: EpochFn,
    state: LoopState,
    *,
    epochs: int,
    callbacks: Sequence[Callback] = (),
    ctx: DistContext = DistContext(),
) -> LoopState:
    """Run epochs ``state.epoch + 1 .. epochs`` until a callback stops; returns the final state."""

    def on_batch(sequences: int) -> None:
        for callback in callbacks:
            callback.on_batch_end(sequences)

    for epoch in range(state.epoch + 1, epochs + 1):
        if any(callback.should_stop(state) for callback in callbacks):
            break
        started, cpu_started = time.perf_counter(), time.process_time()
        for callback in callbacks:
            callback.on_epoch_start(epoch)
        record = run_epoch(epoch, on_batch)
        for callback in callbacks:
            callback.on_epoch_end(state, record)
        # Rank 0's clock decides, so time limits stop every rank after the same epoch.
        state.elapsed = ctx.broadcast(state.elapsed + time.perf_counter() - started)
        record["seconds"] = state.elapsed
        state.cpu_seconds += time.process_time() - cpu_started
        record["cpu_seconds"] = state.cpu_seconds
        if state.best_epoch == epoch:
            state.seconds_to_best = state.elapsed
        state.history.append(record)
        state.epoch = epoch
        for callback in callbacks:
            callback.after_epoch(state)
        ctx.barrier()
    return state


@dataclass
class DataWait:
    """Host seconds a training loop spends in its batch iterator's ``next()``: waiting for data."""

    seconds: float = 0.0

    def wrap(self, batches: Iterable[T]) -> Iterator[T]:
        """Yield from ``batches``, adding the time each ``next()`` takes to :attr:`seconds`."""
        it = iter(batches)
        while True:
            start = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                return
            finally:
                self.seconds += time.perf_counter() - start
            yield batch


def train_epoch(
    model: SequenceModel,
    windows: TrainWindows,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    *,
    epoch: int,
    device: torch.device,
    on_batch: Callable[[int], None] | None = None,
    ctx: DistContext = DistContext(),
    forward: Any = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    data_wait: DataWait | None = None,
) -> float:
    """One pass over the training windows; returns the mean loss per target position (all ranks).

    With several ranks every rank draws the same permutation and takes its own slice of each epoch;
    ``config.batch_size`` stays the global batch, split evenly across ranks. ``on_batch`` hears of
    the sequences of each step; ``data_wait`` adds up the time spent producing batches. The loop
    adds no host-device sync of its own: the loss is summed on the device and read back once, at
    the end of the pass.
    """
    model.train()
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    total_loss = torch.zeros((), device=device)
    total_targets = 0
    amp = config.amp and device.type == "cuda"
    loss_fn = forward or model.loss
    local_batch = max(1, config.batch_size // ctx.world_size)
    # Page-locked batches make the non_blocking copies below asynchronous (from pageable memory
    # they are not).
    batches = windows.batches(
        local_batch,
        generator=generator,
        rank=ctx.rank,
        world_size=ctx.world_size,
        pin_memory=device.type == "cuda",
    )
    for inputs, targets in batches if data_wait is None else data_wait.wrap(batches):
        n = int(targets.mask.sum())  # counted on the host before the copy: no device sync
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss, _ = loss_fn(inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total_loss += loss.detach() * n
        total_targets += n
        if on_batch is not None:
            on_batch(inputs.items.shape[0] * ctx.world_size)
    sums = ctx.sum(torch.stack([total_loss.float().cpu(), torch.tensor(float(total_targets))]))
    return float(sums[0]) / max(float(sums[1]), 1.0)


def train_loop(
    model: SequenceModel,
    windows: TrainWindows,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    *,
    device: torch.device,
    callbacks: Sequence[Callback] = (),
    state: LoopState | None = None,
    ctx: DistContext = DistContext(),
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    forward: Any = None,
) -> LoopState:
    """Train ``model`` on next-item prediction for up to ``config.epochs`` epochs.

    Starts after ``state``'s last epoch (a fresh start by default); ``forward`` is the wrapped
    model (DDP, torch.compile) when there is one. Each epoch's record holds its loss and the share
    of the training pass spent waiting for data.
    """

    def next_item_epoch(epoch: int, on_batch: Callable[[int], None]) -> dict[str, Any]:
        started, data_wait = time.perf_counter(), DataWait()
        loss = train_epoch(
            model,
            windows,
            optimizer,
            config,
            epoch=epoch,
            device=device,
            on_batch=on_batch,
            ctx=ctx,
            forward=forward,
            scheduler=scheduler,
            data_wait=data_wait,
        )
        # The pass ends by reading the loss back, so on CUDA its time includes the queued work.
        wait_share = data_wait.seconds / (time.perf_counter() - started)
        return {"epoch": epoch, "loss": loss, "data_wait_share": wait_share}

    state = state if state is not None else LoopState()
    return run_epochs(next_item_epoch, state, epochs=config.epochs, callbacks=callbacks, ctx=ctx)
