"""Health and Prometheus metrics, for load balancers and monitoring.

The health answer names each event source that is not well: ``down`` when its ``status()`` says
``running`` 0, ``behind`` when it says ``falling_behind`` 1; then the status is ``degraded`` (still
200: recommendations are served either way).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import Field

from chronorec.serve import schemas as s
from chronorec.serve.dependencies import EngineDep, MetricsDep, StoreDep
from chronorec.serve.metrics import CONTENT_TYPE
from chronorec.serve.sources import EventSource

log = logging.getLogger("chronorec.serve")

router = APIRouter()

_PROMETHEUS_TEXT: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
        "description": "Prometheus text format.",
    }
}


class HealthWithSources(s.Health):
    sources: dict[str, str] = Field(
        default_factory=dict,
        description="Event sources that are not well, by name: 'down' or 'behind'.",
    )


@router.get("/healthz", response_model=HealthWithSources, tags=["admin"])
def healthz(engine: EngineDep, store: StoreDep, metrics: MetricsDep) -> HealthWithSources:
    unwell = sources_unwell(metrics.sources)
    return HealthWithSources(
        status="degraded" if unwell else "ok",
        model_version=engine.bundle.version,
        events_stored=store.count(),
        sources=unwell,
    )


def sources_unwell(sources: Sequence[EventSource]) -> dict[str, str]:
    """The sources that are down or falling behind, by name."""
    unwell: dict[str, str] = {}
    for source in sources:
        try:
            status = source.status()
        except Exception:  # a source that cannot say how it is, is not well
            log.exception("event source %s: status failed", source.name)
            unwell[source.name] = "down"
            continue
        if status.get("running", 1.0) == 0:
            unwell[source.name] = "down"
        elif status.get("falling_behind", 0.0) != 0:
            unwell[source.name] = "behind"
    return unwell


@router.get("/metrics", tags=["admin"], response_class=Response, responses=_PROMETHEUS_TEXT)
def prometheus(metrics: MetricsDep) -> Response:
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)
