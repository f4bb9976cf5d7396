"""Data ingest: turn raw interaction logs into prepared datasets (see :mod:`chronorec.data.schema`)."""

from chronorec.data.prepare import PrepareConfig, PrepareResult, prepare

__all__ = ["PrepareConfig", "PrepareResult", "prepare"]
