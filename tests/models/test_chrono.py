"""``chrono``: log2 time-gap buckets, a time bias that hides padding and the future, sizes,
learning."""

import pytest
import torch

from chronorec.data.batches import SeqBatch
from chronorec.errors import ChronorecError
from chronorec.models import MODELS, build_model
from chronorec.models.chrono import SIZES, Chrono, ChronoConfig, time_gap_buckets
from chronorec.runs.training import train_run
from chronorec.training.config import TrainConfig

T0 = 1_600_000_000
DAY = 86_400


def _batch(
    items: list[list[int]], width: int, gaps: list[int] | None = None, types: bool = False
) -> SeqBatch:
    """Left-padded batch; a row's events are ``gaps`` seconds apart (one hour where ``gaps`` runs
    out)."""
    rows = torch.zeros(len(items), width, dtype=torch.int64)
    ts = torch.zeros_like(rows)
    for r, seq in enumerate(items):
        rows[r, width - len(seq) :] = torch.tensor(seq)
        steps = torch.tensor(((gaps or []) + [3600] * len(seq))[: len(seq)])
        ts[r, width - len(seq) :] = T0 + steps.cumsum(0)
    ev = torch.where(rows > 0, rows % 3 + 1, 0) if types else None
    return SeqBatch(rows, ts, ev, torch.arange(len(items)), ts[:, -1])


def _model(num_event_types: int = 0, max_len: int = 12, **settings) -> Chrono:
    torch.manual_seed(0)
    model = Chrono(
        ChronoConfig(**{"size": "tiny", "heads": 2, **settings}), 30, num_event_types, max_len
    ).eval()
    if model.time_bias is not None:  # zero at init: make it matter
        torch.nn.init.normal_(model.time_bias.weight, std=2.0)
    return model


def test_time_gap_buckets_on_hand_made_timestamps():
    offsets = [
        0,
        1,
        90,
        3600,
        DAY,
        30 * DAY,
    ]  # 90 s is in [64, 128): bucket 7; 1 h in [2^11, 2^12): 12; ...
    buckets = time_gap_buckets(torch.tensor([[T0 + o for o in offsets]]), 27)[0]  # (T, T)
    assert buckets[:, 0].tolist() == [0, 1, 7, 12, 17, 22]
    assert torch.equal(buckets, buckets.T) and (buckets.diagonal() == 0).all()
    assert buckets[1, 2].item() == 7  # 89 s
    # Powers of two start a bucket exactly; long gaps clamp to the last bucket.
    edges = time_gap_buckets(torch.tensor([[0, 63, 64, 2**25 - 1, 2**25, 10 * 365 * DAY]]), 27)[
        0, 0
    ]
    assert edges.tolist() == [0, 6, 7, 25, 26, 26]
    assert time_gap_buckets(torch.tensor([[0, DAY]]), 5)[0, 0, 1].item() == 4


def test_time_bias_masks_future_and_padding_keys():
    model = _model()
    batch = _batch([[3, 4, 5], [1, 2, 3, 4, 5]], 5, gaps=[1, 90, DAY, 3600, 10])
    bias = model.attention_mask(batch)  # (B, H, T, T)
    assert bias.shape == (2, 2, 5, 5) and bias.dtype == torch.float32
    real = torch.arange(2, 5)
    seen = bias[0][:, real][:, :, real]  # real queries x real keys of row 0
    future = torch.ones(3, 3, dtype=torch.bool).triu(1).expand_as(seen)
    assert torch.isinf(seen[future]).all() and torch.isfinite(seen[~future]).all()
    assert torch.isinf(bias[0][:, real][:, :, :2]).all()  # padding keys hidden from real queries
    buckets = time_gap_buckets(batch.timestamps, 27)
    assert bias[1, :, 4, 3].tolist() == model.time_bias.weight[buckets[1, 4, 3]].tolist()


