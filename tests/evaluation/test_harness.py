import torch

from chronorec.data.split import leave_one_out
from chronorec.evaluation.harness import evaluate_cases, users_per_batch
from chronorec.models import build_model
from chronorec.models.base import NoConfig, Recommender


class Oracle(Recommender):
    """Knows the answer: scores the true next item (the test target) highest."""

    name = "oracle"

    def __init__(self, targets: dict[int, int], num_items: int) -> None:
        super().__init__(NoConfig(), num_items)
        self.targets = targets

    def score(self, batch):
        scores = torch.zeros(batch.items.shape[0], self.num_items + 1)
        for r, u in enumerate(batch.users.tolist()):
            scores[r, self.targets[u]] = 1.0
        return scores


def test_oracle_is_perfect_and_batching_does_not_change_results(ring_dataset):
    split = leave_one_out(ring_dataset)
    targets = {
        int(u): int(ring_dataset.items[t]) for u, t in zip(split.test.users, split.test.targets)
    }
    oracle = Oracle(targets, ring_dataset.num_items)
    res = evaluate_cases(oracle, ring_dataset, split.test, max_len=10)
    assert res.metrics["NDCG@10"] == 1.0 and res.metrics["MRR@20"] == 1.0
    pop = build_model("pop", {}, num_items=ring_dataset.num_items)
    pop.learn_counts(ring_dataset, split)
    full = evaluate_cases(pop, ring_dataset, split.test, max_len=10)
    tiny = evaluate_cases(pop, ring_dataset, split.test, max_len=10, memory_budget_mb=0.0001)
    assert torch.equal(full.ranks, tiny.ranks)
    assert full.metrics == tiny.metrics
    assert 0 < full.metrics["Coverage@10"] <= 10 / ring_dataset.num_items + 1e-9


def test_memory_budget_sets_batch_size():
    assert users_per_batch(1_000_000, 256) == 22
    assert users_per_batch(10, 0) == 1


def test_chunked_scoring_path_gives_the_same_ranks(ring_dataset, monkeypatch):
    from chronorec.scoring import ranker

    torch.manual_seed(0)
    model = build_model("sasrec", {"dim": 16}, num_items=ring_dataset.num_items, max_len=10).eval()
    with torch.no_grad():
        model.repeat_bias.fill_(-0.7)
    model.readable_items[1::4] = False  # both paths skip the same history events
    split = leave_one_out(ring_dataset)
    for exclude_seen in (False, True):
        whole = evaluate_cases(
            model, ring_dataset, split.test, max_len=10, exclude_seen=exclude_seen
        )
        monkeypatch.setattr(ranker, "ITEM_CHUNK", 7)
        chunked = evaluate_cases(
            model, ring_dataset, split.test, max_len=10, exclude_seen=exclude_seen
        )
        monkeypatch.setattr(ranker, "ITEM_CHUNK", 65_536)
        assert torch.equal(whole.ranks, chunked.ranks)
        assert whole.metrics == chunked.metrics


def test_histories_skip_items_the_model_never_trained_on(ring_dataset):
    """Ranks equal those of the same model scoring each history with those items filtered out by
    hand; exclude_seen still removes them from the candidates."""
    from chronorec.data.batches import history_batch
    from chronorec.scoring import mask_padding_and_seen, pessimistic_rank

    torch.manual_seed(0)
    model = build_model("sasrec", {"dim": 16}, num_items=ring_dataset.num_items, max_len=10).eval()
    untrained = torch.zeros(ring_dataset.num_items + 1, dtype=torch.bool)
    untrained[1::3] = True
    model.readable_items[untrained] = False
    cases = leave_one_out(ring_dataset).test
    for exclude_seen in (False, True):
        got = evaluate_cases(
            model, ring_dataset, cases, max_len=10, exclude_seen=exclude_seen
        ).ranks
        expected = []
        for u, t in zip(cases.users, cases.targets):
            lo = max(ring_dataset.offsets[u], t - 10)
            items, times = ring_dataset.items[lo:t].tolist(), ring_dataset.timestamps[lo:t].tolist()
            kept = [k for k, i in enumerate(items) if not untrained[i]]
            batch = history_batch([[items[k] for k in kept]], [[times[k] for k in kept]], None, 10)
            batch.query_time = torch.tensor([times[-1]])
            with torch.no_grad():
                scores = model.score(batch)
            seen = ring_dataset.items[ring_dataset.offsets[u] : t].tolist()  # the whole history
            mask_padding_and_seen(scores, torch.tensor([seen]) if exclude_seen else None)
            expected.append(pessimistic_rank(scores, torch.tensor([int(ring_dataset.items[t])])))
        assert torch.equal(got, torch.cat(expected))
    assert untrained[ring_dataset.items[cases.targets - 1]].any()  # some latest event is skipped
