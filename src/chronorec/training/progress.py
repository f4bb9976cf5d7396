"""A progress bar for training: sequences per second, the current loss, validation score and data wait."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class EpochProgress:
    """One bar per epoch on stderr; a no-op when disabled (tests, non-zero DDP ranks)."""

    def __init__(self, sequences_per_epoch: int, epochs: int, enabled: bool = True) -> None:
        self.total, self.epochs, self.enabled = sequences_per_epoch, epochs, enabled
        self._progress = (
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>7.0f} seq/s  loss {task.fields[loss]}  {task.fields[valid]}"),
                TimeElapsedColumn(),
                console=Console(file=sys.stderr),
                transient=False,
            )
            if enabled
            else None
        )
        self._task = None
        self._t0 = 0.0
        self._done = 0

    def __enter__(self) -> "EpochProgress":
        if self._progress is not None:
            self._progress.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)

    def start_epoch(self, epoch: int) -> None:
        if self._progress is None:
            return
        self._t0, self._done = time.perf_counter(), 0
        self._task = self._progress.add_task(f"epoch {epoch}/{self.epochs}", total=self.total, rate=0.0, loss="-", valid="")

    def advance(self, sequences: int) -> None:
        if self._progress is None or self._task is None:
            return
        self._done += sequences
        rate = self._done / max(time.perf_counter() - self._t0, 1e-9)
        self._progress.update(self._task, advance=sequences, rate=rate)

    def end_epoch(self, loss: float, valid_ndcg: float | None, best: float, data_wait: float | None = None) -> None:
        """Show the epoch's loss, validation score and share of the pass spent waiting for data."""
        if self._progress is None or self._task is None:
            return
        valid = "" if valid_ndcg is None else f"valid NDCG@10 {valid_ndcg:.4f} (best {best:.4f})"
        if data_wait is not None:
            valid += f"  data wait {data_wait:.1%}"
        self._progress.update(self._task, loss=f"{loss:.4f}", valid=valid)
