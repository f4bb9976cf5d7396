"""Hyperparameter search on the validation split only: Optuna's TPE, trials pruned by their
validation curve, a study resumable from SQLite, a plot of the search and the best config as TOML.

Each trial trains one configuration with the usual loop and early stopping; after every validated
epoch it reports validation NDCG@10 to Optuna, which stops trials whose curve falls behind the
median of earlier trials at the same epoch. The test cases of the split are never scored.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from matplotlib.ticker import MaxNLocator

from chronorec.data.batches import train_windows
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.data.split import Split, make_split, training_items
from chronorec.errors import ChronorecError
from chronorec.evaluation.harness import evaluate_as_configured
from chronorec.models import ModelParts, SequenceModel, build_model, model_class
from chronorec.training.callbacks import SELECT_METRIC, EarlyStopping, TimeLimit
from chronorec.training.config import TrainConfig
from chronorec.training.distributed import DistContext
from chronorec.training.loop import Callback, LoopState, train_loop
from chronorec.training.optim import (
    make_optimizer,
    make_sampled_loss,
    make_scheduler,
    steps_per_epoch,
)
from chronorec.training.plots import plt, save_figure
from chronorec.training.runtime import resolve_device, seed_everything

STUDY_FILE = "study.sqlite3"
BEST_CONFIG_FILE = "best.toml"
PLOT_FILE = "search.png"
STUDY_NAME = "chronorec"

# Item losses a trial may pick: name -> training options.
LOSSES: dict[str, dict[str, Any]] = {
    "full": {"loss": "full"},
    "sampled": {"loss": "sampled", "negatives_per_target": True, "negatives": 256},
    "gbce": {"loss": "sampled", "sampled_objective": "gbce", "negatives": 256},
}


@dataclass(frozen=True)
class TuneResult:
    """What a search found: the best validation NDCG@10, its config and the files written."""

    best_value: float
    best_config: TrainConfig
    trials: int  # finished trials in the study (complete or pruned)
    config_path: Path
    plot_path: Path
    study_path: Path


def suggest_config(
    trial: Any, base: TrainConfig, fixed: frozenset[str] = frozenset()
) -> TrainConfig:
    """``base`` with the options a trial draws: learning rate, loss, and those of the model's
    settings it has (size, depth, heads, dropout, block type, item dropout, FFN width) except the
    ``fixed`` ones, which keep ``base``'s values."""
    fields = {f.name for f in dataclasses.fields(model_class(base.model).config_class)} - fixed
    params = dict(base.model_params)
    choices: dict[str, Callable[[], Any]] = {
        "dim": lambda: trial.suggest_categorical("dim", [64, 128, 256]),
        "layers": lambda: trial.suggest_int("layers", 1, 2),
        "heads": lambda: trial.suggest_categorical("heads", [1, 2]),
        "dropout": lambda: trial.suggest_float("dropout", 0.1, 0.5, step=0.05),
        "block": lambda: trial.suggest_categorical("block", ["prenorm", "ligr"]),
        "item_dropout": lambda: trial.suggest_float("item_dropout", 0.0, 0.3, step=0.05),
        "ffn_mult": lambda: trial.suggest_categorical("ffn_mult", [1, 2, 4]),
    }
    for name, draw in choices.items():
        if name in fields:
            params[name] = draw()
    loss = LOSSES[trial.suggest_categorical("loss", list(LOSSES))]
    extra = {}
    if "sampled_objective" in loss:
        extra["gbce_t"] = trial.suggest_float("gbce_t", 0.5, 1.0)
    lr = trial.suggest_float("lr", 3e-4, 3e-3, log=True)
    return base.with_overrides(lr=lr, model_params=params, **loss, **extra)


class ReportToTrial(Callback):
    """Report each validated epoch's score to an Optuna trial; stop the trial when it is pruned."""

    def __init__(self, trial: Any, metric: str = SELECT_METRIC) -> None:
        self.trial, self.metric = trial, metric

    def after_epoch(self, state: LoopState) -> None:
        import optuna

        record = state.history[-1]
        if "valid" not in record:
            return
        self.trial.report(record["valid"][self.metric], record["epoch"])
        if self.trial.should_prune():
            raise optuna.TrialPruned()


def validation_score(
    config: TrainConfig,
    data: SequenceData,
    split: Split,
    callbacks: Sequence[Callback] = (),
) -> float:
    """Train ``config`` on ``split``'s training part; the best validation NDCG@10 (test unread)."""
    seed_everything(config.seed)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    windows = train_windows(data, split.train_end, config.max_len, config.stride or None)
    loss = None
    if config.loss == "sampled":
        loss = make_sampled_loss(windows, data.num_items, config, DistContext())
    model = build_model(
        config.model,
        config.model_params,
        num_items=data.num_items,
        num_event_types=data.num_event_types,
        max_len=config.max_len,
        parts=ModelParts(item_loss=loss),
    ).to(device)
    if not isinstance(model, SequenceModel):
        raise ChronorecError(f"model '{config.model}' has no hyperparameters to tune")
    model.set_readable_items(training_items(data, split.train_end))

    def validate() -> dict[str, float]:
        return evaluate_as_configured(model, data, split.valid, config, device).metrics

    optimizer = make_optimizer(model, config, device)
    steps = steps_per_epoch(len(windows), config.batch_size, DistContext())
    scheduler = make_scheduler(optimizer, config, steps)
    stopping = EarlyStopping(validate, patience=config.patience, last_epoch=config.epochs)
    limit = TimeLimit(config.max_train_seconds)
    state = train_loop(
        model,
        windows,
        optimizer,
        config,
        device=device,
        callbacks=[stopping, limit, *callbacks],
        scheduler=scheduler,
    )
    return state.best_score


