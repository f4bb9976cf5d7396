"""Models by name. A new model is one file with a :class:`Recommender` subclass, added to ``MODELS``."""

from __future__ import annotations

import dataclasses
from typing import Any

from chronorec.errors import ChronorecError
from chronorec.models.base import Recommender, SequenceModel
from chronorec.models.chrono import Chrono
from chronorec.models.gru4rec import GRU4Rec
from chronorec.models.interests import Interests
from chronorec.models.lstm_attn import LSTMAttn
from chronorec.models.markov import Markov
from chronorec.models.multiscale import MultiScale
from chronorec.models.pop import Popularity
from chronorec.models.sasrec import SASRec

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
    """The class registered under ``name``; a clear error lists the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ChronorecError(f"unknown model '{name}' (known: {', '.join(MODELS)})") from None


def model_config(name: str, params: dict[str, Any]) -> Any:
    """The config dataclass of model ``name`` built from ``params``; unknown settings are a clear error."""
    cls = model_class(name)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = set(params) - fields
    if unknown:
        raise ChronorecError(
            f"model '{name}' has no setting {', '.join(sorted(unknown))} (settings: {', '.join(sorted(fields)) or 'none'})"
        )
    return cls.config_class(**params)


def build_model(
    name: str, params: dict[str, Any], *, num_items: int, num_event_types: int = 0, max_len: int = 50
) -> Recommender:
    """Instantiate model ``name`` with its config built from ``params``."""
    return model_class(name)(model_config(name, params), num_items, num_event_types, max_len)


__all__ = ["MODELS", "Recommender", "SequenceModel", "build_model", "model_class", "model_config"]
