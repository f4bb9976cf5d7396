"""Data commands: ``prepare`` an event log, ``datasets list`` and ``datasets fetch``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chronorec import api
from chronorec.cli.common import console
from chronorec.data import registry
from chronorec.data.formats import format_help

Input = Annotated[
    Path, typer.Argument(help="Event log in one of the formats of --format (auto: detected).")
]
DatasetOut = Annotated[
    Path, typer.Option("--out", "-o", help="Dataset folder to write (written atomically).")
]
Format = Annotated[str, typer.Option(help=format_help())]
Delimiter = Annotated[str | None, typer.Option(help="Field delimiter for csv (default: guessed).")]
Columns = Annotated[
    str | None,
    typer.Option(help="Comma-separated column names for a CSV/TSV without a header row."),
]
Items = Annotated[
    Path | None,
    typer.Option(
        help="Item metadata: MovieLens u.item, or CSV/Parquet with item_id, title, categories."
    ),
]
Times = Annotated[
    Path | None, typer.Option(help="For the sequences format: a parallel file of timestamps.")
]
UserCol = Annotated[str, typer.Option(help="User id column.")]
ItemCol = Annotated[str, typer.Option(help="Item id column.")]
TimeCol = Annotated[str, typer.Option(help="Timestamp column (unix s, unix ms or ISO-8601).")]
EventCol = Annotated[
    str | None, typer.Option(help="Event type column (view, cart, buy...), if any.")
]
RatingCol = Annotated[str | None, typer.Option(help="Rating column, if any.")]
MinRating = Annotated[float | None, typer.Option(help="Keep events with rating >= this.")]
UserCore = Annotated[
    int, typer.Option(help="Keep users with at least this many events (k-core, iterated).")
]
ItemCore = Annotated[
    int, typer.Option(help="Keep items with at least this many events (k-core, iterated).")
]
Strict = Annotated[
    bool,
    typer.Option(help="Make row-level problems fatal instead of dropping and counting them."),
]
Pseudonymize = Annotated[
    str | None,
    typer.Option(help="Replace user ids by salted hashes (the value is the salt)."),
]


def prepare(
    input: Input,
    out: DatasetOut,
    format: Format = "auto",
    delimiter: Delimiter = None,
    columns: Columns = None,
    items: Items = None,
    times: Times = None,
    user_col: UserCol = "user_id",
    item_col: ItemCol = "item_id",
    time_col: TimeCol = "timestamp",
    event_col: EventCol = None,
    rating_col: RatingCol = None,
    min_rating: MinRating = None,
    user_core: UserCore = 0,
    item_core: ItemCore = 0,
    strict: Strict = False,
    pseudonymize_users: Pseudonymize = None,
) -> None:
    """Validate an event log and write a dataset folder (Parquet + manifest.json)."""
    result = api.prepare(
        input,
        out,
        format=format,
        delimiter=delimiter,
        items=items,
        columns=tuple(c.strip() for c in columns.split(",")) if columns else None,
        times=times,
        user_col=user_col,
        item_col=item_col,
        time_col=time_col,
        event_col=event_col,
        rating_col=rating_col,
        min_rating=min_rating,
        user_core=user_core,
        item_core=item_core,
        strict=strict,
        pseudonymize_users=pseudonymize_users,
    )
    dropped = ", ".join(f"{k} {v}" for k, v in result.dropped.items() if v) or "none"
    console.print(
        f"wrote {result.out}: {result.interactions:,} interactions, {result.users:,} users, "
        f"{result.items:,} items; dropped: {dropped}"
    )


datasets_app = typer.Typer(
    help="Known public datasets: list them, fetch one.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@datasets_app.command("list")
def datasets_list() -> None:
    """Known public datasets, their home pages, and whether a local copy is found via
    CHRONOREC_DATA."""
    table = Table(title="known datasets")
    for column in ("name", "home page", "local copy"):
        table.add_column(column)
    for dataset in registry.list_datasets():
        local = registry.find_local(dataset.name)
        table.add_row(dataset.name, dataset.home_page, str(local) if local else "-")
    console.print(table)


DatasetName = Annotated[str, typer.Argument(help="Dataset name (see `chronorec datasets list`).")]
PrepareOut = Annotated[
    Path | None, typer.Option("--out", "-o", help="Also prepare it into this dataset folder.")
]
Dest = Annotated[Path, typer.Option(help="Where raw downloads go.")]


@datasets_app.command("fetch")
def datasets_fetch(
    name: DatasetName, out: PrepareOut = None, dest: Dest = Path("downloads")
) -> None:
    """Find a local copy (CHRONOREC_DATA) or download a public dataset; with --out, prepare it
    too."""
    path = registry.fetch(name, dest)
    console.print(f"{name}: {path}")
    if out is not None:
        result = registry.prepare_known(name, out, dest=dest)
        console.print(
            f"prepared {result.out}: {result.interactions:,} interactions, "
            f"{result.users:,} users, {result.items:,} items"
        )
