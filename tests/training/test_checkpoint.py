"""Loading weights saved by an earlier revision of a model."""

import pytest
import torch

from chronorec.errors import ChronorecError
from chronorec.models import build_model
from chronorec.runs.checkpoint import load_state_into


def _lstm_attn() -> torch.nn.Module:
    return build_model("lstm-attn", {"dim": 8, "heads": 2}, num_items=20, num_event_types=3, max_len=10)


def test_weights_saved_before_a_buffer_existed_still_load():
    saved = _lstm_attn()
    state = {k: v for k, v in saved.state_dict().items() if k != "event_counts"}
    model = _lstm_attn()
    model.event_counts.fill_(7.0)  # its own initial value is what must survive
    load_state_into(model, state)
    assert torch.equal(model.item_embedding.weight, saved.item_embedding.weight)
    assert torch.equal(model.event_counts, torch.full_like(model.event_counts, 7.0))


def test_missing_or_unexpected_parameters_are_a_clear_error():
    state = _lstm_attn().state_dict()
    state.pop("project.weight")
    state["no_such.weight"] = torch.zeros(1)
    with pytest.raises(ChronorecError, match="missing: project.weight; unexpected: no_such.weight"):
        load_state_into(_lstm_attn(), state)
