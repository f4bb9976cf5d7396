"""Training a run: fixed seeds reproduce metrics, resume equals an uninterrupted run, the run
folder is complete."""

import json

import pytest

from chronorec.errors import ChronorecError
from chronorec.runs.training import train_run
from chronorec.training.config import TrainConfig


def _config(data_path, **kw) -> TrainConfig:
    base = dict(
        data=str(data_path),
        model="sasrec",
        max_len=10,
        batch_size=16,
        epochs=3,
        patience=50,
        model_params={"dim": 16, "layers": 1, "heads": 1},
    )
    base.update(kw)
    return TrainConfig(**base)


def test_same_seed_same_metrics_and_complete_run_folder(ring_dataset, tmp_path):
    a = train_run(_config(ring_dataset.path), tmp_path / "a", show_progress=False)
    b = train_run(_config(ring_dataset.path), tmp_path / "b", show_progress=False)
    assert a.valid == b.valid and a.test == b.test
    for name in (
        "config.toml",
        "model.safetensors",
        "model.json",
        "checkpoint.pt",
        "history.json",
        "metrics.json",
        "curve.png",
    ):
        assert (tmp_path / "a" / name).is_file(), name
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["exclude_seen"] is False and metrics["split"] == "loo"
    assert not list(tmp_path.glob("a/.*tmp"))  # no temporaries left behind


def test_resume_gives_the_same_result_as_an_uninterrupted_run(ring_dataset, tmp_path):
    full = train_run(_config(ring_dataset.path, epochs=4), tmp_path / "full", show_progress=False)
    train_run(_config(ring_dataset.path, epochs=2), tmp_path / "part", show_progress=False)
    resumed = train_run(
        _config(ring_dataset.path, epochs=4), tmp_path / "part", resume=True, show_progress=False
    )
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    assert resumed.valid == full.valid and resumed.test == full.test


def test_config_round_trips_through_toml(tmp_path):
    cfg = _config("somewhere", model_params={"dim": 32, "dropout": 0.5}, ks=[5, 10])
    cfg.save(tmp_path / "c.toml")
    assert TrainConfig.load(tmp_path / "c.toml") == cfg


def test_bad_config_is_a_clear_error(tmp_path):
    (tmp_path / "c.toml").write_text('model = "sasrec"\nbogus = 1\n')
    with pytest.raises(ChronorecError, match="bogus"):
        TrainConfig.load(tmp_path / "c.toml")
    with pytest.raises(ChronorecError, match="no setting"):
        train_run(_config(tmp_path, model_params={"depth": 3}), tmp_path / "r", show_progress=False)


def test_sequence_model_learns_the_ring_and_beats_pop(ring_dataset, tmp_path):
    pop = train_run(
        _config(ring_dataset.path, model="pop", model_params={}),
        tmp_path / "pop",
        show_progress=False,
    )
    sas = train_run(
        _config(ring_dataset.path, epochs=30, lr=5e-3), tmp_path / "sas", show_progress=False
    )
    assert sas.valid["NDCG@10"] > pop.valid["NDCG@10"] + 0.2


def test_init_copies_matching_weights_from_another_run(ring_dataset, tmp_path):
    import torch
    from safetensors.torch import load_file

    first = train_run(_config(ring_dataset.path, epochs=2), tmp_path / "first", show_progress=False)
    train_run(
        _config(ring_dataset.path, epochs=1, init=str(first.run_dir), lr=1e-9),
        tmp_path / "second",
        show_progress=False,
    )
    a, b = (
        load_file(str(tmp_path / "first/model.safetensors")),
        load_file(str(tmp_path / "second/model.safetensors")),
    )
    torch.testing.assert_close(
        a["item_embedding.weight"], b["item_embedding.weight"], atol=1e-5, rtol=0
    )
    with pytest.raises(ChronorecError, match="no model.safetensors"):
        train_run(
            _config(ring_dataset.path, init=str(tmp_path)), tmp_path / "third", show_progress=False
        )


def test_sampled_softmax_training_learns_the_ring(ring_dataset, tmp_path):
    pop = train_run(
        _config(ring_dataset.path, model="pop", model_params={}),
        tmp_path / "pop",
        show_progress=False,
    )
    sampled = train_run(
        _config(ring_dataset.path, epochs=30, lr=5e-3, loss="sampled", negatives=8),
        tmp_path / "s",
        show_progress=False,
    )
    assert sampled.valid["NDCG@10"] > pop.valid["NDCG@10"] + 0.2


def test_cosine_schedule_decays_to_zero_and_is_deterministic(ring_dataset, tmp_path):
    import torch

    cfg = dict(lr_schedule="cosine", warmup_epochs=1, epochs=4)
    full = train_run(_config(ring_dataset.path, **cfg), tmp_path / "full", show_progress=False)

    state = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["lr"] < 1e-6  # decayed to ~0 at the last epoch
    assert [h["loss"] for h in full.history] == [
        h["loss"]
        for h in train_run(
            _config(ring_dataset.path, **cfg), tmp_path / "again", show_progress=False
        ).history
    ]


def test_saved_model_reads_only_items_with_a_training_event(tmp_path, capsys):
    import torch
    from safetensors.torch import load_file, save_file

    from chronorec.api import load_run
    from chronorec.data.dataset import load_dataset
    from chronorec.data.split import leave_one_out, training_items
    from tests.conftest import synthetic_sequences, write_prepared

    sequences = synthetic_sequences(num_users=20)
    sequences["u0"][-2] = (
        "fresh",
        sequences["u0"][-2][1],
    )  # an item seen only as a validation target
    data = load_dataset(write_prepared(tmp_path / "data", sequences))
    train_run(_config(data.path, epochs=1), tmp_path / "run", show_progress=False)
    assert "of validation targets are items with no training event" in capsys.readouterr().err
    untrained = json.loads((tmp_path / "run" / "metrics.json").read_text())["untrained_targets"]
    assert untrained["valid"] == pytest.approx(1 / 20) and untrained["test"] == 0.0
    model = load_run(tmp_path / "run").model
    expected = training_items(data, leave_one_out(data).train_end)
    assert not expected[data.item_index("fresh")]
    assert torch.equal(model.readable_items, torch.from_numpy(expected))
    # Weights saved before the flags existed still load, reading every item as before.
    weights = tmp_path / "run" / "model.safetensors"
    save_file(
        {k: v for k, v in load_file(str(weights)).items() if k != "readable_items"}, str(weights)
    )
    assert bool(load_run(tmp_path / "run").model.readable_items.all())
