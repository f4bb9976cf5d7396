"""Model files: weights as safetensors plus a JSON description; resume state as a torch file. All atomic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from chronorec._io import atomic_path, write_json
from chronorec.errors import ChronorecError
from chronorec.models import Recommender, build_model
from chronorec.runs.layout import MODEL_FILE, STATE_FILE, WEIGHTS_FILE
from chronorec.version import __version__


def save_model(run_dir: Path, model: Recommender, extra: dict[str, Any] | None = None) -> None:
    """Write the model's weights and what is needed to rebuild it."""
    import dataclasses

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(run_dir / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    write_json(
        run_dir / MODEL_FILE,
        {
            "chronorec_version": __version__,
            "model": model.name,
            "params": dataclasses.asdict(model.config),
            "num_items": model.num_items,
            "num_event_types": model.num_event_types,
            "max_len": model.max_len,
            **(extra or {}),
        },
    )


def load_state_into(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load weights; buffers whose size depends on the data (e.g. transition lists) are replaced, not copied.

    A buffer the saved state lacks keeps its initial value: weights saved before the buffer existed
    (e.g. ``lstm-attn``'s event-type counts, used only in training) still load. Missing or unexpected
    parameters are a mismatch and a :class:`ChronorecError`.
    """
    buffers = dict(model.named_buffers())
    for name, buf in buffers.items():
        if name in state and state[name].shape != buf.shape:
            owner = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
            setattr(owner, name.rpartition(".")[2], state[name].clone())
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [name for name in missing if name not in buffers]  # a buffer newer than the weights keeps its value
    if missing or unexpected:
        raise ChronorecError(
            f"saved weights do not fit this {type(model).__name__} (missing: {', '.join(missing) or 'none'};"
            f" unexpected: {', '.join(unexpected) or 'none'}); retrain the model"
        )


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[Recommender, dict[str, Any]]:
    """Rebuild a trained model from a run folder."""
    run_dir = Path(run_dir)
    meta_path = run_dir / MODEL_FILE
    if not meta_path.is_file():
        raise ChronorecError(f"{run_dir}: no trained model here ({MODEL_FILE} missing); run `chronorec train` first")
    meta = json.loads(meta_path.read_text())
    model = build_model(
        meta["model"],
        meta["params"],
        num_items=meta["num_items"],
        num_event_types=meta["num_event_types"],
        max_len=meta["max_len"],
    )
    state = load_file(str(run_dir / WEIGHTS_FILE))
    if "item_embedding.text" in state:  # built with language-model item features (chronorec.text)
        from chronorec.text import attach_text_features

        attach_text_features(model, state["item_embedding.text"], known=state.get("item_embedding.known"))
    try:
        load_state_into(model, state)
    except ChronorecError as error:
        raise ChronorecError(f"{run_dir}: {error}") from None
    return model.to(device).eval(), meta


def init_from(model: torch.nn.Module, run_dir: str | Path) -> list[str]:
    """Copy every weight of ``run_dir``'s model whose name and shape match ``model``'s; returns their names.

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


def save_state(run_dir: Path, state: dict[str, Any]) -> None:
    """Everything needed to resume training after the last finished epoch."""
    with atomic_path(run_dir / STATE_FILE) as tmp:
        torch.save(state, tmp)


def load_state(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / STATE_FILE
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
