"""Pure ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware on the hot path)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RateLimitHeaders:
    """Adds ``X-RateLimit-*`` to every response of a request that authenticated (the auth
    dependency leaves its ``RateLimitState`` in ``scope["state"]["rate_limit"]``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                rate = scope.get("state", {}).get("rate_limit")
                if rate is not None:
                    existing = {name.lower() for name, _ in message.get("headers", [])}
                    extra = [h for h in rate.raw_headers() if h[0] not in existing]
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
