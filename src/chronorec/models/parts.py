"""What a sequence model is built with besides its settings: item text features and its item loss.

Both are given to the model's constructor (through :func:`chronorec.models.build_model`), so a
model is whole once built: nothing is swapped in or patched afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from chronorec.models.layers import small_embedding
from chronorec.models.losses import ItemLoss
from chronorec.models.text import ItemText


@dataclass(frozen=True, eq=False)
class ModelParts:
    """Optional parts of a :class:`~chronorec.models.base.SequenceModel`.

    ``item_text``: fuse these text vectors into the item embedding (a
    :class:`~chronorec.models.text.TextItemEmbedding`); ``item_loss``: train next-item prediction
    with this loss instead of the full softmax (a training choice, never saved with the model).
    """

    item_text: ItemText | None = None
    item_loss: ItemLoss | None = None

    @property
    def empty(self) -> bool:
        return self.item_text is None and self.item_loss is None

    def item_embedding(self, num_embeddings: int, dim: int) -> nn.Module:
        """The item table ``(num_embeddings, dim)``: ID vectors, fused with text when given."""
        ids = small_embedding(num_embeddings, dim)
        return ids if self.item_text is None else self.item_text.embedding(ids)


NO_PARTS = ModelParts()
