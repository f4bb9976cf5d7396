"""Loading saved weights into a built model, tolerant of buffers that depend on the data."""

from __future__ import annotations

import torch

from chronorec.data.batches import TrainWindows
from chronorec.errors import ChronorecError
from chronorec.models.base import SequenceModel


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


# Item-indexed tensors a warm start does not carry over: the new model's own values are right.
# ``readable_items`` and ``known`` are set from the new training data; ``text`` is built from the
# new catalogue's texts (centred over all of its items).
_REBUILT_ITEM_TENSORS = ("readable_items", "item_embedding.known", "item_embedding.text")
NEW_ROW_NOISE = 0.01  # new rows' spread around the mean row, relative to the old rows' spread


@torch.no_grad()
def load_grown(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load ``state``, saved by a model over the first items of ``model``'s catalogue, into
    ``model``; returns the names loaded.

    Tensors of equal shape are copied. An item-indexed tensor (one row per item, row 0 padding)
    keeps its old rows, and each new item's row starts from the mean of the old items' rows plus a
    little noise: the new item scores like an average item until training places it. Under text
    features the new rows of the ID table start at zero instead, so a new item is placed by its
    text alone (and by the shared stand-in while it has no training event).
    """
    target = model.state_dict()
    loaded = []
    for name, value in state.items():
        if name not in target or name in _REBUILT_ITEM_TENSORS:
            continue
        mine = target[name]
        if mine.shape == value.shape:
            mine.copy_(value)
        elif _grows(value, mine):
            mine.copy_(_grown(value, mine.shape[0], from_text=name.endswith(".ids.weight")))
        else:
            raise ChronorecError(
                f"{name}: saved shape {tuple(value.shape)} does not fit {tuple(mine.shape)}"
            )
        loaded.append(name)
    model.load_state_dict(target)
    return loaded


def _grows(old: torch.Tensor, new: torch.Tensor) -> bool:
    return old.dim() >= 1 and old.shape[1:] == new.shape[1:] and 1 < old.shape[0] < new.shape[0]


def _grown(old: torch.Tensor, rows: int, *, from_text: bool) -> torch.Tensor:
    """``old`` with rows appended up to ``rows``: the mean old item row plus noise, or zeros."""
    extra = rows - old.shape[0]
    if from_text or not old.is_floating_point():
        fresh = torch.zeros((extra, *old.shape[1:]), dtype=old.dtype)
    else:
        items = old[1:].float()  # row 0 is padding
        noise = torch.randn((extra, *old.shape[1:])) * items.std(0) * NEW_ROW_NOISE
        fresh = (items.mean(0) + noise).to(old.dtype)
    return torch.cat([old, fresh])


@torch.no_grad()
def place_new_items(model: torch.nn.Module, windows: TrainWindows, first_new: int) -> int:
    """Point each new item's vector (ids ``>= first_new``) at the mean hidden state that precedes
    it in ``windows``, at the old items' mean length; returns how many items were placed.

    A dot-product model scores an item by how well its vector matches the hidden state, so the
    states that came right before an item's occurrences are where its vector must end up: starting
    there, a warm-started model ranks a new item sensibly from its first step, where the mean item
    row would need many epochs to move. Only for models whose query is the last hidden state and
    whose item table is a plain embedding (under text features the text places new items).
    """
    table = getattr(model, "item_embedding", None)
    if not isinstance(table, torch.nn.Embedding) or not _queries_are_last_states(model):
        return 0
    sums = torch.zeros_like(table.weight)
    counts = torch.zeros(table.weight.shape[0])
    was_training = model.training
    model.eval()
    for inputs, targets in windows.batches(256):
        new = targets.items >= first_new
        if new.any():
            hidden = model.encode(inputs)  # type: ignore[operator]
            sums.index_add_(0, targets.items[new], hidden[new].float())
            counts.index_add_(0, targets.items[new], torch.ones(int(new.sum())))
    model.train(was_training)
    placed = torch.nonzero(counts > 0).flatten()
    if len(placed):
        length = table.weight[1:first_new].norm(dim=1).mean()
        means = sums[placed] / counts[placed, None]
        table.weight[placed] = means / means.norm(dim=1, keepdim=True).clamp_min(1e-12) * length
    return len(placed)


@torch.no_grad()
def shrink_towards(model: torch.nn.Module, fresh: dict[str, torch.Tensor], keep: float) -> None:
    """Each floating-point parameter becomes ``keep * itself + (1 - keep) * fresh``, ``fresh``
    being a new initialisation of the same model: "shrink and perturb" (Ash & Adams 2020)."""
    for name, param in model.named_parameters():
        if name in fresh and param.is_floating_point():
            param.mul_(keep).add_(fresh[name].to(param.dtype), alpha=1.0 - keep)


def _queries_are_last_states(model: torch.nn.Module) -> bool:
    return (
        isinstance(model, SequenceModel)
        and type(model).query_vectors is SequenceModel.query_vectors
    )
