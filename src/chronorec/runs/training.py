"""Train one run into its folder: data, split, model, the training loop with its callbacks, records.

:func:`train_run` is what ``chronorec train`` and :func:`chronorec.train` call. It builds the model
whole (text features and the item loss given to its constructor, ``--init`` weights loaded right
after), trains it with :func:`chronorec.training.loop.train_loop` (early stopping on validation
NDCG@10 through the evaluation harness, the best model and the resume state saved in the run
folder), then evaluates the best model on validation and test and writes the run's records.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from chronorec.data.batches import TrainWindows, focus_on_new, train_windows
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.data.split import (
    EvalCases,
    Split,
    make_split,
    training_items,
    untrained_target_share,
)
from chronorec.errors import ChronorecError
from chronorec.evaluation.harness import EvalResult, evaluate_as_configured
from chronorec.evaluation.metrics import metrics_from_ranks
from chronorec.models import (
    ItemText,
    ModelParts,
    Recommender,
    SequenceModel,
    build_model,
    model_class,
)
from chronorec.models.text import item_text_vectors
from chronorec.models.weights import place_new_items, shrink_towards
from chronorec.runs import checkpoint
from chronorec.runs.layout import CONFIG_FILE, RunFolder
from chronorec.runs.ranks import save_ranks
from chronorec.runs.result import TrainResult, write_records
from chronorec.training.callbacks import (
    EarlyStopping,
    ResumeCheckpoint,
    ShowProgress,
    TimeLimit,
    restore,
)
from chronorec.training.config import TrainConfig
from chronorec.training.distributed import DistContext, init_from_env, shutdown
from chronorec.training.loop import Callback, LoopState, train_loop
from chronorec.training.optim import (
    make_optimizer,
    make_sampled_loss,
    make_scheduler,
    steps_per_epoch,
)
from chronorec.training.progress import EpochProgress
from chronorec.training.runtime import resolve_device, seed_everything

UNTRAINED_TARGETS_WARNING = 0.05  # share of validation or test targets with no training event


@dataclass(frozen=True)
class _Run:
    """One training process's view of the run: what every step below reads."""

    config: TrainConfig
    run_dir: Path
    data: SequenceData
    split: Split
    ctx: DistContext
    device: torch.device


