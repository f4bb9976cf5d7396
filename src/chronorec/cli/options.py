"""Options of the training commands (``train``, ``benchmark``, ``pretrain``), declared once.

Typer takes each command's default from its signature, so one declaration serves commands with
different defaults; in ``train`` a default of None means "as in --config, or TrainConfig's".
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chronorec.models import MODELS

MODEL_HELP = f"Model name: {', '.join(MODELS)}."

Data = Annotated[Path, typer.Argument(help="Prepared dataset folder (from `chronorec prepare`).")]
DataOrConfig = Annotated[
    Path | None,
    typer.Argument(help="Prepared dataset folder (from `chronorec prepare`; default: --config's)."),
]
Model = Annotated[str | None, typer.Option(help=MODEL_HELP)]
Epochs = Annotated[int | None, typer.Option(help="Maximum epochs (early stopping may end sooner).")]
MaxLen = Annotated[int | None, typer.Option(help="Events of history the model sees.")]
BatchSize = Annotated[int | None, typer.Option(help="Windows per batch.")]
Lr = Annotated[float | None, typer.Option(help="AdamW learning rate.")]
LrSchedule = Annotated[
    str | None,
    typer.Option(help="constant, or cosine (warmup then decay to 0 at the last epoch)."),
]
WarmupEpochs = Annotated[
    int | None, typer.Option(help="Linear warmup epochs for --lr-schedule cosine.")
]
Patience = Annotated[
    int | None,
    typer.Option(help="Stop after this many epochs without a better validation NDCG@10."),
]
Seed = Annotated[int | None, typer.Option(help="Random seed (same seed, same metrics).")]
Split = Annotated[str | None, typer.Option(help="loo (leave-one-out) or temporal.")]
Device = Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N.")]
Threads = Annotated[int | None, typer.Option(help="CPU threads per run (0: PyTorch's default).")]
Loss = Annotated[
    str | None,
    typer.Option(
        help="full (softmax over every item) or sampled (log-Q corrected negatives; "
        "for huge catalogues)."
    ),
]
Negatives = Annotated[
    int | None, typer.Option(help="Sampled negatives per batch with --loss sampled.")
]
Settings = Annotated[
    list[str] | None,
    typer.Option(
        "--set", metavar="KEY=VALUE", help="Model setting, e.g. --set dim=128 (repeatable)."
    ),
]
TextFeatures = Annotated[
    bool,
    typer.Option(
        help="Add language-model vectors of item titles and categories to the item embeddings."
    ),
]
Progress = Annotated[
    bool,
    typer.Option(help="Show progress: a bar on a terminal, one line per epoch in a log."),
]
RunOut = Annotated[
    Path, typer.Option("--out", "-o", help="Run folder: config, best model, curves, metrics.")
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(help="TOML config (e.g. a run's config.toml); flags override it."),
]
Resume = Annotated[bool, typer.Option(help="Continue from the run folder's last checkpoint.")]
Init = Annotated[
    Path | None,
    typer.Option(
        help="Start from the matching weights of this run folder (e.g. from pretraining)."
    ),
]
Nproc = Annotated[
    int,
    typer.Option(
        help="Train with DDP in this many local processes (torchrun); "
        "--batch-size stays the global batch."
    ),
]
Amp = Annotated[bool, typer.Option(help="bf16 autocast on CUDA (ignored on CPU).")]
Compile = Annotated[
    bool,
    typer.Option(
        "--compile",
        help="torch.compile the model: for CUDA; on CPU it made training steps slower "
        "here (BENCHMARKS.md).",
    ),
]

Models = Annotated[str, typer.Option(help="Comma-separated model names or --variant labels.")]
Variant = Annotated[
    list[str] | None,
    typer.Option(
        metavar="'LABEL=MODEL KEY=VALUE ...'",
        help="A model with settings, e.g. "
        "'chrono-no-time-bias=chrono time_bias=false'; training options such as lr=1e-2 apply "
        "to that entry only; list LABEL in --models. Repeatable.",
    ),
]
BoardOut = Annotated[Path, typer.Option("--out", "-o", help="JSON leaderboard to write.")]
RunsDir = Annotated[
    Path | None,
    typer.Option(
        help="Folder for the run folders (default: beside --out, OUT-runs); finished runs there "
        "are reused."
    ),
]
Seeds = Annotated[
    int, typer.Option(help="Seeds per model (metrics are averaged, spread reported).")
]
MaxTrainSeconds = Annotated[float, typer.Option(help="Training time limit per run (0: none).")]

Objective = Annotated[
    str,
    typer.Option(
        help="cloze (masked items), contrastive (two augmented views) or autoencoder "
        "(bag of items)."
    ),
]
PretrainOut = Annotated[
    Path,
    typer.Option(
        "--out", "-o", help="Run folder to write; fine-tune from it with `chronorec train --init`."
    ),
]
PretrainEpochs = Annotated[int, typer.Option(help="Pre-training epochs.")]
PretrainMaxLen = Annotated[
    int,
    typer.Option(help="Events of history the model sees (use the same when fine-tuning)."),
]
PretrainBatch = Annotated[
    int, typer.Option(help="Sequences per batch (also the contrastive negatives).")
]
PretrainSeed = Annotated[int, typer.Option(help="Random seed (weights, masks and views).")]
PretrainSplit = Annotated[
    str,
    typer.Option(
        help="loo or temporal: only its training events are read (use the same when fine-tuning)."
    ),
]
PretrainSettings = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Model setting, e.g. --set dim=128 (repeatable; use the same when fine-tuning).",
    ),
]
ObjectiveSettings = Annotated[
    list[str] | None,
    typer.Option(
        "--objective-set",
        metavar="KEY=VALUE",
        help="Objective setting: mask_prob, temperature, crop, mask, reorder, "
        "projection_dim, corrupt.",
    ),
]
