"""``multiscale``: scale windows on hand-made timestamps, a gate over non-empty scales, padding,
causality."""

import json
from dataclasses import asdict

import pytest
import torch

from chronorec.data.batches import SeqBatch
from chronorec.data.dataset import load_dataset
from chronorec.errors import ChronorecError
from chronorec.models import MODELS
from chronorec.models.multiscale import MultiScale, MultiScaleConfig
from chronorec.runs.training import train_run
from chronorec.training.config import TrainConfig
from tests.conftest import write_prepared

T0 = 1_600_000_000
MIN, HOUR, DAY = 60, 3600, 86_400
SESSION, DAY_, WEEK, ALL = range(4)


def _batch(
    rows: list[list[int]],
    width: int,
    offsets: list[list[int]] | None = None,
    query_after: list[int] | None = None,
) -> SeqBatch:
    """Left-padded batch; row r's events at ``T0 + offsets[r]`` (hourly by default), queried
    ``query_after[r]`` seconds after its last event."""
    items = torch.zeros(len(rows), width, dtype=torch.int64)
    ts = torch.zeros_like(items)
    for r, seq in enumerate(rows):
        items[r, width - len(seq) :] = torch.tensor(seq)
        offs = offsets[r] if offsets else [HOUR * n for n in range(len(seq))]
        ts[r, width - len(seq) :] = T0 + torch.tensor(offs)
    query = ts[:, -1] + torch.tensor(query_after or [0] * len(rows))
    return SeqBatch(items, ts, None, torch.arange(len(rows)), query)


def _model(max_len: int = 10, **settings) -> MultiScale:
    torch.manual_seed(0)
    return MultiScale(MultiScaleConfig(**{"dim": 16, **settings}), 30, 0, max_len).eval()


def test_config_names_ablation_and_round_trip():
    assert MultiScaleConfig().active_scales == ("session", "day", "week", "all")
    assert MultiScaleConfig(windows_hours=(6, 720)).active_scales == (
        "session",
        "6h",
        "720h",
        "all",
    )
    assert MultiScaleConfig(scales=("all", "session")).active_scales == (
        "session",
        "all",
    )  # canonical order
    # model.json / config.toml give lists back; the config must still equal (and hash like) the
    # original.
    config = MultiScaleConfig(scales=("day", "all"))
    again = MultiScaleConfig(**json.loads(json.dumps(asdict(config))))
    assert again == config and hash(again) == hash(config)
    with pytest.raises(ChronorecError, match="month"):
        MultiScaleConfig(scales=("month",))
    with pytest.raises(ChronorecError, match="> 0"):
        MultiScaleConfig(session_gap_minutes=0)
    full, ablated = _model(), _model(scales=("session", "all"))
    assert (
        ablated.scale_names == ("session", "all")
        and ablated.num_parameters() < full.num_parameters()
    )


def test_session_boundary_is_exactly_the_gap():
    model = _model()
    # Gaps 10 min, exactly 30 min (new session), 29 min 59 s (same session).
    offs = [0, 10 * MIN, 40 * MIN, 70 * MIN - 1]
    masks = model.scale_masks(_batch([[1, 2, 3, 4]], 6, [offs]))[0, SESSION]  # (T, T)
    real = masks[2:, 2:].int().tolist()  # 4 real events at columns 2..5
    assert real == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]
    assert not masks[:, :2].any()  # padding is never pooled
    # The session is still open 29 min after the last event and closed (empty) at exactly 30 min.
    still = model.scale_masks(_batch([[1, 2, 3, 4]], 6, [offs], [30 * MIN - 1]))[0, SESSION, -1]
    closed = model.scale_masks(_batch([[1, 2, 3, 4]], 6, [offs], [30 * MIN]))[0, SESSION, -1]
    assert still[2:].tolist() == [False, False, True, True] and not closed.any()


def test_day_and_week_windows_are_relative_to_the_query_time():
    model = _model()
    ages = [10 * DAY, 7 * DAY, 7 * DAY - 1, DAY, DAY - 1, 0]  # seconds before the query time
    offs = [ages[0] - a for a in ages]
    masks = model.scale_masks(_batch([[1, 2, 3, 4, 5, 6]], 6, [offs]))[0]  # (S, T, T)
    assert masks[DAY_, -1].tolist() == [False] * 4 + [True] * 2
    assert masks[WEEK, -1].tolist() == [False] * 2 + [True] * 4
    assert masks[ALL, -1].all()
    # Earlier positions use their own timestamp: event 4 is 8 days + 1 s after event 0, 6 days after
    # event 1.
    assert masks[WEEK, 4].tolist() == [False, True, True, True, True, False]
    assert masks[DAY_, 4].tolist() == [False, False, False, True, True, False]
    # Querying 12 hours later shifts the windows of the last position only.
    later = model.scale_masks(_batch([[1, 2, 3, 4, 5, 6]], 6, [offs], [12 * HOUR]))[0]
    assert later[DAY_, -1].tolist() == [False] * 5 + [True]
    assert torch.equal(later[:, :-1], masks[:, :-1])
    # Without a query time, the last event's time is the moment of prediction.
    no_query = _batch([[1, 2, 3, 4, 5, 6]], 6, [offs], [12 * HOUR])
    no_query.query_time = None
    assert torch.equal(model.scale_masks(no_query)[0], masks)


