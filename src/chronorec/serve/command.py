"""Run the service under uvicorn: ``serve(run_dir, ...)``; SIGHUP reloads the model like ``POST /admin/reload``.

Also runnable as ``python -m chronorec.serve.command RUN_DIR [--host ...] [--port ...]``.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import threading
from pathlib import Path

log = logging.getLogger("chronorec.serve")

API_KEY_ENV = "CHRONOREC_API_KEY"


def serve(
    run_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    db: str | None = None,
    api_key: str | None = None,
    *,
    threads: int = 1,
    log_level: str = "info",
) -> None:
    """Serve ``run_dir`` over HTTP until interrupted.

    Args:
        run_dir: a folder written by ``chronorec train``.
        host, port: where to listen.
        db: SQLite file or ``postgresql://`` URL for posted events; default ``RUN_DIR/events.sqlite``.
        api_key: key for writes (``X-API-Key``); default ``$CHRONOREC_API_KEY``; none: writes are open.
        threads: PyTorch threads per request. Requests already run in parallel, so 1 avoids
            oversubscribing the cores.
        log_level: uvicorn's log level.
    """
    import torch
    import uvicorn

    from chronorec.serve.app import create_app

    torch.set_num_threads(max(1, threads))
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    api_key = api_key or os.environ.get(API_KEY_ENV) or None
    if api_key is None and not _is_loopback(host):
        log.warning(
            "listening on %s without an API key: anyone who can reach it can post and delete events",
            host,
        )
    app = create_app(run_dir, db=db, api_key=api_key)
    engine = app.state.engine

    def reload_in_background(signum: int, frame: object) -> None:
        # A signal handler runs on the event loop's thread: loading there would stall every request.
        threading.Thread(target=_reload, args=(engine,), name="sighup-reload", daemon=True).start()

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, reload_in_background)
    # uvicorn's own access log has method, path and status only: never request bodies.
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10)


def _reload(engine: object) -> None:
    try:
        old, new = engine.reload()  # type: ignore[attr-defined]
        log.info("model reloaded on SIGHUP: %s -> %s", old, new)
    except Exception:
        log.exception("reload on SIGHUP failed; the old model still serves")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chronorec.serve.command", description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--db", default=None)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    serve(args.run_dir, args.host, args.port, args.db, args.api_key, log_level=args.log_level)


if __name__ == "__main__":
    main()
