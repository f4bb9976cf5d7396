"""One trainer for every model: AdamW, early stopping on validation NDCG@10, best checkpoint, resume.

The pieces are small functions (``resolve_device``, ``make_optimizer``, ``train_epoch``, ``fit``) so the
CLI, the benchmarks and a distributed launcher share them. Nothing is global: the device, the rank
and the world size are arguments.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from chronorec._io import write_json
from chronorec.data.batches import TrainWindows, train_windows
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.data.split import EvalCases, Split, make_split, training_items, untrained_target_share
from chronorec.errors import ChronorecError
from chronorec.evaluation.harness import evaluate_cases
from chronorec.evaluation.metrics import metrics_from_ranks
from chronorec.runs.ranks import save_ranks
from chronorec.models import Recommender, SequenceModel, build_model
from chronorec.models.losses import SampledSoftmaxLoss
from chronorec.runs import checkpoint
from chronorec.training.config import TrainConfig
from chronorec.training.distributed import DistContext, init_from_env, shutdown
from chronorec.training.progress import EpochProgress
from chronorec.training.plots import plot_training_curve

SELECT_METRIC = "NDCG@10"
UNTRAINED_TARGETS_WARNING = 0.05  # share of validation or test targets with no training event

T = TypeVar("T")


@dataclass
class TrainResult:
    """What a finished run produced. ``valid``/``test`` are the best checkpoint's metrics."""

    run_dir: Path
    model: str
    valid: dict[str, float]
    test: dict[str, float]
    best_epoch: int
    epochs: int
    train_seconds: float
    seconds_to_best: float
    params: int
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def data_wait_share(self) -> float | None:
        """Mean over epochs of the share of the training pass spent waiting for batches (None: no epochs)."""
        shares = [h["data_wait_share"] for h in self.history if h.get("data_wait_share") is not None]
        return statistics.fmean(shares) if shares else None


@dataclass
class DataWait:
    """Host seconds a training loop spends in its batch iterator's ``next()``, i.e. waiting for data."""

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


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ChronorecError(f"device '{name}' requested but CUDA is not available")
    return torch.device(name)


def make_optimizer(model: torch.nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW; no weight decay on embeddings, biases and norms (decaying them only hurts recall)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() < 2 or "embedding" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, fused=device.type == "cuda")


