"""Score every item for every evaluation case, in batches sized to a memory budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch

from chronorec.data.batches import SeqBatch, eval_batch, seen_items
from chronorec.data.dataset import SequenceData
from chronorec.data.split import EvalCases
from chronorec.evaluation.metrics import metrics_from_ranks
from chronorec.models.base import Recommender
from chronorec.scoring import ITEM_CHUNK, Ranker
from chronorec.training.config import TrainConfig

DEFAULT_KS = (10, 20)


@dataclass
class EvalResult:
    """Averaged metrics plus the per-case ranks (for paired comparisons between models)."""

    metrics: dict[str, float]
    ranks: torch.Tensor  # (C,) int64, 0-based, pessimistic
    users: torch.Tensor  # (C,) internal user ids, aligned with ranks
    exclude_seen: bool
    top_items: torch.Tensor  # (C, max K) internal item ids recommended for each case, best first


def users_per_batch(num_items: int, memory_budget_mb: float) -> int:
    """How many users' full score rows fit the budget (a few float32 copies of ``(B, I)`` each)."""
    bytes_per_user = (num_items + 1) * 4 * 3
    return max(1, int(memory_budget_mb * 2**20 // bytes_per_user))


@torch.inference_mode()
def evaluate_cases(
    model: Recommender,
    data: SequenceData,
    cases: EvalCases,
    *,
    max_len: int,
    ks: tuple[int, ...] = DEFAULT_KS,
    exclude_seen: bool = False,
    device: torch.device | str = "cpu",
    memory_budget_mb: float = 256.0,
) -> EvalResult:
    """Full-ranking metrics of ``model`` on ``cases``: every item is a candidate,
    ties count against the target.

    Args:
        model: any :class:`~chronorec.models.base.Recommender`.
        data: the dataset the cases index into.
        cases: validation or test cases from a split.
        max_len: how many of the latest history events the model sees.
        ks: cut-offs.
        exclude_seen: drop every item of the user's history before the target from the candidates.
        device: where scoring runs.
        memory_budget_mb: bounds the ``(users x items)`` score block held at once.
    """
    was_training = model.training
    model.eval()
    ranker = Ranker(model)
    ranks, recommended, event_predictions = [], [], []
    inputs, targets = eval_batch(data, cases, max_len)
    predicts_events = data.event_types is not None and hasattr(model, "predict_event_types")
    step = _cases_per_batch(data.num_items, memory_budget_mb)
    for lo in range(0, len(targets), step):
        batch = inputs[lo : lo + step].to(device)
        exclude = _seen(data, cases, lo, step).to(device) if exclude_seen else None
        rank, top = ranker.rank(batch, targets[lo : lo + step].to(device), max(ks), exclude=exclude)
        ranks.append(rank.cpu())
        recommended.append(top.cpu())
        if predicts_events:
            predict = cast(Callable[[SeqBatch], torch.Tensor], model.predict_event_types)
            event_predictions.append(predict(ranker.read(batch)).argmax(dim=1).cpu())
    model.train(was_training)
    all_ranks = torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.int64)
    top = torch.cat(recommended) if recommended else torch.zeros((0, max(ks)), dtype=torch.int64)
    metrics = metrics_from_ranks(all_ranks, ks) | _coverage(top, ks, data.num_items)
    if event_predictions:
        assert data.event_types is not None
        true_types = torch.from_numpy(data.event_types[cases.targets].astype("int64"))
        metrics.update(event_type_metrics(torch.cat(event_predictions), true_types))
    assert inputs.users is not None  # eval_batch always sets them
    return EvalResult(metrics, all_ranks, inputs.users, exclude_seen, top)


def evaluate_as_configured(
    model: Recommender,
    data: SequenceData,
    cases: EvalCases,
    config: TrainConfig,
    device: torch.device | str = "cpu",
) -> EvalResult:
    """:func:`evaluate_cases` under a run's own protocol: its history length, cut-offs, candidate
    set and memory budget."""
    return evaluate_cases(
        model,
        data,
        cases,
        max_len=config.max_len,
        ks=tuple(config.ks),
        exclude_seen=config.exclude_seen,
        device=device,
        memory_budget_mb=config.eval_memory_mb,
    )


def _cases_per_batch(num_items: int, memory_budget_mb: float) -> int:
    """How many cases' score rows fit the budget:
    a few float32 copies of ``(B, I)`` or of a chunk."""
    return users_per_batch(min(num_items, ITEM_CHUNK), memory_budget_mb)


def _seen(data: SequenceData, cases: EvalCases, lo: int, step: int) -> torch.Tensor:
    """Every item each case's user had before its target: what ``exclude_seen`` removes."""
    return seen_items(data, cases.users[lo : lo + step], cases.targets[lo : lo + step])


def _coverage(top: torch.Tensor, ks: tuple[int, ...], num_items: int) -> dict[str, float]:
    """Share of the catalogue in at least one top-K list, per cut-off."""
    if not len(top):
        return {}
    return {f"Coverage@{k}": torch.unique(top[:, :k]).numel() / num_items for k in ks}


def event_type_metrics(predicted: torch.Tensor, actual: torch.Tensor) -> dict[str, float]:
    """Accuracy and macro-F1 of next-event-type predictions (F1 averaged over types that occur)."""
    f1s = []
    for t in torch.unique(torch.cat([predicted, actual])).tolist():
        tp = ((predicted == t) & (actual == t)).sum().item()
        fp = ((predicted == t) & (actual != t)).sum().item()
        fn = ((predicted != t) & (actual == t)).sum().item()
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return {
        "EventType/accuracy": (predicted == actual).double().mean().item() if len(actual) else 0.0,
        "EventType/macroF1": sum(f1s) / max(len(f1s), 1),
    }
