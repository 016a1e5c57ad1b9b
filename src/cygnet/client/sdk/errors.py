"""What the SDK raises. Every error derives from ``SDKError`` and carries a one-line ``message``
and, where the server gave one, a stable ``error_code`` (``<domain>_<operation>_<detail>``).

* ``APIError``: the server answered with a non-2xx status (its problem+json body parsed).
* ``GraphQLError``: ``POST /admin/gql`` answered with a non-empty ``errors`` list.
* ``NotFound``: a lookup found nothing (an API 404, a GraphQL not-found error, or a query that
  answered null).
* ``MutationFailed``: a mutation answered ``ok: false``.
* ``ClientError``: the server could not be reached (connection refused, timeout, bad TLS...).
* ``ConfigError``: the client is not configured well enough to make the request.
"""

from __future__ import annotations

from typing import Any


class SDKError(Exception):
    """Base of all SDK errors."""

    error_code: str | None = None

    @property
    def message(self) -> str:
        return str(self)


class APIError(SDKError):
    """A non-2xx answer: ``status``, and the problem+json ``type``/``title``/``msg``/``data``."""

    def __init__(
        self,
        status: int,
        error_code: str | None = None,
        title: str | None = None,
        msg: str | None = None,
        data: Any = None,
        *,
        type: str | None = None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.title = title
        self.msg = msg
        self.data = data
        self.type = type
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [p for p in (self.title, self.msg) if p]
        if len(parts) == 2 and parts[1].rstrip(".") in parts[0]:
            parts = parts[:1]
        text = ": ".join(parts) if parts else "request failed"
        return f"{text} (HTTP {self.status})"

    @classmethod
    def from_body(cls, status: int, body: Any, reason: str = "") -> APIError:
        """Build from a parsed error body (problem+json, or anything else)."""
        if isinstance(body, dict):
            return cls(
                status,
                error_code=_str_or_none(body.get("error_code")),
                title=_str_or_none(body.get("title")) or reason or None,
                msg=_str_or_none(body.get("msg")),
                data=body.get("data"),
                type=_str_or_none(body.get("type")),
            )
        text = body if isinstance(body, str) else None
        return cls(status, title=reason or None, msg=(text or "").strip()[:500] or None)


class NotFound(APIError):
    """The object asked for does not exist (or the caller may not see it)."""

    def _describe(self) -> str:
        return self.msg or self.title or "not found"


class GraphQLError(APIError):
    """The GraphQL endpoint reported errors; ``errors`` holds them all, the message the first."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        first = errors[0] if errors else {}
        extensions = first.get("extensions") or {}
        status = extensions.get("status")
        super().__init__(
            status if isinstance(status, int) else 400,
            error_code=_str_or_none(extensions.get("error_code")),
            title=_str_or_none(extensions.get("title")) or "GraphQL-generated error",
            msg=_str_or_none(first.get("message")),
            data=errors,
            type=_str_or_none(extensions.get("type")),
        )

    def _describe(self) -> str:
        text = self.msg or self.title or "GraphQL error"
        more = len(self.errors) - 1
        return f"{text} (and {more} more error{'s' if more > 1 else ''})" if more > 0 else text


class GraphQLNotFound(GraphQLError, NotFound):
    """A GraphQL error saying the object does not exist (catch it as ``NotFound``)."""

    _describe = GraphQLError._describe


def graphql_error(errors: list[dict[str, Any]]) -> GraphQLError:
    """The error for a GraphQL ``errors`` list; ``GraphQLNotFound`` for a missing object."""
    error = GraphQLError(errors)
    if error.status == 404 or (error.error_code or "").endswith("not-found"):
        return GraphQLNotFound(errors)
    return error


class MutationFailed(SDKError):
    """A mutation answered ``{ok: false, msg}`` (and our ``error_code`` addition)."""

    def __init__(self, msg: str, error_code: str | None = None) -> None:
        self.msg = msg
        self.error_code = error_code
        super().__init__(msg)


class ClientError(SDKError):
    """The request did not get an answer: the endpoint is unreachable, timed out, or broke."""

    def __init__(self, message: str, endpoint: str | None = None) -> None:
        self.endpoint = endpoint
        super().__init__(message)


class ConfigError(SDKError):
    """Missing or invalid client configuration (no endpoint, no keys, a bad profile file)."""


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
