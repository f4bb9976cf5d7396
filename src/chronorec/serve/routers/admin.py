"""Operating the service: swapping in a retrained model."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from chronorec.serve import schemas as s
from chronorec.serve.auth import require_key
from chronorec.serve.dependencies import EngineDep
from chronorec.serve.routers.common import WRITE

log = logging.getLogger("chronorec.serve")

router = APIRouter()

_RELOAD_FAILED: dict[int | str, dict[str, Any]] = {
    500: {
        "model": s.Problem,
        "description": "The new checkpoint failed to load; the old one still serves.",
    }
}


@router.post(
    "/admin/reload",
    response_model=s.Reloaded,
    tags=["admin"],
    dependencies=[Depends(require_key)],
    responses={**WRITE, **_RELOAD_FAILED},
)
def reload(engine: EngineDep) -> s.Reloaded:
    """Load the run folder's checkpoint again and swap it in;
    requests in flight finish on the old model."""
    try:
        old, new = engine.reload()
    except Exception as exc:
        log.exception("reload failed; still serving %s", engine.bundle.version)
        raise HTTPException(
            500, f"reload failed ({exc}); still serving {engine.bundle.version}"
        ) from None
    log.info("model reloaded: %s -> %s", old, new)
    return s.Reloaded(previous_version=old, model_version=new)
