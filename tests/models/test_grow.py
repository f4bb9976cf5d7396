"""``load_grown``: a model over more items continues a saved one, old rows exactly kept."""

from __future__ import annotations

import pytest
import torch

from chronorec.errors import ChronorecError
from chronorec.models import ItemText, ModelParts, build_model
from chronorec.models.weights import load_grown, shrink_towards


def sasrec(num_items: int, text: torch.Tensor | None = None) -> torch.nn.Module:
    parts = ModelParts(item_text=ItemText(text)) if text is not None else ModelParts()
    return build_model(
        "sasrec", {"dim": 16}, num_items=num_items, num_event_types=0, max_len=10, parts=parts
    )


def test_old_rows_are_kept_and_new_ones_start_at_the_mean_item() -> None:
    torch.manual_seed(0)
    old, new = sasrec(30), sasrec(34)
    loaded = load_grown(new, old.state_dict())
    assert "item_embedding.weight" in loaded and "readable_items" not in loaded
    table, grown = old.item_embedding.weight, new.item_embedding.weight
    assert torch.equal(grown[:31], table)
    spread = (grown[31:] - table[1:].mean(0)).abs().max()
    assert 0 < spread < 0.05 * table[1:].std()
    for name, value in old.state_dict().items():  # every other weight is the old one
        if name not in ("item_embedding.weight", "readable_items"):
            assert torch.equal(new.state_dict()[name], value), name


def test_under_text_features_new_id_rows_start_at_zero_and_text_is_the_new_model_s() -> None:
    torch.manual_seed(0)
    old = sasrec(30, torch.randn(31, 8))
    new_text = torch.randn(35, 8)
    new = sasrec(34, new_text)
    text_before = new.item_embedding.text.clone()
    load_grown(new, old.state_dict())
    ids = new.item_embedding.ids.weight
    assert torch.equal(ids[:31], old.item_embedding.ids.weight)
    assert torch.equal(ids[31:], torch.zeros_like(ids[31:]))
    assert torch.equal(new.item_embedding.text, text_before)


def test_a_weight_that_cannot_grow_is_one_clear_line() -> None:
    old = sasrec(30)
    state = dict(old.state_dict())
    key = next(
        k for k in state if k.endswith("weight") and state[k].dim() == 2 and state[k].shape[0] != 31
    )
    state[key] = torch.zeros(state[key].shape[0], state[key].shape[1] + 1)
    with pytest.raises(ChronorecError, match="does not fit"):
        load_grown(sasrec(34), state)


def test_shrinking_moves_every_weight_the_given_share_back_toward_a_fresh_start() -> None:
    torch.manual_seed(0)
    trained, fresh = sasrec(30), sasrec(30)
    before = {name: p.detach().clone() for name, p in trained.named_parameters()}
    start = {name: p.detach().clone() for name, p in fresh.named_parameters()}
    shrink_towards(trained, start, 0.25)
    for name, param in trained.named_parameters():
        assert torch.allclose(param, 0.25 * before[name] + 0.75 * start[name]), name
    shrink_towards(trained, start, 1.0)  # keeping everything changes nothing
    assert torch.allclose(
        trained.item_embedding.weight,
        0.25 * before["item_embedding.weight"] + 0.75 * start["item_embedding.weight"],
    )
