"""The Python API. Each function mirrors one CLI command and returns a typed result.

Example:
    >>> import chronorec
    >>> chronorec.prepare("u.data", out="data/ml-100k", items="u.item")  # doctest: +SKIP
    >>> result = chronorec.train("data/ml-100k", model="sasrec", out="runs/sasrec")  # doctest: +SKIP
    >>> result.test["NDCG@10"]  # doctest: +SKIP
    >>> chronorec.recommend("runs/sasrec", user="196", k=5)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from chronorec._io import write_json
from chronorec.data.batches import history_batch
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.data.prepare import PrepareConfig, PrepareResult
from chronorec.data.prepare import prepare as _prepare
from chronorec.data.split import make_split
from chronorec.errors import ChronorecError
from chronorec.evaluation.harness import EvalResult, evaluate_cases
from chronorec.evaluation.metrics import mask_padding_and_seen, parse_metric, per_case_metric
from chronorec.evaluation.paired import PairedComparison, paired_bootstrap
from chronorec.runs.ranks import RANKS_FILE, load_ranks
from chronorec.runs.checkpoint import load_model
from chronorec.training.config import TrainConfig
from chronorec.training.trainer import TrainResult, fit, resolve_device


def prepare(input: str | Path, out: str | Path, **options: Any) -> PrepareResult:
    """Read, validate, filter and encode an event log into a dataset folder (see :class:`PrepareConfig`)."""
    return _prepare(PrepareConfig(input=Path(input), out=Path(out), **options))


def train(
    data: str | Path | None = None,
    *,
    out: str | Path,
    config: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    **options: Any,
) -> TrainResult:
    """Train a model; ``options`` override fields of ``config`` (or of the defaults), e.g. ``model="gru4rec"``."""
    base = dataclasses.asdict(config) if config is not None else {}
    base.update(options)
    if data is not None:
        base["data"] = str(data)
    if not base.get("data"):
        raise ChronorecError("no dataset given: pass a prepared dataset folder")
    base["data"] = str(Path(base["data"]).resolve())
    return fit(TrainConfig.from_dict(base), out, resume=resume, show_progress=progress)


@dataclass(frozen=True)
class Evaluation:
    """Full-ranking metrics of a trained run on one split."""

    run_dir: Path
    model: str
    split: str
    exclude_seen: bool
    metrics: dict[str, float]
    cases: int


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[TrainConfig, Any, SequenceData]:
    """A run folder's config, its best model (in eval mode) and the dataset it was trained on."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.toml"
    if not config_path.is_file():
        raise ChronorecError(f"{run_dir}: not a run folder (no config.toml); train one with `chronorec train`")
    config = TrainConfig.load(config_path)
    model, _ = load_model(run_dir, resolve_device(device))
    return config, model, load_dataset(config.data)


def _evaluate_run(
    run_dir: str | Path, split: str, *, exclude_seen: bool | None, ks: tuple[int, ...] | None, device: str
) -> tuple[TrainConfig, EvalResult]:
    """A run's config and its full-ranking result on ``split`` (the run's own settings unless overridden)."""
    if split not in ("valid", "test"):
        raise ChronorecError(f"unknown split '{split}' (choose valid or test)")
    config, model, data = load_run(run_dir, device)
    cases = getattr(make_split(data, config.split), split)
    result = evaluate_cases(
        model, data, cases, max_len=config.max_len, ks=ks or tuple(config.ks),
        exclude_seen=config.exclude_seen if exclude_seen is None else exclude_seen,
        device=resolve_device(device), memory_budget_mb=config.eval_memory_mb,
    )
    return config, result


def _run_ranks(run_dir: Path, split: str, *, device: str) -> tuple[TrainConfig, torch.Tensor, torch.Tensor]:
    """A run's config, full-ranking ranks and users on ``split``: those stored by training while they
    still match the run's data and weights, else evaluated now."""
    if (run_dir / "config.toml").is_file() and (run_dir / RANKS_FILE).is_file():
        config = TrainConfig.load(run_dir / "config.toml")
        stored = load_ranks(run_dir, load_dataset(config.data), config, split)
        if stored is not None:
            return config, *stored
    config, result = _evaluate_run(run_dir, split, exclude_seen=None, ks=None, device=device)
    return config, result.ranks, result.users


