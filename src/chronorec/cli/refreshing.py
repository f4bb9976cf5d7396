"""``chronorec refresh``: continue a served model on the events its service collected."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer

from chronorec.cli import options as opt
from chronorec.cli.common import console, metric_table
from chronorec.errors import ChronorecError

METRICS = ["HR@10", "NDCG@10", "MRR@10"]
RunArg = Annotated[Path, typer.Argument(help="The run folder the service serves now.")]
Events = Annotated[
    str,
    typer.Option(
        "--events", help="The service's event store: a SQLite file or a postgresql:// URL."
    ),
]
RefreshOut = Annotated[
    Path,
    typer.Option(
        "--out", "-o", help="New run folder (with --every: a folder of one run per round)."
    ),
]
ValidShare = Annotated[
    float, typer.Option(help="Newest share of the new events that selects the model.")
]
Reload = Annotated[
    list[str] | None,
    typer.Option(
        "--reload",
        metavar="URL",
        help="Service to swap the new run into (POST URL/admin/reload; repeatable: replicas).",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(envvar="CHRONOREC_API_KEY", help="The services' write key, for --reload."),
]
OldPerNew = Annotated[
    float | None,
    typer.Option(
        help="Older training windows per window with new events, drawn at random (0: every"
        " window of the log; default 1)."
    ),
]
Every = Annotated[
    float | None,
    typer.Option(
        help="Refresh again every this many seconds, each round from the last (until stopped)."
    ),
]


def refresh(
    run: RunArg,
    events: Events,
    out: RefreshOut,
    epochs: opt.Epochs = None,
    patience: opt.Patience = None,
    lr: opt.Lr = None,
    valid_share: ValidShare = 0.2,
    old_per_new: OldPerNew = None,
    reload: Reload = None,
    api_key: ApiKey = None,
    every: Every = None,
    resume: opt.Resume = False,
    progress: opt.Progress = True,
) -> None:
    """Continue RUN's model on its training log plus the events collected since (new users and
    items added, forgotten users left out), early-stopped on the newest events; then swap it in."""
    given = {"epochs": epochs, "patience": patience, "lr": lr, "old_per_new": old_per_new}
    overrides = {name: value for name, value in given.items() if value is not None}
    options: dict[str, Any] = dict(valid_share=valid_share, show_progress=progress, **overrides)
    if every is None:
        _one_round(run, events, out, reload or [], api_key, resume=resume, **options)
        return
    while True:  # each round continues the last one's run
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        try:
            run = _one_round(run, events, out / stamp, reload or [], api_key, **options)
        except ChronorecError as error:  # e.g. nothing new yet: try again next round
            console.print(f"refresh skipped: {error}")
        time.sleep(every)


def _one_round(
    run: Path, events: str, out: Path, reload: list[str], api_key: str | None, **options: Any
) -> Path:
    from chronorec.data.dataset import load_dataset
    from chronorec.refresh import refresh as refresh_run
    from chronorec.runs.layout import RunFolder
    from chronorec.serve.collect import collect
    from chronorec.serve.stores import open_store
    from chronorec.training.config import TrainConfig

    data = load_dataset(TrainConfig.load(RunFolder(run).require_config()).data)
    if "://" not in events and not Path(events).is_file():  # opening would create an empty one
        raise ChronorecError(f"{events}: no event store here (the service's --db)")
    store = open_store(events)
    try:
        new = collect(store, data)
    finally:
        store.close()
    counts = f"{new.events.height:,} new events, {len(new.forgotten)} forgotten users"
    console.print(f"refreshing {run} with {counts}")
    result = refresh_run(run, new, out, **options)
    valid: dict[str, float | None] = dict(result.valid)
    table = metric_table(f"{result.model} refreshed", {"validation": valid}, METRICS)
    console.print(table)
    console.print(f"run folder: {out}")
    for url in reload:
        _reload(url, out, api_key)
    return out


def _reload(url: str, run: Path, api_key: str | None) -> None:
    """Ask the service at ``url`` to serve ``run`` (``POST /admin/reload``)."""
    body = json.dumps({"run": str(run.resolve())}).encode()
    headers = {"Content-Type": "application/json", **({"X-API-Key": api_key} if api_key else {})}
    request = urllib.request.Request(
        url.rstrip("/") + "/admin/reload", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError) as error:
        raise ChronorecError(f"{url}: reload failed ({error}); the new run is in {run}") from None
    console.print(f"{url}: {answer.get('previous_version')} -> {answer.get('model_version')}")
