"""Options from the strongest published recipes: per-target negatives (softmax and gBCE), gated
residual (LiGR) blocks and item-table dropout; shapes, masking, hand computations, a short run
that beats pop, and defaults that leave today's models unchanged."""

import math

import pytest
import torch
import torch.nn.functional as F

from chronorec.data.batches import SeqBatch
from chronorec.errors import ChronorecError
from chronorec.models import build_model
from chronorec.models.layers import GatedResidualBlock, TransformerTrunk, causal_padding_mask
from chronorec.models.losses import PerTargetNegativesLoss
from chronorec.runs.training import train_run
from chronorec.training.config import TrainConfig

TRUNK_MODELS = ("sasrec", "chrono", "multiscale", "interests")


def _batch(items: list[list[int]], width: int) -> SeqBatch:
    rows = torch.zeros(len(items), width, dtype=torch.int64)
    for r, seq in enumerate(items):
        rows[r, width - len(seq) :] = torch.tensor(seq)
    ts = torch.where(rows > 0, 1_600_000_000 + torch.arange(width) * 3600, 0)
    return SeqBatch(rows, ts, None, torch.arange(len(items)), ts[:, -1])


def test_per_target_softmax_by_hand_masks_accidental_hits():
    loss_fn = PerTargetNegativesLoss(num_items=4, num_negatives=2)
    hidden = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.5, 0.5], [1.0, 1.0]])
    targets = torch.tensor([1, 2])
    negatives = torch.tensor([[3, 4], [2, 1]])  # row 1 drew its own target: masked
    got = loss_fn(hidden, items, targets, negatives=negatives)
    row0 = -F.log_softmax(torch.tensor([1.0, 0.5, 1.0]), 0)[0]
    row1 = -F.log_softmax(torch.tensor([2.0, 0.0]), 0)[0]  # target, item 1 (item 2 masked)
    torch.testing.assert_close(got, (row0 + row1) / 2)


def test_gbce_by_hand_and_its_calibration_exponent():
    num_items, k, t = 101, 4, 0.75
    loss_fn = PerTargetNegativesLoss(num_items, k, objective="gbce", gbce_t=t)
    alpha = k / (num_items - 1)
    assert loss_fn.beta == pytest.approx(alpha * (t * (1 - 1 / alpha) + 1 / alpha))
    hidden = torch.tensor([[1.0, -1.0]])
    items = torch.randn(num_items + 1, 2, generator=torch.Generator().manual_seed(0))
    negatives = torch.tensor([[5, 6, 7, 8]])
    got = loss_fn(hidden, items, torch.tensor([3]), negatives=negatives)
    pos = hidden[0] @ items[3]
    neg = items[[5, 6, 7, 8]] @ hidden[0]
    # -log(sigmoid(s+)^beta) - sum log(1 - sigmoid(s-)), averaged over the 1 + K candidates.
    expected = (-loss_fn.beta * F.logsigmoid(pos) - F.logsigmoid(-neg).sum()) / (1 + k)
    torch.testing.assert_close(got, expected)
    plain = PerTargetNegativesLoss(num_items, k, objective="gbce", gbce_t=0.0)
    assert plain.beta == 1.0  # t = 0 is plain binary cross-entropy


def test_per_target_losses_backpropagate_with_several_vectors_and_repeat_bias():
    torch.manual_seed(0)
    for objective in ("softmax", "gbce"):
        loss_fn = PerTargetNegativesLoss(
            50, 7, objective, generator=torch.Generator().manual_seed(1)
        )
        hidden = torch.randn(6, 3, 4, requires_grad=True)  # three vectors per position
        items = torch.randn(51, 4, requires_grad=True)
        bias = torch.tensor(0.5, requires_grad=True)
        history = torch.randint(0, 51, (6, 5))
        loss = loss_fn(hidden, items, torch.randint(1, 51, (6,)), (history, bias))
        loss.backward()
        assert torch.isfinite(loss) and hidden.grad.abs().sum() > 0 and items.grad.abs().sum() > 0
        assert bias.grad is not None


def test_gated_block_keeps_shapes_and_never_looks_ahead():
    torch.manual_seed(0)
    block = GatedResidualBlock(dim=8, heads=2, dropout=0.0, ffn_mult=2).eval()
    x = torch.randn(2, 5, 8)
    valid = torch.tensor([[False, True, True, True, True], [True] * 5])
    out = block(x, causal_padding_mask(valid))
    assert out.shape == x.shape
    changed = x.clone()
    changed[:, -1] += 1.0
    torch.testing.assert_close(out[:, :-1], block(changed, causal_padding_mask(valid))[:, :-1])
    padded = x.clone()
    padded[0, 0] = 100.0  # a padding key: no real position may read it
    torch.testing.assert_close(out[0, 1:], block(padded, causal_padding_mask(valid))[0, 1:])