def train_run(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    show_progress: bool = True,
    data: SequenceData | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``config.data`` into ``run_dir``; returns its best validation and
    test metrics.

    The run folder gets ``config.toml`` (rerun with ``chronorec train --config``), the best model
    (``model.safetensors`` + ``model.json``), ``checkpoint.pt`` (resume), ``history.json``,
    ``metrics.json``, ``ranks.npz`` and ``curve.png``. Under torchrun the same call trains with
    DDP: rank 0 writes every file, all ranks read ``checkpoint.pt`` on resume (a shared folder
    across nodes).

    Example:
        >>> result = train_run(TrainConfig(data="data/ml-100k"), "runs/sasrec")  # doctest: +SKIP
    """
    config.validate()
    ctx, device = init_from_env(resolve_device(config.device))
    try:
        return _train(config, Path(run_dir), ctx, device, resume, show_progress, data)
    finally:
        shutdown(ctx)


def _train(
    config: TrainConfig,
    run_dir: Path,
    ctx: DistContext,
    device: torch.device,
    resume: bool,
    show_progress: bool,
    data: SequenceData | None,
) -> TrainResult:
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)  # the same initial weights on every rank
    data = data or load_dataset(config.data)
    run = _Run(config, run_dir, data, make_split(data, config.split), ctx, device)
    trained_items = training_items(data, run.split.train_end)
    windows = None
    if model_class(config.model).trainable:
        windows = train_windows(data, run.split.train_end, config.max_len, config.stride or None)
        if config.old_per_new:
            windows = focus_on_new(windows, _new_from(data), config.old_per_new, config.seed)
    model = _build_model(run, trained_items, windows)
    untrained_targets = untrained_target_share(data, run.split, trained_items)
    if ctx.is_main:
        _warn(model.data_warnings(data) + _untrained_warnings(run, untrained_targets))
    _start_weights(run, model, trained_items, windows, show_progress)
    if ctx.is_main:
        config.save(run_dir / CONFIG_FILE)
    validate = _validator(run, model)
    if model.trainable:
        assert isinstance(model, SequenceModel) and windows is not None
        best, state = _train_model(run, model, windows, validate, resume, show_progress)
    else:
        best, state = model, _learn_counts(run, model, validate)
    return _finish(run, best, state, untrained_targets)


def _build_model(run: _Run, trained_items: np.ndarray, windows: TrainWindows | None) -> Recommender:
    """The model whole: with text features (items without a training event keep only their text
    vector, see ``TextItemEmbedding.set_known``) and the sampled item loss when asked for."""
    config = run.config
    text = None
    if config.text_features:
        text = ItemText(item_text_vectors(run.data), known=trained_items)
    loss = None
    if config.loss == "sampled" and windows is not None:
        loss = make_sampled_loss(windows, run.data.num_items, config, run.ctx)
    model = build_model(
        config.model,
        config.model_params,
        num_items=run.data.num_items,
        num_event_types=run.data.num_event_types,
        max_len=config.max_len,
        parts=ModelParts(item_text=text, item_loss=loss),
    )
    return model.to(run.device)


def _start_weights(
    run: _Run,
    model: Recommender,
    trained_items: np.ndarray,
    windows: TrainWindows | None,
    show_progress: bool,
) -> None:
    """Load ``--init`` weights, then flag the items the model may read in a history."""
    config = run.config
    if config.init:
        loaded = checkpoint.init_from(model, config.init)
        if run.ctx.is_main and show_progress:
            print(f"initialised {len(loaded)} tensors from {config.init}", file=sys.stderr)
    if config.warm_start:
        _check_extends(Path(config.warm_start), run.data)
        fresh = {name: p.detach().clone() for name, p in model.named_parameters()}
        known = checkpoint.warm_start(model, config.warm_start)
        placed = place_new_items(model, windows, known + 1) if windows is not None else 0
        if config.warm_shrink < 1.0:
            shrink_towards(model, fresh, config.warm_shrink)
        if run.ctx.is_main and show_progress:
            new = f"{run.data.num_items - known} new items, {placed} placed by their contexts"
            print(f"continuing {config.warm_start} ({new})", file=sys.stderr)
    # After --init, whose run may have had another split. With text features every item has a
    # learned input vector (its text's), so none is skipped.
    model.set_readable_items(np.ones_like(trained_items) if config.text_features else trained_items)


def _new_from(data: SequenceData) -> int:
    """When the events new to a refreshed dataset begin (its manifest says)."""
    new_from = data.manifest.get("refresh", {}).get("new_from")
    if new_from is None:
        raise ChronorecError(
            f"{data.path}: old_per_new needs a dataset written by `chronorec refresh`"
        )
    return int(new_from)


def _check_extends(source: Path, data: SequenceData) -> None:
    """A warm start needs the source run's items first, in order, in this dataset's catalogue."""
    known = load_dataset(TrainConfig.load(RunFolder(source).require_config()).data).item_ids
    if len(known) > len(data.item_ids) or list(data.item_ids[: len(known)]) != list(known):
        raise ChronorecError(
            f"{data.path}: its items do not extend those of {source} (a warm start keeps every"
            " item's row: use the dataset `chronorec refresh` writes)"
        )


def _validator(run: _Run, model: Recommender) -> Callable[[], dict[str, float]]:
    """Validation metrics of ``model`` as it is now, over all users.

    Validation is sharded by user across ranks and the ranks gathered, so every rank takes the
    same early-stopping decision from the metrics over all users.
    """
    config, ctx = run.config, run.ctx
    mine = slice(ctx.rank, None, ctx.world_size)
    shard = EvalCases(run.split.valid.users[mine], run.split.valid.targets[mine])
    ks = tuple(config.ks)

    def validate() -> dict[str, float]:
        ranks = evaluate_as_configured(model, run.data, shard, config, run.device).ranks
        return metrics_from_ranks(torch.cat(ctx.all_gather(ranks)), ks)

    return validate


def _train_model(
    run: _Run,
    model: SequenceModel,
    windows: TrainWindows,
    validate: Callable[[], dict[str, float]],
    resume: bool,
    show_progress: bool,
) -> tuple[Recommender, LoopState]:
    """Train a neural model, early-stopped, with the best model and the resume state on disk;
    returns the best model (read back from the run folder) and the loop's final state."""
    config, ctx, run_dir = run.config, run.ctx, run.run_dir
    optimizer = make_optimizer(model, config, run.device)
    steps = steps_per_epoch(len(windows), config.batch_size, ctx)
    scheduler = make_scheduler(optimizer, config, steps)
    if ctx.enabled:
        torch.manual_seed(config.seed + 7919 * ctx.rank)  # distinct dropout masks per rank
    trained: torch.nn.Module = DistributedDataParallel(model) if ctx.enabled else model
    forward = torch.compile(trained) if config.compile else (trained if ctx.enabled else None)
    saved = checkpoint.load_state(run_dir) if resume else None
    state = LoopState()
    if saved is not None:
        state = restore(saved, model, optimizer, scheduler, ctx, source=str(run_dir))
    title = f"training {config.model} on {run.data.name}"
    enabled = show_progress and ctx.is_main
    progress = EpochProgress(len(windows), config.epochs, enabled=enabled, title=title)
    callbacks = _callbacks(run, model, optimizer, scheduler, validate, progress)
    with progress:
        state = train_loop(
            model,
            windows,
            optimizer,
            config,
            device=run.device,
            callbacks=callbacks,
            state=state,
            ctx=ctx,
            scheduler=scheduler,
            forward=forward,
        )
    if state.best_epoch == 0:
        raise ChronorecError(
            f"{run_dir}: training ran no epoch (check --epochs and the time limit)"
        )
    best, _ = checkpoint.load_model(run_dir, run.device)
    return best, state


def _callbacks(
    run: _Run,
    model: SequenceModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    validate: Callable[[], dict[str, float]],
    progress: EpochProgress,
) -> list[Callback]:
    """Early stopping (the best model saved on rank 0), time limit, progress, resume state."""
    config, ctx, run_dir = run.config, run.ctx, run.run_dir

    def save_best(epoch: int, valid: dict[str, float]) -> None:
        if ctx.is_main:
            checkpoint.save_model(run_dir, model, {"epoch": epoch, "valid": valid})

    def save_state(state: dict[str, Any]) -> None:
        checkpoint.save_state(run_dir, state)

    stopping = EarlyStopping(
        validate,
        patience=config.patience,
        every=config.eval_every,
        last_epoch=config.epochs,
        on_best=save_best,
    )
    resume_state = ResumeCheckpoint(save_state, model, optimizer, scheduler, ctx)
    return [stopping, TimeLimit(config.max_train_seconds), ShowProgress(progress), resume_state]


def _learn_counts(
    run: _Run, model: Recommender, validate: Callable[[], dict[str, float]]
) -> LoopState:
    """Learn a count-based model in one pass; its one history record is epoch 0."""
    started = time.perf_counter()
    model.learn_counts(run.data, run.split)
    seconds = time.perf_counter() - started
    record = {"epoch": 0, "loss": None, "valid": validate(), "seconds": seconds}
    return LoopState(history=[record], seconds_to_best=seconds)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _untrained_warnings(run: _Run, share: dict[str, float]) -> list[str]:
    """A warning when many evaluation targets have no training event (sparse logs, LOO splits)."""
    if run.config.text_features or max(share.values()) < UNTRAINED_TARGETS_WARNING:
        return []
    return [
        f"{run.data.name}: {share['test']:.0%} of test and {share['valid']:.0%} of validation"
        " targets are items with no training event; an ID-only model ranks those only by chance"
        " (metrics.json: untrained_targets)"
    ]


def _finish(
    run: _Run, model: Recommender, state: LoopState, untrained_targets: dict[str, float]
) -> TrainResult:
    """Evaluate the selected model on validation and test (rank 0), and write the run's records."""
    config, history = run.config, state.history
    metrics = run.ctx.broadcast(_evaluate_and_save(run, model) if run.ctx.is_main else None)
    result = TrainResult(
        run_dir=run.run_dir,
        model=config.model,
        valid=metrics["valid"],
        test=metrics["test"],
        best_epoch=state.best_epoch,
        epochs=len(history) if model.trainable else 0,
        train_seconds=history[-1]["seconds"] if history else 0.0,
        seconds_to_best=state.seconds_to_best,
        params=model.num_parameters(),
        history=history,
    )
    if run.ctx.is_main:
        write_records(
            result,
            config,
            dataset=run.data.name,
            split_info=run.split.info,
            untrained_targets=untrained_targets,
            curve=model.trainable,
        )
    return result


def _evaluate_and_save(run: _Run, model: Recommender) -> dict[str, dict[str, float]]:
    """Validation and test metrics of ``model``; its per-case ranks saved in the run folder."""
    if not model.trainable:
        checkpoint.save_model(run.run_dir, model, {"epoch": 0})
    cases = {"valid": run.split.valid, "test": run.split.test}
    cases = {name: split_cases for name, split_cases in cases.items() if len(split_cases)}
    evaluations = {name: _evaluate(run, model, split_cases) for name, split_cases in cases.items()}
    ranks = {name: (ev.ranks, ev.users) for name, ev in evaluations.items()}
    save_ranks(run.run_dir, run.data, run.config, ranks)
    metrics = {name: evaluation.metrics for name, evaluation in evaluations.items()}
    return {"test": {}, **metrics}  # a split without test cases (``recent``) reports none


def _evaluate(run: _Run, model: Recommender, cases: EvalCases) -> EvalResult:
    return evaluate_as_configured(model, run.data, cases, run.config, run.device)
