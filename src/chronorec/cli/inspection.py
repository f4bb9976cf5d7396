"""Commands that look into a trained run: ``recommend``, ``nearest``, ``embed``, ``explain``,
``interests``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chronorec import api
from chronorec.cli.common import console
from chronorec.embed import embed as export_vectors
from chronorec.embed import nearest as nearest_items
from chronorec.explain import (
    explain_user,
    format_interest_report,
    format_scale_explanation,
    interest_report,
)

RunDir = Annotated[Path, typer.Argument(help="Run folder from `chronorec train`.")]
AnyRunDir = Annotated[
    Path, typer.Argument(help="Run folder from `chronorec train` or `chronorec pretrain`.")
]
User = Annotated[str, typer.Option("--user", "-u", help="The user's original id.")]
HowMany = Annotated[int, typer.Option("-k", help="How many items.")]
ExcludeSeen = Annotated[bool, typer.Option(help="Leave out items the user already has.")]


AsJson = Annotated[
    bool,
    typer.Option("--json", help="Print JSON in the service's response shape instead of a table."),
]


def recommend(
    run_dir: RunDir,
    user: User,
    k: HowMany = 10,
    exclude_seen: ExcludeSeen = False,
    as_json: AsJson = False,
) -> None:
    """Top-K items for a user after their whole history, with titles where known.

    A user the run does not know (or whose history holds only items the model never trained on)
    gets the most popular items, marked as a fallback: the service's rule.
    """
    recs = api.recommend(run_dir, user, k, exclude_seen=exclude_seen)
    if as_json:
        items = [{"item_id": r.item_id, "score": r.score, "title": r.title} for r in recs]
        print(json.dumps({"user_id": user, "recommendations": items, "fallback": recs.fallback}))
        return
    title = f"top {k} for user {user}" + (
        " (unknown: the most popular items)" if recs.fallback else ""
    )
    table = Table(title=title)
    for column in ("rank", "item", "score", "title"):
        table.add_column(column)
    for rank, rec in enumerate(recs, 1):
        table.add_row(str(rank), rec.item_id, f"{rec.score:.3f}", rec.title or "")
    console.print(table)


Item = Annotated[str, typer.Option("--item", "-i", help="The item's original id.")]


def nearest(run_dir: AnyRunDir, item: Item, k: HowMany = 10) -> None:
    """The items whose vectors are nearest to ITEM's (cosine), with titles.

    Not the next-item ranking: for what the model ranks right after ITEM, ask the service's
    /v1/items/ITEM/similar.
    """
    table = Table(title=f"{k} items nearest to {item} by vector")
    for column in ("rank", "item", "cosine", "title"):
        table.add_column(column)
    for rank, found in enumerate(nearest_items(run_dir, item, k), 1):
        table.add_row(str(rank), found.item_id, f"{found.score:.3f}", found.title or "")
    console.print(table)


VectorsOut = Annotated[
    Path,
    typer.Option(
        "--out", "-o", help="Folder for users.parquet and items.parquet (each written atomically)."
    ),
]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Use only events before this time (unix seconds or ISO-8601)."),
]
Device = Annotated[str, typer.Option(help="cpu, cuda, cuda:N.")]


def embed(run_dir: AnyRunDir, out: VectorsOut, as_of: AsOf = None, device: Device = "cpu") -> None:
    """Export user vectors (last hidden state after each history) and item vectors, with the
    original ids."""
    result = export_vectors(run_dir, out, as_of=as_of, device=device)
    console.print(
        f"wrote {result.out}: users.parquet ({result.users:,} users), "
        f"items.parquet ({result.items:,} items), {result.dim} dimensions"
    )


MultiscaleRun = Annotated[Path, typer.Argument(help="Run folder of a `multiscale` model.")]
PerScale = Annotated[int, typer.Option("-k", help="Top items shown per scale.")]
ScalePng = Annotated[
    Path | None,
    typer.Option(help="Where to write the average-scale-weight plot (default: the run folder)."),
]


def explain(run_dir: MultiscaleRun, user: User, k: PerScale = 5, png: ScalePng = None) -> None:
    """A user's weight on each time scale (session, day, week, all) and what each scale alone
    recommends."""
    result = explain_user(run_dir, user, png=png, k=k)
    console.print(format_scale_explanation(result))
    console.print(f"wrote {result.png}")


InterestsRun = Annotated[Path, typer.Argument(help="Run folder of an `interests` model.")]
PerInterest = Annotated[int, typer.Option("-k", help="Strongest items shown per interest.")]
TimelinePng = Annotated[
    Path | None,
    typer.Option(help="Where to write the interest timeline (default: the run folder)."),
]


def interests(
    run_dir: InterestsRun, user: User, k: PerInterest = 5, png: TimelinePng = None
) -> None:
    """A user's interest vectors (their strongest items) and how the interests moved over the
    history."""
    result = interest_report(run_dir, user, k=k, png=png)
    console.print(format_interest_report(result))
    console.print(f"wrote {result.png}")