@pytest.mark.parametrize("name", TRUNK_MODELS)
def test_every_trunk_model_takes_ligr_blocks(name):
    torch.manual_seed(0)
    model = build_model(name, {"block": "ligr"}, num_items=30, max_len=8).eval()
    assert any(isinstance(b, GatedResidualBlock) for b in model.modules())
    base, changed = _batch([[3, 4, 5, 6, 7, 8]], 8), _batch([[3, 4, 5, 6, 7, 21]], 8)
    h1, h2 = model.encode(base), model.encode(changed)
    torch.testing.assert_close(h1[:, :-1], h2[:, :-1])
    narrow = model.score(_batch([[5, 9, 2]], 3))
    torch.testing.assert_close(narrow, model.score(_batch([[5, 9, 2]], 8)), rtol=1e-5, atol=1e-5)


def test_unknown_block_is_a_one_line_error():
    with pytest.raises(ChronorecError, match="unknown block 'post'"):
        TrainConfig(data="d", model_params={"block": "post"}).validate()
    with pytest.raises(ChronorecError, match="unknown block"):
        TransformerTrunk(8, 1, 1, 0.0, 1, 5, block="post")


def test_item_dropout_only_in_training_and_defaults_unchanged():
    torch.manual_seed(0)
    model = build_model("sasrec", {"item_dropout": 0.5}, num_items=30, max_len=6)
    model.eval()
    torch.testing.assert_close(model.item_vectors(), model.item_embedding.weight)
    model.train()
    assert (model.item_vectors() == 0).float().mean() > 0.3
    torch.manual_seed(0)
    plain = build_model("sasrec", {}, num_items=30, max_len=6)
    torch.manual_seed(0)
    explicit = build_model(
        "sasrec", {"block": "prenorm", "item_dropout": 0.0}, num_items=30, max_len=6
    )
    for a, b in zip(plain.state_dict().values(), explicit.state_dict().values()):
        assert torch.equal(a, b)


def test_sasrec_reads_event_types_only_when_asked():
    items = torch.tensor([[0, 3, 5, 7]])
    times = torch.zeros_like(items)
    batches = [SeqBatch(items, times, torch.tensor([[0, t, t, t]])) for t in (1, 2)]
    torch.manual_seed(0)
    plain = build_model("sasrec", {}, num_items=30, num_event_types=2, max_len=6).eval()
    assert plain.trunk.event_embedding is None  # the default builds no event-type table
    torch.manual_seed(0)
    typed = build_model("sasrec", {"event_types": True}, num_items=30, num_event_types=2, max_len=6)
    typed.eval()
    with torch.no_grad():
        assert torch.equal(plain.encode(batches[0]), plain.encode(batches[1]))
        assert not torch.allclose(typed.encode(batches[0]), typed.encode(batches[1]))


def test_gbce_t_is_checked():
    with pytest.raises(ChronorecError, match="gbce_t must be in"):
        TrainConfig(data="d", gbce_t=1.5).validate()
    with pytest.raises(ChronorecError, match="unknown sampled objective"):
        TrainConfig(data="d", sampled_objective="bpr").validate()


@pytest.mark.parametrize(
    "options",
    [
        {"loss": "sampled", "negatives_per_target": True, "negatives": 8},
        {"loss": "sampled", "sampled_objective": "gbce", "negatives": 8, "gbce_t": 0.75},
        {
            "model_params": {
                "dim": 16,
                "layers": 1,
                "heads": 1,
                "block": "ligr",
                "item_dropout": 0.1,
            }
        },
    ],
    ids=["per-target-softmax", "gbce", "ligr-item-dropout"],
)
def test_short_run_with_each_option_beats_pop(ring_dataset, tmp_path, options):
    base = dict(
        data=str(ring_dataset.path),
        max_len=10,
        batch_size=16,
        epochs=30,
        lr=5e-3,
        patience=50,
        model_params={"dim": 16, "layers": 1, "heads": 1},
    )
    pop = train_run(
        TrainConfig(**{**base, "model": "pop", "model_params": {}}),
        tmp_path / "pop",
        show_progress=False,
    )
    run = train_run(TrainConfig(**{**base, **options}), tmp_path / "run", show_progress=False)
    assert run.valid["NDCG@10"] > pop.valid["NDCG@10"] + 0.05
    assert math.isfinite(run.history[-1]["loss"])
