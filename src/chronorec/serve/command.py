"""Run the service under uvicorn: ``serve(run_dir, ...)``; SIGHUP reloads the model.

SIGHUP does what ``POST /admin/reload`` does. Also runnable as
``python -m chronorec.serve.command RUN_DIR [--host ...] [--port ...]``.

Keys are best given in the environment or in a file: a command-line argument is visible to every
user of the machine (``ps``). Each key is looked up in order: the argument, its file argument, the
environment variable, the file the ``..._FILE`` environment variable names.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import ipaddress
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from chronorec.errors import ChronorecError

if TYPE_CHECKING:  # the service's modules need the serve extra: imported once it is checked
    from chronorec.serve.kafka import KafkaSettings
    from chronorec.serve.sources import EventSource

log = logging.getLogger("chronorec.serve")

API_KEY_ENV = "CHRONOREC_API_KEY"
READ_KEY_ENV = "CHRONOREC_READ_KEY"
SERVE_EXTRA_MISSING = "the service needs the serve extra: pip install 'chronorec[serve]'"
# What the `serve` extra installs and the service imports.
_SERVE_EXTRA_MODULES = ("fastapi", "uvicorn", "prometheus_client", "fastapi_offline")


def serve(
    run_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    db: str | None = None,
    api_key: str | None = None,
    *,
    threads: int = 1,
    log_level: str = "info",
    api_key_file: str | Path | None = None,
    read_key_file: str | Path | None = None,
    open_recommendations: bool = False,
    max_clock_skew: float = 300.0,
    kafka: KafkaSettings | None = None,
) -> None:
    """Serve ``run_dir`` over HTTP until interrupted.

    Args:
        run_dir: a folder written by ``chronorec train``.
        host, port: where to listen.
        db: SQLite file, ``sqlite:///PATH`` or ``postgresql://`` URL for posted events; default
            ``RUN_DIR/events.sqlite``. Several servers may share one store.
        api_key: key for writes and reads (``X-API-Key``); default: see :func:`resolve_key`;
            none (and no read key): everything is open.
        threads: PyTorch threads per request. Requests already run in parallel, so 1 avoids
            oversubscribing the cores.
        log_level: the log level; the access log names route templates, never ids.
        api_key_file: a file holding the API key (one line).
        read_key_file: a file holding a key for reads only (or ``$CHRONOREC_READ_KEY``...).
        open_recommendations: recommendations need no key (a user's posted events still do).
        max_clock_skew: posted timestamps this many seconds ahead of the server's clock get 422.
        kafka: also consume events from this Kafka topic (see ``chronorec.serve.kafka``).

    Raises:
        ChronorecError: an extra it needs is not installed, a key file cannot be read, or the
            run or store cannot be opened.
    """
    require_serve_extra()
    import torch
    import uvicorn

    from chronorec.serve.app import create_app

    torch.set_num_threads(max(1, threads))
    _configure_logging(log_level)
    api_key, read_key = _keys(api_key, api_key_file, read_key_file)
    _warn_if_open(host, api_key)
    app = create_app(
        run_dir,
        db=db,
        api_key=api_key,
        read_key=read_key,
        open_recommendations=open_recommendations,
        max_clock_skew=max_clock_skew,
        sources=_event_sources(kafka),
    )
    _settle(app.state.engine)
    # uvicorn's own access log prints raw paths, which hold user ids: the app logs route templates.
    run = {"log_level": log_level, "access_log": False, "timeout_graceful_shutdown": 10}
    uvicorn.run(app, host=host, port=port, **run)  # type: ignore[arg-type]


def resolve_key(given: str | None, file: str | Path | None, env: str) -> str | None:
    """The key from ``given``, else the file ``file``, else ``$ENV``, else the file ``$ENV_FILE``
    (None: no key). A file holds the key on its first line.

    Raises:
        ChronorecError: the file cannot be read or holds no key.
    """
    if given:
        return given
    if not file and os.environ.get(env):
        return os.environ[env]
    file = file or os.environ.get(f"{env}_FILE") or None
    if file is None:
        return None
    try:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise ChronorecError(f"cannot read the key file {file}: {reason}") from None
    key = lines[0].strip() if lines else ""
    if not key:
        raise ChronorecError(f"the key file {file} is empty")
    return key


def _keys(
    api_key: str | None, api_key_file: str | Path | None, read_key_file: str | Path | None
) -> tuple[str | None, str | None]:
    """The API key and the read key (see :func:`resolve_key`)."""
    return (
        resolve_key(api_key, api_key_file, API_KEY_ENV),
        resolve_key(None, read_key_file, READ_KEY_ENV),
    )


def _configure_logging(log_level: str) -> None:
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _event_sources(kafka: KafkaSettings | None) -> list[EventSource]:
    """The sources besides HTTP posts: a Kafka consumer when ``kafka`` is given."""
    if kafka is None:
        return []
    from chronorec.serve.kafka import KafkaEventSource

    return [KafkaEventSource(kafka)]


def kafka_settings(
    bootstrap: str | None, topic: str | None, group: str, dead_letter: str | None
) -> KafkaSettings | None:
    """The Kafka source's settings from the command's options; None without a bootstrap.

    Raises:
        ChronorecError: only one of the bootstrap and the topic is given.
    """
    if bootstrap is None and topic is None:
        return None
    if not bootstrap or not topic:
        raise ChronorecError("--kafka-bootstrap and --kafka-topic go together")
    require_serve_extra()
    from chronorec.serve.kafka import KafkaSettings

    return KafkaSettings(bootstrap, topic, group, dead_letter or None)


def require_serve_extra() -> None:
    """Raise :class:`ChronorecError` naming the install command without the ``serve`` extra."""
    for module in _SERVE_EXTRA_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ChronorecError(SERVE_EXTRA_MISSING) from None


def _warn_if_open(host: str, api_key: str | None) -> None:
    if api_key is None and not _is_loopback(host):
        log.warning(
            "listening on %s without an API key: anyone who can reach it can post and delete"
            " events",
            host,
        )


def _settle(engine: object) -> None:
    """Reload the model on SIGHUP, and keep the loaded run out of the cycle collector's way."""

    def reload_in_background(signum: int, frame: object) -> None:
        # A signal handler runs on the event loop's thread: loading there would stall every request.
        threading.Thread(target=_reload, args=(engine,), name="sighup-reload", daemon=True).start()

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, reload_in_background)
    # The loaded run is hundreds of thousands of objects that live as long as the process: left
    # to the cycle collector, each of its full passes stalled every request for ~200 ms.
    gc.freeze()


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chronorec.serve.command", description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--db", default=None)
    parser.add_argument("--api-key", default=None, help="visible in ps: prefer the file or env")
    parser.add_argument("--api-key-file", default=None)
    parser.add_argument("--read-key-file", default=None)
    parser.add_argument("--open-recommendations", action="store_true")
    parser.add_argument("--max-clock-skew", type=float, default=300.0)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--kafka-bootstrap", default=None, help="HOST:PORT of Kafka brokers")
    parser.add_argument("--kafka-topic", default=None)
    parser.add_argument("--kafka-group", default="chronorec")
    parser.add_argument("--kafka-dead-letter", default=None)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        serve(
            args.run_dir,
            args.host,
            args.port,
            args.db,
            args.api_key,
            log_level=args.log_level,
            api_key_file=args.api_key_file,
            read_key_file=args.read_key_file,
            open_recommendations=args.open_recommendations,
            max_clock_skew=args.max_clock_skew,
            kafka=kafka_settings(
                args.kafka_bootstrap, args.kafka_topic, args.kafka_group, args.kafka_dead_letter
            ),
        )
    except ChronorecError as err:
        print(f"chronorec: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
