"""API sessions: ``AsyncAPISession`` (httpx.AsyncClient) and ``APISession``, its blocking twin.

Requests are signed exactly like the official client's (wire notes 1.3-1.4): ``Date`` in ISO
format, ``X-BackendAI-Version`` (negotiated with ``GET /``: ``min(server, ours)``, falling back
silently to ours), ``Authorization: BackendAI signMethod=HMAC-SHA256, credential=AK:SIG`` over
the path and query exactly as sent. ``APISession`` runs an ``AsyncAPISession`` on a private event
loop in a daemon thread, so both share one implementation.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from cygnet.client.sdk.admin import AdminAPI
from cygnet.client.sdk.config import APIConfig, setup_hint
from cygnet.client.sdk.errors import (
    APIError,
    ClientError,
    ConfigError,
    MutationFailed,
    NotFound,
    graphql_error,
)
from cygnet.client.sdk.models import Announcement, Credentials, ServerVersion
from cygnet.client.sdk.vfolders import VFolders
from cygnet.common.auth import make_auth_headers
from cygnet.common.versions import parse_version

T = TypeVar("T")

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain"
BINARY_TYPE = "application/octet-stream"


def sign_request(
    request: httpx.Request,
    *,
    access_key: str | None,
    secret_key: str | None,
    version: str,
    content_type: str,
    now: datetime | None = None,
) -> None:
    """Add ``Date``, ``X-BackendAI-Version`` and (with keys) ``Authorization`` to ``request``.

    The signed ``rel_url`` is the request target as sent (path and query, endpoint prefix
    included) and the signed host is the ``Host`` header httpx sends.
    """
    when = now or datetime.now(UTC)
    request.headers["X-BackendAI-Version"] = version
    if access_key and secret_key:
        signed = make_auth_headers(
            access_key,
            secret_key,
            method=request.method,
            rel_url=request.url.raw_path.decode("ascii"),
            host=request.headers.get("Host") or request.url.netloc.decode("ascii"),
            content_type=content_type.split(";", 1)[0].strip().lower(),
            version=version,
            now=when,
        )
        request.headers["Date"] = signed.date
        request.headers["Authorization"] = signed.authorization
    else:
        request.headers["Date"] = when.isoformat()


def encode_body(json: Any = None, content: bytes | str | None = None) -> tuple[bytes, str]:
    """The body bytes and content type, as the official client picks them (wire notes 1.3)."""
    if json is not None:
        return jsonlib.dumps(json).encode(), JSON_TYPE
    if isinstance(content, str):
        return content.encode(), TEXT_TYPE
    if content is not None:
        return bytes(content), BINARY_TYPE
    return b"", TEXT_TYPE


def parse_response(response: httpx.Response) -> Any:
    """The JSON body of a 2xx/3xx answer (None when empty); ``APIError`` for anything else."""
    if response.status_code // 100 in (2, 3):
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    error = APIError.from_body(response.status_code, body, response.reason_phrase)
    if response.status_code == 404:
        raise NotFound(
            404, error.error_code, error.title, error.msg, error.data, type=error.type
        ) from None
    raise error


def negotiated(server: str | None, ours: str) -> str:
    """``min(server, ours)`` by ``(major, date)``; ours when the server's value is unusable."""
    mine = parse_version(ours)
    theirs = parse_version(server) if isinstance(server, str) else None
    if mine is None or theirs is None:
        return ours
    major, date = min(theirs, mine)
    return f"v{major}.{date}"


