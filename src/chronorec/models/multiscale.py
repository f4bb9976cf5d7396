"""``multiscale``: the same history read at several time scales, fused per position by a learned
gate.

Scales: the current session (trailing events whose consecutive gaps are shorter than
``session_gap_minutes``), trailing windows of ``windows_hours`` (by default the last day and the
last week) and the whole visible history (the last ``max_len`` events). A causal Transformer trunk
reads the whole history; each scale then attention-pools the *input* embeddings of the events inside
its window, with a per-scale query from the trunk state. Values come from the events themselves
rather than from trunk states (which summarise everything before them), so a scale's vector holds
only its window's events, and the gate weights say how much the prediction leans on each time scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from chronorec.data.batches import SeqBatch
from chronorec.data.dataset import SequenceData
from chronorec.errors import ChronorecError
from chronorec.models.base import SequenceModel, score_queries
from chronorec.models.layers import (
    TransformerTrunk,
    causal_padding_mask,
    check_block,
    masked_softmax,
)
from chronorec.models.parts import NO_PARTS, ModelParts

WINDOW_NAMES = {24.0: "day", 168.0: "week"}
DAY_SECONDS = 86_400


def window_name(hours: float) -> str:
    """Scale name of a trailing window: ``day``, ``week``, else e.g. ``6h``."""
    return WINDOW_NAMES.get(float(hours), f"{hours:g}h")


def _as_tuple(value: object) -> tuple:
    """Settings from TOML/JSON come back as lists, from ``--set`` maybe as ``"session,all"`` or one
    number."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, (int, float)):
        return (value,)
    return tuple(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MultiScaleConfig:
    dim: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.2
    ffn_mult: int = 4
    block: str = "prenorm"  # prenorm | ligr (gated residual branches, as in eSASRec)
    session_gap_minutes: float = 30.0  # a gap at least this long starts a new session
    # trailing windows before the moment of prediction
    windows_hours: tuple[float, ...] = (24.0, 168.0)
    # scales to use (ablation), e.g. ("session", "all"); empty: all of them
    scales: tuple[str, ...] = ()
    repeat_bias: bool = True  # learn a score offset for items already in the history

    def __post_init__(self) -> None:
        check_block(self.block)
        # TOML and JSON give lists back: keep tuples so the frozen config stays hashable.
        object.__setattr__(
            self, "windows_hours", tuple(float(h) for h in _as_tuple(self.windows_hours))
        )
        object.__setattr__(self, "scales", tuple(str(s) for s in _as_tuple(self.scales)))
        if self.session_gap_minutes <= 0 or any(h <= 0 for h in self.windows_hours):
            raise ChronorecError("multiscale session_gap_minutes and windows_hours must be > 0")
        names = self.available_scales
        if len(set(names)) != len(names):
            raise ChronorecError(
                f"multiscale windows_hours has duplicates: {list(self.windows_hours)}"
            )
        unknown = [s for s in self.scales if s not in names]
        if unknown or len(set(self.scales)) != len(self.scales):
            raise ChronorecError(
                f"multiscale scales {list(self.scales)}: "
                f"choose distinct names from {', '.join(names)}"
            )
        if self.dim % self.heads:
            raise ChronorecError(
                f"multiscale dim {self.dim} is not divisible by heads {self.heads}"
            )

    @property
    def available_scales(self) -> tuple[str, ...]:
        return ("session", *(window_name(h) for h in self.windows_hours), "all")

    @property
    def active_scales(self) -> tuple[str, ...]:
        """Used scales, in the order of :attr:`available_scales`."""
        return tuple(s for s in self.available_scales if not self.scales or s in self.scales)


class MultiScale(SequenceModel):
    """Gated mixture of per-time-scale history encodings.

    Moment of prediction (the end of the day/week windows, and whether the session is still open):
    for every position but the last it is that event's own timestamp; for the last position it is
    ``batch.query_time`` when given (never earlier than the last event), else the last event's time.
    Offline and in training, ``query_time`` is the last input event's time, so both agree; a service
    passing "now" sees windows shrink, and a session whose last gap to now is ``>= session_gap``
    becomes empty. Empty scales are masked out of the gate.
    """

    name = "multiscale"
    config_class = MultiScaleConfig

    def __init__(
        self,
        config: MultiScaleConfig,
        num_items: int,
        num_event_types: int = 0,
        max_len: int = 50,
        parts: ModelParts = NO_PARTS,
    ) -> None:
        super().__init__(config, num_items, num_event_types, max_len, config.dim, parts)
        dim = config.dim
        self.scale_names: tuple[str, ...] = config.active_scales
        self.window_seconds = {window_name(h): int(round(h * 3600)) for h in config.windows_hours}
        self.trunk = TransformerTrunk(
            dim,
            config.layers,
            config.heads,
            config.dropout,
            config.ffn_mult,
            max_len,
            num_event_types,
            block=config.block,
        )
        S = len(self.scale_names)
        # one pooling query per scale, from the full-history state
        self.query = nn.Linear(dim, S * dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        hidden = config.ffn_mult * dim
        self.ffn = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(hidden, dim)
        )
        self.scale_norm = nn.LayerNorm(dim)
        self.gate = nn.Linear(dim, S)

    def data_warnings(self, data: SequenceData) -> list[str]:
        """Scales that hold exactly the same events because every timestamp is a whole day (e.g.
        Amazon)."""
        if len(data.timestamps) == 0 or (data.timestamps % DAY_SECONDS).any():
            return []
        # Gaps are 0 within a day and >= a day across days, so the session and every window up to a
        # day all hold "the events of the last event's day".
        same = [
            s
            for s in self.scale_names
            if s == "session" or self.window_seconds.get(s, DAY_SECONDS + 1) <= DAY_SECONDS
        ]
        if len(same) < 2:
            return []
        keep = [s for s in self.scale_names if s not in same[:-1]]
        message = (
            f"{data.name}: every timestamp is a whole day, so the {', '.join(same)} scales hold"
            " the same events;"
            f" --set scales={','.join(keep)} keeps one of them"
        )
        return [message]

    def reference_times(self, batch: SeqBatch) -> torch.Tensor:
        """Moment of prediction ``(B, T)`` for every position (see the class docstring)."""
        ts = batch.timestamps[:, -self.max_len :]
        if batch.query_time is None:
            return ts
        ref = ts.clone()
        ref[:, -1] = torch.maximum(batch.query_time.to(ts), ts[:, -1])
        return ref

    def scale_masks(self, batch: SeqBatch) -> torch.Tensor:
        """Boolean ``(B, S, T, T)``: query position t may pool key event j for scale s."""
        items = batch.items[:, -self.max_len :]
        ts = batch.timestamps[:, -self.max_len :]  # (B, T)
        valid = items != 0
        T = items.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=items.device).tril()
        base = causal[None] & valid[:, None, :]  # (B, T, T): real keys up to t
        ref = self.reference_times(batch)
        age = (
            ref[:, :, None] - ts[:, None, :]
        )  # (B, T, T): seconds from key event to query's moment
        gap = int(round(self.config.session_gap_minutes * 60))
        masks = []
        for name in self.scale_names:
            if name == "all":
                masks.append(base)
            elif name == "session":
                # A session starts at the first real event and after every gap >= session_gap.
                prev_valid = torch.cat([torch.zeros_like(valid[:, :1]), valid[:, :-1]], dim=1)
                gaps = torch.cat([torch.zeros_like(ts[:, :1]), ts[:, 1:] - ts[:, :-1]], dim=1)
                starts = valid & (~prev_valid | (gaps >= gap))
                session = torch.cumsum(starts, dim=1)  # (B, T), padding-width free
                same = session[:, :, None] == session[:, None, :]
                still_open = (
                    ref - ts
                ) < gap  # (B, T): the moment of prediction is inside the session
                masks.append(base & same & still_open[:, :, None])
            else:
                masks.append(base & (age < self.window_seconds[name]))
        return torch.stack(masks, dim=1)  # (B, S, T, T)

    def scale_states(self, batch: SeqBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-scale states ``(B, T, S, D)`` (zero where empty), gate weights and non-empty flags
        ``(B, T, S)``."""
        items = batch.items[:, -self.max_len :]  # (B, T)
        valid = items != 0
        B, T = items.shape
        x = self.trunk.embed(self.item_embedding(items), items, batch.event_types)  # (B, T, D)
        h = self.trunk(x, causal_padding_mask(valid))  # (B, T, D)
        D, S = h.shape[-1], len(self.scale_names)
        windows = self.scale_masks(batch)  # (B, S, T, T)
        q = self.query(h).view(B, T, S, D).transpose(1, 2)  # (B, S, T, D)
        # (B, T, D): the events themselves, so a scale sees only its window
        k, v = self.key(x), self.value(x)
        logits = q @ k[:, None].transpose(-1, -2) / math.sqrt(D)  # (B, S, T, T)
        attn = masked_softmax(logits, windows)  # (B, S, T, T)
        pooled = attn @ v[:, None]  # (B, S, T, D)
        nonempty = windows.any(-1).transpose(1, 2)  # (B, T, S)
        normed = self.scale_norm(pooled + self.ffn(pooled))  # (B, S, T, D)
        z = normed.transpose(1, 2) * nonempty[..., None]  # (B, T, S, D)
        gate = masked_softmax(self.gate(h), nonempty)  # (B, T, S); all zeros at padding positions
        return z, gate, nonempty

    def encode(self, batch: SeqBatch) -> torch.Tensor:
        z, gate, _ = self.scale_states(batch)
        return (gate[..., None] * z).sum(2)  # (B, T, D)

    def scale_weights(self, batch: SeqBatch) -> torch.Tensor:
        """Gate weights ``(B, S)`` at the moment of prediction, in :attr:`scale_names` order; empty
        scales get 0."""
        return self.scale_states(batch)[1][:, -1]

    def score_by_scale(self, batch: SeqBatch) -> torch.Tensor:
        """Scores ``(B, S, I + 1)`` from each scale alone (gate forced onto it); an empty scale's
        row is all 0."""
        z, _, nonempty = self.scale_states(batch)
        B, S, D = z[:, -1].shape
        # (B * S, T): each scale's row sees the history
        history = batch.items.repeat_interleave(S, dim=0)
        scores = score_queries(
            z[:, -1].reshape(B * S, D), self.item_vectors(), history, self.history_bias()
        )
        return scores.view(B, S, -1) * nonempty[:, -1, :, None]  # (B, S, I + 1)
