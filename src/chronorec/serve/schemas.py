"""Request and response bodies of the HTTP API (pydantic models; they are also the OpenAPI schema).

Ids are the dataset's original ids, as strings; numbers are accepted and turned into strings.
Timestamps are unix seconds. Unknown fields are refused, so a misspelt field is a 422, not ignored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_K = 1000
# 2100-01-01: far enough for any real clock, small enough that no arithmetic on it overflows.
MAX_TIMESTAMP = 4_102_444_800.0

Id = Annotated[str, Field(min_length=1, max_length=256, description="An original id, as a string.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class EventIn(_Strict):
    user_id: Id
    item_id: Id
    timestamp: float | None = Field(
        None, ge=0, le=MAX_TIMESTAMP, description="Unix seconds; the time of arrival when left out."
    )
    event_type: str | None = Field(
        None, min_length=1, max_length=64, description="E.g. click, cart, buy."
    )


class EventBatch(_Strict):
    """One or more events. A single event object (without the ``events`` wrapper) is accepted too."""

    events: list[EventIn] = Field(
        min_length=1, description="At most the server's batch limit (more: 413)."
    )

    @model_validator(mode="before")
    @classmethod
    def _single_event(cls, value: Any) -> Any:
        if isinstance(value, dict) and "events" not in value and "user_id" in value:
            return {"events": [value]}
        return value


class EventsStored(BaseModel):
    stored: int = Field(description="Events written to the store.")
    unknown_items: int = Field(
        description="Of those, events whose item the model does not know yet (stored, not scored)."
    )


class EventOut(BaseModel):
    user_id: str
    item_id: str
    timestamp: float
    event_type: str | None = None


class UserEvents(BaseModel):
    user_id: str
    events: list[EventOut] = Field(description="Newest first.")


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    title: str | None = None


class Recommendations(BaseModel):
    user_id: str | None = Field(None, description="None for an anonymous session.")
    recommendations: list[RecommendedItem]
    fallback: bool = Field(
        description="True: no usable history, so these are the most popular items."
    )
    model_version: str


class SessionRecommendations(Recommendations):
    unknown_items: int = Field(0, description="Session items the model does not know (left out).")


class SessionItem(_Strict):
    item_id: Id
    timestamp: float | None = Field(
        None, ge=0, le=MAX_TIMESTAMP, description="Unix seconds; the request's time when left out."
    )
    event_type: str | None = Field(None, min_length=1, max_length=64)


class SessionIn(_Strict):
    items: list[Id | SessionItem] = Field(
        description="The session, oldest first: item ids, or objects with a timestamp and event type (too many: 413)."
    )
    k: int = Field(10, ge=1, le=MAX_K)
    exclude_seen: bool = Field(False, description="Leave out the session's own items.")

    def events(self) -> list[SessionItem]:
        return [SessionItem(item_id=i) if isinstance(i, str) else i for i in self.items]


class SimilarItems(BaseModel):
    item_id: str
    similar: list[RecommendedItem]
    model_version: str


class UserDeleted(BaseModel):
    user_id: str
    deleted_events: int


class Reloaded(BaseModel):
    previous_version: str
    model_version: str


class Health(BaseModel):
    status: str
    model_version: str
    events_stored: int


class Problem(BaseModel):
    """Every error: ``error`` says what is wrong in one line; ``detail`` lists field errors for a 422."""

    error: str
    detail: list[dict[str, Any]] | None = None
