"""Values the page computes once per loaded run (dataset summary, mean weights, search keys)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class PerRun:
    """A memo tied to one loaded run: the first call with another run starts it afresh.

    The service swaps in a retrained run as a new object, so the run's identity is the key; only
    the latest run's values are kept.
    """

    def __init__(self) -> None:
        self._run: object | None = None
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, run: object, name: str, compute: Callable[[], T]) -> T:
        """``compute()`` for ``run`` the first time ``name`` is asked, the stored value after."""
        with self._lock:
            if self._run is not run:
                self._run, self._values = run, {}
            values = self._values
        if name not in values:  # two first requests may both compute: same value, no harm
            values[name] = compute()
        return values[name]  # type: ignore[no-any-return]
