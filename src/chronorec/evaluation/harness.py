"""Score every item for every evaluation case, in batches sized to a memory budget."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from chronorec.data.batches import eval_batch
from chronorec.data.dataset import SequenceData
from chronorec.data.split import EvalCases
from chronorec.evaluation.metrics import mask_padding_and_seen, metrics_from_ranks, pessimistic_rank
from chronorec.evaluation.topk import chunked_rank_topk
from chronorec.models.base import Recommender, SequenceModel, distinct_history

DEFAULT_KS = (10, 20)
ITEM_CHUNK = 65_536  # catalogues larger than this are scored chunk by chunk with a running top-K


def scores_by_dot_product(model: Recommender) -> bool:
    """True for models whose scores are the base class's: last hidden state . item vectors (+ repeat bias)."""
    return isinstance(model, SequenceModel) and type(model).score is SequenceModel.score


@dataclass
class EvalResult:
    """Averaged metrics plus the per-case ranks (for paired comparisons between models)."""

    metrics: dict[str, float]
    ranks: torch.Tensor  # (C,) int64, 0-based, pessimistic
    users: torch.Tensor  # (C,) internal user ids, aligned with ranks
    exclude_seen: bool
    extra: dict[str, float] = field(default_factory=dict)


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
    """Full-ranking metrics of ``model`` on ``cases``: every item is a candidate, ties count against the target.

    Args:
        model: any :class:`~chronorec.models.base.Recommender`.
        data: the dataset the cases index into.
        cases: validation or test cases from a split.
        max_len: how many of the latest history events the model sees.
        ks: cut-offs.
        exclude_seen: drop items in the visible history from the candidates.
        device: where scoring runs.
        memory_budget_mb: bounds the ``(users x items)`` score block held at once.
    """
    was_training = getattr(model, "training", False)
    if isinstance(model, torch.nn.Module):
        model.eval()
    inputs, targets = eval_batch(data, cases, max_len)
    seen = inputs.items  # the candidates exclude_seen removes: the visible history, whatever the model reads of it
    if isinstance(model, Recommender):
        inputs = model.readable(inputs)
    step = users_per_batch(data.num_items, memory_budget_mb)
    kmax = max(ks)
    predicts_events = data.event_types is not None and hasattr(model, "predict_event_types")
    chunked = scores_by_dot_product(model) and data.num_items > ITEM_CHUNK
    if chunked:
        step = max(1, int(memory_budget_mb * 2**20 // (ITEM_CHUNK * 4 * 3)))
    ranks, recommended, event_predictions = [], [], []
    for lo in range(0, len(targets), step):
        batch = inputs[lo : lo + step].to(device)
        batch_targets = targets[lo : lo + step].to(device)
        if predicts_events:
            event_predictions.append(model.predict_event_types(batch).argmax(dim=1).cpu())
        if chunked:
            assert isinstance(model, SequenceModel)
            bias = None if model.repeat_bias is None else float(model.repeat_bias)
            rank, _, top = chunked_rank_topk(
                model.encode(batch)[:, -1], model.item_vectors(), batch_targets, kmax, chunk=ITEM_CHUNK,
                history=distinct_history(seen[lo : lo + step].to(device) if exclude_seen else batch.items),
                repeat_bias=bias, exclude_seen=exclude_seen,
            )
            assert rank is not None
            ranks.append(rank.cpu())
            recommended.append(top.cpu())
            continue
        scores = model.score(batch).float()  # (B, I + 1)
        mask_padding_and_seen(scores, seen[lo : lo + step].to(device) if exclude_seen else None)
        ranks.append(pessimistic_rank(scores, batch_targets).cpu())
        recommended.append(scores.topk(kmax, dim=1).indices.cpu())
    if isinstance(model, torch.nn.Module) and was_training:
        model.train()
    all_ranks = torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.int64)
    metrics = metrics_from_ranks(all_ranks, ks)
    if recommended:
        top = torch.cat(recommended)
        for k in ks:
            metrics[f"Coverage@{k}"] = torch.unique(top[:, :k]).numel() / data.num_items
    if predicts_events and event_predictions:
        assert data.event_types is not None
        true_types = torch.from_numpy(data.event_types[cases.targets].astype("int64"))
        metrics.update(event_type_metrics(torch.cat(event_predictions), true_types))
    return EvalResult(metrics, all_ranks, inputs.users, exclude_seen)


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
