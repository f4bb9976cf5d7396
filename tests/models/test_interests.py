"""``interests``: max-over-interests scores, causal per-position interests, label-aware loss,
serving state."""

import pytest
import torch
import torch.nn.functional as F

from chronorec.data.batches import SeqBatch, history_batch
from chronorec.errors import ChronorecError
from chronorec.models import MODELS
from chronorec.models.interests import Interests, InterestsConfig
from chronorec.runs.training import train_run
from chronorec.training.config import TrainConfig

T0 = 1_600_000_000


def _batch(rows: list[list[int]], width: int) -> SeqBatch:
    items = torch.zeros(len(rows), width, dtype=torch.int64)
    for r, seq in enumerate(rows):
        items[r, width - len(seq) :] = torch.tensor(seq)
    ts = torch.where(items > 0, T0 + torch.arange(width) * 3600, 0)
    return SeqBatch(items, ts, None, torch.arange(len(rows)), ts[:, -1])


def _model(max_len: int = 10, **settings) -> Interests:
    torch.manual_seed(0)
    model = Interests(
        InterestsConfig(**{"dim": 16, "num_interests": 3, **settings}), 30, 0, max_len
    ).eval()
    torch.nn.init.normal_(
        model.attention_heads.weight, std=1.0
    )  # distinct interests from the start
    return model


def test_shapes_and_config():
    model = _model()
    batch = _batch([[1, 2, 3], [4, 5, 6, 7, 8]], 8)
    vectors, attn = model.interests(batch)
    # Three pooled interests plus the recent one (the trunk state at each position).
    assert vectors.shape == (2, 8, 4, 16) and attn.shape == (2, 8, 3, 8)
    assert model.interest_vectors(batch).shape == (2, 4, 16) and model.score(batch).shape == (2, 31)
    assert model.interest_weights_over_time(batch).shape == (2, 8, 3)
    torch.testing.assert_close(vectors[:, :, -1], model.encode(batch))
    pooled_only = _model(recent_interest=False)
    assert pooled_only.interest_vectors(batch).shape == (2, 3, 16)
    with pytest.raises(ChronorecError, match="num_interests"):
        InterestsConfig(num_interests=0)


def test_score_is_the_max_over_interests():
    model = _model(repeat_bias=False)
    batch = _batch([[1, 2, 3], [4, 5, 6, 7, 8]], 8)
    per_interest = model.interest_vectors(batch) @ model.item_embedding.weight.T  # (B, K, I + 1)
    torch.testing.assert_close(model.score(batch), per_interest.max(1).values)
    assert (
        per_interest.argmax(1)[0] != per_interest.argmax(1)[0, 1]
    ).any()  # different interests win items
    biased = _model()
    with torch.no_grad():
        biased.repeat_bias.fill_(2.0)
    plain = biased.score_interests(biased.interest_vectors(batch))
    torch.testing.assert_close(biased.score(batch)[0, [1, 2, 3]], plain[0, [1, 2, 3]] + 2.0)
    torch.testing.assert_close(biased.score(batch)[0, 4:], plain[0, 4:])


def test_attention_weights_cover_only_real_past_events():
    model = _model()
    batch = _batch([[1, 2, 3], [4, 5, 6, 7, 8]], 8)
    weights = model.interest_weights_over_time(batch)  # (B, T, K)
    torch.testing.assert_close(weights.sum(1), torch.ones(2, 3))
    assert (weights[0, :5] == 0).all() and (weights[0, 5:] > 0).all()
    _, attn = model.interests(batch)  # (B, T, K, T)
    assert (attn.transpose(1, 2).triu(1) == 0).all()  # position t never draws on a later event
    torch.testing.assert_close(attn[:, -1].transpose(1, 2), weights)


def test_padding_never_influences_and_the_future_never_changes_the_past():
    model = _model(max_len=12)
    seq = [5, 9, 2, 17]
    narrow, wide = _batch([seq], 4), _batch([seq, [1, 2, 3, 4, 5, 6, 7, 8]], 12)
    torch.testing.assert_close(model.score(narrow), model.score(wide)[:1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        model.interest_vectors(narrow), model.interest_vectors(wide)[:1], rtol=1e-5, atol=1e-5
    )
    v1, _ = model.interests(_batch([[3, 4, 5, 6, 7, 8]], 8))
    v2, _ = model.interests(_batch([[3, 4, 5, 6, 7, 21]], 8))
    torch.testing.assert_close(v1[:, :-1], v2[:, :-1])
    assert not torch.allclose(v1[:, -1], v2[:, -1])


def test_user_state_after_a_new_event_equals_a_full_recompute():
    model = _model(max_len=6)
    history = [3, 8, 1, 14, 9]
    times = [T0 + 3600 * n for n in range(len(history))]
    # Append a new event, then another that pushes the oldest one out of the max_len window.
    for new in (22, 7):
        history, times = history + [new], times + [times[-1] + 60]
        state = model.query_vectors(history_batch([history], [times], None, 6))
        recompute = model.interests(_batch([history[-6:]], 6))[0][:, -1]
        torch.testing.assert_close(state, recompute, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            model.score_interests(state, torch.tensor([history[-6:]])),
            model.score(_batch([history], 10)),
            rtol=1e-5,
            atol=1e-5,
        )


def test_loss_is_the_softmax_of_the_scores_used_at_inference():
    model = _model(max_len=6, dropout=0.0)
    with torch.no_grad():
        model.repeat_bias.fill_(1.5)
    # Targets only after the last event (0 = no target): each row's loss is on what score() ranks.
    rows, next_items = [[1, 2, 3], [4, 5, 6, 4, 8]], [[0, 0, 9], [0, 0, 0, 0, 10]]
    loss, parts = model.loss(_batch(rows, 6), _batch(next_items, 6))
    logits = model.score(_batch(rows, 6))
    logits[:, 0] = float("-inf")
    expected = F.cross_entropy(logits, torch.tensor([9, 10]))
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
    assert loss.item() == pytest.approx(parts["item"].item())
    loss.backward()
    assert (
        model.attention_heads.weight.grad is not None
        and model.item_embedding.weight.grad is not None
    )


def test_learns_the_ring_and_beats_pop(ring_dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "interests", Interests)
    common = dict(
        data=str(ring_dataset.path), max_len=10, batch_size=16, patience=50, threads=1, device="cpu"
    )
    pop = train_run(
        TrainConfig(model="pop", epochs=1, **common), tmp_path / "pop", show_progress=False
    )
    params = {"dim": 16, "layers": 1, "heads": 1, "dropout": 0.1, "num_interests": 2}
    cfg = TrainConfig(model="interests", model_params=params, epochs=25, lr=5e-3, **common)
    result = train_run(cfg, tmp_path / "interests", show_progress=False)
    assert result.valid["NDCG@10"] > pop.valid["NDCG@10"] + 0.2
