"""Ids as categorical codes: 4 bytes per row instead of a string, so a log holds no strings."""

from __future__ import annotations

import numpy as np
import polars as pl


def private_categorical() -> pl.Categorical:
    """A categorical type with its own categories, freed with the data it encodes.

    The process-wide categories would keep every id string of every log ever read.
    """
    return pl.Categorical(pl.Categories.random("chronorec"))


def as_categorical(ids: pl.Series) -> pl.Series:
    """``ids`` as a categorical (as validation returns them), else with a private encoding."""
    if isinstance(ids.dtype, pl.Categorical):
        return ids
    return ids.cast(private_categorical())


def category_codes(ids: pl.Series) -> np.ndarray:
    """The integer codes of categorical ``ids`` (no nulls), as a NumPy array."""
    return ids.to_physical().to_numpy()
