"""Evaluation commands: ``evaluate`` a run with full ranking, ``compare`` runs case by case."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from chronorec import api
from chronorec._io import write_json
from chronorec.cli.common import console, fmt, metric_table
from chronorec.errors import ChronorecError

RunDir = Annotated[Path, typer.Argument(help="Run folder from `chronorec train`.")]
SplitName = Annotated[str, typer.Option(help="valid or test.")]
ExcludeSeen = Annotated[
    bool | None,
    typer.Option(
        "--exclude-seen/--include-seen",
        help="Drop history items from the candidates (default: as trained).",
    ),
]
JsonOut = Annotated[
    Path | None, typer.Option("--json", help="Also write the results to this JSON file.")
]
Cutoffs = Annotated[
    str | None,
    typer.Option("--k", help="Comma-separated cut-offs, e.g. 5,10,20 (default: as trained)."),
]


def evaluate(
    run_dir: RunDir,
    split: SplitName = "test",
    exclude_seen: ExcludeSeen = None,
    json_out: JsonOut = None,
    k: Cutoffs = None,
) -> None:
    """Full-ranking HR/NDCG/MRR/Recall@K and coverage of a trained run."""
    try:
        ks = tuple(int(x) for x in k.split(",")) if k else None
    except ValueError:
        raise ChronorecError(f"--k expects comma-separated integers, got '{k}'") from None
    ev = api.evaluate(run_dir, split, exclude_seen=exclude_seen, ks=ks)
    title = (
        f"{ev.model} on {split} ({ev.cases} cases, full ranking, exclude_seen={ev.exclude_seen})"
    )
    rows, columns = _rows_by_cutoff(ev.metrics)
    console.print(metric_table(title, rows, columns))
    if json_out:
        write_json(
            json_out,
            {
                "run_dir": str(ev.run_dir),
                "model": ev.model,
                "split": split,
                "exclude_seen": ev.exclude_seen,
                "cases": ev.cases,
                "metrics": ev.metrics,
            },
        )


def _rows_by_cutoff(
    metrics: dict[str, float],
) -> tuple[dict[str, dict[str, float | None]], list[str]]:
    """One row per metric name (HR, NDCG...) and one column per cut-off (@10, @20); metrics
    without a cut-off (coverage) sit in the first column."""
    cutoffs = sorted({m.split("@")[1] for m in metrics if "@" in m}, key=int)
    names = list(dict.fromkeys(m.split("@")[0] for m in metrics if "@" in m))
    rows: dict[str, dict[str, float | None]] = {
        name: {f"@{k}": metrics.get(f"{name}@{k}") for k in cutoffs} for name in names
    }
    rows.update({m: {f"@{cutoffs[0]}": v} for m, v in metrics.items() if "@" not in m})
    return rows, [f"@{k}" for k in cutoffs]


Runs = Annotated[
    list[str],
    typer.Argument(
        help="Run folders; the first is the baseline. Join one model's seeds with commas "
        "(runs/a-seed0,runs/a-seed1) to average them per case."
    ),
]
Metric = Annotated[str, typer.Option(help="HR, NDCG, MRR or Recall at a cut-off.")]
Resamples = Annotated[int, typer.Option(help="Bootstrap resamples of the cases.")]
Confidence = Annotated[float, typer.Option(help="Confidence level of the interval.")]
ResampleSeed = Annotated[int, typer.Option(help="Seed of the resampling.")]


def compare(
    runs: Runs,
    split: SplitName = "test",
    metric: Metric = "NDCG@10",
    resamples: Resamples = 2000,
    confidence: Confidence = 0.95,
    seed: ResampleSeed = 0,
    json_out: JsonOut = None,
) -> None:
    """Paired comparison on the same cases: each run's difference from the first, with a
    bootstrap interval."""
    groups = [[part for part in arg.split(",") if part] for arg in runs]
    rows = api.compare(
        groups, split, metric=metric, resamples=resamples, confidence=confidence, seed=seed
    )
    console.print(_comparison_table(rows, metric, split, confidence))
    cases = next(row.paired.cases for row in rows if row.paired is not None)
    console.print(f"{cases:,} cases, {resamples:,} resamples; * the interval excludes 0.")
    if json_out:
        groups_out = [_comparison_record(row) for row in rows]
        write_json(
            json_out,
            {"split": split, "metric": metric, "confidence": confidence, "groups": groups_out},
        )


def _comparison_table(
    rows: list[api.RunComparison], metric: str, split: str, confidence: float
) -> Table:
    """Baseline first, then each group's difference, relative change, interval and case counts."""
    table = Table(
        title=f"{metric} on {split}: each row against the first, case by case "
        f"({confidence:.0%} bootstrap interval of the difference)"
    )
    for column in ("runs", metric, "difference", "relative", "interval", "better / worse"):
        table.add_column(column, justify="left" if column == "runs" else "right", overflow="fold")
    for row in rows:
        p = row.paired
        if p is None:
            table.add_row(_group_label(row), fmt(row.mean), "", "", "", "")
            continue
        difference = f"{p.difference:+.4f}" + (" *" if p.significant else "")
        table.add_row(
            _group_label(row),
            fmt(row.mean),
            difference,
            f"{p.relative:+.1%}",
            f"[{p.ci_low:+.4f}, {p.ci_high:+.4f}]",
            f"{p.better:,} / {p.worse:,}",
        )
    return table


def _group_label(row: api.RunComparison) -> str:
    """A short label: the first folder's name, + how many more, and the model if the name hides
    it (the JSON keeps the full paths)."""
    more = len(row.run_dirs) - 1
    name = row.run_dirs[0].name + (f" +{more}" if more else "")
    return name if name.startswith(row.model) else f"{name} ({row.model})"


def _comparison_record(row: api.RunComparison) -> dict[str, Any]:
    paired = None
    if row.paired is not None:
        paired = {**dataclasses.asdict(row.paired), "relative": row.paired.relative}
    return {
        "runs": [str(p) for p in row.run_dirs],
        "model": row.model,
        "mean": row.mean,
        "paired": paired,
    }
