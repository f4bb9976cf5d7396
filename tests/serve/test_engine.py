"""The engine: same scores as the library, cached state, fallbacks, forgetting, atomic reload."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import chronorec
from chronorec.serve.engine import Engine
from chronorec.serve.stores import Event, SQLiteStore, open_store
from tests.serve.conftest import perturb_checkpoint, train_run


class CountingStore(SQLiteStore):
    """Counts reads of a user's log, to show that new events do not replay it."""

    reads = 0

    def for_user(self, user_id: str, limit: int | None = None) -> list[Event]:
        self.reads += 1
        return super().for_user(user_id, limit)


@pytest.fixture
def engine(run_dir: Path, tmp_path: Path) -> Engine:
    return Engine(run_dir, CountingStore(tmp_path / "e.sqlite"))


def test_known_user_gets_what_the_library_recommends(engine: Engine, run_dir: Path) -> None:
    ranking = engine.recommend_user("u3", 5, exclude_seen=False)
    expected = chronorec.recommend(run_dir, "u3", k=5)
    assert not ranking.fallback
    assert [r.item_id for r in ranking.recommendations] == [r.item_id for r in expected]
    assert [r.score for r in ranking.recommendations] == pytest.approx(
        [r.score for r in expected], rel=1e-5
    )
    assert ranking.recommendations[0].title == f"title {ranking.recommendations[0].item_id}"


def test_new_event_costs_one_forward_pass_and_no_log_replay(engine: Engine) -> None:
    before = engine.recommend_user("u3", 5, False)
    passes, reads = engine.bundle.forward_passes, engine.store.reads
    assert engine.recommend_user("u3", 5, False) == before  # cached: no work at all
    assert engine.bundle.forward_passes == passes
    engine.add_events([Event("u3", "i7", 1_700_000_000.0)])
    after = engine.recommend_user("u3", 5, False)
    assert engine.bundle.forward_passes == passes + 1 and engine.store.reads == reads
    assert after != before


def test_exclude_seen_leaves_out_the_whole_history(engine: Engine) -> None:
    engine.add_events([Event("u3", "i0", 1_700_000_000.0)])
    data = engine.bundle.data
    u = data.user_index("u3")
    seen = {data.item_ids[i] for i in data.items[data.offsets[u] : data.offsets[u + 1]]} | {"i0"}
    got = {r.item_id for r in engine.recommend_user("u3", 40, True).recommendations}
    assert got and not got & seen


def test_unknown_user_falls_back_until_they_post_known_items(engine: Engine) -> None:
    assert engine.recommend_user("stranger", 3, False).fallback
    _, unknown = engine.add_events([Event("stranger", "not-an-item", 1.0)])
    assert unknown == 1 and engine.recommend_user("stranger", 3, False).fallback
    engine.add_events([Event("stranger", "i5", 2.0)])
    ranking = engine.recommend_user("stranger", 3, False)
    assert not ranking.fallback and len(ranking.recommendations) == 3


def test_forgotten_user_is_treated_as_unknown_even_after_a_restart(
    engine: Engine, run_dir: Path, tmp_path: Path
) -> None:
    engine.add_events([Event("u3", "i1", 1.0)])
    assert not engine.recommend_user("u3", 3, False).fallback
    assert engine.forget("u3") == 1
    assert engine.recommend_user("u3", 3, False).fallback
    engine.store.close()
    restarted = Engine(run_dir, SQLiteStore(tmp_path / "e.sqlite"))
    assert (
        restarted.recommend_user("u3", 3, False).fallback and restarted.store.for_user("u3") == []
    )


def test_session_and_similar_items(engine: Engine) -> None:
    ranking, unknown = engine.recommend_session(
        [("i1", None, None), ("nope", 5.0, None), ("i2", None, "click")], 4, exclude_seen=True
    )
    assert (
        unknown == 1
        and not ranking.fallback
        and not {"i1", "i2"} & {r.item_id for r in ranking.recommendations}
    )
    ranking, unknown = engine.recommend_session([("nope", None, None)], 4, exclude_seen=False)
    assert unknown == 1 and ranking.fallback
    similar = engine.similar("i1", 5)
    assert similar is not None and len(similar.recommendations) == 5
    assert "i1" not in {r.item_id for r in similar.recommendations}
    assert engine.similar("nope", 5) is None


