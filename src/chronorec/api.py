"""The Python API. Each function mirrors one CLI command and returns a typed result.

Example:
    >>> import chronorec
    >>> chronorec.prepare("u.data", out="data/ml-100k", items="u.item")  # doctest: +SKIP
    >>> result = chronorec.train(  # doctest: +SKIP
    ...     "data/ml-100k", model="sasrec", out="runs/sasrec"
    ... )
    >>> result.test["NDCG@10"]  # doctest: +SKIP
    >>> chronorec.recommend("runs/sasrec", user="196", k=5)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chronorec.benchmark import BenchmarkResult, benchmark
from chronorec.data.batches import seen_items, user_batch
from chronorec.data.dataset import load_dataset
from chronorec.data.prepare import PrepareConfig, PrepareResult
from chronorec.data.prepare import prepare as _prepare
from chronorec.data.split import make_split
from chronorec.errors import ChronorecError
from chronorec.evaluation.harness import EvalResult, evaluate_cases
from chronorec.evaluation.metrics import parse_metric, per_case_metric
from chronorec.evaluation.paired import PairedComparison, paired_bootstrap
from chronorec.runs.layout import RunFolder
from chronorec.runs.load import Run, load_run
from chronorec.runs.ranks import load_ranks
from chronorec.runs.result import TrainResult
from chronorec.runs.training import train_run
from chronorec.scoring.popularity import Popularity
from chronorec.training.config import TrainConfig
from chronorec.training.runtime import resolve_device

__all__ = [
    "BenchmarkResult",
    "Evaluation",
    "Recommendation",
    "Recommendations",
    "RunComparison",
    "benchmark",
    "compare",
    "evaluate",
    "load_run",
    "prepare",
    "recommend",
    "train",
]


def prepare(input: str | Path, out: str | Path, **options: Any) -> PrepareResult:
    """Read, validate, filter and encode an event log into a dataset folder
    (see :class:`PrepareConfig`)."""
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
    """Train a model; ``options`` override fields of ``config`` (or of the defaults),
    e.g. ``model="gru4rec"``."""
    base = dataclasses.asdict(config) if config is not None else {}
    base.update(options)
    if data is not None:
        base["data"] = str(data)
    if not base.get("data"):
        raise ChronorecError("no dataset given: pass a prepared dataset folder")
    base["data"] = str(Path(base["data"]).resolve())
    return train_run(TrainConfig.from_dict(base), out, resume=resume, show_progress=progress)


@dataclass(frozen=True)
class Evaluation:
    """Full-ranking metrics of a trained run on one split."""

    run_dir: Path
    model: str
    split: str
    exclude_seen: bool
    metrics: dict[str, float]
    cases: int


def _evaluate_run(
    run_dir: str | Path,
    split: str,
    *,
    exclude_seen: bool | None,
    ks: tuple[int, ...] | None,
    device: str,
) -> tuple[TrainConfig, EvalResult]:
    """A run's config and its full-ranking result on ``split``
    (the run's own settings unless overridden)."""
    if split not in ("valid", "test"):
        raise ChronorecError(f"unknown split '{split}' (choose valid or test)")
    run = load_run(run_dir, resolve_device(device))
    config = run.config
    cases = getattr(make_split(run.data, config.split), split)
    result = evaluate_cases(
        run.model,
        run.data,
        cases,
        max_len=config.max_len,
        ks=ks or tuple(config.ks),
        exclude_seen=config.exclude_seen if exclude_seen is None else exclude_seen,
        device=resolve_device(device),
        memory_budget_mb=config.eval_memory_mb,
    )
    return config, result


def _run_ranks(
    run_dir: Path, split: str, *, device: str
) -> tuple[TrainConfig, torch.Tensor, torch.Tensor]:
    """A run's config, full-ranking ranks and users on ``split``: those stored by training while
    they still match the run's data and weights, else evaluated now."""
    folder = RunFolder(run_dir)
    if folder.config.is_file() and folder.ranks.is_file():
        config = TrainConfig.load(folder.config)
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
    return Evaluation(
        Path(run_dir), config.model, split, result.exclude_seen, result.metrics, len(result.ranks)
    )


@dataclass(frozen=True)
class RunComparison:
    """One group of runs (e.g. a model's seeds) against the first group
    of :func:`compare`, case by case."""

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
    """Evaluate runs on the same cases and compare each group with the first
    (paired bootstrap of ``metric``).

    Each entry of ``runs`` is a run folder or a list of them (one model's seeds, say), whose
    per-case values are averaged before the comparison, so seed noise and user noise both shrink.
    All runs must share a dataset, split and candidate set (``exclude_seen``).
    """
    groups = [[Path(r)] if isinstance(r, (str, Path)) else [Path(x) for x in r] for r in runs]
    if len(groups) < 2 or not all(groups):
        raise ChronorecError(
            "compare needs at least two groups of run folders: "
            "a baseline and one or more candidates"
        )
    name, k = parse_metric(metric)
    first = groups[0][0]
    reference = (first, *_run_ranks(first, split, device=device))
    out: list[RunComparison] = []
    base = None
    for group in groups:
        models, per_run = [], []
        for run_dir in group:
            config, ranks = _checked_ranks(run_dir, split, reference, device=device)
            models.append(config.model)
            per_run.append(per_case_metric(ranks, name, k))
        values = torch.stack(per_run).mean(dim=0)  # (C,): averaged over the group's runs
        paired = None
        if base is not None:
            paired = paired_bootstrap(
                base, values, metric=metric, resamples=resamples, confidence=confidence, seed=seed
            )
        base = values if base is None else base
        model = "/".join(dict.fromkeys(models))
        out.append(RunComparison(group, model, values.mean().item(), paired))
    return out


def _checked_ranks(
    run_dir: Path,
    split: str,
    reference: tuple[Path, TrainConfig, torch.Tensor, torch.Tensor],
    *,
    device: str,
) -> tuple[TrainConfig, torch.Tensor]:
    """``run_dir``'s config and ranks, checked to be on the cases of the ``reference`` run."""
    first, ref_config, ref_ranks, ref_users = reference
    if run_dir is first:  # ranked already, as the reference for every check
        return ref_config, ref_ranks
    config, ranks, users = _run_ranks(run_dir, split, device=device)
    for field_name in ("data", "split", "exclude_seen"):
        mine, theirs = getattr(config, field_name), getattr(ref_config, field_name)
        if mine != theirs:
            raise ChronorecError(
                f"{run_dir}: {field_name} is {mine!r}, but {first} has {theirs!r}: "
                "not the same cases"
            )
    if not torch.equal(users, ref_users):
        raise ChronorecError(f"{run_dir}: its {split} cases are not those of {first}")
    return config, ranks


@dataclass(frozen=True)
class Recommendation:
    """One recommended item, in original ids."""

    item_id: str
    score: float
    title: str | None = None


@dataclass(frozen=True)
class Recommendations(Sequence[Recommendation]):
    """Top-K items for one history, best first; ``fallback`` when they are the most popular items
    because the model had nothing to read (an unknown user, or only items it never trained on)."""

    items: tuple[Recommendation, ...]
    fallback: bool = False

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: Any) -> Any:
        return self.items[index]

    def __iter__(self) -> Iterator[Recommendation]:
        return iter(self.items)


