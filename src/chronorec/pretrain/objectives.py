"""Self-supervised pre-training objectives for any :class:`~chronorec.models.base.SequenceModel`.

Each objective is an ``nn.Module`` wrapping the model being pre-trained, plus the few parameters
only pre-training needs (a mask vector, a projection head); only the model's weights are saved, so
fine-tuning (``chronorec train --init``) starts from exactly what a normal run would build. An
objective is called on a batch of training windows ``(B, L + 1)`` (see
:func:`~chronorec.data.batches.train_windows`) and returns ``(loss, named parts)``.

- ``cloze``: masked-item prediction. Models here are causal (position t only sees events ``<= t``),
  so a masked event at position t is predicted from the hidden state at t - 1, the last state that
  cannot see it; masking the other targets hides them from later positions, which makes the task a
  denoising one rather than plain next-item prediction.
- ``contrastive``: InfoNCE between two augmented views (crop / mask / reorder) of each sequence,
  with the other sequences of the batch as negatives.
- ``autoencoder``: encode the sequence to its last hidden state and reconstruct the bag of its items
  with a softmax over the catalogue.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from chronorec.data.batches import SeqBatch
from chronorec.data.schema import PAD
from chronorec.errors import ChronorecError
from chronorec.models.base import SequenceModel
from chronorec.models.losses import full_softmax_loss
from chronorec.pretrain.augment import AugmentConfig, cloze_mask, mask, random_view


@dataclass(frozen=True)
class ObjectiveConfig:
    """Settings of the objectives (each uses its own)."""

    mask_prob: float = 0.2  # cloze: share of events hidden and predicted
    temperature: float = 0.2  # contrastive: InfoNCE temperature
    crop: float = 0.6  # contrastive: share of events a crop keeps
    mask: float = 0.3  # contrastive: share of events a mask view hides
    reorder: float = 0.3  # contrastive: share of events a reorder view shuffles
    projection_dim: int = 0  # contrastive: size of the projection head's output (0: the model's)
    # autoencoder: share of input events masked (denoising); 0 keeps the input whole
    corrupt: float = 0.0

    def validate(self) -> ObjectiveConfig:
        for name in ("mask_prob", "crop", "mask", "reorder"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ChronorecError(f"pre-training option {name} must be in (0, 1], got {value}")
        if not 0 <= self.corrupt < 1:
            raise ChronorecError(
                f"pre-training option corrupt must be in [0, 1), got {self.corrupt}"
            )
        if self.temperature <= 0:
            raise ChronorecError(
                f"pre-training option temperature must be > 0, got {self.temperature}"
            )
        return self


class MaskToken(nn.Module):
    """A learned input vector for masked events, spliced into a model's item-embedding lookup.

    Masked positions carry ``mask_id = num_items + 1`` in the batch, so every model treats them as
    real events (only id 0 is padding); while :meth:`installed` is active, the embedding looks them
    up as padding and the hook puts this vector in their place. The model itself is left unchanged.
    """

    def __init__(self, num_items: int, dim: int) -> None:
        super().__init__()
        self.mask_id = num_items + 1
        self.vector = nn.Parameter(torch.randn(dim) * 0.02)

    @contextlib.contextmanager
    def installed(self, model: SequenceModel) -> Iterator[None]:
        embedding = model.item_embedding
        hidden: list[torch.Tensor] = []

        def before(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
            ids = args[0]
            masked = ids == self.mask_id
            hidden.append(masked)
            return (ids.masked_fill(masked, PAD), *args[1:])

        def after(module: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> torch.Tensor:
            masked = hidden.pop()
            return torch.where(masked[..., None], self.vector.to(out.dtype), out)

        handles = [
            embedding.register_forward_pre_hook(before),
            embedding.register_forward_hook(after),
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def _inputs(window: SeqBatch, items: torch.Tensor) -> SeqBatch:
    """Model inputs from a window ``(B, L + 1)``: the first L columns (``items`` replaces the
    item ids)."""
    ev = None if window.event_types is None else window.event_types[:, :-1]
    return SeqBatch(
        items[:, :-1], window.timestamps[:, :-1], ev, window.users, window.timestamps[:, -2]
    )


def _latest(window: SeqBatch) -> SeqBatch:
    """The last L events of a window ``(B, L + 1)``: what the model sees when it predicts next."""
    ev = None if window.event_types is None else window.event_types[:, 1:]
    return SeqBatch(
        window.items[:, 1:], window.timestamps[:, 1:], ev, window.users, window.timestamps[:, -1]
    )


def model_dim(model: SequenceModel) -> int:
    return int(model.item_vectors().shape[1])


class Objective(nn.Module):
    """Base class: holds the model (as ``self.model``) and computes a loss on a batch of windows."""

    name: ClassVar[str]

    def __init__(self, model: SequenceModel, config: ObjectiveConfig) -> None:
        super().__init__()
        if not isinstance(model, SequenceModel):
            raise ChronorecError(
                f"model '{getattr(model, 'name', model)}' is not a neural sequence model;"
                " it cannot be pre-trained"
            )
        self.model = model
        self.config = config.validate()

    def prepare(
        self, window: SeqBatch, generator: torch.Generator | None = None
    ) -> tuple[Any, ...]:
        """The random part of a step (masks, views) on the host: the arguments of :meth:`loss`."""
        raise NotImplementedError

    def loss(self, *prepared: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss and its named parts from what :meth:`prepare` returned (moved to the model's
        device)."""
        raise NotImplementedError

    def forward(
        self, window: SeqBatch, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Prepare on the host (a CPU generator: the same draws on any device), then the loss on
        the device."""
        device = next(self.parameters()).device
        prepared = self.prepare(window.to("cpu"), generator)
        return self.loss(*(p.to(device) for p in prepared))


class Cloze(Objective):
    """Masked-item prediction; a causal model predicts each masked event from the position
    before it."""

    name = "cloze"

    def __init__(self, model: SequenceModel, config: ObjectiveConfig) -> None:
        super().__init__(model, config)
        self.mask_token = MaskToken(model.num_items, model_dim(model))

    def prepare(
        self, window: SeqBatch, generator: torch.Generator | None = None
    ) -> tuple[SeqBatch, torch.Tensor, torch.Tensor]:
        """``(inputs (B, L), targets (B, L) bool, target items (B, L))``: column t predicts
        window column t + 1."""
        masked, chosen = cloze_mask(
            window.items, self.config.mask_prob, self.mask_token.mask_id, generator
        )
        return _inputs(window, masked), chosen[:, 1:], window.items[:, 1:]

    def loss(
        self, inputs: SeqBatch, targets: torch.Tensor, items: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with self.mask_token.installed(self.model):
            hidden = self.model.encode(inputs)  # (B, L, D)
        loss = full_softmax_loss(hidden[targets], self.model.item_vectors(), items[targets])
        return loss, {"cloze": loss.detach()}


class Contrastive(Objective):
    """InfoNCE between two augmented views of each sequence; the batch's other sequences are
    negatives."""

    name = "contrastive"

    def __init__(self, model: SequenceModel, config: ObjectiveConfig) -> None:
        super().__init__(model, config)
        dim = model_dim(model)
        self.mask_token = MaskToken(model.num_items, dim)
        out = config.projection_dim or dim
        # A projection head, as in SimCLR: the loss shapes its output, and the encoder's states keep
        # what the head discards (better for the fine-tuning task).
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out))
        self.augment = AugmentConfig(config.crop, config.mask, config.reorder)

    def prepare(
        self, window: SeqBatch, generator: torch.Generator | None = None
    ) -> tuple[SeqBatch, SeqBatch]:
        seq = _latest(window)
        mask_id = self.mask_token.mask_id
        return random_view(seq, self.augment, mask_id, generator), random_view(
            seq, self.augment, mask_id, generator
        )

    def loss(self, a: SeqBatch, b: SeqBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        B = a.items.shape[0]
        both = SeqBatch(
            torch.cat([a.items, b.items]),
            torch.cat([a.timestamps, b.timestamps]),
            None
            if a.event_types is None or b.event_types is None
            else torch.cat([a.event_types, b.event_types]),
            None if a.users is None else torch.cat([a.users, a.users]),
            None
            if a.query_time is None or b.query_time is None
            else torch.cat([a.query_time, b.query_time]),
        )
        with self.mask_token.installed(self.model):
            z = self.model.encode(both)[:, -1]  # (2B, D): the state after each view
        z = F.normalize(self.head(z).float(), dim=-1)
        logits = z @ z.T / self.config.temperature  # (2B, 2B)
        idx = torch.arange(2 * B, device=z.device)
        positive = (idx + B) % (2 * B)  # view i of a sequence pairs with view i + B
        hide = torch.eye(2 * B, dtype=torch.bool, device=z.device)
        if both.users is not None:
            # Windows of the same user are not negatives of each other (one user's long history is
            # cut into several windows); their own view pair stays the positive.
            hide |= both.users[:, None] == both.users[None, :]
            hide[idx, positive] = False
        logits = logits.masked_fill(hide, float("-inf"))
        loss = F.cross_entropy(logits, positive)
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == positive).float().mean()
        return loss, {"infonce": loss.detach(), "accuracy": accuracy}


class AutoEncoder(Objective):
    """Encode a sequence to its last hidden state and reconstruct the bag of its items (softmax
    over items)."""

    name = "autoencoder"

    def __init__(self, model: SequenceModel, config: ObjectiveConfig) -> None:
        super().__init__(model, config)
        dim = model_dim(model)
        self.mask_token = MaskToken(model.num_items, dim)
        # Starts as the identity, so the decoder scores items exactly as next-item scoring does
        # (state . item vectors) and the item table learns what fine-tuning will use.
        self.decoder = nn.Linear(dim, dim)
        with torch.no_grad():
            self.decoder.weight.copy_(torch.eye(dim))
            self.decoder.bias.zero_()

    def prepare(
        self, window: SeqBatch, generator: torch.Generator | None = None
    ) -> tuple[SeqBatch, torch.Tensor]:
        seq = _latest(window)
        inputs = (
            mask(seq, self.config.corrupt, self.mask_token.mask_id, generator)
            if self.config.corrupt
            else seq
        )
        return inputs, seq.items  # the bag is always the uncorrupted sequence's items

    def loss(
        self, inputs: SeqBatch, items: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with self.mask_token.installed(self.model):
            z = self.model.encode(inputs)[:, -1]  # (B, D)
        logits = (self.decoder(z) @ self.model.item_vectors().T).float()  # (B, I + 1)
        logits[:, PAD] = float("-inf")
        # (B, I + 1) multi-hot, repeats count once
        bag = torch.zeros_like(logits).scatter_(1, items, 1.0)
        bag[:, PAD] = 0.0
        log_p = torch.log_softmax(logits, dim=-1)
        log_p = log_p.masked_fill(bag == 0, 0.0)  # avoids 0 * -inf at padding
        loss = (-(bag * log_p).sum(1) / bag.sum(1).clamp(min=1)).mean()
        return loss, {"reconstruction": loss.detach()}


OBJECTIVES: dict[str, type[Objective]] = {c.name: c for c in (Cloze, Contrastive, AutoEncoder)}


def build_objective(name: str, model: SequenceModel, config: ObjectiveConfig) -> Objective:
    """The objective registered under ``name`` wrapped around ``model``."""
    try:
        cls = OBJECTIVES[name]
    except KeyError:
        raise ChronorecError(
            f"unknown pre-training objective '{name}' (known: {', '.join(OBJECTIVES)})"
        ) from None
    return cls(model, config)
