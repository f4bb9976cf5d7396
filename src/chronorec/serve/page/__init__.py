"""The web page at ``/``: its assets (``static/``) and the data its views show.

Each module here turns the service's public objects (the engine's loaded run, the event store, the
metrics) into plain JSON-ready dicts; ``chronorec.serve.routers.page`` serves them under
``/page/api`` and the page's files under ``/page/assets``. The page itself is plain JavaScript
modules and one vendored chart library (uPlot): nothing to build, nothing fetched from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
