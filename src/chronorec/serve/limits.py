"""Request size limits: bodies over the limit are refused with 413 before they are read whole."""

from __future__ import annotations

from typing import Any

from chronorec.serve.schemas import Problem


class BodyLimitMiddleware:
    """ASGI middleware: refuses a body larger than ``max_body_bytes`` with 413.

    A ``Content-Length`` is checked before any byte is read; a chunked body is read up to the
    limit, and not a byte more.
    """

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fits, body = await self._read_body(scope, receive)
        if not fits:
            await self._too_large(send)
        else:
            await self.app(scope, receive if body is None else _replay(body, receive), send)

    async def _read_body(self, scope: dict[str, Any], receive: Any) -> tuple[bool, bytes | None]:
        """Whether the body fits, and the body if it had to be read to know (else None)."""
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:  # the server has checked it is a number
            return int(length) <= self.max_body_bytes, None
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return True, None
        chunks, size = [], 0
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                return False, None
            if not message.get("more_body", False):
                return True, b"".join(chunks)

    async def _too_large(self, send: Any) -> None:
        error = f"request body larger than {self.max_body_bytes} bytes"
        body = Problem(error=error).model_dump_json(exclude_none=True)
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands the already-read body to the app, then defers to the real one."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # type: ignore[no-any-return]

    return replay
