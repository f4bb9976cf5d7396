"""Pre-train a sequence model with a self-supervised objective into a run folder that fine-tuning
starts from.

    result = pretrain("data/ml-100k", "contrastive", "sasrec", "runs/sasrec-cl", epochs=20)
    # then: chronorec train data/ml-100k --model sasrec --init runs/sasrec-cl

Pre-training reads only the training events of ``split`` (the same split fine-tuning uses), so the
validation and test targets stay unseen. The run folder has what ``chronorec train`` writes where it
matters: ``model.safetensors`` + ``model.json`` (:func:`~chronorec.runs.checkpoint.save_model`) and
a ``config.toml`` (:class:`~chronorec.training.config.TrainConfig`), so ``--init``, ``evaluate``,
``embed`` and ``nearest`` accept it; plus ``pretrain.toml`` (the settings), ``history.json``,
``pretrain.json`` (summary) and ``curve.png`` (loss per step and per epoch).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chronorec._io import write_json, write_text
from chronorec.data.batches import SeqBatch, TrainWindows, train_windows
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.data.split import Split, make_split, training_items
from chronorec.errors import ChronorecError
from chronorec.models import ItemText, ModelParts, SequenceModel, build_model, model_class
from chronorec.models.text import item_text_vectors
from chronorec.pretrain.objectives import OBJECTIVES, Objective, ObjectiveConfig, build_objective
from chronorec.runs import checkpoint
from chronorec.runs.layout import CONFIG_FILE, CURVE_FILE, HISTORY_FILE
from chronorec.training.callbacks import EveryEpoch, ShowProgress, TimeLimit
from chronorec.training.config import TrainConfig, check_fields, read_toml
from chronorec.training.loop import EpochFn, LoopState, run_epochs
from chronorec.training.optim import make_optimizer
from chronorec.training.plots import save_figure
from chronorec.training.progress import EpochProgress
from chronorec.training.runtime import resolve_device, seed_everything

PRETRAIN_CONFIG_FILE = "pretrain.toml"  # the pre-training settings
PRETRAIN_SUMMARY_FILE = "pretrain.json"  # what the pre-training run did


@dataclass(frozen=True)
class PretrainConfig:
    """How to pre-train one model on one prepared dataset (objective settings in
    ``objective_params``)."""

    data: str = ""
    objective: str = "cloze"  # cloze | contrastive | autoencoder
    model: str = "sasrec"
    model_params: dict[str, Any] = field(default_factory=dict)
    objective_params: dict[str, Any] = field(default_factory=dict)  # ObjectiveConfig fields
    split: str = "loo"  # only this split's training events are read
    max_len: int = 50
    stride: int = 0  # 0: same as max_len
    batch_size: int = 128
    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # 0: PyTorch's default
    max_train_seconds: float = 0.0  # 0: no time limit
    max_users: int = 0  # 0: every user; else a random subset of this many users (quick runs)
    text_features: bool = False  # fuse language-model item vectors into the item embedding

    def objective_config(self) -> ObjectiveConfig:
        """The objective's settings; an unknown one is a clear error naming it."""
        known = {f.name for f in dataclasses.fields(ObjectiveConfig)}
        unknown = set(self.objective_params) - known
        if unknown:
            raise ChronorecError(
                f"objective '{self.objective}' has no setting {', '.join(sorted(unknown))}"
                f" (settings: {', '.join(sorted(known))})"
            )
        return ObjectiveConfig(**self.objective_params).validate()

    def validate(self) -> PretrainConfig:
        """This config when every option is valid; else a one-line :class:`ChronorecError`."""
        if self.objective not in OBJECTIVES:
            known = ", ".join(OBJECTIVES)
            raise ChronorecError(
                f"unknown pre-training objective '{self.objective}' (known: {known})"
            )
        for name in ("max_len", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ChronorecError(
                    f"pre-training option {name} must be >= 1, got {getattr(self, name)}"
                )
        if self.lr <= 0:
            raise ChronorecError(f"pre-training option lr must be > 0, got {self.lr}")
        self.objective_config()
        self.train_config().validate()
        return self

    def train_config(self) -> TrainConfig:
        """The run's ``config.toml``: the model as built here, with fine-tuning defaults for the
        rest; ``train --config RUN/config.toml`` rebuilds text features too."""
        return TrainConfig(
            data=self.data,
            model=self.model,
            model_params=dict(self.model_params),
            split=self.split,
            max_len=self.max_len,
            stride=self.stride,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            grad_clip=self.grad_clip,
            seed=self.seed,
            device=self.device,
            threads=self.threads,
            text_features=self.text_features,
        )

    def save(self, path: str | Path) -> None:
        import tomli_w

        write_text(path, tomli_w.dumps(dataclasses.asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> PretrainConfig:
        """The config saved in the TOML file at ``path``."""
        values = read_toml(path)
        check_fields(cls, values, str(path), "pre-training")
        return cls(**values).validate()


@dataclass
class PretrainResult:
    """What a pre-training run produced; ``losses`` is the mean loss of each epoch."""

    run_dir: Path
    objective: str
    model: str
    epochs: int
    losses: list[float]
    seconds: float
    params: int
    windows: int
    history: list[dict[str, Any]] = field(default_factory=list)


def select_users(windows: TrainWindows, users: np.ndarray) -> TrainWindows:
    """The windows of ``users`` (internal ids) only."""
    keep = torch.from_numpy(np.isin(windows.users.numpy(), users))
    ev = None if windows.event_types is None else windows.event_types[keep]
    return TrainWindows(windows.items[keep], windows.timestamps[keep], ev, windows.users[keep])


def window_batches(
    windows: TrainWindows, batch_size: int, generator: torch.Generator
) -> list[SeqBatch]:
    """Whole windows ``(B, L + 1)`` in a random order (objectives choose their own inputs and
    targets)."""
    order = torch.randperm(len(windows), generator=generator)
    out = []
    for lo in range(0, len(order), batch_size):
        idx = order[lo : lo + batch_size]
        ev = None if windows.event_types is None else windows.event_types[idx]
        ts = windows.timestamps[idx]
        out.append(SeqBatch(windows.items[idx], ts, ev, windows.users[idx], ts[:, -1]))
    return out


def pretrain(
    data: str | Path | SequenceData | None = None,
    objective: str | None = None,
    model: str | None = None,
    out: str | Path = "runs/pretrain",
    epochs: int | None = None,
    *,
    config: PretrainConfig | None = None,
    progress: bool = True,
    **options: Any,
) -> PretrainResult:
    """Pre-train ``model`` with ``objective`` on ``data``'s training events and write the run
    folder ``out``.

    ``options`` override fields of ``config`` (or of the defaults), e.g.
    ``model_params={"dim": 32}``.
    """
    values = dataclasses.asdict(config) if config is not None else {}
    named = {"objective": objective, "model": model, "epochs": epochs}
    values.update({k: v for k, v in named.items() if v is not None})
    check_fields(PretrainConfig, options, "options", "pre-training")
    values.update(options)
    dataset = data if isinstance(data, SequenceData) else None
    if isinstance(data, SequenceData):
        values["data"] = str(data.path.resolve())
    elif data is not None:
        values["data"] = str(Path(data).resolve())
    if not values.get("data"):
        raise ChronorecError("no dataset given: pass a prepared dataset folder")
    cfg = PretrainConfig(**values).validate()
    return _pretrain(cfg, Path(out), dataset or load_dataset(cfg.data), show_progress=progress)


def _pretrain(
    cfg: PretrainConfig, run_dir: Path, data: SequenceData, *, show_progress: bool
) -> PretrainResult:
    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    split = make_split(data, cfg.split)
    windows = _windows(cfg, data, split)
    model = _build_model(cfg, data, split)
    objective = build_objective(cfg.objective, model, cfg.objective_config()).to(device)
    train_cfg = cfg.train_config()
    optimizer = make_optimizer(objective, train_cfg, device)
    cfg.save(run_dir / PRETRAIN_CONFIG_FILE)
    train_cfg.save(run_dir / CONFIG_FILE)
    steps: list[float] = []  # the loss of every step, for the curve
    run_epoch = _objective_epoch(objective, optimizer, windows, cfg, steps)

    def save_model(state: LoopState) -> None:
        # Every epoch, so an interrupted run still leaves a usable model.
        summary = {"objective": cfg.objective, "loss": state.history[-1]["loss"]}
        checkpoint.save_model(run_dir, model, {"epoch": state.epoch, "pretrain": summary})

    title = f"pre-training {cfg.model} ({cfg.objective}) on {data.name}"
    bar = EpochProgress(len(windows), cfg.epochs, enabled=show_progress, title=title)
    callbacks = [TimeLimit(cfg.max_train_seconds), ShowProgress(bar), EveryEpoch(save_model)]
    with bar:
        state = run_epochs(run_epoch, LoopState(), epochs=cfg.epochs, callbacks=callbacks)
    if not state.history:
        raise ChronorecError(
            f"{run_dir}: pre-training ran no epoch (check --epochs and the time limit)"
        )
    result = PretrainResult(
        run_dir,
        cfg.objective,
        cfg.model,
        len(state.history),
        [h["loss"] for h in state.history],
        state.elapsed,
        model.num_parameters(),
        len(windows),
        state.history,
    )
    _write_records(cfg, data, result, steps)
    return result


def _windows(cfg: PretrainConfig, data: SequenceData, split: Split) -> TrainWindows:
    """The training windows pre-training reads (of ``cfg.max_users`` random users when set)."""
    windows = train_windows(data, split.train_end, cfg.max_len, cfg.stride or None)
    if cfg.max_users:
        users = np.flatnonzero(split.train_lengths(data)[1:] >= 2) + 1
        rng = np.random.default_rng(cfg.seed)
        chosen = rng.choice(users, size=min(cfg.max_users, len(users)), replace=False)
        windows = select_users(windows, chosen)
    if len(windows) == 0:
        raise ChronorecError(
            f"{data.path}: no training sequence with two events or more to pre-train on"
        )
    return windows


def _build_model(cfg: PretrainConfig, data: SequenceData, split: Split) -> SequenceModel:
    """The model to pre-train, whole: with text features when asked for."""
    if not issubclass(model_class(cfg.model), SequenceModel):
        raise ChronorecError(
            f"model '{cfg.model}' is not a neural sequence model; it cannot be pre-trained"
        )
    known = training_items(data, split.train_end)
    # The same known-items mask fine-tuning on this split computes (`--init` copies it).
    text = ItemText(item_text_vectors(data), known=known) if cfg.text_features else None
    model = build_model(
        cfg.model,
        cfg.model_params,
        num_items=data.num_items,
        num_event_types=data.num_event_types,
        max_len=cfg.max_len,
        parts=ModelParts(item_text=text),
    )
    assert isinstance(model, SequenceModel)
    if text is None:  # with text features every item has a learned input vector (its text's)
        model.set_readable_items(known)
    return model


def _objective_epoch(
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    windows: TrainWindows,
    cfg: PretrainConfig,
    steps: list[float],
) -> EpochFn:
    """One pre-training pass over ``windows``; appends each step's loss to ``steps``."""
    generator = torch.Generator().manual_seed(cfg.seed)  # masks and views: the same on any device

    def run_epoch(epoch: int, on_batch: Callable[[int], None]) -> dict[str, Any]:
        objective.train()
        total, count = 0.0, 0
        parts_sum: dict[str, float] = {}
        for batch in window_batches(windows, cfg.batch_size, generator):
            loss, parts = objective(batch, generator)  # moves what it needs to the device
            if not torch.isfinite(loss):
                raise ChronorecError(
                    f"pre-training loss is {float(loss)} at epoch {epoch}; lower --lr"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(objective.parameters(), cfg.grad_clip)
            optimizer.step()
            n = batch.items.shape[0]
            value = float(loss.detach())
            steps.append(value)
            total, count = total + value * n, count + n
            for k, v in parts.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + float(v) * n
            on_batch(n)
        means = {k: v / max(count, 1) for k, v in parts_sum.items()}
        return {"epoch": epoch, "loss": total / max(count, 1), **means, "steps": len(steps)}

    return run_epoch


def _write_records(
    cfg: PretrainConfig, data: SequenceData, result: PretrainResult, steps: list[float]
) -> None:
    """``history.json``, ``pretrain.json`` and the loss curve."""
    run_dir = result.run_dir
    write_json(run_dir / HISTORY_FILE, result.history)
    write_json(
        run_dir / PRETRAIN_SUMMARY_FILE,
        {
            "dataset": data.name,
            "objective": cfg.objective,
            "model": cfg.model,
            "epochs": result.epochs,
            "final_loss": result.losses[-1],
            "first_loss": result.losses[0],
            "seconds": result.seconds,
            "params": result.params,
            "windows": result.windows,
            "steps": len(steps),
            "text_features": cfg.text_features,
        },
    )
    title = f"{cfg.objective} pre-training of {cfg.model} on {data.name}"
    plot_pretrain_curve(steps, result.history, run_dir / CURVE_FILE, title=title)


def plot_pretrain_curve(
    steps: list[float], history: list[dict[str, Any]], path: str | Path, title: str = ""
) -> None:
    """Loss per step (light) and the mean per epoch (at the epoch's last step)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(
        range(1, len(steps) + 1), steps, color="tab:blue", alpha=0.35, linewidth=0.8, label="step"
    )
    ax.plot(
        [h["steps"] for h in history],
        [h["loss"] for h in history],
        color="tab:blue",
        marker="o",
        markersize=3,
        label="epoch mean",
    )
    ax.set_xlabel("step")
    ax.set_ylabel("pre-training loss")
    ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    save_figure(fig, path)
