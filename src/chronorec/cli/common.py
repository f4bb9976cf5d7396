"""What every command shares: the output console, metric tables and ``KEY=VALUE`` settings."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from chronorec.errors import ChronorecError

# Width of the output when it goes to a file or a pipe. Rich would wrap at 80 columns there and cut
# the cells of a wide table (`│ sasr… │ 0.21… │`); tables are sized to their content, so a wide
# limit prints each row whole.
LOG_WIDTH = 1000


def make_console() -> Console:
    """A console on stdout: as wide as the terminal, or :data:`LOG_WIDTH` in a log or a pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=LOG_WIDTH)


console = make_console()


def fmt(value: object) -> str:
    """A metric for a table: 4 decimals below 10, 1 above, ``-`` when missing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def metric_table(title: str, rows: dict[str, dict[str, float | None]], columns: list[str]) -> Table:
    """A table with one row per entry of ``rows`` and one right-aligned column per metric."""
    table = Table(title=title)
    table.add_column("")
    for column in columns:
        table.add_column(column, justify="right")
    for name, values in rows.items():
        table.add_row(name, *(fmt(values.get(column)) for column in columns))
    return table


def parse_settings(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` settings; a value is read as JSON where it parses (number, boolean, list)."""
    settings: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ChronorecError(f"--set expects KEY=VALUE, got '{pair}'")
        try:
            settings[key] = json.loads(raw)
        except json.JSONDecodeError:
            settings[key] = raw
    return settings
