"""Every model: output shapes, padding never changes a score, a future event never changes an
earlier one."""

import pytest
import torch

from chronorec.data.batches import SeqBatch
from chronorec.data.split import leave_one_out
from chronorec.models import MODELS, build_model

NEURAL = [name for name, cls in MODELS.items() if cls.trainable]


def _batch(items: list[list[int]], width: int) -> SeqBatch:
    rows = torch.zeros(len(items), width, dtype=torch.int64)
    for r, seq in enumerate(items):
        rows[r, width - len(seq) :] = torch.tensor(seq)
    ts = torch.where(rows > 0, 1_600_000_000 + torch.arange(width) * 3600, 0)
    return SeqBatch(rows, ts, None, torch.arange(len(items)), ts[:, -1])


@pytest.mark.parametrize("name", list(MODELS))
def test_scores_have_one_column_per_item(name, ring_dataset):
    model = build_model(name, {}, num_items=ring_dataset.num_items, max_len=10)
    model.learn_counts(ring_dataset, leave_one_out(ring_dataset))
    model.eval()
    scores = model.score(_batch([[1, 2, 3], [4]], 10))
    assert scores.shape == (2, ring_dataset.num_items + 1)
    assert torch.isfinite(scores[:, 1:]).all()


@pytest.mark.parametrize("name", NEURAL)
def test_padding_never_influences_a_score(name):
    torch.manual_seed(0)
    model = build_model(name, {}, num_items=30, max_len=12).eval()
    seq = [5, 9, 2, 17]
    narrow = model.score(_batch([seq], 4))
    wide = model.score(_batch([seq, [1, 2, 3, 4, 5, 6, 7, 8]], 12))[:1]
    torch.testing.assert_close(narrow, wide, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NEURAL)
def test_a_future_event_never_changes_an_earlier_prediction(name):
    torch.manual_seed(0)
    model = build_model(name, {}, num_items=30, max_len=8).eval()
    base = _batch([[3, 4, 5, 6, 7, 8]], 8)
    changed = _batch([[3, 4, 5, 6, 7, 21]], 8)  # only the last event differs
    h1, h2 = model.encode(base), model.encode(changed)
    torch.testing.assert_close(h1[:, :-1], h2[:, :-1])
    assert not torch.allclose(h1[:, -1], h2[:, -1])


@pytest.mark.parametrize("name", NEURAL)
def test_loss_ignores_padding_targets_and_backpropagates(name):
    torch.manual_seed(0)
    model = build_model(name, {}, num_items=30, max_len=6)
    inputs = _batch([[1, 2, 3], [4, 5, 6, 7, 8]], 6)
    targets = _batch([[2, 3, 9], [5, 6, 7, 8, 10]], 6)
    loss, parts = model.loss(inputs, targets)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(parts["item"].item())
    loss.backward()
    assert model.item_embedding.weight.grad is not None
    # Initial cross-entropy is near ln(num_items): small embedding init.
    assert abs(loss.item() - torch.log(torch.tensor(30.0)).item()) < 1.0


def test_markov_follows_transitions_and_falls_back_to_popularity(ring_dataset):
    split = leave_one_out(ring_dataset)
    model = build_model("markov", {}, num_items=ring_dataset.num_items)
    model.learn_counts(ring_dataset, split)
    scores = model.score(_batch([[1]], 3))[0]
    # In the ring data item k is mostly followed by k + 1.
    nxt = ring_dataset.item_index(f"i{(int(ring_dataset.item_ids[1][1:]) + 1) % 40}")
    assert scores.argmax().item() == nxt
    unseen = model.score(_batch([[0, 0, 0]], 3))[0]
    assert torch.equal(unseen[1:].argsort(), model.popularity[1:].argsort())


def test_repeat_bias_counts_each_history_item_once_and_only_history_items():
    from chronorec.models.base import distinct_history

    items = torch.tensor([[0, 3, 5, 3, 7, 5]])
    assert distinct_history(items).tolist() == [[0, 3, 5, 0, 7, 0]]
    torch.manual_seed(0)
    model = build_model("sasrec", {"repeat_bias": True}, num_items=10, max_len=6).eval()
    plain = build_model("sasrec", {"repeat_bias": False}, num_items=10, max_len=6).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k != "repeat_bias"})
    with torch.no_grad():
        model.repeat_bias.fill_(-2.0)
    batch = _batch([[3, 5, 3, 7]], 6)
    diff = model.score(batch) - plain.score(batch)
    expected = torch.zeros(11)
    expected[[3, 5, 7]] = -2.0
    torch.testing.assert_close(diff[0, 1:], expected[1:])


def test_repeat_bias_is_learned_by_the_loss():
    torch.manual_seed(0)
    model = build_model("sasrec", {}, num_items=30, max_len=6)
    inputs = _batch([[1, 2, 3], [4, 5, 6, 7, 8]], 6)
    targets = _batch([[2, 3, 1], [5, 6, 7, 8, 4]], 6)  # the last targets repeat history items
    loss, _ = model.loss(inputs, targets)
    loss.backward()
    assert (
        model.repeat_bias.grad is not None and model.repeat_bias.grad.item() < 0
    )  # pushed up: repeats happen
