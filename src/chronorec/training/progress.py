"""Training progress on stderr: a live bar on a terminal, whole plain lines in a log.

On a terminal each epoch gets a bar with sequences per second, the loss, the validation score and
the share of time spent waiting for data. When stderr is a file or a pipe (a CI log, ``nohup``) a
live bar is never redrawn and rich would cut it to 80 columns, so each epoch prints one line
instead, as soon as it ends::

    training sasrec on ml-100k
    epoch 1/45  loss 7.1032  valid NDCG@10 0.0412 (best 0.0412)  data wait 0.4%  4.1s
"""

from __future__ import annotations

import math
import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class EpochProgress:
    """Progress of a training run, one epoch at a time; a no-op when disabled (tests, non-zero
    DDP ranks).

    Args:
        sequences_per_epoch: training sequences in one epoch (the bar's total).
        epochs: the most epochs the run may take (shown as ``epoch 3/45``).
        enabled: False shows nothing.
        title: printed once when the run starts, e.g. ``"training sasrec on ml-100k"``.
        console: where to write; default stderr.
    """

    def __init__(
        self,
        sequences_per_epoch: int,
        epochs: int,
        enabled: bool = True,
        *,
        title: str | None = None,
        console: Console | None = None,
    ) -> None:
        self.total, self.epochs, self.enabled, self.title = (
            sequences_per_epoch,
            epochs,
            enabled,
            title,
        )
        self._console = console or Console(file=sys.stderr)
        self._bar = _bar(self._console) if enabled and self._console.is_terminal else None
        self._task: TaskID | None = None
        self._epoch, self._started, self._done = 0, 0.0, 0

    def __enter__(self) -> EpochProgress:
        if self.enabled and self.title:
            self._print(self.title)
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)

    def start_epoch(self, epoch: int) -> None:
        """Start timing epoch ``epoch`` (and its bar on a terminal)."""
        self._epoch, self._started, self._done = epoch, time.perf_counter(), 0
        if self._bar is not None:
            self._task = self._bar.add_task(
                self._epoch_label(), total=self.total, rate=0.0, loss="-", valid=""
            )

    def advance(self, sequences: int) -> None:
        """Count ``sequences`` more trained sequences of the current epoch."""
        if self._bar is None or self._task is None:
            return
        self._done += sequences
        rate = self._done / max(time.perf_counter() - self._started, 1e-9)
        self._bar.update(self._task, advance=sequences, rate=rate)

    def end_epoch(
        self, loss: float, valid_ndcg: float | None, best: float, data_wait: float | None = None
    ) -> None:
        """Show the epoch's loss, validation NDCG@10 and best so far (when validated), and the
        share of the pass spent waiting for data."""
        if not self.enabled:
            return
        scores = "" if valid_ndcg is None else _scores(valid_ndcg, best)
        wait = "" if data_wait is None else f"data wait {data_wait:.1%}"
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task, loss=f"{loss:.4f}", valid="  ".join(filter(None, [scores, wait]))
            )
        elif self._bar is None:
            seconds = f"{time.perf_counter() - self._started:.1f}s"
            parts = [self._epoch_label(), f"loss {loss:.4f}", scores, wait, seconds]
            self._print("  ".join(part for part in parts if part))

    def _epoch_label(self) -> str:
        return f"epoch {self._epoch}/{self.epochs}"

    def _print(self, line: str) -> None:
        # soft_wrap: a line as long as it is; a log must not cut or fold it.
        self._console.print(line, soft_wrap=True, markup=False, highlight=False)


def _scores(valid_ndcg: float, best: float) -> str:
    best_text = "" if math.isnan(best) else f" (best {best:.4f})"
    return f"valid NDCG@10 {valid_ndcg:.4f}{best_text}"


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "{task.fields[rate]:>7.0f} seq/s  loss {task.fields[loss]}  {task.fields[valid]}"
        ),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
