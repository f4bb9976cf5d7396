"""Model files: weights as safetensors plus a JSON description; resume state as a torch file.

``model.json`` describes the model whole (name, settings, sizes, whether it has text features), so
:func:`load_model` builds it from the description alone and then loads the weights. Every write is
atomic.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from chronorec._io import atomic_path, write_json
from chronorec.errors import ChronorecError
from chronorec.models import ItemText, ModelParts, Recommender, build_model
from chronorec.models.parts import NO_PARTS
from chronorec.models.text import TextItemEmbedding
from chronorec.models.weights import load_grown, load_state_into
from chronorec.runs.layout import MODEL_FILE, STATE_FILE, WEIGHTS_FILE
from chronorec.version import __version__


def describe_model(model: Recommender) -> dict[str, Any]:
    """What rebuilds ``model``: the contents of ``model.json`` (before any extra keys)."""
    embedding = getattr(model, "item_embedding", None)
    text = embedding.text_dim if isinstance(embedding, TextItemEmbedding) else 0
    return {
        "chronorec_version": __version__,
        "model": model.name,
        "params": dataclasses.asdict(model.config),
        "num_items": model.num_items,
        "num_event_types": model.num_event_types,
        "max_len": model.max_len,
        "text_features": bool(text),
        **({"text_dim": text} if text else {}),
    }


def save_model(run_dir: Path, model: Recommender, extra: dict[str, Any] | None = None) -> None:
    """Write the model's weights and what is needed to rebuild it."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(run_dir / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    write_json(run_dir / MODEL_FILE, {**describe_model(model), **(extra or {})})


def load_model(
    run_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[Recommender, dict[str, Any]]:
    """Rebuild a trained model from a run folder: built from ``model.json``, then its weights."""
    run_dir = Path(run_dir)
    meta_path = run_dir / MODEL_FILE
    if not meta_path.is_file():
        raise ChronorecError(
            f"{run_dir}: no trained model here ({MODEL_FILE} missing); run `chronorec train` first"
        )
    meta = json.loads(meta_path.read_text())
    state = load_file(str(run_dir / WEIGHTS_FILE))
    model = build_model(
        meta["model"],
        meta["params"],
        num_items=meta["num_items"],
        num_event_types=meta["num_event_types"],
        max_len=meta["max_len"],
        parts=_saved_parts(meta, state),
    )
    try:
        load_state_into(model, state)
    except ChronorecError as error:
        raise ChronorecError(f"{run_dir}: {error}") from None
    return model.to(device).eval(), meta


def _saved_parts(meta: dict[str, Any], state: dict[str, torch.Tensor]) -> ModelParts:
    """The parts a saved model was built with; the text vectors themselves come with its weights."""
    if "text_features" in meta:
        text_dim = int(meta.get("text_dim", 0)) if meta["text_features"] else 0
    else:  # legacy: model.json written before it recorded text features; the weights tell
        text = state.get("item_embedding.text")
        text_dim = 0 if text is None else int(text.shape[1])
    if not text_dim:
        return NO_PARTS
    # Placeholders of the right size: loading the weights puts the saved vectors in their place.
    return ModelParts(item_text=ItemText(torch.zeros(meta["num_items"] + 1, text_dim)))


def init_from(model: torch.nn.Module, run_dir: str | Path) -> list[str]:
    """Copy every weight of ``run_dir``'s model whose name and shape match ``model``'s; returns
    their names.

    This is how fine-tuning starts from pre-training: the encoder and item embeddings carry over,
    heads that exist only on one side are left as they are.
    """
    path = Path(run_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise ChronorecError(f"{run_dir}: no {WEIGHTS_FILE} to initialise from")
    source = load_file(str(path))
    target = model.state_dict()
    matched = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    if not matched:
        raise ChronorecError(f"{run_dir}: no weight matches this model (different model or sizes?)")
    model.load_state_dict(matched, strict=False)
    return sorted(matched)


def warm_start(model: torch.nn.Module, run_dir: str | Path) -> int:
    """Continue ``run_dir``'s model in ``model``, built over a catalogue that extends the run's
    (its items first, in the same order): every weight carried over, item tables grown; returns
    how many items the run's model had."""
    path = Path(run_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise ChronorecError(f"{run_dir}: no {WEIGHTS_FILE} to continue from")
    try:
        load_grown(model, load_file(str(path)))
    except ChronorecError as error:
        raise ChronorecError(f"{run_dir}: cannot continue this model ({error})") from None
    return int(json.loads((Path(run_dir) / MODEL_FILE).read_text())["num_items"])


def save_state(run_dir: Path, state: dict[str, Any]) -> None:
    """Everything needed to resume training after the last finished epoch."""
    with atomic_path(run_dir / STATE_FILE) as tmp:
        torch.save(state, tmp)


def load_state(run_dir: Path) -> dict[str, Any] | None:
    """The resume state saved by :func:`save_state`; None when there is none."""
    path = run_dir / STATE_FILE
    if not path.is_file():
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state
