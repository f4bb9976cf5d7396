"""Benchmarks: every model of a list trained and evaluated under one protocol, seeds averaged.

A stopped benchmark picks up where it stopped: a run whose folder holds the same configuration is
reused when finished and resumed from its last checkpoint when not.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from chronorec._io import write_json
from chronorec.data.dataset import load_dataset
from chronorec.errors import ChronorecError
from chronorec.runs.layout import RunFolder
from chronorec.runs.result import TrainResult
from chronorec.runs.training import train_run
from chronorec.training.config import TrainConfig


@dataclass
class BenchmarkResult:
    """A leaderboard: per model, validation/test metrics averaged over seeds, with their spread."""

    path: Path
    report: dict[str, Any] = field(default_factory=dict)


def machine_info() -> dict[str, Any]:
    """The machine a benchmark ran on: platform, cores, PyTorch threads and version, GPU."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _mean_std(values: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    keys = values[0].keys()
    mean = {k: statistics.fmean(v[k] for v in values) for k in keys}
    std = {k: (statistics.stdev(v[k] for v in values) if len(values) > 1 else 0.0) for k in keys}
    return mean, std


def benchmark(
    data: str | Path,
    models: list[str],
    out: str | Path,
    *,
    seeds: int = 1,
    runs_dir: str | Path | None = None,
    progress: bool = True,
    model_params: dict[str, dict[str, Any]] | None = None,
    variants: dict[str, tuple[str, dict[str, Any]]] | None = None,
    **options: Any,
) -> BenchmarkResult:
    """Train every entry of ``models`` with the same protocol
    (and ``seeds`` seeds) and write the JSON leaderboard.

    An entry is a model name, or a label of ``variants`` (``label -> (model, settings)``), e.g.
    ``{"chrono-no-time-bias": ("chrono", {"time_bias": False})}`` for an ablation. ``options`` are
    training settings shared by every entry. A variant setting that names a training option (``lr``,
    ``epochs``, ``weight_decay``...) overrides it for that entry only (a learning rate tuned for one
    model, say); the others are model settings. The protocol (data, split, candidates, history
    length, cut-offs) cannot be overridden. A run whose folder holds the same configuration is
    reused when finished and resumed from its last checkpoint when not,
    so a stopped benchmark picks up where it stopped.
    """
    out = Path(out)
    runs_root = Path(runs_dir) if runs_dir else out.with_suffix("").with_name(out.stem + "-runs")
    variants = dict(variants or {})
    report = _report_header(data, seeds, options)
    for label in models:
        name, params = variants.get(label, (label, (model_params or {}).get(label, {})))
        train_overrides, model_settings = _split_variant_settings(label, params)
        runs = []
        for seed in range(seeds):
            run_dir = runs_root / f"{label}-seed{seed}"
            run_options = dict(
                options, **train_overrides, seed=seed, model=name, model_params=model_settings
            )
            same = _same_config(data, run_dir, run_options)
            finished = _finished_run(run_dir) if same else None
            resume = same and RunFolder(run_dir).state.exists()
            runs.append(
                finished or _train(data, run_dir, run_options, resume=resume, progress=progress)
            )
        report["models"][label] = _model_entry(name, params, runs)
        write_json(out, report)  # after every model, so a long benchmark leaves partial results
    return BenchmarkResult(out, report)


def _report_header(data: str | Path, seeds: int, options: dict[str, Any]) -> dict[str, Any]:
    """The leaderboard's protocol and machine, before any model's entry."""
    return {
        "dataset": load_dataset(data).name,
        "split": options.get("split", "loo"),
        "exclude_seen": options.get("exclude_seen", False),
        "max_len": options.get("max_len", TrainConfig.max_len),
        "seeds": seeds,
        "settings": options,
        "machine": machine_info(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "models": {},
    }


def _model_entry(name: str, params: dict[str, Any], runs: list[TrainResult]) -> dict[str, Any]:
    """One model's leaderboard entry: metrics averaged over its seeds,
    with their spread and times."""
    valid, valid_std = _mean_std([r.valid for r in runs])
    test, test_std = _mean_std([r.test for r in runs])
    return {
        "model": name,
        "settings": params,
        "valid": valid,
        "test": test,
        "valid_std": valid_std,
        "test_std": test_std,
        "per_seed": [{"valid": r.valid, "test": r.test} for r in runs],
        "train_seconds": statistics.fmean(r.train_seconds for r in runs),
        "seconds_to_best": statistics.fmean(r.seconds_to_best for r in runs),
        "epochs": statistics.fmean(r.epochs for r in runs),
        "best_epoch": statistics.fmean(r.best_epoch for r in runs),
        "params": runs[0].params,
        "runs": [str(r.run_dir) for r in runs],
    }


PROTOCOL_OPTIONS = frozenset(
    {"data", "model", "model_params", "seed", "split", "exclude_seen", "max_len", "ks"}
)


def _split_variant_settings(
    label: str, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A variant's settings as (training-option overrides, model settings);
    protocol options are refused."""
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    protocol = sorted(PROTOCOL_OPTIONS & params.keys())
    if protocol:
        raise ChronorecError(
            f"variant {label}: {', '.join(protocol)} "
            "must be the same for every model of a benchmark"
        )
    train = {k: v for k, v in params.items() if k in train_fields}
    return train, {k: v for k, v in params.items() if k not in train_fields}


def _same_config(data: str | Path, run_dir: Path, options: dict[str, Any]) -> bool:
    """Whether ``run_dir`` was started with exactly the training configuration
    ``options`` describe."""
    config_path = RunFolder(run_dir).config
    wanted = TrainConfig.from_dict({**options, "data": str(Path(data).resolve())})
    return config_path.exists() and TrainConfig.load(config_path) == wanted


def _finished_run(run_dir: Path) -> TrainResult | None:
    """The result a finished run left in ``run_dir`` (None while it has not finished)."""
    metrics_path = RunFolder(run_dir).metrics
    if not metrics_path.exists():
        return None
    m = json.loads(metrics_path.read_text())
    return TrainResult(
        run_dir=run_dir,
        model=m["model"],
        valid=m["valid"],
        test=m["test"],
        best_epoch=m["best_epoch"],
        epochs=m["epochs"],
        train_seconds=m["train_seconds"],
        seconds_to_best=m["seconds_to_best"],
        params=m["params"],
    )


def _train(
    data: str | Path, run_dir: Path, options: dict[str, Any], *, resume: bool, progress: bool
) -> TrainResult:
    config = TrainConfig.from_dict({**options, "data": str(Path(data).resolve())})
    return train_run(config, run_dir, resume=resume, show_progress=progress)
