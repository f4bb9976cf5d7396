"""What an input format is: a name, how to recognise and read a file, which options it uses."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from chronorec.data.reading import ReadOptions

COLUMN_OPTIONS = frozenset({"user_col", "item_col", "time_col", "event_col", "rating_col"})
"""The options that name the columns of a log with named columns."""
_OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(ReadOptions))


@dataclass(frozen=True)
class FileSniff:
    """What detection by name sees of a file: its name, extension and first four bytes."""

    path: Path
    magic: bytes

    @classmethod
    def of(cls, path: Path) -> FileSniff:
        """Read the first four bytes of ``path``."""
        with open(path, "rb") as f:
            return cls(path, f.read(4))

    @property
    def name(self) -> str:
        """The file name, lower case."""
        return self.path.name.lower()

    @property
    def suffix(self) -> str:
        """The extension with its dot, lower case ("" if none)."""
        return self.path.suffix.lower()


def never(_: object) -> bool:
    """A detection rule for a format that is never recognised this way."""
    return False


@dataclass(frozen=True)
class InputFormat:
    """One interaction log format.

    Attributes:
        name: what ``format=`` and ``--format`` take.
        label: what error messages call a file of this format ("cannot read as CSV").
        description: one line for help texts.
        read: ``(path, options) -> LazyFrame`` with the canonical columns of
            :mod:`chronorec.data.ingest`.
        matches_file: detection by magic bytes or file name; tried for every format first.
        matches_text: detection from the non-blank first lines of a text file without a telling
            extension; tried only when no format claims the file by name.
        options: the :class:`~chronorec.data.reading.ReadOptions` fields the reader uses; the
            others are ignored (``times`` given to a format without it is an error).
    """

    name: str
    label: str
    description: str
    read: Callable[[Path, ReadOptions], pl.LazyFrame]
    matches_file: Callable[[FileSniff], bool]
    matches_text: Callable[[Sequence[str]], bool]
    options: frozenset[str]

    def __post_init__(self) -> None:
        unknown = self.options - _OPTION_NAMES
        if unknown:
            raise ValueError(f"format '{self.name}': unknown options {sorted(unknown)}")

    @property
    def names_columns(self) -> bool:
        """Whether the user names the log's columns (else they are fixed by the format)."""
        return "user_col" in self.options


def same_count_on_every_line(lines: Sequence[str], char: str) -> bool:
    """Whether every line holds ``char`` the same number of times, at least once."""
    n = lines[0].count(char)
    return n >= 1 and all(line.count(char) == n for line in lines)
