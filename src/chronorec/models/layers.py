"""Building blocks shared by the attention models: masks and a pre-norm causal Transformer block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from chronorec.errors import ChronorecError


def causal_padding_mask(valid: torch.Tensor) -> torch.Tensor:
    """Boolean attention mask ``(B, 1, T, T)``: query t sees keys ``<= t`` that are not padding.

    Every position also sees itself, so padding queries have one key and never produce NaN; their
    outputs are ignored, and no real position ever attends to them.
    """
    T = valid.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=valid.device).tril()  # (T, T)
    mask = causal[None] & valid[:, None, :]  # (B, T, T)
    mask |= torch.eye(T, dtype=torch.bool, device=valid.device)[None]
    return mask[:, None]  # (B, 1, T, T)


def reversed_positions(T: int, device: torch.device) -> torch.Tensor:
    """Position index counted back from the latest event (``T - 1 ... 0``), so padding width never
    matters."""
    return torch.arange(T - 1, -1, -1, device=device)


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` (B, T, D); ``mask`` boolean (B, 1, T, T) or a float bias (B, H, T, T) with -inf
        where hidden."""
        B, T, D = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.heads, D // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, Dh)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(y.transpose(1, 2).reshape(B, T, D))  # (B, T, D)


def small_embedding(num: int, dim: int) -> nn.Embedding:
    """An embedding table with row 0 as padding (always zero) and small normal init (std 0.02).

    Small, because the output layer shares the item table: unit-normal rows start the cross-entropy
    far above ln(num_items) and slow training badly; side tables (event types) must match its scale.
    """
    table = nn.Embedding(num, dim, padding_idx=0)
    nn.init.normal_(table.weight, std=0.02)
    with torch.no_grad():
        table.weight[0].zero_()
    return table


class TransformerBlock(nn.Module):
    """Pre-norm block: ``x + attn(ln(x))`` then ``x + ffn(ln(x))``."""

    def __init__(self, dim: int, heads: int, dropout: float, ffn_mult: int = 4) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.ln_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_mult * dim), nn.GELU(), nn.Linear(ffn_mult * dim, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_attn(x), mask))
        return x + self.drop(self.ffn(self.ln_ffn(x)))


class GatedResidualBlock(nn.Module):
    """LiGR-style block (eSASRec): each branch's output enters the residual stream through a gate.

    ``h = x + sigmoid(W1 x) * attn(ln(x))``, then ``h + sigmoid(W2 h) * swiglu(ln(h))``. The gates
    read the un-normalised stream, so a block can learn to pass its input through untouched.
    """

    def __init__(self, dim: int, heads: int, dropout: float, ffn_mult: int = 4) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.gate_attn = nn.Linear(dim, dim)
        self.ln_ffn = nn.LayerNorm(dim)
        hidden = ffn_mult * dim
        self.ffn_in = nn.Linear(dim, 2 * hidden, bias=False)  # SiLU branch and linear branch
        self.ffn_out = nn.Linear(hidden, dim, bias=False)
        self.gate_ffn = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def swiglu(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.ffn_in(x).chunk(2, dim=-1)
        return self.ffn_out(self.drop(F.silu(gate) * value))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + torch.sigmoid(self.gate_attn(x)) * self.drop(self.attn(self.ln_attn(x), mask))
        return x + torch.sigmoid(self.gate_ffn(x)) * self.drop(self.swiglu(self.ln_ffn(x)))


BLOCKS: dict[str, type[nn.Module]] = {"prenorm": TransformerBlock, "ligr": GatedResidualBlock}


def check_block(block: str) -> None:
    """A one-line error for an unknown block name."""
    if block not in BLOCKS:
        raise ChronorecError(f"unknown block '{block}' (choose {' or '.join(BLOCKS)})")


class TransformerTrunk(nn.Module):
    """The shared causal Transformer: position (and event-type) embeddings, pre-norm blocks, final
    norm.

    ``embed`` turns item vectors into block inputs; ``forward`` runs the blocks under an attention
    mask (boolean, or a float bias with -inf where hidden). Models pass their own mask (e.g. time
    biases) and their own item table, which stays with the model because the output layer shares it.

    ``block`` names the block type: ``prenorm`` (:class:`TransformerBlock`) or ``ligr``
    (:class:`GatedResidualBlock`).
    """

    def __init__(
        self,
        dim: int,
        layers: int,
        heads: int,
        dropout: float,
        ffn_mult: int,
        max_len: int,
        num_event_types: int = 0,
        block: str = "prenorm",
    ) -> None:
        super().__init__()
        self.position_embedding = nn.Embedding(max_len, dim)
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        self.event_embedding = (
            small_embedding(num_event_types + 1, dim) if num_event_types else None
        )
        self.drop = nn.Dropout(dropout)
        check_block(block)
        make_block = BLOCKS[block]
        self.blocks = nn.ModuleList(
            make_block(dim, heads, dropout, ffn_mult) for _ in range(layers)
        )
        self.final_norm = nn.LayerNorm(dim)

    def embed(
        self, item_vectors: torch.Tensor, items: torch.Tensor, event_types: torch.Tensor | None
    ) -> torch.Tensor:
        """Block inputs ``(B, T, D)`` from item vectors ``(B, T, D)``; padding rows stay exactly
        zero."""
        x = item_vectors + self.position_embedding(reversed_positions(items.shape[1], items.device))
        if self.event_embedding is not None and event_types is not None:
            x = x + self.event_embedding(event_types[:, -items.shape[1] :])
        return self.drop(x * (items != 0)[..., None])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return self.final_norm(x)  # (B, T, D)


def left_to_right_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Move each row's last ``lengths[b]`` steps to the front (``x`` is (B, T, ...)). Inverse: ``T -
    lengths``."""
    T = x.shape[1]
    idx = (torch.arange(T, device=x.device)[None] + (T - lengths)[:, None]) % T  # (B, T)
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


def run_rnn_left_padded(rnn: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Run a batch-first RNN over left-padded ``x`` (B, T, D) so that padding never reaches a real
    step.

    Rows are rotated to right padding, where trailing padding comes after every real step and so
    cannot influence it; one dense RNN call (much faster on CPU than packed sequences) and the
    inverse rotation follow. Outputs at padding positions are zero.
    """
    T = x.shape[1]
    out, _ = rnn(left_to_right_padding(x, lengths))  # (B, T, H), right-padded
    valid = torch.arange(T, device=x.device)[None] >= (T - lengths)[:, None]  # (B, T)
    return (
        left_to_right_padding(out, T - lengths) * valid[..., None]
    )  # (B, T, H), left-padded again


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim restricted to ``mask``; rows with nothing allowed are all zeros
    (not NaN)."""
    logits = logits.masked_fill(~mask, float("-inf"))
    logits = logits.masked_fill(~mask.any(-1, keepdim=True), 0.0)  # finite, and zeroed just below
    return torch.softmax(logits, dim=-1) * mask
