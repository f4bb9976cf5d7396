"""The training loop's callbacks: early stopping, time limit, progress, resume state, saves.

Each is given what it acts through (a validation function, a save function, a progress display),
so training never needs to know how a model is evaluated or where a run folder is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from chronorec.errors import ChronorecError
from chronorec.models.weights import load_state_into
from chronorec.training.distributed import DistContext
from chronorec.training.loop import Callback, LoopState
from chronorec.training.progress import EpochProgress

SELECT_METRIC = "NDCG@10"  # what early stopping and the best checkpoint are chosen on


class EarlyStopping(Callback):
    """Validate every ``every`` epochs (and at ``last_epoch``); stop after ``patience`` epochs
    without a better ``metric``.

    ``validate()`` returns the validation metrics of the model as it is now; ``on_best(epoch,
    metrics)`` keeps the model when it improves (a file, a copy in memory). Records each epoch's
    metrics under ``"valid"``.
    """

    def __init__(
        self,
        validate: Callable[[], dict[str, float]],
        *,
        patience: int,
        every: int = 1,
        last_epoch: int = 0,
        on_best: Callable[[int, dict[str, float]], None] = lambda epoch, metrics: None,
        metric: str = SELECT_METRIC,
    ) -> None:
        self.validate, self.on_best, self.metric = validate, on_best, metric
        self.patience, self.every, self.last_epoch = patience, every, last_epoch

    def should_stop(self, state: LoopState) -> bool:
        return state.bad_epochs >= self.patience

    def on_epoch_end(self, state: LoopState, record: dict[str, Any]) -> None:
        epoch = record["epoch"]
        if epoch % self.every and epoch != self.last_epoch:
            return
        valid = self.validate()
        record["valid"] = valid
        if valid[self.metric] > state.best_score:
            state.best_score, state.best_epoch, state.bad_epochs = valid[self.metric], epoch, 0
            self.on_best(epoch, valid)
        else:
            state.bad_epochs += self.every


class TimeLimit(Callback):
    """Start no epoch once ``seconds`` of training have passed (0: no limit)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def should_stop(self, state: LoopState) -> bool:
        return bool(self.seconds) and state.elapsed >= self.seconds


class ShowProgress(Callback):
    """Drive an :class:`EpochProgress` display (entered by the caller) from the loop."""

    def __init__(self, progress: EpochProgress, metric: str = SELECT_METRIC) -> None:
        self.progress, self.metric = progress, metric

    def on_epoch_start(self, epoch: int) -> None:
        self.progress.start_epoch(epoch)

    def on_batch_end(self, sequences: int) -> None:
        self.progress.advance(sequences)

    def after_epoch(self, state: LoopState) -> None:
        record = state.history[-1]
        valid = record.get("valid", {}).get(self.metric)
        wait = record.get("data_wait_share")
        self.progress.end_epoch(record["loss"], valid, state.best_score, wait)


class EveryEpoch(Callback):
    """Call ``action(state)`` after each recorded epoch (e.g. save the model)."""

    def __init__(self, action: Callable[[LoopState], None]) -> None:
        self.action = action

    def after_epoch(self, state: LoopState) -> None:
        self.action(state)


class ResumeCheckpoint(Callback):
    """After each epoch, hand everything needed to resume after it to ``save`` (on rank 0)."""

    def __init__(
        self,
        save: Callable[[dict[str, Any]], None],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        ctx: DistContext = DistContext(),
    ) -> None:
        self.save, self.model, self.optimizer, self.scheduler, self.ctx = (
            save,
            model,
            optimizer,
            scheduler,
            ctx,
        )

    def after_epoch(self, state: LoopState) -> None:
        rng_states = self.ctx.all_gather(torch.get_rng_state())  # every rank's dropout stream
        if self.ctx.is_main:
            self.save(
                resume_state(
                    state, self.model, self.optimizer, self.scheduler, rng_states, self.ctx
                )
            )


def resume_state(
    state: LoopState,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    rng_states: list[torch.Tensor],
    ctx: DistContext,
) -> dict[str, Any]:
    """Everything :func:`restore` needs to go on after ``state``'s last epoch."""
    return {
        "epoch": state.epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "torch_rng": rng_states,
        "world_size": ctx.world_size,
        "history": state.history,
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "elapsed": state.elapsed,
        "seconds_to_best": state.seconds_to_best,
    }


def restore(
    saved: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    ctx: DistContext,
    source: str,
) -> LoopState:
    """Put ``model``, ``optimizer``, ``scheduler`` and this rank's random stream back as
    :func:`resume_state` saved them; returns the loop's state after the saved epoch."""
    written_by = saved.get("world_size", 1)
    if written_by != ctx.world_size:
        raise ChronorecError(
            f"{source}: checkpoint was written by {written_by} process(es);"
            " resume with the same number"
        )
    load_state_into(model, saved["model"])  # a buffer newer than the checkpoint keeps its value
    optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["torch_rng"][ctx.rank])
    history = saved["history"]
    return LoopState(
        epoch=saved["epoch"],
        history=history,
        best_score=saved["best_score"],
        best_epoch=saved["best_epoch"],
        bad_epochs=saved["bad_epochs"],
        elapsed=saved["elapsed"],
        seconds_to_best=saved["seconds_to_best"],
        cpu_seconds=history[-1].get("cpu_seconds", 0.0) if history else 0.0,
    )