def evaluate(
    run_dir: str | Path,
    split: str = "test",
    *,
    exclude_seen: bool | None = None,
    ks: tuple[int, ...] | None = None,
    device: str = "auto",
) -> Evaluation:
    """Evaluate a trained run on its validation or test cases, ranking every item."""
    config, result = _evaluate_run(run_dir, split, exclude_seen=exclude_seen, ks=ks, device=device)
    return Evaluation(Path(run_dir), config.model, split, result.exclude_seen, result.metrics, len(result.ranks))


@dataclass(frozen=True)
class RunComparison:
    """One group of runs (e.g. a model's seeds) against the first group of :func:`compare`, case by case."""

    run_dirs: list[Path]
    model: str
    mean: float  # the metric averaged over cases and over the group's runs
    paired: PairedComparison | None  # None for the baseline group itself


def compare(
    runs: Sequence[str | Path | Sequence[str | Path]],
    split: str = "test",
    *,
    metric: str = "NDCG@10",
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    device: str = "auto",
) -> list[RunComparison]:
    """Evaluate runs on the same cases and compare each group with the first (paired bootstrap of ``metric``).

    Each entry of ``runs`` is a run folder or a list of them (one model's seeds, say), whose per-case
    values are averaged before the comparison, so seed noise and user noise both shrink. All runs
    must share a dataset, split and candidate set (``exclude_seen``).
    """
    groups = [[Path(r)] if isinstance(r, (str, Path)) else [Path(x) for x in r] for r in runs]
    if len(groups) < 2 or not all(groups):
        raise ChronorecError("compare needs at least two groups of run folders: a baseline and one or more candidates")
    name, k = parse_metric(metric)
    first = groups[0][0]
    ref_config, ref_ranks, ref_users = _run_ranks(first, split, device=device)
    out: list[RunComparison] = []
    base = None
    for group in groups:
        models, per_run = [], []
        for run_dir in group:
            # The baseline run was ranked above, as the reference for every check.
            config, ranks, users = (ref_config, ref_ranks, ref_users) if run_dir is first else _run_ranks(
                run_dir, split, device=device)
            for field_name in ("data", "split", "exclude_seen"):
                mine, theirs = getattr(config, field_name), getattr(ref_config, field_name)
                if mine != theirs:
                    raise ChronorecError(f"{run_dir}: {field_name} is {mine!r}, but {first} has {theirs!r}: not the same cases")
            if not torch.equal(users, ref_users):
                raise ChronorecError(f"{run_dir}: its {split} cases are not those of {first}")
            models.append(config.model)
            per_run.append(per_case_metric(ranks, name, k))
        values = torch.stack(per_run).mean(dim=0)  # (C,): averaged over the group's runs
        paired = None if base is None else paired_bootstrap(
            base, values, metric=metric, resamples=resamples, confidence=confidence, seed=seed)
        base = values if base is None else base
        out.append(RunComparison(group, "/".join(dict.fromkeys(models)), values.mean().item(), paired))
    return out


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    score: float
    title: str | None = None


def recommend(run_dir: str | Path, user: str, k: int = 10, *, exclude_seen: bool = False) -> list[Recommendation]:
    """Top-``k`` items for a known user after their whole recorded history, in original ids."""
    config, model, data = load_run(run_dir)
    u = data.user_index(user)
    if u is None:
        raise ChronorecError(f"unknown user '{user}' in dataset {data.path}")
    lo, hi = data.offsets[u], data.offsets[u + 1]
    events = None if data.event_types is None else [data.event_types[lo:hi].tolist()]
    batch = history_batch([data.items[lo:hi].tolist()], [data.timestamps[lo:hi].tolist()], events, config.max_len)
    with torch.inference_mode():
        scores = model.score(model.readable(batch)).float()
    mask_padding_and_seen(scores, batch.items if exclude_seen else None)
    top = scores[0].topk(min(k, data.num_items))
    return [
        Recommendation(str(data.item_ids[i]), float(s), data.title(i))
        for s, i in zip(top.values.tolist(), top.indices.tolist())
    ]


