"""What ``chronorec refresh`` reads from a store: events after the run's watermark, in the order
stored; catalogue additions; the run's users who were forgotten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.serve.collect import collect
from chronorec.serve.stores import Event, open_store
from chronorec.serve.stores.base import Item


def test_collect_reads_past_the_watermark_with_the_catalogue_and_the_forgotten(
    ring_dataset: SequenceData, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "events.sqlite")
    try:
        stored = store.add([Event(f"u{n}", f"i{n}", 1.7e9 + n, "click") for n in range(5)])
        store.put_items([Item("brand-new", "A new thing", "Tools|Garden")])
        store.forget("u7", known=True)
        new = collect(store, ring_dataset)
        assert new.events["item_id"].to_list() == [f"i{n}" for n in range(5)]
        assert new.events["event_type"].to_list() == ["click"] * 5
        assert new.through == stored[-1].seq
        assert new.items.row(0) == ("brand-new", "A new thing", "Tools|Garden")
        assert list(new.forgotten) == ["u7"]

        # A dataset that already holds the store's events through the third one.
        copy = shutil.copytree(ring_dataset.path, tmp_path / "refreshed")
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["refresh"] = {"through": stored[2].seq}
        (copy / "manifest.json").write_text(json.dumps(manifest))
        later = collect(store, load_dataset(copy))
        assert later.events["item_id"].to_list() == ["i3", "i4"]
        assert later.through == stored[-1].seq
    finally:
        store.close()
