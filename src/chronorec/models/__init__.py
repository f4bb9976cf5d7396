"""Models by name. A new model is one file with a :class:`Recommender` subclass, in ``MODELS``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, cast

from chronorec.errors import ChronorecError
from chronorec.models.base import Recommender, SequenceModel
from chronorec.models.chrono import Chrono
from chronorec.models.gru4rec import GRU4Rec
from chronorec.models.interests import Interests
from chronorec.models.lstm_attn import LSTMAttn
from chronorec.models.markov import Markov
from chronorec.models.multiscale import MultiScale
from chronorec.models.parts import NO_PARTS, ModelParts
from chronorec.models.pop import Popularity
from chronorec.models.sasrec import SASRec
from chronorec.models.text import ItemText, TextItemEmbedding

MODELS: dict[str, type[Recommender]] = {
    "pop": Popularity,
    "markov": Markov,
    "gru4rec": GRU4Rec,
    "sasrec": SASRec,
    "lstm-attn": LSTMAttn,
    "chrono": Chrono,
    "multiscale": MultiScale,
    "interests": Interests,
}


def model_class(name: str) -> type[Recommender]:
    """The class registered under ``name``; a clear error suggests the closest name and lists the
    known ones otherwise."""
    import difflib

    try:
        return MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, MODELS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ChronorecError(f"unknown model '{name}'{hint} (known: {', '.join(MODELS)})") from None


def model_config(name: str, params: Mapping[str, Any]) -> Any:
    """The frozen config dataclass of model ``name`` built from ``params``; an unknown setting is a
    clear error naming it."""
    cls = model_class(name)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = set(params) - fields
    if unknown:
        raise ChronorecError(
            f"model '{name}' has no setting {', '.join(sorted(unknown))}"
            f" (settings: {', '.join(sorted(fields)) or 'none'})"
        )
    return cls.config_class(**params)


def build_model(
    name: str,
    params: Mapping[str, Any],
    *,
    num_items: int,
    num_event_types: int = 0,
    max_len: int = 50,
    parts: ModelParts = NO_PARTS,
) -> Recommender:
    """Model ``name`` with its config built from ``params``, whole: with ``parts`` (text features,
    item loss) given to its constructor.

    Example:
        >>> model = build_model("sasrec", {"dim": 16}, num_items=100, max_len=20)
    """
    cls = model_class(name)
    config = model_config(name, params)
    if parts.empty:
        return cls(config, num_items, num_event_types, max_len)
    if not issubclass(cls, SequenceModel):
        what = "text features to" if parts.item_text is not None else "an item loss for"
        raise ChronorecError(f"model '{name}' has no item embedding to add {what}")
    sequence_model: Callable[..., SequenceModel] = cls  # subclasses take (config, sizes, parts)
    model = sequence_model(config, num_items, num_event_types, max_len, parts=parts)
    if parts.item_text is not None:
        # Text weights are drawn after the model's own layers: a seed gives the same model as
        # when text features were a later addition.
        cast(TextItemEmbedding, model.item_embedding).reset_parameters()
    return model


__all__ = [
    "MODELS",
    "ItemText",
    "ModelParts",
    "Recommender",
    "SequenceModel",
    "build_model",
    "model_class",
    "model_config",
]
