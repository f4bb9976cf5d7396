"""What several routers share: path parameters, documented error responses, ranking bodies.

Ids in paths are matched with the ``id`` converter (routes say ``{user_id:id}``), which, like
Starlette's ``path``, takes ``/`` too, so that an id holding one works when sent percent-encoded
(``/v1/users/team%2Falice/events``): each route's path ends in a fixed word, so the id is whatever
lies between its prefix and that word. Unlike ``path`` it takes line breaks too, so that an id with
one gets the 422 of any unprintable id, not a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator
from starlette.convertors import Convertor, register_url_convertor

from chronorec.serve import schemas as s
from chronorec.serve.engine import Ranking


class _IdConvertor(Convertor[str]):
    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", _IdConvertor())


def _path_id(description: str) -> Any:
    return Path(
        min_length=1,
        max_length=256,
        description=f"{description}; percent-encode a `/` in it.",
        json_schema_extra={"pattern": s.ID_PATTERN},
    )


UserId = Annotated[str, _path_id("The user's original id"), AfterValidator(s.printable)]
ItemId = Annotated[str, _path_id("The item's original id"), AfterValidator(s.printable)]

# Extra responses documented in the OpenAPI schema, by what can go wrong.
WRITE: dict[int | str, dict[str, Any]] = {
    401: {"model": s.Problem, "description": "Missing or wrong X-API-Key."}
}
READ: dict[int | str, dict[str, Any]] = {
    401: {"model": s.Problem, "description": "Missing or wrong X-API-Key (API or read key)."}
}
BODY: dict[int | str, dict[str, Any]] = {
    413: {"model": s.Problem, "description": "Body or batch too large."}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": s.Problem, "description": "No such route or item."}
}


def ranked_items(ranking: Ranking) -> list[s.RecommendedItem]:
    """The items of a ranking as response objects, best first."""
    return [
        s.RecommendedItem(item_id=r.item_id, score=r.score, title=r.title)
        for r in ranking.recommendations
    ]


def recommendations_body(ranking: Ranking, user_id: str | None) -> s.Recommendations:
    """The answer for a user (``user_id``) or an anonymous session (None)."""
    return s.Recommendations(
        user_id=user_id,
        recommendations=ranked_items(ranking),
        fallback=ranking.fallback,
        model_version=ranking.model_version,
    )
