"""New items in the service: a run with text features serves an item added to the store's catalogue
at once (every old score unchanged bit for bit), on every engine sharing the store; a run without
them stores it for the next refresh. Also: reloading another run folder, and the store watermark of
a refreshed run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

import chronorec
from chronorec.errors import ChronorecError
from chronorec.models.text import encoder_available
from chronorec.serve.engine import Engine
from chronorec.serve.stores import Event, Item, SQLiteStore, open_store
from tests.conftest import write_prepared
from tests.serve.conftest import train_run

GENRES = {
    "Horror": ["Blood", "Night", "Scream", "Ghost", "Haunted"],
    "Comedy": ["Funny", "Laugh", "Party", "Wedding", "Silly"],
    "Documentary": ["Nature", "History", "Ocean", "Planet", "War"],
    "Western": ["Cowboy", "Gun", "Desert", "Sheriff", "Outlaw"],
}
USERS, PER_GENRE = 120, 20


def genre_dataset(root: Path, seed: int = 0) -> Path:
    """Users who each watch one genre, its first items most; items titled and with genres."""
    rng = np.random.default_rng(seed)
    genres = list(GENRES)
    share = 1 / np.arange(1, PER_GENRE + 1)
    sequences = {}
    for u in range(USERS):
        genre = genres[u % len(genres)]
        picks = rng.choice(PER_GENRE, int(rng.integers(8, 25)), p=share / share.sum())
        t0 = 1_600_000_000 + u * 1000
        sequences[f"u{u}"] = [(f"{genre[0]}{k}", t0 + 60 * n) for n, k in enumerate(picks)]
    path = write_prepared(root / "data", sequences)
    items = pl.read_parquet(path / "items.parquet")
    by_letter = {genre[0]: genre for genre in genres}
    genre_of = [by_letter[i[0]] for i in items["item_id"]]
    titles = [
        f"{GENRES[g][int(i[1:]) % 5]} {['Returns', 'Rising', 'Story'][int(i[1:]) % 3]} {i[1:]}"
        for g, i in zip(genre_of, items["item_id"])
    ]
    items.with_columns(pl.Series("title", titles), pl.Series("categories", genre_of)).write_parquet(
        path / "items.parquet"
    )
    return path


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not encoder_available():
        pytest.skip("the packaged sentence encoder is not installed")
    root = tmp_path_factory.mktemp("text")
    chronorec.train(
        genre_dataset(root),
        out=root / "run",
        model="sasrec",
        epochs=10,
        model_params={"dim": 32},
        text_features=True,
        progress=False,
    )
    return root / "run"


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """Makes engines (on a store by URL, default one SQLite file); closes their stores."""
    made: list[Engine] = []

    def make(run: Path, store: str = f"sqlite:///{tmp_path}/events.sqlite") -> Engine:
        made.append(Engine(run, open_store(store)))
        return made[-1]

    yield make
    for engine in made:
        engine.store.close()


def top(engine: Engine, user: str, k: int = 20) -> list[str]:
    return [r.item_id for r in engine.recommend_user(user, k, False).recommendations]


def test_a_new_item_is_served_from_its_text_and_old_scores_do_not_move(
    text_run: Path, engines: Callable[..., Engine]
) -> None:
    engine = engines(text_run)
    old = engine.bundle
    users = [f"u{u}" for u in range(USERS)]
    histories = {u: engine.user_history(u) for u in users[:8]}
    before = {u: old.ranker.scores(h) for u, h in histories.items()}
    popular = next(
        old.data.item_ids[i] for i in old.popularity.order if old.data.item_ids[i][0] == "H"
    )
    fans = [u for u in users if popular in top(engine, u)]
    title = old.data.title(old.data.item_index(popular))
    answers = engine.put_items(
        [Item("clone", title, "Horror"), Item("other", "Funny Party 7", "Comedy"), Item("H1")]
    )
    assert answers == [(False, True), (False, True), (True, True)]
    new = engine.bundle
    assert new is not old and new.data.num_items == old.data.num_items + 2
    assert new.data.title(new.data.item_index("clone")) == title
    assert new.popularity.share[new.data.item_index("clone")] == 0.0
    kept = old.data.num_items + 1
    assert torch.equal(new.ranker.vectors[:kept], old.ranker.vectors)
    for u, history in histories.items():
        assert torch.equal(new.ranker.scores(history)[:, :kept], before[u])
    # The clone's text row is the popular item's own: the same text, centred the same way.
    text = new.model.item_embedding.text
    assert torch.allclose(text[new.data.item_index("clone")], text[old.data.item_index(popular)])
    assert new.model.item_embedding.known[kept:].eq(0).all() and new.model.readable_items.all()
    # Its text puts it where the popular item is, and in that item's genre: every horror fan
    # ranks it above a new comedy.
    clone_fans = [u for u in fans if "clone" in top(engine, u)]
    assert len(fans) >= 20 and len(clone_fans) >= 0.75 * len(fans)
    horror_fans = [u for u in fans if int(u[1:]) % len(GENRES) == 0]
    ranks = [
        (top(engine, u, 200).index("clone"), top(engine, u, 200).index("other"))
        for u in horror_fans
    ]
    assert len(horror_fans) >= 10 and all(clone < other for clone, other in ranks)
    # It reads in histories and has neighbours of its own.
    similar = engine.similar("clone", 5)
    assert similar is not None and not similar.fallback
    engine.add_events([Event("newcomer", "clone", 1_700_000_000.0)])
    assert not engine.recommend_user("newcomer", 5, False).fallback


def test_putting_items_again_grows_nothing_and_a_new_title_moves_only_that_item(
    text_run: Path, engines: Callable[..., Engine]
) -> None:
    engine = engines(text_run)
    engine.put_items([Item("n1", "Ghost Story 99", "Horror")])
    grown = engine.bundle
    engine.put_items([Item("n1", "Ghost Story 99", "Horror")])
    assert engine.bundle is grown
    engine.put_items([Item("n1", "Cowboy Returns 99", "Western")])
    retitled = engine.bundle
    row = grown.data.item_index("n1")
    assert retitled.data.num_items == grown.data.num_items and retitled.data.item_index("n1") == row
    assert retitled.data.title(row) == "Cowboy Returns 99"
    others = torch.arange(grown.data.num_items + 1) != row
    assert torch.equal(retitled.ranker.vectors[others], grown.ranker.vectors[others])
    assert not torch.equal(retitled.ranker.vectors[row], grown.ranker.vectors[row])
    engine.reload()  # a reload applies the store's catalogue to the run it loads
    assert engine.bundle.data.title(engine.bundle.data.item_index("n1")) == "Cowboy Returns 99"
    assert torch.equal(engine.bundle.ranker.vectors, retitled.ranker.vectors)


def test_another_engine_on_the_store_serves_a_new_item_within_a_second(
    text_run: Path, engines: Callable[..., Engine]
) -> None:
    a, b = engines(text_run), engines(text_run)
    b._encoder.encode(["warm"])  # as a server that has been up a while: the encoder is loaded
    a.put_items([Item("fresh", "Scream Rising 42", "Horror")])
    start = time.monotonic()
    while b.bundle.data.item_index("fresh") is None:
        assert time.monotonic() - start < 1.0, "the other engine did not serve the item in time"
        time.sleep(0.005)
    assert torch.equal(b.bundle.ranker.vectors, a.bundle.ranker.vectors)
    # A third engine started later applies the catalogue at start.
    assert engines(text_run).bundle.data.item_index("fresh") is not None


def test_without_text_features_an_item_is_stored_for_the_next_refresh(
    run_dir: Path, engines: Callable[..., Engine]
) -> None:
    engine = engines(run_dir)
    old = engine.bundle
    assert engine.put_items([Item("brand-new", "Brand new"), Item("i3", "Three")]) == [
        (False, False),
        (True, True),
    ]
    assert engine.bundle is old and engine.bundle.data.item_index("brand-new") is None
    assert [i.item_id for i in engine.store.items()] == ["brand-new", "i3"]


def test_reload_serves_another_run_folder_until_told_otherwise(
    run_dir: Path, tmp_path: Path, engines: Callable[..., Engine]
) -> None:
    other = train_run(tmp_path / "other", model="markov")
    engine = engines(run_dir)
    before = engine.bundle.version
    old, new = engine.reload(other)
    assert old == before and new.startswith("markov-") and engine.run_dir == other
    assert engine.reload() == (new, new) and engine.run_dir == other
    with pytest.raises(ChronorecError):
        engine.reload(tmp_path / "not-a-run")
    assert engine.bundle.version == new and engine.run_dir == other


def test_posted_events_a_refreshed_run_holds_already_are_not_counted_twice(
    tmp_path: Path,
) -> None:
    run = train_run(tmp_path)
    store = SQLiteStore(tmp_path / "events.sqlite")
    stored = store.add([Event("u3", f"i{k}", 1_700_000_000.0 + k) for k in (1, 2, 3)])
    manifest = tmp_path / "data" / "manifest.json"
    through = stored[1].seq  # the first two are in the refreshed dataset
    manifest.write_text(
        json.dumps({**json.loads(manifest.read_text()), "refresh": {"through": through}})
    )
    engine = Engine(run, store)
    try:
        assert engine.bundle.watermark == through
        engine.recommend_user("u3", 5, False)
        assert posted_seqs(engine, "u3") == [stored[2].seq]
        [later] = engine.add_events([Event("u3", "i4", 1_700_000_100.0)])[0]
        assert posted_seqs(engine, "u3") == [stored[2].seq, later.seq]
    finally:
        store.close()


def posted_seqs(engine: Engine, user: str) -> list[int]:
    """The store seqs of the posted events in the user's cached state, oldest first."""
    state = engine.bundle.users.get(engine.store.user_key(user))
    assert state is not None
    return [seq for source, _, seq, _, _ in state.entries if source == 1]
