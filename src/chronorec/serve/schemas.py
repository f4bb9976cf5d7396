"""Request and response bodies of the HTTP API (pydantic models; they are also the OpenAPI schema).

Ids are the dataset's original ids, as JSON strings (a number is refused: ``1`` and ``1.0`` would
name two users), of printable characters: no control characters, no line breaks. Timestamps are
unix seconds. Unknown fields are refused, so a misspelt field is a 422, not ignored; the error
names the fields expected and the closest one ("did you mean user_id?").
"""

from __future__ import annotations

import difflib
import functools
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

MAX_K = 1000
# 2100-01-01: far enough for any real clock, small enough that no arithmetic on it overflows.
MAX_TIMESTAMP = 4_102_444_800.0

# What an id may not hold: C0 and C1 control characters (NUL, tab, newline, ...) and the Unicode
# line and paragraph separators. Lone surrogates cannot be encoded at all and are refused earlier.
ID_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]+$"
_NOT_PRINTABLE = frozenset(
    [*map(chr, range(0x20)), *map(chr, range(0x7F, 0xA0)), "\u2028", "\u2029"]
)


def printable(value: str) -> str:
    """``value`` if it holds no control character or line break; else a validation error."""
    if not _NOT_PRINTABLE.isdisjoint(value):
        raise PydanticCustomError(
            "not_printable", "printable characters only: no control characters or line breaks"
        )
    return value


def id_field(description: str) -> Any:
    """Field settings of an id: 1 to 256 printable characters."""
    return Field(
        min_length=1,
        max_length=256,
        description=description,
        json_schema_extra={"pattern": ID_PATTERN},
    )


Id = Annotated[str, id_field("An original id, as a string."), AfterValidator(printable)]
EventId = Annotated[
    str,
    id_field(
        "The sender's id for this event: an event whose id is already stored is not stored"
        " again, so a retry is safe."
    ),
    AfterValidator(printable),
]
EventType = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="E.g. click, cart, buy.",
        json_schema_extra={"pattern": ID_PATTERN},
    ),
    AfterValidator(printable),
]


def no_separator(value: str) -> str:
    """``value`` if it holds no ``|`` (what separates an item's categories); else an error."""
    if "|" in value:
        raise PydanticCustomError("category_separator", "a category may not hold '|'")
    return value


Title = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1000,
        description="What the item is called.",
        json_schema_extra={"pattern": ID_PATTERN},
    ),
    AfterValidator(printable),
]
Category = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        description="E.g. a genre (no `|`).",
        json_schema_extra={"pattern": ID_PATTERN.replace("]", "|]")},
    ),
    AfterValidator(printable),
    AfterValidator(no_separator),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_fields_only(cls, value: Any) -> Any:
        # Checked here rather than by extra="forbid" alone: that error names neither the fields
        # expected nor the one meant, and comes with "Field required" for the field misspelt.
        if isinstance(value, dict):
            known = _field_names(cls)
            unknown = [str(name) for name in value if name not in known]
            if unknown:
                message = unknown_fields_message(cls, unknown)
                # As context, not as the template: a field name may hold braces.
                raise PydanticCustomError("unknown_field", "{message}", {"message": message})
        return value


class EventIn(_Strict):
    user_id: Id
    item_id: Id
    timestamp: float | None = Field(
        None, ge=0, le=MAX_TIMESTAMP, description="Unix seconds; the time of arrival when left out."
    )
    event_type: EventType | None = None
    event_id: EventId | None = None


class EventBatch(_Strict):
    """One or more events. A single event object (without the ``events`` wrapper) is accepted
    too."""

    events: list[EventIn] = Field(
        min_length=1, description="At most the server's batch limit (more: 413)."
    )

    @model_validator(mode="before")
    @classmethod
    def _single_event(cls, value: Any) -> Any:
        # A dict without "events" is one event, unless it holds a list (a misspelt "events").
        if (
            isinstance(value, dict)
            and "events" not in value
            and not any(isinstance(v, list) for v in value.values())
        ):
            return {"events": [value]}
        return value


class EventsStored(BaseModel):
    stored: int = Field(description="Events written to the store.")
    unknown_items: int = Field(
        description="Of those, events whose item the model does not know yet (stored, not scored)."
    )
    duplicates: int = Field(
        0, description="Events not stored because one with the same event_id already was."
    )


class EventOut(BaseModel):
    user_id: str
    item_id: str
    timestamp: float
    event_type: str | None = None
    event_id: str | None = None


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
    event_type: EventType | None = None


class SessionIn(_Strict):
    items: list[Id | SessionItem] = Field(
        description="The session, oldest first: item ids, or objects with a timestamp and event"
        " type (too many: 413)."
    )
    k: int = Field(10, ge=1, le=MAX_K)
    exclude_seen: bool = Field(False, description="Leave out the session's own items.")

    def events(self) -> list[SessionItem]:
        return [
            SessionItem(item_id=i, timestamp=None, event_type=None) if isinstance(i, str) else i
            for i in self.items
        ]


class SimilarItems(BaseModel):
    item_id: str
    similar: list[RecommendedItem]
    model_version: str


class ItemIn(_Strict):
    """An item for the catalogue: its text (title and categories) is what a model with text
    features scores it by before it has any event."""

    title: Title
    categories: list[Category] | None = Field(None, max_length=50)


class ItemStored(BaseModel):
    item_id: str
    known: bool = Field(description="The item is in the served run's own data.")
    recommendable: bool = Field(
        description="The model scores it now: known, or new to a run with text features (else it"
        " is recommendable after `chronorec refresh`)."
    )


class UserDeleted(BaseModel):
    user_id: str
    deleted_events: int


RunPath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=4096,
        description="A run folder to serve from now on (on the server's disk).",
        json_schema_extra={"pattern": ID_PATTERN},
    ),
    AfterValidator(printable),
]


class ReloadIn(_Strict):
    run: RunPath | None = Field(None, description="Default: the run folder served.")


class Reloaded(BaseModel):
    previous_version: str
    model_version: str
    run: str = Field(description="The run folder served now.")


class Health(BaseModel):
    status: str
    model_version: str
    events_stored: int


class Problem(BaseModel):
    """Every error: ``error`` says what is wrong in one line; ``detail`` lists field errors for a
    422."""

    error: str
    detail: list[dict[str, Any]] | None = None


@functools.cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    # Once per model: reading ``model_fields`` in a validator was most of a post's cost.
    return frozenset(model.model_fields)


def unknown_fields_message(model: type[BaseModel], unknown: list[str], shown: int = 5) -> str:
    """One line naming the ``unknown`` fields, the closest known field to each, and those expected.

    For ``EventIn`` and ``["user"]``: ``unknown field 'user' (did you mean user_id?); expected
    user_id, item_id, optional timestamp, event_type``.
    """
    fields = model.model_fields
    by_lower_name = {name.lower(): name for name in fields}
    named = []
    for name in unknown[:shown]:
        close = difflib.get_close_matches(name.lower(), list(by_lower_name), n=1)
        hint = f" (did you mean {by_lower_name[close[0]]}?)" if close else ""
        named.append(f"'{name[:64]}'{hint}")  # a name is echoed, cut short: it is user input
    if len(unknown) > shown:
        named.append(f"and {len(unknown) - shown} more")
    expected = [name for name, field in fields.items() if field.is_required()]
    optional = [name for name, field in fields.items() if not field.is_required()]
    if optional:
        expected += [f"optional {optional[0]}", *optional[1:]]
    plural = "s" if len(unknown) > 1 else ""
    return f"unknown field{plural} {', '.join(named)}; expected {', '.join(expected)}"