def test_gate_sums_to_one_and_masks_empty_scales():
    model = _model()
    torch.nn.init.normal_(model.gate.weight, std=1.0)
    batch = _batch(
        [[1, 2, 3], [4, 5, 6, 7]],
        6,
        [[0, HOUR, 2 * HOUR], [0, DAY, 2 * DAY, 9 * DAY]],
        [0, 2 * DAY],
    )
    weights = model.scale_weights(batch)  # (B, S)
    torch.testing.assert_close(weights.sum(1), torch.ones(2))
    assert (weights[0] > 0).all()
    # Row 1 is queried 2 days after its last event: session and day are empty, the week has one
    # event.
    assert (
        weights[1, SESSION] == 0 and weights[1, DAY_] == 0 and (weights[1, [WEEK, ALL]] > 0).all()
    )
    by_scale = model.score_by_scale(batch)  # (B, S, I + 1)
    assert by_scale.shape == (2, 4, 31) and (by_scale[1, [SESSION, DAY_]] == 0).all()
    # The fused score is the gate-weighted sum of the per-scale scores (linear in the scale states).
    torch.testing.assert_close(
        model.score(batch), (weights[..., None] * by_scale).sum(1), rtol=1e-5, atol=1e-5
    )
    z, gate, _ = model.scale_states(batch)
    assert (gate[0, :3] == 0).all() and torch.isfinite(
        z
    ).all()  # padding positions: no weight, no NaN


def test_shapes_padding_and_causality():
    model = _model()
    batch = _batch([[1, 2, 3], [4, 5, 6, 7, 8]], 8)
    assert model.encode(batch).shape == (2, 8, 16) and model.score(batch).shape == (2, 31)
    assert model.scale_weights(batch).shape == (2, 4) and model.scale_names == (
        "session",
        "day",
        "week",
        "all",
    )
    seq, offs = [5, 9, 2, 17], [0, 20 * MIN, DAY, DAY + 5 * MIN]
    narrow = _batch([seq], 4, [offs])
    wide = _batch([seq, [1, 2, 3, 4, 5, 6, 7, 8]], 12, [offs, [HOUR * n for n in range(8)]])
    for fn in (model.score, model.scale_weights, model.score_by_scale):
        torch.testing.assert_close(fn(narrow), fn(wide)[:1], rtol=1e-5, atol=1e-5)
    base = _batch([[3, 4, 5, 6, 7, 8]], 8)
    # Only the last event differs: its item and its time (a new session, outside the day).
    later = _batch([[3, 4, 5, 6, 7, 21]], 8, [[HOUR * n for n in range(5)] + [9 * DAY]])
    h1, h2 = model.encode(base), model.encode(later)
    torch.testing.assert_close(h1[:, :-1], h2[:, :-1])
    assert not torch.allclose(h1[:, -1], h2[:, -1])


def test_learns_the_ring_and_beats_pop(ring_dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "multiscale", MultiScale)
    common = dict(
        data=str(ring_dataset.path), max_len=10, batch_size=16, patience=50, threads=1, device="cpu"
    )
    pop = train_run(
        TrainConfig(model="pop", epochs=1, **common), tmp_path / "pop", show_progress=False
    )
    params = {"dim": 16, "layers": 1, "heads": 1, "dropout": 0.1}
    cfg = TrainConfig(model="multiscale", model_params=params, epochs=25, lr=5e-3, **common)
    result = train_run(cfg, tmp_path / "multiscale", show_progress=False)
    assert result.valid["NDCG@10"] > pop.valid["NDCG@10"] + 0.2


def test_whole_day_timestamps_warn_that_session_and_day_coincide(tmp_path):
    days = {"u1": [("a", T0 - T0 % DAY), ("b", T0 - T0 % DAY), ("c", T0 - T0 % DAY + 3 * DAY)]}
    data = load_dataset(write_prepared(tmp_path / "days", days))
    [warning] = _model().data_warnings(data)
    assert "days: every timestamp is a whole day" in warning and "session, day scales" in warning
    assert warning.endswith("--set scales=day,week,all keeps one of them")
    assert (
        _model(scales=("session", "all")).data_warnings(data) == []
    )  # one of them only: nothing to say
    # The claim itself: on whole-day times the session and day windows select the same events.
    masks = _model().scale_masks(_batch([[1, 2, 3, 4]], 6, offsets=[[0, DAY, DAY, 2 * DAY]]))
    assert torch.equal(masks[:, SESSION], masks[:, DAY_])
    seconds = {"u1": [("a", T0), ("b", T0 + 5), ("c", T0 + DAY)]}
    assert _model().data_warnings(load_dataset(write_prepared(tmp_path / "secs", seconds))) == []
