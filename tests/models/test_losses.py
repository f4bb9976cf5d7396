"""Losses: sampled softmax with log-Q correction against a hand computation; gradients flow."""

import math

import torch
import torch.nn.functional as F

from chronorec.models.losses import SampledSoftmaxLoss, full_softmax_loss


def test_log_q_correction_by_hand():
    counts = torch.tensor([0.0, 6.0, 3.0, 1.0])  # items 1..3; popularity .6 .3 .1
    loss_fn = SampledSoftmaxLoss(counts, num_negatives=2, sampler="uniform", in_batch=True)
    hidden = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.5, 0.5]])
    targets = torch.tensor([1, 2])
    negatives = torch.tensor([3, 2])
    got = loss_fn(hidden, items, targets, negatives=negatives)

    def log_q(j: int) -> float:  # N p(j) from the batch + K / I from the uniform sampler
        return math.log(2 * counts[j].item() / 10 + 2 / 3)

    expected = []
    for n, t in enumerate(targets.tolist()):
        candidates = [1, 2, 3, 2]  # in-batch targets, then the sampled negatives
        row = [hidden[n] @ items[t] - log_q(t)]
        for c in candidates:
            row.append(float("-inf") if c == t else hidden[n] @ items[c] - log_q(c))
        expected.append(-F.log_softmax(torch.tensor(row), 0)[0])
    torch.testing.assert_close(got, torch.stack(expected).mean())


def test_sampled_loss_backpropagates_and_masks_accidental_hits():
    torch.manual_seed(0)
    loss_fn = SampledSoftmaxLoss(
        torch.ones(51), num_negatives=20, generator=torch.Generator().manual_seed(0)
    )
    hidden = torch.randn(8, 4, requires_grad=True)
    items = torch.randn(51, 4, requires_grad=True)
    targets = torch.randint(1, 51, (8,))
    loss = loss_fn(
        hidden, items, targets, negatives=targets[:3].clone()
    )  # every negative is somebody's target
    loss.backward()
    assert torch.isfinite(loss) and hidden.grad.abs().sum() > 0 and items.grad.abs().sum() > 0


def test_repeat_bias_reaches_sampled_candidates_in_history():
    counts = torch.ones(6)
    loss_fn = SampledSoftmaxLoss(counts, num_negatives=2, in_batch=False)
    hidden = torch.zeros(1, 2)
    items = torch.zeros(6, 2)
    bias = torch.tensor(-5.0, requires_grad=True)
    history = torch.tensor([[0, 4, 2]])
    loss = loss_fn(
        hidden, items, torch.tensor([1]), (history, bias), negatives=torch.tensor([4, 5])
    )
    loss.backward()
    # Only item 4 is in the history: its logit drops by 5, item 5 and the target stay level.
    expected = -F.log_softmax(torch.tensor([0.0, -5.0, 0.0]), 0)[0]
    torch.testing.assert_close(loss.detach(), expected)
    assert bias.grad is not None


def test_full_softmax_never_answers_padding():
    hidden = torch.randn(3, 4)
    items = torch.randn(6, 4)
    items[0] = 100 * hidden.mean(0)  # a huge padding logit must not matter
    targets = torch.tensor([1, 2, 3])
    logits = hidden @ items[1:].T
    torch.testing.assert_close(
        full_softmax_loss(hidden, items, targets), F.cross_entropy(logits, targets - 1)
    )


def test_several_vectors_per_row_score_each_item_by_their_best_match():
    """(N, K, D) hidden: every logit, of the target and of each candidate, is the max over the K
    vectors."""
    counts = torch.tensor([0.0, 6.0, 3.0, 1.0])
    items = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.5, 0.5]])
    hidden = torch.tensor([[[1.0, 0.0], [0.0, 3.0]], [[0.0, 1.0], [-1.0, 0.0]]])  # (N=2, K=2, D=2)
    targets = torch.tensor([1, 2])
    best = torch.tensor(
        [[max(float(v @ items[j]) for v in row) for j in range(4)] for row in hidden.unbind(0)]
    )  # (N, I + 1) by hand
    best[:, 0] = float("-inf")
    torch.testing.assert_close(
        full_softmax_loss(hidden, items, targets), F.cross_entropy(best, targets)
    )
    sampled = SampledSoftmaxLoss(counts, num_negatives=2, in_batch=False)
    negatives = torch.tensor([3, 2])
    log_q = torch.log(2 / 3 * torch.ones(4))  # uniform sampler: K / I for every item
    rows = [
        torch.stack(
            [best[n, t] - log_q[t]]
            + [
                torch.tensor(float("-inf")) if c == t else best[n, c] - log_q[c]
                for c in negatives.tolist()
            ]
        )
        for n, t in enumerate(targets.tolist())
    ]
    expected = torch.stack([-F.log_softmax(r, 0)[0] for r in rows]).mean()
    torch.testing.assert_close(sampled(hidden, items, targets, negatives=negatives), expected)


def test_repeat_bias_in_full_softmax_matches_a_dense_mask_and_backpropagates():
    """The in-place scatter adds the bias once per distinct history item, for (N, D) and (N, K, D)
    rows."""
    torch.manual_seed(0)
    items = torch.randn(8, 4, requires_grad=True)
    history = torch.tensor([[0, 3, 5], [2, 0, 0]])  # distinct items, 0 = padding
    targets = torch.tensor([5, 1])
    seen = torch.zeros(2, 8)
    seen[0, [3, 5]] = seen[1, 2] = 1.0
    for hidden in (torch.randn(2, 4, requires_grad=True), torch.randn(2, 3, 4, requires_grad=True)):
        bias = torch.tensor(0.7, requires_grad=True)
        logits = hidden @ items.T
        logits = (logits.amax(dim=1) if hidden.dim() == 3 else logits) + bias * seen
        expected = F.cross_entropy(logits[:, 1:], targets - 1)
        loss = full_softmax_loss(hidden, items, targets, (history, bias))
        torch.testing.assert_close(loss, expected)
        grads = torch.autograd.grad(loss, (hidden, items, bias))
        for got, want in zip(grads, torch.autograd.grad(expected, (hidden, items, bias))):
            torch.testing.assert_close(got, want)
