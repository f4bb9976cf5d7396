"""Operating the service: swapping in a retrained model, or another run folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from chronorec.runs.layout import RunFolder
from chronorec.serve import schemas as s
from chronorec.serve.auth import require_key
from chronorec.serve.dependencies import EngineDep
from chronorec.serve.routers.common import WRITE

log = logging.getLogger("chronorec.serve")

router = APIRouter()

_RELOAD_FAILED: dict[int | str, dict[str, Any]] = {
    404: {
        "model": s.Problem,
        "description": "No run folder (with a trained model) at the path given.",
    },
    422: {"model": s.Problem, "description": "The body is malformed."},
    500: {
        "model": s.Problem,
        "description": "The new checkpoint failed to load; the old one still serves.",
    },
}


@router.post(
    "/admin/reload",
    response_model=s.Reloaded,
    tags=["admin"],
    dependencies=[Depends(require_key)],
    responses={**WRITE, **_RELOAD_FAILED},
)
def reload(engine: EngineDep, body: s.ReloadIn | None = None) -> s.Reloaded:
    """Load the run folder's checkpoint again, or the run folder given as ``run`` (served from
    then on), and swap it in; requests in flight finish on the old model."""
    run = None if body is None else body.run
    if run is not None and not _is_run_folder(run):
        raise HTTPException(
            404,
            f"no run folder with a trained model at {run}; still serving {engine.bundle.version}",
        )
    try:
        old, new = engine.reload(run)
    except Exception as exc:
        log.exception("reload failed; still serving %s", engine.bundle.version)
        raise HTTPException(
            500, f"reload failed ({exc}); still serving {engine.bundle.version}"
        ) from None
    log.info("model reloaded: %s -> %s", old, new)
    return s.Reloaded(previous_version=old, model_version=new, run=str(engine.run_dir))


def _is_run_folder(path: str) -> bool:
    """Whether ``path`` holds a run's configuration and trained weights."""
    folder = RunFolder(Path(path))
    try:
        return folder.config.is_file() and folder.weights.is_file()
    except (OSError, ValueError):  # a name too long for the file system, say
        return False
