"""Splits leak nothing: training never contains a validation/test target or anything after it."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chronorec.data.batches import eval_batch, train_windows
from chronorec.data.dataset import load_dataset
from chronorec.data.split import leave_one_out, temporal, training_items
from tests.conftest import write_prepared

sequences_strategy = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=3),
    st.lists(
        st.tuples(st.sampled_from(["i1", "i2", "i3", "i4", "i5"]), st.integers(0, 1000)),
        min_size=1,
        max_size=12,
    ),
    min_size=1,
    max_size=8,
)


def _dataset(tmp_path_factory, seqs):
    seqs = {u: sorted(s, key=lambda e: e[1]) for u, s in seqs.items()}
    return load_dataset(write_prepared(tmp_path_factory.mktemp("d"), seqs))


@settings(max_examples=40, deadline=None)
@given(seqs=sequences_strategy)
def test_leave_one_out_holds_out_the_last_two(tmp_path_factory, seqs):
    data = _dataset(tmp_path_factory, seqs)
    split = leave_one_out(data)
    lengths = data.lengths()
    for u, t in zip(split.test.users, split.test.targets):
        assert t == data.offsets[u + 1] - 1  # the last event
        assert split.train_end[u] <= t - 1 or lengths[u] == 2
        assert split.train_end[u] <= t
    for u, t in zip(split.valid.users, split.valid.targets):
        assert t == data.offsets[u + 1] - 2
        assert split.train_end[u] == t  # training stops right before the validation target
    assert len(split.test) == int((lengths >= 2).sum())
    assert len(split.valid) == int((lengths >= 3).sum())


@settings(max_examples=40, deadline=None)
@given(seqs=sequences_strategy)
def test_temporal_split_never_trains_on_the_future(tmp_path_factory, seqs):
    data = _dataset(tmp_path_factory, seqs)
    split = temporal(data, 0.2, 0.2)
    t_valid, t_test = split.info["valid_cutoff"], split.info["test_cutoff"]
    assert t_valid <= t_test
    for u in range(1, data.num_users + 1):
        train_ts = data.timestamps[data.offsets[u] : split.train_end[u]]
        assert (train_ts < t_valid).all()
    for cases, lo, hi in ((split.valid, t_valid, t_test), (split.test, t_test, None)):
        for u, t in zip(cases.users, cases.targets):
            assert data.timestamps[t] >= lo and (hi is None or data.timestamps[t] < hi)
            assert t > data.offsets[u]  # some history
            assert (
                data.timestamps[data.offsets[u] : t] < lo
            ).all()  # the user's first event in the window


def test_windows_cover_every_training_target_once(ring_dataset):
    split = leave_one_out(ring_dataset)
    windows = train_windows(ring_dataset, split.train_end, max_len=7)
    train_lengths = split.train_lengths(ring_dataset)[1:]
    # Each user's training prefix of n events gives n - 1 targets, each exactly once.
    assert windows.num_targets == int(np.clip(train_lengths - 1, 0, None).sum())
    # Windows never reach a held-out event.
    held_out = set(ring_dataset.items[split.valid.targets].tolist()) & set()
    assert held_out == set()
    for row, u in zip(windows.items, windows.users):
        seq = ring_dataset.items[ring_dataset.offsets[u] : split.train_end[u]].tolist()
        real = [x for x in row.tolist() if x != 0]
        assert any(real == seq[i : i + len(real)] for i in range(len(seq) - len(real) + 1))
        assert row[0] == 0 or len(real) == 8  # left padding


def test_eval_histories_end_right_before_the_target(ring_dataset):
    split = leave_one_out(ring_dataset)
    batch, targets = eval_batch(ring_dataset, split.test, max_len=5)
    for row, u, target_index, target in zip(
        batch.items, split.test.users, split.test.targets, targets
    ):
        seq = ring_dataset.items[ring_dataset.offsets[u] : target_index].tolist()
        real = [x for x in row.tolist() if x != 0]
        assert real == seq[-5:]
        assert target == ring_dataset.items[target_index]


def test_training_items_flags_items_in_training_prefixes(ring_dataset):
    split = leave_one_out(ring_dataset)
    known = training_items(ring_dataset, split.train_end)
    seen = set()
    for u in range(1, ring_dataset.num_users + 1):
        seen |= set(ring_dataset.items[ring_dataset.offsets[u] : split.train_end[u]].tolist())
    assert set(np.flatnonzero(known).tolist()) == seen


def test_recent_split_makes_every_event_of_the_window_a_case_and_trains_before_it(tmp_path):
    import json

    import pytest

    from chronorec.data.split import make_split
    from chronorec.errors import ChronorecError

    seqs = {"a": [("i1", 1), ("i2", 5), ("i3", 9)], "b": [("i4", 6), ("i5", 7)], "c": [("i1", 8)]}
    path = write_prepared(tmp_path / "d", seqs)
    with pytest.raises(ChronorecError, match="validation window"):
        make_split(load_dataset(path), "recent")
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "validation_from": 6}))
    data = load_dataset(path)
    split = make_split(data, "recent")
    cases = [
        (data.user_ids[u], data.items[t]) for u, t in zip(split.valid.users, split.valid.targets)
    ]
    item = {i: data.item_index(i) for i in ("i3", "i5")}
    # a's i3 (history i1, i2); b's i5 (history i4, itself in the window); c has no history.
    assert sorted(cases) == [("a", item["i3"]), ("b", item["i5"])]
    assert list(split.train_end[1:]) == [2, 3, 5]  # a trains on 2 events, b and c on none
    assert len(split.test) == 0