def tune(
    base: TrainConfig,
    out: str | Path,
    *,
    trials: int,
    timeout: float | None = None,
    seed: int = 0,
    fixed: frozenset[str] = frozenset(),
    show_progress: bool = True,
    data: SequenceData | None = None,
) -> TuneResult:
    """Search ``trials`` configurations around ``base`` (a resumed study counts its finished
    trials); writes ``study.sqlite3``, ``search.png`` and ``best.toml`` into ``out``.

    ``timeout`` (seconds) starts no trial after it has passed; model settings named in ``fixed``
    keep ``base``'s values. ``best.toml`` is ``base`` with the
    best trial's options: ``chronorec train --config out/best.toml`` trains it.
    """
    optuna = _import_optuna()
    if trials < 1:
        raise ChronorecError(f"--trials must be >= 1, got {trials}")
    base.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = data or load_dataset(base.data)
    split = make_split(data, base.split)
    study = optuna.create_study(
        study_name=STUDY_NAME,
        storage=f"sqlite:///{(out / STUDY_FILE).resolve()}",
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=5),
    )

    def objective(trial: Any) -> float:
        config = suggest_config(trial, base, fixed)
        return validation_score(config, data, split, [ReportToTrial(trial)])

    remaining = trials - len(_finished(study))
    if remaining > 0:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study.optimize(
            objective, n_trials=remaining, timeout=timeout, show_progress_bar=show_progress
        )
    return _write_outputs(study, base, fixed, out)


def _import_optuna() -> Any:
    try:
        import optuna
    except ModuleNotFoundError:
        raise ChronorecError(
            "tuning needs the tune extra (no module 'optuna'): pip install 'chronorec[tune]'"
        ) from None
    return optuna


def _finished(study: Any) -> list[Any]:
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [t for t in study.trials if t.state in done]


def best_config(study: Any, base: TrainConfig, fixed: frozenset[str] = frozenset()) -> TrainConfig:
    """``base`` with the options of the study's best complete trial."""
    import optuna

    return suggest_config(optuna.trial.FixedTrial(study.best_trial.params), base, fixed)


def _write_outputs(study: Any, base: TrainConfig, fixed: frozenset[str], out: Path) -> TuneResult:
    finished = _finished(study)
    if not any(t.value is not None and t.state.name == "COMPLETE" for t in finished):
        raise ChronorecError(f"{out}: no trial finished (raise --trials or --timeout)")
    config = best_config(study, base, fixed)
    config_path, plot_path = out / BEST_CONFIG_FILE, out / PLOT_FILE
    config.save(config_path)
    plot_search(finished, plot_path, title=f"{base.model} on {Path(base.data).name}")
    if sys.stderr.isatty():
        print(f"best validation {SELECT_METRIC}: {study.best_value:.4f}", file=sys.stderr)
    return TuneResult(
        best_value=float(study.best_value),
        best_config=config,
        trials=len(finished),
        config_path=config_path,
        plot_path=plot_path,
        study_path=out / STUDY_FILE,
    )


def plot_search(trials: list[Any], path: Path, title: str = "") -> None:
    """Validation NDCG@10 by trial: complete trials as dots, pruned ones (their last reported
    value) as crosses, and the best so far as a step line."""
    fig, ax = plt.subplots(figsize=(7, 4))
    best, xs, running = -math.inf, [], []
    for state, marker, colour in (("COMPLETE", "o", "tab:blue"), ("PRUNED", "x", "tab:grey")):
        points = [(t.number, _last_value(t)) for t in trials if t.state.name == state]
        points = [(n, v) for n, v in points if v is not None]
        if points:
            numbers, values = zip(*points)
            ax.scatter(numbers, values, marker=marker, color=colour, label=state.lower(), s=18)
    for t in sorted(trials, key=lambda t: t.number):
        if t.state.name == "COMPLETE" and t.value is not None:
            best = max(best, t.value)
        if best > -math.inf:
            xs.append(t.number)
            running.append(best)
    ax.step(xs, running, where="post", color="tab:green", label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {SELECT_METRIC}")
    ax.set_title(title)
    ax.legend(loc="best")
    save_figure(fig, path)


def _last_value(trial: Any) -> float | None:
    if trial.value is not None:
        return float(trial.value)
    steps = trial.intermediate_values
    return float(steps[max(steps)]) if steps else None