def recommend(
    run_dir: str | Path | Run, user: str, k: int = 10, *, exclude_seen: bool = False
) -> Recommendations:
    """Top-``k`` items for ``user`` (original id) after their whole recorded history.

    The service's rule: a user the run does not know, or whose history holds only items the model
    never trained on, gets the most popular items, flagged ``fallback``.
    """
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir)
    data = run.data
    u = data.user_index(str(user))
    seen = None if u is None else seen_items(data, np.array([u]), data.offsets[[u + 1]])
    ranker = run.ranker()
    batch = None if u is None else user_batch(data, [u], run.config.max_len)
    if batch is None or not bool(ranker.reads_any(batch.items)[0]):
        banned = (
            frozenset(seen[0].tolist()) - {0} if exclude_seen and seen is not None else frozenset()
        )
        popular = Popularity(data).top_k(k, banned)
        return Recommendations(
            tuple(_recommendation(data, i, s) for i, s in popular), fallback=True
        )
    values, ids = ranker.top_k(batch, k, exclude=seen if exclude_seen else None)
    finite = torch.isfinite(values[0])
    return Recommendations(
        tuple(
            _recommendation(data, i, s)
            for i, s in zip(ids[0][finite].tolist(), values[0][finite].tolist())
        )
    )


def _recommendation(data: Any, item: int, score: float) -> Recommendation:
    return Recommendation(str(data.item_ids[item]), float(score), data.title(item))
