"""Loading weights saved by an earlier revision of a model."""

import pytest
import torch

from chronorec.errors import ChronorecError
from chronorec.models import build_model
from chronorec.models.weights import load_state_into


def _lstm_attn() -> torch.nn.Module:
    return build_model(
        "lstm-attn", {"dim": 8, "heads": 2}, num_items=20, num_event_types=3, max_len=10
    )


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


def _text_model() -> torch.nn.Module:
    from chronorec.models import ItemText, ModelParts

    text = ItemText(torch.randn(21, 384), known=torch.arange(21) % 2)
    return build_model(
        "sasrec",
        {"dim": 8, "layers": 1, "heads": 1},
        num_items=20,
        max_len=10,
        parts=ModelParts(item_text=text),
    )


def test_model_json_describes_text_features_and_load_rebuilds_from_it(tmp_path):
    import json

    from chronorec.models.text import TextItemEmbedding
    from chronorec.runs.checkpoint import load_model, save_model

    saved = _text_model()
    save_model(tmp_path, saved, {"epoch": 1})
    meta = json.loads((tmp_path / "model.json").read_text())
    assert (meta["text_features"], meta["text_dim"], meta["epoch"]) == (True, 384, 1)
    model, _ = load_model(tmp_path)
    assert isinstance(model.item_embedding, TextItemEmbedding)
    for name, value in saved.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    plain = build_model("sasrec", {"dim": 8}, num_items=20, max_len=10)
    (tmp_path / "plain").mkdir()
    save_model(tmp_path / "plain", plain)
    assert json.loads((tmp_path / "plain" / "model.json").read_text())["text_features"] is False
    assert isinstance(load_model(tmp_path / "plain")[0].item_embedding, torch.nn.Embedding)


def test_model_json_without_the_text_key_loads_by_the_weight_names(tmp_path):
    """Run folders written before model.json recorded text features (the legacy path)."""
    import json

    from chronorec.models.text import TextItemEmbedding
    from chronorec.runs.checkpoint import load_model, save_model

    saved = _text_model()
    save_model(tmp_path, saved)
    meta = json.loads((tmp_path / "model.json").read_text())
    del meta["text_features"], meta["text_dim"]
    (tmp_path / "model.json").write_text(json.dumps(meta))
    model, _ = load_model(tmp_path)
    assert isinstance(model.item_embedding, TextItemEmbedding)
    assert torch.equal(model.item_embedding.known, saved.item_embedding.known)
