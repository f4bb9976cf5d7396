"""Scoring and ranking: the one rule by which evaluation, the API and the service rank items."""

from chronorec.scoring.masks import mask_padding_and_seen, pessimistic_rank
from chronorec.scoring.ranker import ITEM_CHUNK, Ranker

__all__ = ["ITEM_CHUNK", "Ranker", "mask_padding_and_seen", "pessimistic_rank"]
