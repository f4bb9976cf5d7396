"""The real-time HTTP service: ``create_app(run_dir)`` for ASGI servers, ``serve(...)`` to run one.

Imports are lazy so that ``import chronorec.serve`` does not need the optional ``serve`` extras.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from chronorec.serve.app import create_app

        return create_app
    if name == "serve":
        from chronorec.serve.command import serve

        return serve
    raise AttributeError(name)
