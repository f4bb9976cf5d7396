"""The HTTP API's routes, one router per area; ``create_app`` includes every router in ``ROUTERS``.

To add an endpoint, add a route to the router of its area (or a new module here, listed below);
take what it needs as dependencies (``chronorec.serve.dependencies``, ``auth.require_key``).
"""

from __future__ import annotations

from fastapi import APIRouter

from chronorec.serve.routers import admin, events, health, items, page, sessions, users

ROUTERS: tuple[APIRouter, ...] = (
    users.router,
    sessions.router,
    events.router,
    items.router,
    admin.router,
    health.router,
    page.router,
)
