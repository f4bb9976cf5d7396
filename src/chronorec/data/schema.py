"""The prepared-dataset format, owned here so every module agrees on ids and padding.

A prepared dataset is a folder:

- ``interactions.parquet``: one row per event, sorted by (``user``, ``timestamp``, source row
  order). Columns: ``user`` (int32, 1..users), ``item`` (int32, 1..items), ``timestamp`` (int64,
  unix seconds), and where the source has them ``event_type`` (int16, 1..len(event_types))
  and ``rating`` (float32).
- ``users.parquet``: ``user`` (int32 internal id), ``user_id`` (str, the user's original id).
- ``items.parquet``: ``item`` (int32 internal id), ``item_id`` (str, original id), ``title`` (str or
  null), ``categories`` (str or null, ``|``-separated).
- ``manifest.json``: source sha256, options, counts after each step, ``interactions``, ``users``,
  ``items``, ``dropped`` (reason -> count), ``event_types`` (names, index i is internal id i + 1).

Id 0 is padding for users, items and event types. Sequences run oldest to newest and batches are
left-padded, so position -1 always holds the most recent event.
"""

from __future__ import annotations

PAD = 0
FORMAT_VERSION = 1

INTERACTIONS_FILE = "interactions.parquet"
USERS_FILE = "users.parquet"
ITEMS_FILE = "items.parquet"
MANIFEST_FILE = "manifest.json"

# Canonical column names inside chronorec (after ingest renames the user's columns).
USER, ITEM, TIMESTAMP, EVENT_TYPE, RATING = "user", "item", "timestamp", "event_type", "rating"
USER_ID, ITEM_ID, TITLE, CATEGORIES = "user_id", "item_id", "title", "categories"