@dataclass
class BenchmarkResult:
    """A leaderboard: per model, validation/test metrics averaged over seeds, with their spread."""

    path: Path
    report: dict[str, Any] = field(default_factory=dict)


def machine_info() -> dict[str, Any]:
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
    """Train every entry of ``models`` with the same protocol (and ``seeds`` seeds) and write the JSON leaderboard.

    An entry is a model name, or a label of ``variants`` (``label -> (model, settings)``), e.g.
    ``{"chrono-no-time-bias": ("chrono", {"time_bias": False})}`` for an ablation. ``options`` are
    training settings shared by every entry. A variant setting that names a training option (``lr``,
    ``epochs``, ``weight_decay``...) overrides it for that entry only (a learning rate tuned for one
    model, say); the others are model settings. The protocol (data, split, candidates, history length,
    cut-offs) cannot be overridden. A run whose folder holds the same configuration is reused
    when finished and resumed from its last checkpoint when not, so a stopped benchmark picks up where
    it stopped.
    """
    out = Path(out)
    runs_root = Path(runs_dir) if runs_dir else out.with_suffix("").with_name(out.stem + "-runs")
    dataset = load_dataset(data)
    variants = dict(variants or {})
    report: dict[str, Any] = {
        "dataset": dataset.name,
        "split": options.get("split", "loo"),
        "exclude_seen": options.get("exclude_seen", False),
        "max_len": options.get("max_len", TrainConfig.max_len),
        "seeds": seeds,
        "settings": options,
        "machine": machine_info(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "models": {},
    }
    for label in models:
        name, params = variants.get(label, (label, (model_params or {}).get(label, {})))
        train_overrides, model_settings = _split_variant_settings(label, params)
        runs = []
        for seed in range(seeds):
            run_dir = runs_root / f"{label}-seed{seed}"
            run_options = dict(options, **train_overrides, seed=seed, model=name, model_params=model_settings)
            same = _same_config(data, run_dir, run_options)
            finished = _finished_run(run_dir) if same else None
            runs.append(finished or train(data, out=run_dir, progress=progress,
                                          resume=same and (run_dir / "checkpoint.pt").exists(), **run_options))
        valid, valid_std = _mean_std([r.valid for r in runs])
        test, test_std = _mean_std([r.test for r in runs])
        report["models"][label] = {
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
        write_json(out, report)  # after every model, so a long benchmark leaves partial results
    return BenchmarkResult(out, report)


PROTOCOL_OPTIONS = frozenset({"data", "model", "model_params", "seed", "split", "exclude_seen", "max_len", "ks"})


def _split_variant_settings(label: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A variant's settings as (training-option overrides, model settings); protocol options are refused."""
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    protocol = sorted(PROTOCOL_OPTIONS & params.keys())
    if protocol:
        raise ChronorecError(f"variant {label}: {', '.join(protocol)} must be the same for every model of a benchmark")
    train = {k: v for k, v in params.items() if k in train_fields}
    return train, {k: v for k, v in params.items() if k not in train_fields}


def _same_config(data: str | Path, run_dir: Path, options: dict[str, Any]) -> bool:
    """Whether ``run_dir`` was started with exactly the training configuration ``options`` describe."""
    config_path = run_dir / "config.toml"
    wanted = TrainConfig.from_dict({**options, "data": str(Path(data).resolve())})
    return config_path.exists() and TrainConfig.load(config_path) == wanted


def _finished_run(run_dir: Path) -> TrainResult | None:
    """The result a finished run left in ``run_dir`` (None while it has not finished)."""
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.exists():
        return None
    m = json.loads(metrics_path.read_text())
    return TrainResult(run_dir=run_dir, model=m["model"], valid=m["valid"], test=m["test"],
                       best_epoch=m["best_epoch"], epochs=m["epochs"], train_seconds=m["train_seconds"],
                       seconds_to_best=m["seconds_to_best"], params=m["params"])
