"""Items added to the catalogue after training (``PUT /v1/items/{id}``), made servable.

A run trained with text features scores an item by its ID vector (or, for an item without training
events, a learned stand-in) plus a projection of its text vector. A new item has no ID vector, but
its text gives it the rest: :func:`with_items` grows the served model by the new items, whose text
vectors are encoded and centred on the mean of the run's own items (as the model's text buffer is),
flagged as having no ID vector and as readable in histories. Every old item's row is copied as it
was, so the old items' scores do not change by a single bit. A run without text features has
nothing to give a new item: it is stored, and becomes recommendable after ``chronorec refresh``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from chronorec.data.dataset import SequenceData
from chronorec.models import ItemText, ModelParts, Recommender, build_model
from chronorec.models.text import (
    TextItemEmbedding,
    centre_on,
    encode_texts,
    item_text,
    item_text_vectors,
    load_encoder,
)
from chronorec.models.weights import load_grown
from chronorec.runs.checkpoint import describe_model
from chronorec.runs.load import Run
from chronorec.serve.stores import Item

log = logging.getLogger("chronorec.serve")

GROW_SEED = 0  # new rows that start from the mean item are drawn from this seed: replicas agree


@dataclass(frozen=True)
class Additions:
    """The catalogue additions a served run holds, after the run's own ``run_items`` items."""

    run_items: int
    texts: dict[str, str] = field(default_factory=dict)  # item id -> the text its vector is from
    mean: torch.Tensor | None = None  # mean raw text vector of the run's items with text


class TextEncoder:
    """The packaged sentence encoder, loaded on first use (seconds) and kept."""

    def __init__(self) -> None:
        self._encoder: Any = None
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit sentence vectors ``(N, 384)`` of ``texts`` (see :func:`encode_texts`)."""
        with self._lock:
            if self._encoder is None:
                self._encoder = load_encoder()
            return encode_texts(texts, encoder=self._encoder)

    def warm_up(self) -> None:
        """Load the encoder in a thread of its own now, so that the first new item (perhaps
        added by another process) is served within moments, not after the load."""

        def load() -> None:
            try:
                self.encode([])
            except Exception:  # noqa: BLE001 - the first real use reports the same error
                log.exception("loading the sentence encoder failed")

        threading.Thread(target=load, name="text-encoder-load", daemon=True).start()


class CatalogueReader:
    """Runs ``read`` in a thread of its own when asked, and once more when asked again meanwhile:
    a catalogue change another process reports is applied without holding up the store's
    notices of changed users (encoding texts and growing the model take a while)."""

    def __init__(self, read: Callable[[], None]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._pending = self._running = False

    def request(self) -> None:
        """Read the catalogue soon (at once, unless a read is running: then right after it)."""
        with self._lock:
            self._pending = True
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._run, name="catalogue-reader", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._running = False
                    return
                self._pending = False
            try:
                self._read()
            except Exception:  # noqa: BLE001 - a thread of its own: logged, the next change retries
                log.exception("applying the store's item catalogue failed")


def takes_new_items(model: Recommender) -> bool:
    """Whether ``model`` can score an item it was not trained on: it has text features."""
    return isinstance(getattr(model, "item_embedding", None), TextItemEmbedding)


def with_items(
    run: Run, additions: Additions, items: Sequence[Item], encoder: TextEncoder
) -> tuple[Run, Additions] | None:
    """``run`` with the items of ``items`` it does not know made servable (new ones appended, those
    added before with a changed text re-encoded), and the additions it then holds; None when
    nothing changes or the model cannot take new items."""
    if not takes_new_items(run.model):
        return None
    data = run.data
    changed = _changed(data, additions, items)
    if not changed:
        return None
    mean = additions.mean if additions.mean is not None else _mean_text_vector(data)
    vectors = centre_on(torch.from_numpy(encoder.encode([t for _, t in changed.values()])), mean)
    grown_data = _with_titles(data, [item for item, _ in changed.values()])
    rows = torch.tensor([grown_data.item_index(item_id) for item_id in changed])
    model = _grown_model(run.model, grown_data.num_items, rows, vectors)
    description = {**run.description, "num_items": grown_data.num_items}
    texts = {**additions.texts, **{item_id: text for item_id, (_, text) in changed.items()}}
    return (
        replace(run, model=model, data=grown_data, description=description),
        replace(additions, texts=texts, mean=mean),
    )


def _changed(
    data: SequenceData, additions: Additions, items: Sequence[Item]
) -> dict[str, tuple[Item, str]]:
    """The items of ``items`` to (re)encode, with their texts: those the run's own dataset does
    not hold, new or with a text other than the one served. Later entries win."""
    changed = {}
    for item in {i.item_id: i for i in items}.values():
        index = data.item_index(item.item_id)
        if index is not None and index <= additions.run_items:
            continue  # the run's own item: its trained vector stays
        text = item_text(item.title, item.categories)
        if additions.texts.get(item.item_id) != text:
            changed[item.item_id] = (item, text)
    return changed


def _mean_text_vector(data: SequenceData) -> torch.Tensor:
    """The mean raw text vector over ``data``'s items with text: what the model's buffer is
    centred on (read from the dataset's cache of text vectors)."""
    raw = torch.as_tensor(item_text_vectors(data), dtype=torch.float32)
    has_text = raw.abs().sum(1) > 0
    return raw[has_text].mean(0) if has_text.any() else torch.zeros(raw.shape[1])


def _with_titles(data: SequenceData, items: list[Item]) -> SequenceData:
    """``data`` with the new ones of ``items`` appended to its item ids, and their titles set."""
    new_ids = [i.item_id for i in items if data.item_index(i.item_id) is None]
    item_ids = np.concatenate([data.item_ids, np.array(new_ids, dtype=object)])
    old_titles = data.titles if data.titles is not None else np.full(len(data.item_ids), None)
    titles = np.concatenate([old_titles, np.full(len(new_ids), None)]).astype(object)
    grown = replace(data, item_ids=item_ids, titles=titles)
    for item in items:
        titles[grown.item_index(item.item_id)] = item.title
    return grown


@torch.no_grad()
def _grown_model(
    model: Recommender, num_items: int, rows: torch.Tensor, vectors: torch.Tensor
) -> Recommender:
    """A copy of ``model`` over ``num_items`` items whose text buffer holds ``vectors`` at
    ``rows``; the other rows are ``model``'s own, bit for bit."""
    old: TextItemEmbedding = model.item_embedding  # type: ignore[assignment]
    meta = describe_model(model)
    parts = ModelParts(item_text=ItemText(torch.zeros(num_items + 1, old.text_dim)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(GROW_SEED)
        grown = build_model(
            meta["model"],
            meta["params"],
            num_items=num_items,
            num_event_types=meta["num_event_types"],
            max_len=meta["max_len"],
            parts=parts,
        )
        load_grown(grown, model.state_dict())
    new: TextItemEmbedding = grown.item_embedding  # type: ignore[assignment]
    kept = model.num_items + 1
    new.text[:kept] = old.text
    new.known[:kept] = old.known
    new.known[kept:] = 0.0  # no ID vector: the learned stand-in takes its place
    grown.readable_items[:kept] = model.readable_items
    grown.readable_items[kept:] = True  # the text gives them an input vector too
    new.text[rows] = vectors
    return grown.eval()
