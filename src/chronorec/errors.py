"""Errors that chronorec reports to users as one clear line (the CLI exits with code 2)."""

from __future__ import annotations


class ChronorecError(Exception):
    """A user-facing error: its message is printed as one line, without a traceback."""


class InputError(ChronorecError):
    """Bad input data: names the file and, where it applies, the row and field.

    Example:
        >>> str(InputError("missing required column 'user_id'", path="log.csv"))
        "log.csv: missing required column 'user_id'"
    """

    def __init__(
        self, message: str, *, path: object = None, row: int | None = None, field: str | None = None
    ) -> None:
        self.path, self.row, self.field = path, row, field
        where = [str(path)] if path is not None else []
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
