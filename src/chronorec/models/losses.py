"""Training losses as named functions of hidden states, output embeddings and targets."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

# (hidden (N, D) or (N, K, D), item_vectors (I + 1, D), targets (N,), repeat_bias) -> scalar loss
ItemLoss = Callable[..., torch.Tensor]


def dot_scores(hidden: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
    """Scores ``(N, C)`` of ``item_vectors`` ``(C, D)`` against ``hidden`` ``(N, D)``, or the best
    of ``(N, K, D)``.

    Several vectors per row (a user's interests) score an item by their best match, so every loss
    trains exactly the scores used at inference.
    """
    scores = hidden @ item_vectors.T  # (N, C) or (N, K, C)
    return scores.amax(dim=1) if hidden.dim() == 3 else scores


def full_softmax_loss(
    hidden: torch.Tensor,
    item_vectors: torch.Tensor,
    targets: torch.Tensor,
    repeat_bias: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Cross-entropy over the whole catalogue.

    Args:
        hidden: ``(N, D)`` hidden states at the target positions (padding already removed), or
            ``(N, K, D)`` several vectors per position scored by their best match
            (:func:`dot_scores`).
        item_vectors: ``(I + 1, D)``; row 0 is padding and is never a valid answer.
        targets: ``(N,)`` item ids in ``1..I``.
        repeat_bias: optional ``(history (N, T), bias)``: ``bias`` is added to the logits of
            each row's distinct history items (see :func:`add_repeat_bias_`).
    """
    logits = dot_scores(hidden, item_vectors)  # (N, I + 1)
    if hidden.dim() == 3:
        # amax keeps its output for backward, and the edits below are in place
        logits = logits.clone()
    if repeat_bias is not None:
        add_repeat_bias_(logits, *repeat_bias)
    logits[:, 0] = float("-inf")
    return F.cross_entropy(logits.float(), targets)


def add_repeat_bias_(
    logits: torch.Tensor, history: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """Add ``bias`` to ``logits[n, history[n, s]]``, in place, for every distinct item of each row.

    ``history`` holds each item at most once per row, 0 elsewhere (column 0 is padding, so what
    lands there is never read). Scattering into the logits touches ``T`` entries per row: no
    ``(N, I)`` mask and no copy of the logits (a third of a training step's loss time on MovieLens).
    ``logits`` must be a tensor that autograd does not keep for backward: a matmul's output, not an
    ``amax``'s.
    """
    return logits.scatter_add_(1, history, bias.expand(history.shape).to(logits.dtype))


class SampledSoftmaxLoss:
    """Cross-entropy over the target and a sample of negatives, with log-Q correction.

    Candidates for every row are its target, other rows' targets (in-batch negatives: up to
    ``num_negatives`` of the batch's targets, drawn in proportion to training popularity) and
    ``num_negatives`` items drawn once per batch from ``sampler`` (``uniform`` or ``popularity``).
    Each candidate's logit is reduced by ``log Q(j)``, the expected number of times item ``j``
    enters the candidate set: ``min(N, K) p(j)`` from the batch plus ``K q(j)`` from the sampler.
    Capping the in-batch part keeps a step's cost independent of the number of positions. Without
    it, popular items, which appear as negatives far more often than under a full softmax, would be
    pushed down too hard (Jean et al. 2015; Yi et al. 2019).
    A negative equal to the row's target (an accidental hit) is masked.

    Args:
        item_counts: ``(I + 1,)`` training frequency of each item (index 0 ignored).
        num_negatives: sampled negatives per batch (shared by its rows).
        sampler: ``uniform`` or ``popularity``.
        in_batch: also use the other rows' targets as negatives.
        generator: for reproducible sampling.
    """

    def __init__(
        self,
        item_counts: torch.Tensor,
        num_negatives: int = 256,
        sampler: str = "uniform",
        in_batch: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        if sampler not in ("uniform", "popularity"):
            raise ValueError(f"unknown negative sampler '{sampler}' (uniform or popularity)")
        counts = item_counts.double().clone()
        counts[0] = 0.0
        self.popularity = (
            counts / counts.sum()
        ).float()  # (I + 1,) on the host, for the CPU generator
        self._popularity_on_device = self.popularity
        self.num_items = len(counts) - 1
        self.num_negatives, self.sampler, self.in_batch, self.generator = (
            num_negatives,
            sampler,
            in_batch,
            generator,
        )

    def sample_negatives(self, device: torch.device) -> torch.Tensor:
        K = self.num_negatives
        if K == 0:
            return torch.zeros(0, dtype=torch.int64, device=device)
        if self.sampler == "uniform":
            neg = torch.randint(1, self.num_items + 1, (K,), generator=self.generator)
        else:
            neg = torch.multinomial(self.popularity, K, replacement=True, generator=self.generator)
        return _to_device(neg, device)

    def log_q(self, items: torch.Tensor, batch_size: int) -> torch.Tensor:
        """``log Q(j)``: expected occurrences of each item among one batch's candidates."""
        if self._popularity_on_device.device != items.device:  # copied once, not at every step
            self._popularity_on_device = self.popularity.to(items.device)
        popularity = self._popularity_on_device[items]
        expected = torch.zeros_like(popularity)
        if self.in_batch:
            expected += min(batch_size, self.num_negatives) * popularity
        if self.sampler == "uniform":
            expected += self.num_negatives / self.num_items
        else:
            expected += self.num_negatives * popularity
        return torch.log(expected.clamp_min(1e-12))

    def __call__(
        self,
        hidden: torch.Tensor,
        item_vectors: torch.Tensor,
        targets: torch.Tensor,
        repeat_bias: tuple[torch.Tensor, torch.Tensor] | None = None,
        negatives: torch.Tensor | None = None,
    ) -> torch.Tensor:
        N = hidden.shape[0]
        negatives = self.sample_negatives(hidden.device) if negatives is None else negatives
        others = []
        if self.in_batch:
            keep = _to_device(
                torch.randperm(N, generator=self.generator)[: self.num_negatives], targets.device
            )
            others = [targets[keep] if self.num_negatives < N else targets]
        candidates = torch.cat([*others, negatives])  # (C,)
        positive = _paired_scores(hidden, item_vectors[targets])[:, None]  # (N, 1)
        logits = dot_scores(hidden, item_vectors[candidates])  # (N, C)
        if repeat_bias is not None:
            history, bias = repeat_bias
            positive = positive + bias * (history == targets[:, None]).any(-1, keepdim=True)
            logits = logits + bias * _rows_contain(history, candidates)
        positive = positive - self.log_q(targets, N)[:, None]
        logits = logits - self.log_q(candidates, N)[None]
        logits = logits.masked_fill(
            candidates[None] == targets[:, None], float("-inf")
        )  # accidental hits
        all_logits = torch.cat(
            [positive, logits], dim=1
        ).float()  # (N, 1 + C); the answer is column 0
        return F.cross_entropy(all_logits, torch.zeros(N, dtype=torch.int64, device=hidden.device))


class PerTargetNegativesLoss:
    """Each target against its own ``num_negatives`` uniform negatives (eSASRec, gSASRec).

    Unlike :class:`SampledSoftmaxLoss`, no negative is shared between targets and there is no
    log-Q correction (uniform sampling shifts every logit by the same constant). A negative equal to
    its row's target is masked. ``objective`` is ``softmax`` (cross-entropy over the target and its
    negatives) or ``gbce``: generalised binary cross-entropy (Petrov & Macdonald, 2023), which
    raises the positive's probability to the power ``beta = 1 - t (1 - K / (I - 1))`` so that
    sigmoid scores stay calibrated despite sampling; ``t = 0`` is plain BCE.
    """

    def __init__(
        self,
        num_items: int,
        num_negatives: int = 256,
        objective: str = "softmax",
        gbce_t: float = 0.75,
        generator: torch.Generator | None = None,
    ) -> None:
        if objective not in ("softmax", "gbce"):
            raise ValueError(f"unknown sampled objective '{objective}' (softmax or gbce)")
        if num_negatives < 1:
            raise ValueError(f"per-target negatives must be >= 1, got {num_negatives}")
        self.num_items, self.num_negatives, self.objective = num_items, num_negatives, objective
        alpha = num_negatives / max(num_items - 1, 1)
        self.beta = 1.0 - gbce_t * (1.0 - alpha)
        self.generator = generator

    def __call__(
        self,
        hidden: torch.Tensor,
        item_vectors: torch.Tensor,
        targets: torch.Tensor,
        repeat_bias: tuple[torch.Tensor, torch.Tensor] | None = None,
        negatives: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean loss over the ``N`` targets; ``negatives`` ``(N, K)`` replaces the random draw."""
        if negatives is None:
            shape = (len(targets), self.num_negatives)
            drawn = torch.randint(1, self.num_items + 1, shape, generator=self.generator)
            negatives = _to_device(drawn, targets.device)
        candidates = torch.cat([targets[:, None], negatives], dim=1)  # (N, 1 + K); target first
        logits = _candidate_scores(hidden, item_vectors[candidates])  # (N, 1 + K)
        if repeat_bias is not None:
            history, bias = repeat_bias
            seen = (candidates[:, :, None] == history[:, None, :]) & (history[:, None, :] != 0)
            logits = logits + bias * seen.any(-1)
        hits = torch.cat([torch.zeros_like(targets[:, None]), negatives], 1) == targets[:, None]
        logits = logits.float()
        if self.objective == "softmax":
            logits = logits.masked_fill(hits, float("-inf"))
            zeros = torch.zeros(len(targets), dtype=torch.int64, device=logits.device)
            return F.cross_entropy(logits, zeros)
        positive = self.beta * F.softplus(-logits[:, 0])
        negative = F.softplus(logits[:, 1:]).masked_fill(hits[:, 1:], 0.0).sum(-1)
        return ((positive + negative) / candidates.shape[1]).mean()


def _candidate_scores(hidden: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """``(N, C)``: row n's hidden state ``(N, D)`` (or best of ``(N, M, D)``) against its own
    candidates ``vectors`` ``(N, C, D)``."""
    if hidden.dim() == 3:
        return torch.einsum("nmd,ncd->nmc", hidden, vectors).amax(dim=1)
    return torch.einsum("nd,ncd->nc", hidden, vectors)


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a host tensor drawn by the CPU generator; via pinned memory to CUDA, so the copy does
    not wait."""
    return t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t.to(device)


def _paired_scores(hidden: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """``(N,)``: row n's hidden state (or best of its K vectors) against its own ``vectors[n]``."""
    if hidden.dim() == 3:
        return (hidden * vectors[:, None]).sum(-1).amax(dim=1)
    return (hidden * vectors).sum(-1)


def _rows_contain(history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """``(N, C)`` float: 1 where candidate ``c`` is among row ``n``'s history items (0 is
    padding)."""
    ordered = history.sort(dim=1).values  # (N, T)
    values = candidates[None].expand(history.shape[0], -1).contiguous()  # (N, C)
    pos = torch.searchsorted(ordered, values).clamp_max(history.shape[1] - 1)
    return ((ordered.gather(1, pos) == values) & (values != 0)).float()
