"""The pre-training run folder: complete, atomic, and usable by `train --init`, `evaluate` and
`embed`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import chronorec
from chronorec.errors import ChronorecError
from chronorec.pretrain import PretrainConfig, pretrain
from chronorec.runs.training import train_run
from chronorec.training.config import TrainConfig

TINY = {"dim": 16, "layers": 1, "heads": 1}


def _pretrain(data, out, objective="cloze", **kw):
    options = {
        "model_params": TINY,
        "max_len": 10,
        "batch_size": 16,
        "epochs": 2,
        "device": "cpu",
        "progress": False,
    }
    options.update(kw)
    return pretrain(data.path, objective, "sasrec", out, **options)


@pytest.mark.parametrize("objective", ["cloze", "contrastive", "autoencoder"])
def test_run_folder_is_complete_and_loadable(ring_dataset, tmp_path, objective):
    result = _pretrain(ring_dataset, tmp_path / "pre", objective)
    assert result.epochs == 2 and len(result.losses) == 2 and result.windows > 0
    for name in (
        "config.toml",
        "pretrain.toml",
        "model.safetensors",
        "model.json",
        "history.json",
        "pretrain.json",
        "curve.png",
    ):
        assert (tmp_path / "pre" / name).is_file(), name
    assert not list((tmp_path / "pre").glob(".*tmp"))
    config = TrainConfig.load(tmp_path / "pre" / "config.toml")
    assert (config.model, config.model_params, config.max_len) == ("sasrec", TINY, 10)
    assert PretrainConfig.load(tmp_path / "pre" / "pretrain.toml").objective == objective
    assert json.loads((tmp_path / "pre" / "pretrain.json").read_text())["objective"] == objective
    # A pre-trained run evaluates like any run (its next-item scores are the encoder's).
    ev = chronorec.evaluate(tmp_path / "pre", device="cpu")
    assert 0.0 <= ev.metrics["NDCG@10"] <= 1.0


def test_fine_tuning_starts_from_the_pretrained_weights(ring_dataset, tmp_path):
    _pretrain(ring_dataset, tmp_path / "pre", "contrastive")
    source = load_file(str(tmp_path / "pre" / "model.safetensors"))
    config = TrainConfig(
        data=str(ring_dataset.path),
        model="sasrec",
        model_params=TINY,
        max_len=10,
        batch_size=16,
        epochs=1,
        init=str(tmp_path / "pre"),
        device="cpu",
    )
    from chronorec.models import build_model
    from chronorec.runs.checkpoint import init_from

    model = build_model("sasrec", TINY, num_items=ring_dataset.num_items, max_len=10)
    copied = init_from(model, tmp_path / "pre")
    assert set(copied) == set(source)  # the objective's own heads are never in the model file
    for name in copied:
        assert torch.equal(model.state_dict()[name], source[name])
    result = train_run(config, tmp_path / "fine", show_progress=False)
    assert result.best_epoch == 1


def test_same_seed_same_losses(ring_dataset, tmp_path):
    a = _pretrain(ring_dataset, tmp_path / "a", "contrastive")
    b = _pretrain(ring_dataset, tmp_path / "b", "contrastive")
    assert a.losses == b.losses


def test_max_users_limits_the_windows(ring_dataset, tmp_path):
    full = _pretrain(ring_dataset, tmp_path / "a", epochs=1)
    part = _pretrain(ring_dataset, tmp_path / "b", epochs=1, max_users=10)
    assert part.windows < full.windows


def test_text_features_are_pretrained_and_reloaded(ring_dataset, tmp_path):
    from chronorec.models.text import TextItemEmbedding, _centre, item_text_vectors
    from chronorec.runs.load import load_run

    class FakeEncoder:  # stands in for the sentence encoder: the cache then serves the runner
        def encode(self, texts, **_):
            rng = np.random.default_rng(len(texts))
            v = rng.standard_normal((len(texts), 384)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    vectors = item_text_vectors(ring_dataset, encoder=FakeEncoder())
    _pretrain(ring_dataset, tmp_path / "pre", "autoencoder", text_features=True)
    run = load_run(tmp_path / "pre")
    model = run.model
    assert isinstance(model.item_embedding, TextItemEmbedding)
    assert run.description["text_features"] and run.description["text_dim"] == 384
    assert np.allclose(
        model.item_embedding.text.numpy(), _centre(torch.from_numpy(vectors)).numpy(), atol=1e-6
    )
    from chronorec.data.split import leave_one_out, training_items

    known = training_items(ring_dataset, leave_one_out(ring_dataset).train_end)
    assert np.array_equal(model.item_embedding.known.numpy().astype(bool), known)


def test_bad_options_are_clear_errors(ring_dataset, tmp_path):
    with pytest.raises(ChronorecError, match="unknown pre-training objective"):
        _pretrain(ring_dataset, tmp_path / "x", "jigsaw")
    with pytest.raises(ChronorecError, match="not a neural sequence model"):
        pretrain(ring_dataset.path, "cloze", "pop", tmp_path / "y", epochs=1, progress=False)
    with pytest.raises(ChronorecError, match="has no setting"):
        _pretrain(ring_dataset, tmp_path / "z", objective_params={"temp": 0.1})
    with pytest.raises(ChronorecError, match="no dataset"):
        pretrain(None, "cloze", "sasrec", tmp_path / "w")