def test_events_on_items_the_model_never_trained_on_are_left_out(engine: Engine) -> None:
    untrained = engine.bundle.data.item_index("i7")
    engine.bundle.model.readable_items[untrained] = False  # as if i7 had no training event
    before = engine.recommend_user("u3", 5, False)
    engine.add_events([Event("u3", "i7", 1_700_000_000.0)])
    after = engine.recommend_user("u3", 5, False)
    assert [(r.item_id, r.score) for r in after.recommendations] == [
        (r.item_id, pytest.approx(r.score, rel=1e-5)) for r in before.recommendations
    ]
    ranking, left_out = engine.recommend_session([("i7", None, None)], 4, exclude_seen=False)
    assert left_out == 1 and ranking.fallback
    similar = engine.similar("i7", 4)
    assert (
        similar is not None
        and similar.fallback
        and "i7" not in {r.item_id for r in similar.recommendations}
    )


def test_reload_swaps_the_model_and_keeps_events(run_dir: Path, tmp_path: Path) -> None:
    own_run = tmp_path / "run"
    shutil.copytree(run_dir, own_run)
    engine = Engine(own_run, SQLiteStore(tmp_path / "e.sqlite"))
    engine.add_events([Event("u3", "i1", 1.0)])
    old_bundle, before = engine.bundle, engine.recommend_user("u3", 5, False)
    perturb_checkpoint(own_run, seed=1)
    old, new = engine.reload()
    assert old == before.model_version and new != old and engine.bundle is not old_bundle
    after = engine.recommend_user("u3", 5, False)
    assert after.model_version == new and after.recommendations != before.recommendations
    assert engine.store.for_user("u3")[0].item_id == "i1"


def test_models_without_an_index_are_served_too(tmp_path: Path) -> None:
    engine = Engine(train_run(tmp_path, model="markov"), SQLiteStore(tmp_path / "e.sqlite"))
    assert engine.bundle.ranker.index is None
    engine.add_events([Event("u3", "i4", 1_700_000_000.0)])
    top = engine.recommend_user("u3", 3, False)
    assert (
        not top.fallback and top.recommendations[0].item_id == "i5"
    )  # the ring: i4 is followed by i5


def test_approximate_index_path_gives_the_exact_answer_on_a_tiny_catalogue(
    run_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("faiss")
    exact = Engine(run_dir, SQLiteStore(tmp_path / "a.sqlite"))
    approx = Engine(
        run_dir, SQLiteStore(tmp_path / "b.sqlite"), approx_above=10
    )  # 40 items: one list
    assert type(approx.bundle.ranker.index).__name__ == "ApproxIndex"
    assert exact.bundle.ranker.index is None
    for engine in (exact, approx):
        engine.add_events([Event("u5", "i9", 1_700_000_000.0)])
    for seen in (False, True):
        a, b = exact.recommend_user("u5", 8, seen), approx.recommend_user("u5", 8, seen)
        assert [r.item_id for r in a.recommendations] == [r.item_id for r in b.recommendations]
        assert [r.score for r in a.recommendations] == pytest.approx(
            [r.score for r in b.recommendations], rel=1e-4
        )


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until ``check()`` holds; fails the test after ``timeout``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "not within the bound"
        time.sleep(0.002)
    return time.monotonic() - start


def test_engines_sharing_a_store_see_each_others_events_and_deletes(
    run_dir: Path, store_url: str
) -> None:
    a, b = Engine(run_dir, open_store(store_url)), Engine(run_dir, open_store(store_url))
    try:
        before = b.recommend_user("u3", 10, False)  # cached by b
        a.add_events([Event("u3", "i17", 1_700_000_000.0), Event("u3", "i18", 1_700_000_001.0)])
        assert eventually(lambda: b.recommend_user("u3", 10, False) != before) < 1.0
        assert b.recommend_user("u3", 10, False) == a.recommend_user("u3", 10, False)
        assert a.forget("u3") == 2
        assert eventually(lambda: b.recommend_user("u3", 10, False).fallback) < 1.0
        # b's own writes keep its cache (no reload from the store), a's invalidate it.
        b.recommend_user("u4", 10, False)
        b.add_events([Event("u4", "i1", 1_700_000_000.0)])
        state = b.bundle.users.get(b.store.user_key("u4"))
        time.sleep(0.1)
        assert state is not None and b.bundle.users.get(b.store.user_key("u4")) is state
    finally:
        a.store.close()
        b.store.close()


def test_a_forget_of_someone_nobody_knows_changes_nothing(engine: Engine) -> None:
    assert engine.forget("no-such-user") is None and not engine.store.is_forgotten("no-such-user")
    assert engine.forget("u3") == 0  # a training user without posted events
    assert engine.forget("u3") is None  # already forgotten