def train_epoch(
    model: SequenceModel,
    windows: TrainWindows,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    *,
    epoch: int,
    device: torch.device,
    progress: EpochProgress | None = None,
    ctx: DistContext = DistContext(),
    forward: Any = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    data_wait: DataWait | None = None,
) -> float:
    """One pass over the training windows; returns the mean loss per target position (over all ranks).

    With several ranks every rank draws the same permutation and takes its own slice of each epoch;
    ``config.batch_size`` stays the global batch, split evenly across ranks. ``data_wait`` adds up
    the time spent producing batches. The loop adds no host-device sync of its own: the loss is
    summed on the device and read back once, at the end of the pass.
    """
    model.train()
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    total_loss = torch.zeros((), device=device)
    total_targets = 0
    amp = config.amp and device.type == "cuda"
    loss_fn = forward or model.loss
    local_batch = max(1, config.batch_size // ctx.world_size)
    # Page-locked batches make the non_blocking copies below asynchronous (from pageable memory they are not).
    batches = windows.batches(local_batch, generator=generator, rank=ctx.rank, world_size=ctx.world_size,
                              pin_memory=device.type == "cuda")
    for inputs, targets in batches if data_wait is None else data_wait.wrap(batches):
        n = int(targets.mask.sum())  # counted on the host before the copy: no device sync in the step
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
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
        if progress is not None:
            progress.advance(inputs.items.shape[0] * ctx.world_size)
    sums = ctx.sum(torch.stack([total_loss.float().cpu(), torch.tensor(float(total_targets))]))
    return float(sums[0]) / max(float(sums[1]), 1.0)


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-step learning-rate schedule: linear warmup, then cosine decay to zero at ``config.epochs``.

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


def make_sampled_loss(windows: TrainWindows, num_items: int, config: TrainConfig, ctx: DistContext) -> SampledSoftmaxLoss:
    """Sampled softmax whose log-Q correction uses the training targets' popularity."""
    targets = windows.items[:, 1:][(windows.items[:, :-1] != 0) & (windows.items[:, 1:] != 0)]
    counts = torch.bincount(targets, minlength=num_items + 1)
    generator = torch.Generator().manual_seed(config.seed * 7 + ctx.rank)
    return SampledSoftmaxLoss(counts, config.negatives, config.negative_sampler, config.in_batch_negatives, generator)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def fit(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    show_progress: bool = True,
    data: SequenceData | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``config.data`` into ``run_dir`` and return its best validation/test metrics.

    The run folder gets ``config.toml`` (rerun with ``chronorec train --config``), the best model
    (``model.safetensors`` + ``model.json``), ``checkpoint.pt`` (resume), ``history.json``,
    ``metrics.json`` and ``curve.png``. Under torchrun the same call trains with DDP: rank 0 writes
    every file, all ranks read ``checkpoint.pt`` on resume (a shared folder across nodes).
    """
    config.validate()
    run_dir = Path(run_dir)
    ctx, device = init_from_env(resolve_device(config.device))
    try:
        return _fit(config, run_dir, ctx, device, resume=resume, show_progress=show_progress, data=data)
    finally:
        shutdown(ctx)


def _fit(
    config: TrainConfig,
    run_dir: Path,
    ctx: DistContext,
    device: torch.device,
    *,
    resume: bool,
    show_progress: bool,
    data: SequenceData | None,
) -> TrainResult:
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    _seed_everything(config.seed)  # the same initial weights on every rank
    data = data or load_dataset(config.data)
    split = make_split(data, config.split)
    model = build_model(
        config.model,
        config.model_params,
        num_items=data.num_items,
        num_event_types=data.num_event_types,
        max_len=config.max_len,
    ).to(device)
    trained_items = training_items(data, split.train_end)
    untrained_targets = untrained_target_share(data, split, trained_items)
    if ctx.is_main:
        warnings = model.data_warnings(data) + _untrained_target_warnings(data, untrained_targets, config.text_features)
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if config.text_features:
        from chronorec.text import attach_text_features, item_text_vectors

        # Items with no training event keep only their text vector (see TextItemEmbedding.set_known).
        attach_text_features(model, item_text_vectors(data), known=trained_items)
    if config.init:
        loaded = checkpoint.init_from(model, config.init)
        if ctx.is_main and show_progress:
            print(f"initialised {len(loaded)} tensors from {config.init}", file=sys.stderr)
    # After --init, whose run may have had another split. With text features every item has a
    # learned input vector (its text's), so none is skipped.
    model.set_readable_items(np.ones_like(trained_items) if config.text_features else trained_items)
    if ctx.is_main:
        config.save(run_dir / "config.toml")
    ks = tuple(config.ks)
    # Validation is sharded by user across ranks and the ranks gathered, so every rank takes the
    # same early-stopping decision from the metrics over all users.
    valid_shard = EvalCases(split.valid.users[ctx.rank :: ctx.world_size], split.valid.targets[ctx.rank :: ctx.world_size])

    def validate(m: Recommender) -> dict[str, float]:
        ranks = evaluate_cases(
            m, data, valid_shard, max_len=config.max_len, ks=ks, exclude_seen=config.exclude_seen,
            device=device, memory_budget_mb=config.eval_memory_mb,
        ).ranks
        return metrics_from_ranks(torch.cat(ctx.all_gather(ranks)), ks)

    started = time.perf_counter()
    if not model.trainable:
        model.fit(data, split)
        seconds = time.perf_counter() - started
        history = [{"epoch": 0, "loss": None, "valid": validate(model), "seconds": seconds}]
        return _finish(config, run_dir, model, data, split, history, best_epoch=0, seconds_to_best=seconds,
                       untrained_targets=untrained_targets, device=device, ctx=ctx)

    assert isinstance(model, SequenceModel)
    windows = train_windows(data, split.train_end, config.max_len, config.stride or None)
    optimizer = make_optimizer(model, config, device)
    steps_per_epoch = math.ceil(len(windows) // ctx.world_size / max(1, config.batch_size // ctx.world_size))
    scheduler = make_scheduler(optimizer, config, steps_per_epoch)
    if config.loss == "sampled":
        model.use_item_loss(make_sampled_loss(windows, data.num_items, config, ctx))
    if ctx.enabled:
        torch.manual_seed(config.seed + 7919 * ctx.rank)  # distinct dropout masks per rank
    trained: torch.nn.Module = DistributedDataParallel(model) if ctx.enabled else model
    forward = torch.compile(trained) if config.compile else (trained if ctx.enabled else None)
    history: list[dict[str, Any]] = []
    best_score, best_epoch, bad_epochs, elapsed, seconds_to_best = -math.inf, 0, 0, 0.0, 0.0
    start_epoch = 1
    state = checkpoint.load_state(run_dir) if resume else None
    if state is not None:
        if state.get("world_size", 1) != ctx.world_size:
            raise ChronorecError(
                f"{run_dir}: checkpoint was written by {state.get('world_size', 1)} process(es); resume with the same number"
            )
        checkpoint.load_state_into(model, state["model"])  # a buffer newer than the checkpoint keeps its value
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"][ctx.rank])
        history, best_score, best_epoch = state["history"], state["best_score"], state["best_epoch"]
        bad_epochs, elapsed, seconds_to_best = state["bad_epochs"], state["elapsed"], state["seconds_to_best"]
        start_epoch = state["epoch"] + 1
    # CPU seconds of this process (all its threads) spent in epochs: unlike wall time, barely moved by
    # other work on a shared machine, so speed comparisons can quote both.
    cpu_seconds = history[-1].get("cpu_seconds", 0.0) if history else 0.0
    progress = EpochProgress(len(windows), config.epochs, enabled=show_progress and ctx.is_main)
    with progress:
        for epoch in range(start_epoch, config.epochs + 1):
            if bad_epochs >= config.patience or (config.max_train_seconds and elapsed >= config.max_train_seconds):
                break
            t0, cpu0 = time.perf_counter(), time.process_time()
            progress.start_epoch(epoch)
            data_wait = DataWait()
            loss = train_epoch(model, windows, optimizer, config, epoch=epoch, device=device, progress=progress,
                               ctx=ctx, forward=forward, scheduler=scheduler, data_wait=data_wait)
            # The pass ends by reading the loss back, so on CUDA its time includes the queued device work.
            record: dict[str, Any] = {
                "epoch": epoch, "loss": loss, "data_wait_share": data_wait.seconds / (time.perf_counter() - t0),
            }
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                valid = validate(model)
                record["valid"] = valid
                if valid[SELECT_METRIC] > best_score:
                    best_score, best_epoch, bad_epochs = valid[SELECT_METRIC], epoch, 0
                    if ctx.is_main:
                        checkpoint.save_model(run_dir, model, {"epoch": epoch, "valid": valid})
                else:
                    bad_epochs += config.eval_every
            # Rank 0's clock decides, so time limits stop every rank after the same epoch.
            elapsed = ctx.broadcast(elapsed + time.perf_counter() - t0)
            record["seconds"] = elapsed
            cpu_seconds += time.process_time() - cpu0
            record["cpu_seconds"] = cpu_seconds
            if best_epoch == epoch:
                seconds_to_best = elapsed
            history.append(record)
            progress.end_epoch(loss, record.get("valid", {}).get(SELECT_METRIC), best_score, record["data_wait_share"])
            rng_states = ctx.all_gather(torch.get_rng_state())
            if ctx.is_main:
                checkpoint.save_state(
                    run_dir,
                    {
                        "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": None if scheduler is None else scheduler.state_dict(),
                        "torch_rng": rng_states, "world_size": ctx.world_size, "history": history,
                        "best_score": best_score, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
                        "elapsed": elapsed, "seconds_to_best": seconds_to_best,
                    },
                )
            ctx.barrier()
    if best_epoch == 0:
        raise ChronorecError(f"{run_dir}: training ran no epoch (check --epochs and the time limit)")
    best, _ = checkpoint.load_model(run_dir, device)
    return _finish(config, run_dir, best, data, split, history, best_epoch=best_epoch,
                   seconds_to_best=seconds_to_best, untrained_targets=untrained_targets, device=device, ctx=ctx)


def _untrained_target_warnings(data: SequenceData, share: dict[str, float], text_features: bool) -> list[str]:
    """A warning when many evaluation targets have no training event (sparse logs, leave-one-out)."""
    if text_features or max(share.values()) < UNTRAINED_TARGETS_WARNING:
        return []
    return [
        f"{data.name}: {share['test']:.0%} of test and {share['valid']:.0%} of validation targets are items"
        " with no training event; an ID-only model ranks those only by chance (metrics.json: untrained_targets)"
    ]


def _finish(
    config: TrainConfig,
    run_dir: Path,
    model: Recommender,
    data: SequenceData,
    split: Split,
    history: list[dict[str, Any]],
    *,
    best_epoch: int,
    seconds_to_best: float,
    untrained_targets: dict[str, float],
    device: torch.device,
    ctx: DistContext,
) -> TrainResult:
    """Evaluate the selected model on validation and test (rank 0), and write the run's records."""
    if not ctx.is_main:
        results = ctx.broadcast(None)
        return TrainResult(run_dir, config.model, results["valid"], results["test"], best_epoch, len(history),
                           history[-1]["seconds"] if history else 0.0, seconds_to_best, model.num_parameters(), history)
    if not model.trainable:
        checkpoint.save_model(run_dir, model, {"epoch": 0})
    evaluations = {
        name: evaluate_cases(
            model, data, cases, max_len=config.max_len, ks=tuple(config.ks), exclude_seen=config.exclude_seen,
            device=device, memory_budget_mb=config.eval_memory_mb,
        )
        for name, cases in (("valid", split.valid), ("test", split.test))
    }
    results = {name: evaluation.metrics for name, evaluation in evaluations.items()}
    ctx.broadcast(results)
    save_ranks(run_dir, data, config, {name: (evaluation.ranks, evaluation.users) for name, evaluation in evaluations.items()})
    train_seconds = history[-1]["seconds"] if history else 0.0
    result = TrainResult(
        run_dir=run_dir,
        model=config.model,
        valid=results["valid"],
        test=results["test"],
        best_epoch=best_epoch,
        epochs=len(history) if model.trainable else 0,
        train_seconds=train_seconds,
        seconds_to_best=seconds_to_best,
        params=model.num_parameters(),
        history=history,
    )
    write_json(run_dir / "history.json", history)
    write_json(
        run_dir / "metrics.json",
        {
            "dataset": data.name, "model": config.model, "split": config.split, "exclude_seen": config.exclude_seen,
            "valid": result.valid, "test": result.test, "best_epoch": best_epoch, "epochs": result.epochs,
            "train_seconds": train_seconds, "seconds_to_best": seconds_to_best, "params": result.params,
            "data_wait_share": result.data_wait_share, "split_info": split.info,
            "untrained_targets": untrained_targets,
        },
    )
    if model.trainable and history:
        plot_training_curve(history, run_dir / "curve.png", title=f"{config.model} on {data.name}")
    return result
