"""``chronorec tune``: search a model's hyperparameters on the validation split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from chronorec.cli import options as opt
from chronorec.cli.common import console, parse_settings
from chronorec.training.config import TrainConfig

Trials = Annotated[int, typer.Option(help="Trials in the study (a resumed study counts its own).")]
TuneOut = Annotated[
    Path,
    typer.Option(
        "--out", "-o", help="Study folder: study.sqlite3 (resumable), search.png, best.toml."
    ),
]
Timeout = Annotated[
    float | None, typer.Option(help="Start no trial after this many seconds (default: no limit).")
]
FixedSettings = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Hold a model setting fixed, e.g. --set dim=64 (repeatable).",
    ),
]
SamplerSeed = Annotated[int, typer.Option(help="Seed of the TPE sampler.")]


def tune(
    data: opt.DataOrConfig = None,
    model: opt.Model = None,
    trials: Trials = 20,
    out: TuneOut = Path("runs/tune"),
    timeout: Timeout = None,
    config: opt.ConfigFile = None,
    epochs: opt.Epochs = None,
    patience: opt.Patience = None,
    max_train_seconds: Annotated[
        float | None, typer.Option(help="Training time limit per trial (0: none).")
    ] = None,
    settings: FixedSettings = None,
    sampler_seed: SamplerSeed = 0,
    progress: opt.Progress = True,
) -> None:
    """Tune a model on the validation split only (Optuna TPE, pruned trials, resumable study);
    train the best with `chronorec train --config OUT/best.toml`."""
    from chronorec.tune import tune as run_study  # optuna is an optional extra

    base = TrainConfig.load(config) if config else TrainConfig()
    given: dict[str, Any] = {
        "model": model,
        "epochs": epochs,
        "patience": patience,
        "max_train_seconds": max_train_seconds,
        "data": str(data.resolve()) if data else None,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    fixed = parse_settings(settings) if settings else {}
    if fixed:
        changes["model_params"] = {**base.model_params, **fixed}
    base = base.with_overrides(**changes)
    if not base.data:
        raise typer.BadParameter("pass a prepared dataset folder (or a --config that names one)")
    result = run_study(
        base,
        out,
        trials=trials,
        timeout=timeout,
        seed=sampler_seed,
        fixed=frozenset(fixed),
        show_progress=progress,
    )
    console.print(f"best validation NDCG@10: {result.best_value:.4f} ({result.trials} trials)")
    console.print(f"best config: {result.config_path} (chronorec train --config FILE)")
    console.print(f"search plot: {result.plot_path}")
