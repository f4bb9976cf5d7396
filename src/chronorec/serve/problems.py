"""Every error as ``{"error": "...", "detail": [...]}``: the handlers the app installs.

Every malformed body is a 422: FastAPI answers a body it cannot even decode (invalid UTF-8, say)
with a 400, which is turned into the 422 of any other unreadable JSON.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chronorec.serve.schemas import Problem


def add_error_handlers(app: FastAPI) -> None:
    """Answer invalid requests (422) and HTTP errors with a :class:`Problem`."""
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    # The offending input is not echoed back (it may be large or personal), only where and why.
    detail = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    message = (
        "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in detail)
        or "invalid request"
    )
    return JSONResponse(Problem(error=message, detail=detail).model_dump(), status_code=422)


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:  # no route raises 400: this is FastAPI failing to decode a body
        detail = [{"loc": ["body"], "msg": "not valid JSON in UTF-8", "type": "json_invalid"}]
        problem = Problem(error="body: not valid JSON in UTF-8", detail=detail)
        return JSONResponse(problem.model_dump(), status_code=422)
    return JSONResponse(
        Problem(error=str(exc.detail)).model_dump(exclude_none=True),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )
