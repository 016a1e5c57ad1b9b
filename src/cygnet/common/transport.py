"""How RPC messages (``cygnet.common.rpc``) travel: chosen by the peer's address.

* ``http://host:port`` (or https): a JSON ``POST`` to ``<address><path>``, signed with the
  shared secret: ``X-Cygnet-RPC-Date`` (unix time) and ``X-Cygnet-RPC-Signature`` =
  HMAC-SHA256(secret, "<date>\\n<path>\\n<sha256 of body>"). Requests older or newer than
  ``MAX_SKEW`` seconds are refused, so a captured request cannot be replayed later.
* ``inproc://name``: a handler bound to an ``InProcNetwork`` in the same event loop (``cygnet
  up`` and tests). Messages still go through JSON, so both transports see the same data.

Both ends answer a failed call with an ``RPCError`` message; the caller re-raises it as the
``CygnetError`` the handler raised. Every call has a timeout (the request model's ``timeout``
unless the caller gives one).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from cygnet.common.errors import (
    AgentUnreachable,
    CygnetError,
    InternalError,
    MalformedBody,
    RPCAuthFailed,
    error_from_code,
)
from cygnet.common.logging import get_logger
from cygnet.common.rpc import AnyReply, Message, RPCError

log = get_logger(__name__)

DATE_HEADER = "X-Cygnet-RPC-Date"
SIGNATURE_HEADER = "X-Cygnet-RPC-Signature"
MAX_SKEW = 60.0

Handler = Callable[[Any], Awaitable[Message]]
R = TypeVar("R", bound=Message)

_REPLY = TypeAdapter(AnyReply)


def rpc_signature(secret: str, date: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    text = f"{date}\n{path}\n{digest}".encode()
    return hmac.new(secret.encode(), text, hashlib.sha256).hexdigest()


def check_signature(
    secret: str, path: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> None:
    """Raise ``RPCAuthFailed`` unless the request was signed with ``secret`` recently."""
    date = headers.get(DATE_HEADER.lower()) or headers.get(DATE_HEADER) or ""
    signature = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER) or ""
    try:
        sent = float(date)
    except ValueError:
        raise RPCAuthFailed("missing or malformed RPC date header") from None
    if abs((time.time() if now is None else now) - sent) > MAX_SKEW:
        raise RPCAuthFailed("RPC request date is too far from the server's clock")
    expected = rpc_signature(secret, date, path, body)
    if not hmac.compare_digest(expected, signature):
        raise RPCAuthFailed("bad RPC signature (do both sides share the same secret?)")


def error_reply(exc: BaseException) -> RPCError:
    if isinstance(exc, CygnetError):
        return RPCError(error_code=exc.error_code, status=exc.status, msg=exc.msg, data=exc.data)
    log.exception("RPC handler failed", exc_info=exc)
    return RPCError(
        error_code=InternalError.error_code, status=500, msg=f"{type(exc).__name__}: {exc}"
    )


async def dispatch(adapter: TypeAdapter[Any], handler: Handler, payload: bytes) -> Message:
    """Parse a request with ``adapter``, run ``handler`` and return its reply or an
    ``RPCError`` (never raises)."""
    try:
        request = adapter.validate_json(payload)
    except ValidationError as exc:
        return error_reply(MalformedBody(f"invalid RPC request: {exc.errors()[:3]}"))
    try:
        return await handler(request)
    except Exception as exc:
        return error_reply(exc)


async def serve_http(
    adapter: TypeAdapter[Any],
    handler: Handler,
    secret: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
) -> tuple[int, bytes]:
    """The HTTP side of an RPC endpoint: (status, JSON body) for a signed request."""
    try:
        check_signature(secret, path, headers, body)
    except RPCAuthFailed as exc:
        return exc.status, error_reply(exc).model_dump_json().encode()
    reply = await dispatch(adapter, handler, body)
    status = reply.status if isinstance(reply, RPCError) else 200
    return status, reply.model_dump_json().encode()


class InProcNetwork:
    """Named RPC endpoints inside one process (``inproc://name``)."""

    def __init__(self) -> None:
        self._endpoints: dict[str, tuple[TypeAdapter[Any], Handler]] = {}

    def bind(self, name: str, adapter: TypeAdapter[Any], handler: Handler) -> str:
        if name in self._endpoints:
            raise ValueError(f"inproc://{name} is already bound")
        self._endpoints[name] = (adapter, handler)
        return f"inproc://{name}"

    def unbind(self, name: str) -> None:
        self._endpoints.pop(name, None)

    async def call(self, name: str, payload: bytes) -> bytes:
        try:
            adapter, handler = self._endpoints[name]
        except KeyError:
            raise AgentUnreachable(f"nothing listens on inproc://{name}") from None
        reply = await dispatch(adapter, handler, payload)
        return reply.model_dump_json().encode()


class RPCClient:
    """Calls one peer. ``address`` is ``http(s)://host:port`` (requests go to ``path`` there)
    or ``inproc://name`` (needs ``network``)."""

    def __init__(
        self,
        address: str,
        secret: str,
        *,
        path: str = "/rpc",
        network: InProcNetwork | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.address = address
        self._secret = secret
        self._path = path
        parts = urlsplit(address)
        self._scheme = parts.scheme
        if self._scheme == "inproc":
            if network is None:
                raise ValueError(f"{address}: an inproc address needs an InProcNetwork")
            self._network: InProcNetwork | None = network
            self._name = parts.netloc or parts.path.lstrip("/")
        elif self._scheme in ("http", "https"):
            self._network = None
            self._name = ""
        else:
            raise ValueError(f"unsupported RPC address {address!r} (use http://… or inproc://…)")
        self._own_http = http is None and self._scheme != "inproc"
        self._http = http

    async def call(self, request: Message, expect: type[R], timeout: float | None = None) -> R:
        """Send ``request``; return its reply (of type ``expect``) or raise the peer's error.
        ``AgentUnreachable`` when the peer does not answer within the timeout."""
        limit = timeout if timeout is not None else float(getattr(request, "timeout", 30.0))
        payload = request.model_dump_json().encode()
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the call completes, and a cancelled agent loop
            # would then run on.
            async with asyncio.timeout(limit):
                raw = await self._send(payload, limit)
        except TimeoutError:
            raise AgentUnreachable(
                f"{self.address} did not answer {_kind(request)} within {limit:g} s"
            ) from None
        except (httpx.TransportError, OSError) as exc:
            raise AgentUnreachable(f"{self.address}: {type(exc).__name__}: {exc}") from None
        try:
            reply = _REPLY.validate_json(raw)
        except ValidationError as exc:
            raise AgentUnreachable(f"{self.address} sent an unreadable reply: {exc}") from None
        if isinstance(reply, RPCError):
            raise error_from_code(reply.error_code, reply.msg, reply.data)
        if not isinstance(reply, expect):
            raise AgentUnreachable(f"{self.address} answered {_kind(reply)} to {_kind(request)}")
        return reply

    async def _send(self, payload: bytes, timeout: float) -> bytes:
        if self._network is not None:
            return await self._network.call(self._name, payload)
        if self._http is None:
            self._http = httpx.AsyncClient()
        date = f"{time.time():.3f}"
        headers = {
            "Content-Type": "application/json",
            DATE_HEADER: date,
            SIGNATURE_HEADER: rpc_signature(self._secret, date, self._path, payload),
        }
        response = await self._http.post(
            self.address.rstrip("/") + self._path,
            content=payload,
            headers=headers,
            timeout=timeout,
        )
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.content
        raise AgentUnreachable(
            f"{self.address} answered HTTP {response.status_code} without an RPC reply"
        )

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None


def _kind(message: BaseModel) -> str:
    return str(getattr(message, "kind", type(message).__name__))


def listening_socket(host: str, port: int = 0) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port) for a server to listen on.

    It is made with ``proto=IPPROTO_TCP``, as ``getaddrinfo`` would: asyncio turns Nagle's
    algorithm off (TCP_NODELAY) only on connections accepted from such sockets, and without
    that every response written in two parts (headers, then body) waits for the client's
    delayed ACK — about 40 ms per request on a kept-alive connection."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
