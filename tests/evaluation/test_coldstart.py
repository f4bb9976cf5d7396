"""Cold-start split: held-out items have at most the allowed training events;
cases are what they claim."""

from __future__ import annotations

import numpy as np
import pytest

from chronorec.errors import ChronorecError
from chronorec.evaluation.coldstart import coldstart_split, evaluate_coldstart
from chronorec.models import build_model
from tests.pretrain.realdata import prepared_ml100k


@pytest.fixture(scope="module")
def ml100k(real_data_root, tmp_path_factory):
    return prepared_ml100k(real_data_root, tmp_path_factory.mktemp("ml") / "ml-100k")


def _training_counts(data, train_end) -> np.ndarray:
    counts = np.zeros(data.num_items + 1, dtype=np.int64)
    for u in range(1, data.num_users + 1):
        np.add.at(counts, data.items[data.offsets[u] : train_end[u]], 1)
    return counts


@pytest.mark.parametrize("late, allowed", [(0.1, 0), (0.3, 0), (0.3, 3)])
def test_held_out_items_have_at_most_the_allowed_training_events(ml100k, late, allowed):
    cs = coldstart_split(ml100k, late_fraction=late, max_train_interactions=allowed)
    split, info = cs.split, cs.info
    counts = _training_counts(ml100k, split.train_end)
    assert np.array_equal(counts, cs.train_counts)
    cold = np.flatnonzero(cs.cold_items)
    assert len(cold) == info["cold_items"] > 0 and (counts[cold] <= allowed).all()
    # Every cold item is first seen in the late window;
    # every test target is cold, no warm target is.
    first_seen = np.full(ml100k.num_items + 1, np.iinfo(np.int64).max)
    np.minimum.at(first_seen, ml100k.items, ml100k.timestamps)
    assert (first_seen[cold] >= info["late_cutoff"]).all()
    assert cs.cold_items[ml100k.items[split.test.targets]].all()
    assert not cs.cold_items[ml100k.items[cs.warm_test.targets]].any()
    assert len(split.test) == info["cold_cases"] > 0
    # Test cases are in the test window, have some history,
    # and none of it is trained on after t_valid.
    for cases in (split.test, cs.warm_test):
        assert (ml100k.timestamps[cases.targets] >= info["test_cutoff"]).all()
        assert (cases.targets > ml100k.offsets[cases.users]).all()
        assert (split.train_end[cases.users] <= cases.targets).all()
    trained = np.concatenate(
        [
            ml100k.timestamps[ml100k.offsets[u] : split.train_end[u]]
            for u in range(1, ml100k.num_users + 1)
        ]
    )
    assert (trained < info["valid_cutoff"]).all()
    # Validation: every event of [t_valid, t_test) that has some history, and nothing else.
    ts = ml100k.timestamps
    owner = np.repeat(np.arange(ml100k.num_users + 1), np.diff(ml100k.offsets))
    in_window = (
        (ts >= info["valid_cutoff"])
        & (ts < info["test_cutoff"])
        & (np.arange(len(ts)) > ml100k.offsets[owner])
    )
    assert np.array_equal(split.valid.targets, np.flatnonzero(in_window))
    assert (
        np.array_equal(split.valid.users, owner[split.valid.targets])
        and len(split.valid) == info["valid_cases"]
    )
    # A wider late window than the validation + test windows lets some cold items have a few events.
    if allowed:
        assert counts[cold].max() > 0


def test_popularity_cannot_rank_an_unseen_item(ml100k):
    cs = coldstart_split(ml100k)
    pop = build_model("pop", {}, num_items=ml100k.num_items)
    pop.learn_counts(ml100k, cs.split)
    metrics = evaluate_coldstart(pop, ml100k, cs, max_len=50, ks=(10, 50))
    assert metrics["cold"]["HR@50"] == 0.0 and metrics["warm"]["HR@10"] > 0.0


def test_bad_fractions_are_clear_errors(ring_dataset):
    with pytest.raises(ChronorecError, match="late_fraction"):
        coldstart_split(ring_dataset, late_fraction=0)
    with pytest.raises(ChronorecError, match="must be < 1"):
        coldstart_split(ring_dataset, test_fraction=0.6, valid_fraction=0.5)