@pytest.mark.parametrize("time_bias", [True, False])
def test_shapes_padding_and_causality(time_bias):
    model = _model(num_event_types=3, time_bias=time_bias)
    batch = _batch([[1, 2, 3], [4, 5, 6, 7, 8]], 8, types=True)
    assert model.encode(batch).shape == (2, 8, 32) and model.score(batch).shape == (2, 31)
    seq, gaps = [5, 9, 2, 17], [60, DAY, 7, 3600]
    narrow = model.score(_batch([seq], 4, gaps, types=True))
    wide = model.score(_batch([seq, [1, 2, 3, 4, 5, 6, 7, 8]], 12, gaps, types=True))[:1]
    torch.testing.assert_close(narrow, wide, rtol=1e-5, atol=1e-5)
    base = _batch([[3, 4, 5, 6, 7, 8]], 8, types=True)
    # Only the last event differs: its item, its time and its type.
    later = _batch([[3, 4, 5, 6, 7, 21]], 8, [3600] * 5 + [9 * DAY], types=True)
    h1, h2 = model.encode(base), model.encode(later)
    torch.testing.assert_close(h1[:, :-1], h2[:, :-1])
    assert not torch.allclose(h1[:, -1], h2[:, -1])


def test_time_bias_flag_is_a_real_ablation():
    hourly, irregular = (
        _batch([[3, 4, 5, 6]], 6),
        _batch([[3, 4, 5, 6]], 6, gaps=[1, 5 * DAY, 40, 300]),
    )
    with_bias, without = _model(time_bias=True), _model(time_bias=False)
    assert not torch.allclose(with_bias.score(hourly), with_bias.score(irregular))
    torch.testing.assert_close(without.score(hourly), without.score(irregular))
    assert without.time_bias is None
    assert with_bias.num_parameters() - without.num_parameters() == 27 * 2


def test_event_types_are_embedded():
    model = _model(num_event_types=3)
    plain, typed = _batch([[3, 4, 5]], 5), _batch([[3, 4, 5]], 5, types=True)
    assert not torch.allclose(model.score(plain), model.score(typed))


def test_named_sizes_overrides_and_parameter_counts():
    for size, (layers, dim, heads) in SIZES.items():
        assert ChronoConfig(size=size).shape == (layers, dim, heads)
    assert ChronoConfig(size="base", layers=1, heads=2).shape == (1, 128, 2)
    counts = [Chrono.parameter_count(size, 100) for size in SIZES]
    assert counts == sorted(counts)
    assert counts[0] == Chrono(ChronoConfig(size="tiny"), 100).num_parameters()
    wide = Chrono(ChronoConfig(size="tiny", dim=48), 100)
    assert Chrono.parameter_count("tiny", 100, dim=48) == wide.num_parameters()
    with pytest.raises(ChronorecError, match="size"):
        ChronoConfig(size="huge")
    with pytest.raises(ChronorecError, match="divisible"):
        ChronoConfig(size="small", dim=30, heads=4)


def test_learns_the_ring_and_beats_pop(ring_dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "chrono", Chrono)
    common = dict(
        data=str(ring_dataset.path), max_len=10, batch_size=16, patience=50, threads=1, device="cpu"
    )
    pop = train_run(
        TrainConfig(model="pop", epochs=1, **common), tmp_path / "pop", show_progress=False
    )
    params = {"size": "tiny", "dim": 16, "dropout": 0.1}
    cfg = TrainConfig(model="chrono", model_params=params, epochs=25, lr=5e-3, **common)
    chrono = train_run(cfg, tmp_path / "chrono", show_progress=False)
    assert chrono.valid["NDCG@10"] > pop.valid["NDCG@10"] + 0.2


def test_without_the_time_bias_chrono_is_sasrec():
    """The ablation is exact: same seed, same weights, same scores, so sasrec's runs are chrono's
    ablation."""
    torch.manual_seed(0)
    sasrec = build_model("sasrec", {}, num_items=30, num_event_types=0, max_len=12).eval()
    torch.manual_seed(0)
    ablated = build_model(
        "chrono", {"time_bias": False}, num_items=30, num_event_types=0, max_len=12
    ).eval()
    batch = _batch([[1, 2, 3], [4, 5, 6, 7, 8]], 12, gaps=[5, 70_000])
    assert sasrec.state_dict().keys() == ablated.state_dict().keys()
    torch.testing.assert_close(ablated.score(batch), sasrec.score(batch))
