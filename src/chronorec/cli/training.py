"""Training commands: ``train`` a model, ``benchmark`` several under one protocol, ``pretrain``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from chronorec import api
from chronorec.cli import options as opt
from chronorec.cli.common import console, metric_table, parse_settings
from chronorec.errors import ChronorecError
from chronorec.pretrain import pretrain as run_pretraining
from chronorec.training.config import TrainConfig

LEADERBOARD_METRICS = ("HR@10", "NDCG@10", "MRR@10")


def train(
    data: opt.DataOrConfig = None,
    model: opt.Model = None,
    out: opt.RunOut = Path("runs/latest"),
    config: opt.ConfigFile = None,
    epochs: opt.Epochs = None,
    max_len: opt.MaxLen = None,
    batch_size: opt.BatchSize = None,
    lr: opt.Lr = None,
    lr_schedule: opt.LrSchedule = None,
    warmup_epochs: opt.WarmupEpochs = None,
    patience: opt.Patience = None,
    seed: opt.Seed = None,
    split: opt.Split = None,
    device: opt.Device = None,
    settings: opt.Settings = None,
    resume: opt.Resume = False,
    progress: opt.Progress = True,
    loss: opt.Loss = None,
    negatives: opt.Negatives = None,
    text_features: opt.TextFeatures = False,
    init: opt.Init = None,
    nproc: opt.Nproc = 1,
    amp: opt.Amp = False,
    compile_model: opt.Compile = False,
) -> None:
    """Train a model; the run folder records the full config (rerun with --config RUN/config.toml).

    Several processes: `--nproc N`, or `torchrun --nproc_per_node N -m chronorec train ...` (with
    torchrun's --nnodes/--node-rank/--rdzv-endpoint options for several machines).
    """
    if nproc > 1:
        raise typer.Exit(_launch_processes(nproc))
    flags = dict(
        model=model,
        epochs=epochs,
        max_len=max_len,
        batch_size=batch_size,
        lr=lr,
        lr_schedule=lr_schedule,
        warmup_epochs=warmup_epochs,
        patience=patience,
        seed=seed,
        split=split,
        device=device,
        loss=loss,
        negatives=negatives,
        init=str(init) if init else None,
        text_features=text_features or None,
        amp=amp or None,
        compile=compile_model or None,
    )
    run_config = _with_flags(TrainConfig.load(config) if config else TrainConfig(), settings, flags)
    result = api.train(data, out=out, config=run_config, resume=resume, progress=progress)
    console.print(_result_table(result))
    console.print(f"run folder: {result.run_dir}")


def _result_table(result: Any) -> Table:
    """A trained run's validation and test metrics, titled with its best epoch, time and size."""
    title = (
        f"{result.model}: best epoch {result.best_epoch} of {result.epochs}, "
        f"{result.train_seconds:.0f}s, {result.params:,} parameters"
    )
    rows = {"valid": result.valid, "test": result.test}
    return metric_table(title, rows, list(LEADERBOARD_METRICS))


def _launch_processes(nproc: int) -> int:
    """Rerun this command line without --nproc in ``nproc`` processes under torchrun."""
    from chronorec.training.distributed import launch

    return launch(nproc, _without_option(sys.argv[1:], "--nproc"))


def _with_flags(
    base: TrainConfig, settings: list[str] | None, flags: dict[str, Any]
) -> TrainConfig:
    """``base`` with every flag that was given (not None) in its place; ``--set`` pairs are
    merged into its model settings."""
    given = {name: value for name, value in flags.items() if value is not None}
    if settings:
        given["model_params"] = {**base.model_params, **parse_settings(settings)}
    return base.with_overrides(**given)


def _without_option(argv: list[str], name: str) -> list[str]:
    """``argv`` minus ``name VALUE`` / ``name=VALUE``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


def benchmark(
    data: opt.Data,
    models: opt.Models = "pop,markov,gru4rec,sasrec",
    variant: opt.Variant = None,
    out: opt.BoardOut = Path("results.json"),
    runs_dir: opt.RunsDir = None,
    max_len: opt.MaxLen = 50,
    seeds: opt.Seeds = 1,
    epochs: opt.Epochs = 200,
    split: opt.Split = "loo",
    lr: opt.Lr = 1e-3,
    lr_schedule: opt.LrSchedule = "constant",
    warmup_epochs: opt.WarmupEpochs = 0,
    patience: opt.Patience = 20,
    max_train_seconds: opt.MaxTrainSeconds = 0.0,
    loss: opt.Loss = "full",
    negatives: opt.Negatives = 256,
    threads: opt.Threads = 0,
    progress: opt.Progress = True,
) -> None:
    """Train each model with the same protocol (early stopping), print the leaderboard and write
    it as JSON."""
    variants = dict(parse_variant(v) for v in variant or [])
    names = [m.strip() for m in models.split(",") if m.strip()]
    result = api.benchmark(
        data,
        names,
        out,
        seeds=seeds,
        runs_dir=runs_dir,
        variants=variants,
        progress=progress,
        max_len=max_len,
        epochs=epochs,
        split=split,
        lr=lr,
        lr_schedule=lr_schedule,
        warmup_epochs=warmup_epochs,
        patience=patience,
        max_train_seconds=max_train_seconds,
        loss=loss,
        negatives=negatives,
        threads=threads,
    )
    console.print(leaderboard_table(result.report))
    console.print(f"wrote {result.path}")
    first_runs = [entry["runs"] for entry in result.report["models"].values()]
    if first_runs:
        console.print(f"run folders: {Path(first_runs[0][0]).parent}")


def parse_variant(text: str) -> tuple[str, tuple[str, dict[str, object]]]:
    """``'LABEL=MODEL KEY=VALUE ...'`` as ``(LABEL, (MODEL, settings))``."""
    head, *pairs = text.split() or [""]
    label, sep, model = head.partition("=")
    if not (sep and label and model):
        raise ChronorecError(f"--variant expects 'LABEL=MODEL KEY=VALUE ...', got '{text}'")
    return label, (model, parse_settings(pairs))


def leaderboard_table(report: dict[str, Any]) -> Table:
    """The benchmark table: valid/test HR@10, NDCG@10, MRR@10, seconds, epochs, parameters."""
    table = Table(
        title=f"{report['dataset']} ({report['split']}, full ranking, "
        f"exclude_seen={report['exclude_seen']}, seeds={report['seeds']})"
    )
    table.add_column("model")
    metrics = [(split, k) for split in ("valid", "test") for k in LEADERBOARD_METRICS]
    for column in [f"{split} {k}" for split, k in metrics] + ["train s", "epochs", "params"]:
        table.add_column(column, justify="right")
    for name, m in report["models"].items():
        table.add_row(
            name,
            *(f"{m[split][k]:.4f}" for split, k in metrics),
            f"{m['train_seconds']:.1f}",
            f"{m['epochs']:.0f}",
            f"{m['params']:,}",
        )
    return table


def pretrain(
    data: opt.Data,
    objective: opt.Objective = "cloze",
    model: opt.Model = "sasrec",
    out: opt.PretrainOut = Path("runs/pretrain"),
    epochs: opt.PretrainEpochs = 20,
    max_len: opt.PretrainMaxLen = 50,
    batch_size: opt.PretrainBatch = 128,
    lr: opt.Lr = 1e-3,
    seed: opt.PretrainSeed = 0,
    split: opt.PretrainSplit = "loo",
    device: opt.Device = "auto",
    threads: opt.Threads = 0,
    settings: opt.PretrainSettings = None,
    objective_settings: opt.ObjectiveSettings = None,
    text_features: opt.TextFeatures = False,
    progress: opt.Progress = True,
) -> None:
    """Self-supervised pre-training of a sequence model; then `chronorec train --init RUN_DIR`
    fine-tunes it."""
    result = run_pretraining(
        data,
        objective,
        model,
        out,
        epochs,
        model_params=parse_settings(settings or []),
        objective_params=parse_settings(objective_settings or []),
        max_len=max_len,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        split=split,
        device=device,
        threads=threads,
        text_features=text_features,
        progress=progress,
    )
    console.print(
        f"{result.objective} pre-training of {result.model}: loss {result.losses[0]:.4f} -> "
        f"{result.losses[-1]:.4f} over {result.epochs} epochs, {result.seconds:.0f}s, "
        f"{result.params:,} parameters"
    )
    console.print(
        f"run folder: {result.run_dir}; fine-tune with: "
        f"chronorec train {data} --model {model} --init {result.run_dir}"
    )
