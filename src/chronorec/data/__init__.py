"""Data ingest: turn raw interaction logs into prepared datasets (see :mod:`chronorec.data.schema`).

Reading: :mod:`~chronorec.data.formats` (one module per log format), :mod:`~chronorec.data.ingest`,
:mod:`~chronorec.data.items`. Preparing: :mod:`~chronorec.data.validate`,
:mod:`~chronorec.data.filters`, :mod:`~chronorec.data.encode`, :mod:`~chronorec.data.prepare`.
Known public datasets: :mod:`~chronorec.data.catalog`, :mod:`~chronorec.data.registry`.
"""

from chronorec.data.prepare import PrepareConfig, PrepareResult, prepare

__all__ = ["PrepareConfig", "PrepareResult", "prepare"]