class AsyncAPISession:
    """An async connection to a Cygnet (or Backend.AI) manager.

    Use as ``async with AsyncAPISession(config) as s: ...``. ``transport`` lets tests plug in
    an ``httpx.MockTransport`` (or an ASGI transport) instead of the network.
    """

    def __init__(
        self,
        config: APIConfig | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config or APIConfig.load()
        timeout = httpx.Timeout(
            None, connect=self.config.connect_timeout, read=self.config.read_timeout
        )
        self._http = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            verify=self.config.verify_ssl,
            transport=transport,
            headers={"User-Agent": self.config.user_agent},
        )
        self._api_version: str | None = None
        self._version_lock = asyncio.Lock()
        self.admin = AdminAPI(self)
        self.vfolders = VFolders(self)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Negotiate the API version (requests do it lazily too)."""
        await self.api_version()

    async def close(self) -> None:
        await self._http.aclose()

    def url(self, path: str) -> str:
        """The endpoint's path (no trailing ``/``) + ``/`` + ``path`` without its leading ``/``."""
        return f"{self.config.endpoint}/{path.lstrip('/')}"

    async def api_version(self) -> str:
        """The version sent in ``X-BackendAI-Version``: negotiated once with ``GET /``."""
        if self._api_version is None:
            async with self._version_lock:
                if self._api_version is None:
                    server: str | None = None
                    try:
                        response = await self._http.get(self.url("/"))
                        if response.is_success:
                            body = response.json()
                            server = body.get("version") if isinstance(body, dict) else None
                    except (httpx.HTTPError, ValueError):
                        server = None
                    self._api_version = negotiated(server, self.config.version)
        return self._api_version

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request)
        except httpx.TimeoutException as exc:
            raise ClientError(
                f"The Cygnet manager at {self.config.endpoint} did not answer in time "
                f"({type(exc).__name__}). Is it running and reachable? A local cluster is "
                "started with `cygnet up`.",
                self.config.endpoint,
            ) from exc
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise ClientError(
                f"Cannot connect to the Cygnet manager at {self.config.endpoint} ({reason}). "
                "Is it running? Start a local cluster with `cygnet up`, or point the client "
                "at another server with --endpoint or CYGNET_ENDPOINT.",
                self.config.endpoint,
            ) from exc

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        anonymous: bool = False,
    ) -> Any:
        """Send a signed request; the parsed JSON answer, or ``APIError``/``ClientError``.

        ``anonymous`` requests (login) carry the date and version headers but no signature.
        """
        if not anonymous and not self.config.has_credentials:
            raise ConfigError(
                f"No access key and secret key are configured for {self.config.endpoint}. "
                f"{setup_hint()}"
            )
        body, content_type = encode_body(json, content)
        request = self._http.build_request(
            method.upper(),
            self.url(path),
            params=params,
            content=body,
            headers={"Content-Type": content_type, "Content-Length": str(len(body))},
        )
        if not anonymous:
            request.headers["X-BackendAI-Domain"] = self.config.domain
        sign_request(
            request,
            access_key=None if anonymous else self.config.access_key,
            secret_key=None if anonymous else self.config.secret_key,
            version=await self.api_version(),
            content_type=content_type,
        )
        return parse_response(await self._send(request))

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying HTTP client (for unsigned requests, e.g. to a storage proxy)."""
        return self._http

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> AsyncIterator[httpx.Response]:
        """A signed request whose answer is read by the caller (SSE, bodies with extra keys).

        With ``check``, a non-2xx answer raises ``APIError`` as ``request`` does; without, it
        is handed over as it is. The response is closed when the block ends.
        """
        if not self.config.has_credentials:
            raise ConfigError(
                f"No access key and secret key are configured for {self.config.endpoint}. "
                f"{setup_hint()}"
            )
        body, content_type = encode_body(json) if json is not None else (b"", BINARY_TYPE)
        request = self._http.build_request(
            method.upper(), self.url(path), params=params, content=body, headers=headers
        )
        if json is None:
            request.headers.pop("Content-Type", None)
        else:
            request.headers["Content-Type"] = content_type
        request.headers["X-BackendAI-Domain"] = self.config.domain
        sign_request(
            request,
            access_key=self.config.access_key,
            secret_key=self.config.secret_key,
            version=await self.api_version(),
            content_type=content_type,
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ClientError(
                f"Cannot connect to the Cygnet manager at {self.config.endpoint} "
                f"({exc or type(exc).__name__}). Is it running?",
                self.config.endpoint,
            ) from exc
        try:
            if check and not response.is_success:
                await response.aread()
                parse_response(response)
            yield response
        finally:
            await response.aclose()

    async def gql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run an admin GraphQL operation; its ``data``, or ``GraphQLError``."""
        body = await self.request(
            "POST", "/admin/gql", json={"query": query, "variables": dict(variables or {})}
        )
        if not isinstance(body, dict):
            raise APIError(200, title="Unexpected GraphQL answer", msg=str(body)[:200])
        errors = body.get("errors")
        if errors:
            raise graphql_error(list(errors))
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    async def mutate(self, query: str, variables: Mapping[str, Any], field: str) -> dict[str, Any]:
        """Run a mutation and return its payload; ``MutationFailed`` when it says ``ok: false``."""
        data = await self.gql(query, variables)
        payload = data.get(field)
        if not isinstance(payload, dict):
            raise APIError(200, title="Unexpected GraphQL answer", msg=f"no {field!r} payload")
        if not payload.get("ok"):
            raise MutationFailed(
                str(payload.get("msg") or f"{field} failed"), payload.get("error_code")
            )
        return payload

    async def version(self) -> ServerVersion:
        """``GET /``: the server's API version and release (unauthenticated)."""
        response = await self._send(self._http.build_request("GET", self.url("/")))
        body = parse_response(response)
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            raise APIError(response.status_code, title="Not a Cygnet/Backend.AI endpoint")
        return ServerVersion.model_validate(body)

    async def announcement(self) -> Announcement:
        """``GET /manager/announcement``."""
        return Announcement.model_validate(await self.request("GET", "/manager/announcement"))

    async def authorize(self, email: str, password: str, domain: str | None = None) -> Credentials:
        """``POST /auth/authorize``: trade an email and password for the user's keypair."""
        body = await self.request(
            "POST",
            "/auth/authorize",
            json={
                "type": "keypair",
                "domain": domain or self.config.domain,
                "username": email,
                "password": password,
            },
            anonymous=True,
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise APIError(200, title="Unexpected answer from /auth/authorize")
        return Credentials.model_validate(data)


class _LoopThread:
    """A private event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="cygnet-sdk-loop", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("APISession called from its own event loop; use AsyncAPISession")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class _Blocking:
    """Wraps an object of the async API: attributes are wrapped too, coroutines are awaited."""

    def __init__(self, target: Any, runner: _LoopThread) -> None:
        self._target = target
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value):

            def call(*args: Any, **kwargs: Any) -> Any:
                result = value(*args, **kwargs)
                if asyncio.iscoroutine(result):
                    return self._runner.run(result)
                return result

            call.__name__ = name
            call.__doc__ = value.__doc__
            return call
        if isinstance(value, (str, int, float, bool, type(None))):
            return value
        return _Blocking(value, self._runner)

    def __repr__(self) -> str:
        return f"<blocking {self._target!r}>"


class APISession:
    """The blocking twin of ``AsyncAPISession``, with the same methods minus ``await``.

    ``session.admin.domains.list()`` works as in the async API. For typed code, pass an async
    function to ``run``: ``session.run(lambda s: s.admin.domains.list())``.
    """

    def __init__(
        self,
        config: APIConfig | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        config = config or APIConfig.load()
        self._runner = _LoopThread()

        async def make() -> AsyncAPISession:
            return AsyncAPISession(config, transport=transport)

        self.aio: AsyncAPISession = self._runner.run(make())
        self.config = config
        self.admin: Any = _Blocking(self.aio.admin, self._runner)
        self.vfolders: Any = _Blocking(self.aio.vfolders, self._runner)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def run(self, fn: Callable[[AsyncAPISession], Awaitable[T]]) -> T:
        """Run ``fn(async_session)`` on the session's loop and return its result."""

        async def go() -> T:
            return await fn(self.aio)

        return self._runner.run(go())

    def close(self) -> None:
        if not self._runner.loop.is_closed():
            self._runner.run(self.aio.close())
            self._runner.close()

    def open(self) -> None:
        self._runner.run(self.aio.open())

    def api_version(self) -> str:
        return self._runner.run(self.aio.api_version())

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._runner.run(self.aio.request(method, path, **kwargs))

    def gql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._runner.run(self.aio.gql(query, variables))

    def version(self) -> ServerVersion:
        return self._runner.run(self.aio.version())

    def announcement(self) -> Announcement:
        return self._runner.run(self.aio.announcement())

    def authorize(self, email: str, password: str, domain: str | None = None) -> Credentials:
        return self._runner.run(self.aio.authorize(email, password, domain))
