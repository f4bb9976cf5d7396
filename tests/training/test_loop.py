"""The training loop in parts: callbacks decide when to stop, early stopping keeps the best epoch,
and a frozen config changes only through validated copies."""

from __future__ import annotations

import dataclasses
import math

import pytest

from chronorec.errors import ChronorecError
from chronorec.models.sasrec import SASRecConfig
from chronorec.training.callbacks import EarlyStopping, EveryEpoch, TimeLimit
from chronorec.training.config import TrainConfig
from chronorec.training.loop import Callback, LoopState, run_epochs


def _epochs(losses: list[float]):
    """An epoch function that trains nothing and reports ``losses`` in turn."""

    def run_epoch(epoch, on_batch):
        on_batch(4)
        return {"epoch": epoch, "loss": losses[epoch - 1]}

    return run_epoch


def _scripted(scores: list[float]):
    """A validation function returning ``scores`` in turn, as NDCG@10."""
    it = iter(scores)
    return lambda: {"NDCG@10": next(it)}


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience():
    best: list[tuple[int, float]] = []
    stopping = EarlyStopping(
        _scripted([0.1, 0.3, 0.2, 0.25, 0.29, 0.5]),
        patience=3,
        on_best=lambda epoch, valid: best.append((epoch, valid["NDCG@10"])),
    )
    state = run_epochs(_epochs([1.0] * 10), LoopState(), epochs=10, callbacks=[stopping])
    assert [h["epoch"] for h in state.history] == [1, 2, 3, 4, 5]  # 3 epochs without a better score
    assert best == [(1, 0.1), (2, 0.3)]
    assert (state.best_epoch, state.best_score, state.bad_epochs) == (2, 0.3, 3)
    assert [h["valid"]["NDCG@10"] for h in state.history] == [0.1, 0.3, 0.2, 0.25, 0.29]
    assert state.seconds_to_best == state.history[1]["seconds"]


def test_validation_every_n_epochs_and_at_the_last_one():
    stopping = EarlyStopping(_scripted([0.1, 0.2, 0.3]), patience=10, every=2, last_epoch=5)
    state = run_epochs(_epochs([1.0] * 5), LoopState(), epochs=5, callbacks=[stopping])
    assert [h["epoch"] for h in state.history if "valid" in h] == [2, 4, 5]
    assert state.best_epoch == 5


def test_a_resumed_state_past_its_patience_trains_no_more():
    stopping = EarlyStopping(_scripted([]), patience=2)
    state = LoopState(epoch=4, bad_epochs=2, history=[{"epoch": e} for e in range(1, 5)])
    assert run_epochs(_epochs([1.0] * 9), state, epochs=9, callbacks=[stopping]).epoch == 4


def test_time_limit_and_callback_order():
    calls: list[str] = []

    class Spy(Callback):
        def on_epoch_start(self, epoch):
            calls.append(f"start {epoch}")

        def on_batch_end(self, sequences):
            calls.append(f"batch {sequences}")

        def on_epoch_end(self, state, record):
            calls.append(f"end {record['epoch']}")
            assert "seconds" not in record  # still inside the epoch's time

        def after_epoch(self, state):
            calls.append(f"after {state.history[-1]['epoch']}")

    recorded: list[int] = []
    state = run_epochs(
        _epochs([3.0, 2.0, 1.0]),
        LoopState(),
        epochs=3,
        callbacks=[Spy(), TimeLimit(0.0), EveryEpoch(lambda s: recorded.append(s.epoch))],
    )
    assert calls[:4] == ["start 1", "batch 4", "end 1", "after 1"] and len(calls) == 12
    assert recorded == [1, 2, 3] and [h["loss"] for h in state.history] == [3.0, 2.0, 1.0]
    assert all(h["seconds"] >= 0 and h["cpu_seconds"] >= 0 for h in state.history)
    limited = LoopState(elapsed=5.0)
    assert run_epochs(_epochs([1.0]), limited, epochs=1, callbacks=[TimeLimit(5.0)]).history == []


def test_fresh_state_has_seen_no_improvement():
    state = LoopState()
    assert (state.epoch, state.best_epoch, state.best_score) == (0, 0, -math.inf)


def test_config_is_frozen_and_changes_through_validated_copies():
    config = TrainConfig(data="d", model_params={"dim": 8})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3  # type: ignore[misc]
    seeded = config.with_overrides(seed=3, lr=2e-3)
    assert (seeded.seed, seeded.lr, config.seed) == (3, 2e-3, 0)
    assert config.model_settings() == SASRecConfig(dim=8)
    with pytest.raises(ChronorecError, match="unknown training option"):
        config.with_overrides(sed=3)
    with pytest.raises(ChronorecError, match="training option epochs must be >= 1"):
        config.with_overrides(epochs=0)
    with pytest.raises(ChronorecError, match="model 'sasrec' has no setting depth"):
        config.with_overrides(model_params={"depth": 2})


def test_config_toml_is_unchanged():
    """The saved config.toml of a run: reruns depend on these bytes (new options are added at their
    defaults, which keep the behaviour of runs written before them)."""
    expected = (
        'data = "d"\nmodel = "sasrec"\nsplit = "loo"\nmax_len = 50\nstride = 0\nbatch_size = 128\n'
        "epochs = 200\nlr = 0.001\nweight_decay = 0.0\ngrad_clip = 1.0\n"
        'lr_schedule = "constant"\nwarmup_epochs = 0\npatience = 20\neval_every = 1\nseed = 0\n'
        'ks = [\n    10,\n    20,\n]\nexclude_seen = false\ndevice = "auto"\nthreads = 0\n'
        "max_train_seconds = 0.0\namp = false\ncompile = false\neval_memory_mb = 256.0\n"
        'loss = "full"\nnegatives = 256\nnegative_sampler = "uniform"\nin_batch_negatives = true\n'
        'negatives_per_target = false\nsampled_objective = "softmax"\ngbce_t = 0.75\n'
        'text_features = false\ninit = ""\nwarm_start = ""\nold_per_new = 0.0\n'
        "warm_shrink = 1.0\n\n"
        "[model_params]\ndim = 8\n"
    )
    assert TrainConfig(data="d", model_params={"dim": 8}).to_toml() == expected
