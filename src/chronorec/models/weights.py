"""Loading saved weights into a built model, tolerant of buffers that depend on the data."""

from __future__ import annotations

import torch

from chronorec.errors import ChronorecError


def load_state_into(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load weights; buffers whose size depends on the data (e.g. transition lists) are replaced,
    not copied.

    A buffer the saved state lacks keeps its initial value: weights saved before the buffer existed
    (e.g. ``lstm-attn``'s event-type counts, used only in training) still load. Missing or
    unexpected parameters are a mismatch and a :class:`ChronorecError`.
    """
    buffers = dict(model.named_buffers())
    for name, buf in buffers.items():
        if name in state and state[name].shape != buf.shape:
            owner = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
            setattr(owner, name.rpartition(".")[2], state[name].clone())
    missing, unexpected = model.load_state_dict(state, strict=False)
    # A buffer newer than the weights keeps its value.
    missing = [name for name in missing if name not in buffers]
    if missing or unexpected:
        raise ChronorecError(
            f"saved weights do not fit this {type(model).__name__}"
            f" (missing: {', '.join(missing) or 'none'};"
            f" unexpected: {', '.join(unexpected) or 'none'}); retrain the model"
        )
