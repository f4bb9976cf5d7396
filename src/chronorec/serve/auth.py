"""API keys, sent in ``X-API-Key``: what each kind of request needs when the app has keys.

- writes (events, deletes, reload): the API key;
- a user's posted events: the API key or the read key;
- recommendations: the same, unless the app was made with ``open_recommendations``.

An app with neither key is open to all (``chronorec serve`` warns unless it listens on loopback).
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader

from chronorec.serve.dependencies import ServiceSettings, SettingsDep

_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The API key (writes and reads) or the read key (reads), when the server has one.",
)


def _matches(given: str | None, expected: str | None) -> bool:
    # compare_digest: the time taken does not tell how much of a guess was right.
    return (
        given is not None
        and expected is not None
        and hmac.compare_digest(given.encode(), expected.encode())
    )


def _check_read(settings: ServiceSettings, key: str | None) -> None:
    if settings.api_key is None and settings.read_key is None:
        return
    if not (_matches(key, settings.api_key) or _matches(key, settings.read_key)):
        raise HTTPException(401, "missing or wrong X-API-Key")


async def require_key(settings: SettingsDep, key: str | None = Security(_KEY_HEADER)) -> None:
    """A dependency of writes: 401 unless the request carries the API key (or the app has none)."""
    if settings.api_key is not None and not _matches(key, settings.api_key):
        raise HTTPException(401, "missing or wrong X-API-Key")


async def require_read_key(settings: SettingsDep, key: str | None = Security(_KEY_HEADER)) -> None:
    """A dependency of reads of a user's events: 401 unless the request carries the API key or
    the read key (or the app has neither)."""
    _check_read(settings, key)


async def require_recommendation_key(
    settings: SettingsDep, key: str | None = Security(_KEY_HEADER)
) -> None:
    """A dependency of recommendations: as :func:`require_read_key`, unless the app leaves
    recommendations open."""
    if not settings.open_recommendations:
        _check_read(settings, key)
