"""ASGI middleware: request ids and body-size limits, before anything parses the request."""

from __future__ import annotations

import json
import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "RequestIdMiddleware"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Take a sane ``X-Request-ID`` or make one; echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else f"req_{secrets.token_hex(8)}"
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413, whether announced or streamed.

    File uploads (``multipart/form-data``) get their own, larger limit, and paths listed in
    ``path_limits`` (longest prefix first) theirs: dataset files and their chunks.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        upload_limit: int | None = None,
        path_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.body_limit = limit
        self.upload_limit = max(upload_limit or limit, limit)
        self.path_limits = sorted((path_limits or {}).items(), key=lambda item: -len(item[0]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        upload = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.upload_limit if upload else self.body_limit
        path = scope.get("path", "")
        for prefix, path_limit in self.path_limits:
            if path.startswith(prefix):
                limit = max(limit, path_limit)
                break
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        seen = 0
        too_large = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Report a disconnect: the app never sees a cut body, so it cannot act on
                    # half a request; whatever it answers is replaced by the 413 below.
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal refused
            if too_large:
                if not refused:
                    refused = True
                    await self._refuse(scope, send, limit)
                return
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        request_id = scope.get("state", {}).get("request_id", "-")
        body = json.dumps(
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"请求体过大 (request body larger than {limit} bytes)",
                    "details": {"limit_bytes": limit, "request_id": request_id},
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
