"""The data pipeline of training: time waiting for batches is measured and recorded, contiguous
(pinnable)
batches leave CPU training unchanged, and on CUDA the batches are page-locked."""

import json
import time
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from chronorec.data.batches import SeqBatch, TrainWindows, train_windows
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.data.schema import PAD
from chronorec.data.split import make_split
from chronorec.runs.training import train_run
from chronorec.training.config import TrainConfig
from chronorec.training.loop import DataWait, train_epoch
from chronorec.training.optim import make_optimizer
from tests.conftest import synthetic_sequences, write_prepared


def _config(data_path, **kw) -> TrainConfig:
    base = dict(
        data=str(data_path),
        model="sasrec",
        max_len=10,
        batch_size=16,
        epochs=2,
        patience=50,
        model_params={"dim": 16, "layers": 1, "heads": 1},
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture
def typed_dataset(tmp_path) -> SequenceData:
    """The ring with two event types, so every field of a batch is filled."""
    sequences = synthetic_sequences()
    rng = np.random.default_rng(1)
    types = {u: rng.integers(1, 3, len(seq)).tolist() for u, seq in sequences.items()}
    return load_dataset(write_prepared(tmp_path / "typed", sequences, types, ["view", "buy"]))


def _batches_before(
    windows: TrainWindows,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
) -> Iterator[tuple[SeqBatch, SeqBatch]]:
    """``TrainWindows.batches`` as it was before batches were gathered into contiguous buffers (the
    reference)."""
    order = (
        torch.randperm(len(windows), generator=generator)
        if generator is not None
        else torch.arange(len(windows))
    )
    if world_size > 1:
        per_rank = len(order) // world_size
        order = order[rank * per_rank : (rank + 1) * per_rank]
    for lo in range(0, len(order), batch_size):
        idx = order[lo : lo + batch_size]
        items, ts, ev = windows.items[idx], windows.timestamps[idx], windows.event_types[idx]
        target_items = items[:, 1:] * (items[:, :-1] != PAD)
        yield (
            SeqBatch(items[:, :-1], ts[:, :-1], ev[:, :-1], windows.users[idx], ts[:, -2]),
            SeqBatch(target_items, ts[:, 1:], ev[:, 1:]),
        )


FIELDS = ("items", "timestamps", "event_types", "users", "query_time")


def test_batches_hold_the_same_values_as_before_in_contiguous_tensors(typed_dataset):
    windows = train_windows(typed_dataset, make_split(typed_dataset, "loo").train_end, 10)
    new = windows.batches(7, generator=torch.Generator().manual_seed(3), rank=1, world_size=2)
    old = _batches_before(
        windows, 7, generator=torch.Generator().manual_seed(3), rank=1, world_size=2
    )
    for (inputs, targets), (ref_inputs, ref_targets) in zip(new, old, strict=True):
        for batch, ref in ((inputs, ref_inputs), (targets, ref_targets)):
            for name in FIELDS:
                value, expected = getattr(batch, name), getattr(ref, name)
                assert (value is None) == (expected is None), name
                if value is not None:
                    assert value.is_contiguous() and value.dtype == expected.dtype, name
                    assert torch.equal(value, expected), name


@pytest.mark.parametrize(
    "model, params",
    [("sasrec", {"dim": 16, "layers": 1, "heads": 1}), ("chrono", {"size": "tiny"})],
)
def test_cpu_training_gives_the_same_results_as_before(
    typed_dataset, tmp_path, monkeypatch, model, params
):
    config = _config(typed_dataset.path, model=model, model_params=params)
    now = train_run(config, tmp_path / "now", show_progress=False)
    monkeypatch.setattr(TrainWindows, "batches", _batches_before)
    before = train_run(config, tmp_path / "before", show_progress=False)
    assert [h["loss"] for h in now.history] == [h["loss"] for h in before.history]
    assert now.valid == before.valid and now.test == before.test


def test_data_wait_share_is_in_the_history_and_the_metrics(ring_dataset, tmp_path):
    result = train_run(_config(ring_dataset.path), tmp_path / "run", show_progress=False)
    shares = [h["data_wait_share"] for h in result.history]
    assert len(shares) == 2 and all(0 < s < 1 for s in shares)
    assert (
        json.loads((tmp_path / "run/history.json").read_text())[0]["data_wait_share"] == shares[0]
    )
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["data_wait_share"] == result.data_wait_share == pytest.approx(sum(shares) / 2)


def test_data_wait_counts_the_time_in_next_only():
    def slow_batches() -> Iterator[int]:
        for i in range(3):
            time.sleep(0.01)  # producing a batch
            yield i

    wait = DataWait()
    for _ in wait.wrap(slow_batches()):
        time.sleep(0.05)  # the training step: not waiting for data
    assert 0.03 <= wait.seconds < 0.15


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_copies_page_locked_batches(ring_dataset, monkeypatch):
    windows = train_windows(ring_dataset, make_split(ring_dataset, "loo").train_end, 10)
    seen = []
    batches = TrainWindows.batches

    def checked(self, *args, **kwargs):
        for inputs, targets in batches(self, *args, **kwargs):
            seen.extend(
                t
                for b in (inputs, targets)
                for t in (getattr(b, f) for f in FIELDS)
                if t is not None
            )
            yield inputs, targets

    monkeypatch.setattr(TrainWindows, "batches", checked)
    from chronorec.models import build_model

    config = _config(ring_dataset.path)
    device = torch.device("cuda")
    model = build_model(
        "sasrec", config.model_params, num_items=ring_dataset.num_items, max_len=10
    ).to(device)
    loss = train_epoch(
        model, windows, make_optimizer(model, config, device), config, epoch=1, device=device
    )
    assert np.isfinite(loss) and seen
    assert all(t.is_pinned() and t.is_contiguous() for t in seen)
