"""Compute sessions (wire notes 2.1): create, inspect, execute code in, move files in and out of,
watch and destroy sessions.

``ComputeSessions`` wraps an ``AsyncAPISession``::

    async with AsyncAPISession(config) as s:
        api = ComputeSessions(s)
        created = await api.create("python:3.11", resources={"cpu": 1, "mem": "1g"})
        result = await api.execute(created.id, "print('hi')")
        await api.destroy(created.id)

A session is named by its UUID or by its name (among the owner's live sessions). With the
blocking ``APISession``, call it through ``session.run(lambda s: ComputeSessions(s).info(x))``.

Code runs over the WebSocket channel (``stream_execute``, what ``backend.ai run`` uses) or over
REST (``execute`` with ``continue``/``input`` follow-ups); both give ``ExecutionResult``s.
"""

from __future__ import annotations

import base64
import io
import json
import os
import platform
import secrets
import ssl
import tarfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from cygnet.client.sdk.admin.base import paginated
from cygnet.client.sdk.errors import APIError, ClientError, NotFound, SDKError
from cygnet.client.sdk.models import (
    ComputeSession,
    ExecutionResult,
    FileListing,
    Page,
    SessionCreated,
    SessionInfo,
)
from cygnet.client.sdk.session import BINARY_TYPE, AsyncAPISession, parse_response, sign_request
from cygnet.client.sdk.sse import SSEMessage, SSEParser

SessionRef = uuid.UUID | str
"""A session's UUID, or its name among the owner's live sessions."""

LIVE_STATUSES = (
    "PENDING",
    "SCHEDULED",
    "PULLING",
    "PREPARED",
    "PREPARING",
    "CREATING",
    "RUNNING",
    "RUNNING_DEGRADED",
    "TERMINATING",
    "ERROR",
)
"""What ``list`` shows by default (the official ``admin session list`` default)."""

LIST_FIELDS = (
    "name access_key priority id group_name type image status status_info status_changed "
    "result created_at terminated_at occupied_slots"
)
NODE_FIELDS = (
    "row_id tag name type priority cluster_mode domain_name user_id status created_at "
    "terminated_at resource_opts scaling_group vfolder_mounts image_references "
    "kernel_nodes { edges { node { row_id image_reference status created_at agent_id } } }"
)
MAX_UPLOAD_PARTS = 20
MAX_DOWNLOAD_PATHS = 5

ExecMode = Literal["query", "batch"]
Transport = Literal["auto", "websocket", "rest"]


class ExecutionFailed(SDKError):
    """The server reported an execution error frame (``status: error``/``server-restarting``)."""

    def __init__(self, status: str, msg: str | None) -> None:
        self.status = status
        self.msg = msg
        super().__init__(f"Execution failed ({status}): {msg or 'no details'}")


class UnsafeArchive(SDKError):
    """A downloaded archive holds a member that would land outside the destination."""


def _ref(session: SessionRef) -> str:
    return str(session)


def _is_uuid(value: SessionRef) -> bool:
    if isinstance(value, uuid.UUID):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def client_architecture() -> str:
    """This machine's architecture as Backend.AI names it (``x86_64``, ``aarch64``)."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def generate_name() -> str:
    return f"cygnet-{secrets.token_hex(4)}"


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# --- Server-sent events (wire notes 1.7) ---------------------------------------------------


def parse_sse(lines: Iterable[str]) -> Iterator[SSEMessage]:
    """Every complete message in ``lines`` (text split on ``\\n``/``\\r\\n``)."""
    parser = SSEParser()
    for line in lines:
        message = parser.feed(line)
        if message is not None:
            yield message


# --- Files: multipart/mixed and tar extraction ----------------------------------------------


def split_multipart(body: bytes, content_type: str) -> list[bytes]:
    """The part bodies of a ``multipart/mixed`` answer (headers dropped)."""
    boundary = None
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        raise APIError(200, title="Unexpected download answer", msg="no multipart boundary")
    delimiter = b"--" + boundary.encode()
    parts: list[bytes] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        head, sep, payload = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = chunk.partition(b"\n\n")
        if not sep:
            payload = head  # a part with no headers
        if payload.endswith(b"\r\n"):
            payload = payload[:-2]
        elif payload.endswith(b"\n"):
            payload = payload[:-1]
        parts.append(payload)
    return parts


def _inside(base: Path, target: Path) -> bool:
    try:
        target.relative_to(base)
    except ValueError:
        return False
    return True


def check_archive(tar: tarfile.TarFile, dest: Path) -> list[tarfile.TarInfo]:
    """The members of ``tar``, after checking that each stays inside ``dest``.

    Refuses (``UnsafeArchive``) absolute names, ``..`` components, links pointing outside
    ``dest`` and device or FIFO members.
    """
    base = dest.resolve()
    members = tar.getmembers()
    for member in members:
        name = member.name
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise UnsafeArchive(f"Refusing archive member {name!r}: it escapes {dest}.")
        target = (base / name).resolve()
        if not _inside(base, target):
            raise UnsafeArchive(f"Refusing archive member {name!r}: it escapes {dest}.")
        if member.isdev() or member.isfifo():
            raise UnsafeArchive(f"Refusing archive member {name!r}: it is a device or FIFO.")
        if member.issym() or member.islnk():
            link = member.linkname
            anchor = base if member.islnk() else target.parent
            if not _inside(base, (anchor / link).resolve()):
                raise UnsafeArchive(f"Refusing link {name!r} -> {link!r}: it escapes {dest}.")
    return members


def extract_tar(data: bytes, dest: Path) -> list[str]:
    """Extract a tar archive into ``dest`` (created if needed); the member names extracted."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        members = check_archive(tar, dest)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - Python < 3.11.4; members were checked above
            tar.extractall(dest, members=members)
    return [m.name for m in members]


def upload_name(path: Path, basedir: Path) -> str:
    """The name a file is uploaded under: its path relative to ``basedir`` (POSIX separators),
    or its base name when it lies outside ``basedir``."""
    try:
        relative = path.resolve().relative_to(basedir.resolve())
    except ValueError:
        return path.name
    return relative.as_posix()


def read_upload_parts(
    files: Sequence[str | os.PathLike[str]], basedir: Path
) -> tuple[list[str], list[tuple[str, tuple[str, bytes, str]]]]:
    """The upload names and the multipart ``src`` parts for ``files``."""
    names: list[str] = []
    parts: list[tuple[str, tuple[str, bytes, str]]] = []
    for item in files:
        path = Path(item)
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
        name = upload_name(path, basedir)
        names.append(name)
        parts.append(("src", (name, path.read_bytes(), BINARY_TYPE)))
    return names, parts


# --- Execution channels ----------------------------------------------------------------------


class ExecutionStream:
    """A running execution: ``receive()`` the next result, ``send_input()`` on ``waiting-input``.

    Iterate with ``async for result in stream`` (ends after ``finished``/``exec-timeout``);
    use as an async context manager so the channel is closed.
    """

    done: bool = False

    async def receive(self) -> ExecutionResult:
        raise NotImplementedError

    async def send_input(self, line: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        return None

    def __aiter__(self) -> AsyncIterator[ExecutionResult]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ExecutionResult]:
        while not self.done:
            yield await self.receive()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _result(raw: Any) -> ExecutionResult:
    if not isinstance(raw, dict) or not isinstance(raw.get("status"), str):
        raise APIError(200, title="Unexpected execution answer", msg=str(raw)[:200])
    if raw["status"] in ("error", "server-restarting"):
        raise ExecutionFailed(raw["status"], raw.get("msg"))
    return ExecutionResult.model_validate(raw)


class RESTExecution(ExecutionStream):
    """Execution over ``POST /session/{id}``, following ``runId`` with ``continue``/``input``."""

    def __init__(
        self, api: ComputeSessions, session: SessionRef, mode: str, code: str, options: Any
    ) -> None:
        self._api = api
        self._session = session
        self._next: tuple[str, str, Any] = (mode, code, options)
        self.run_id: str | None = None

    async def receive(self) -> ExecutionResult:
        mode, code, options = self._next
        result = await self._api.execute(
            self._session, code, mode=mode, run_id=self.run_id, options=options
        )
        self.run_id = result.run_id or self.run_id
        self._next = ("continue", "", None)
        self.done = result.finished
        return result

    async def send_input(self, line: str) -> None:
        self._next = ("input", line, None)


class WebSocketExecution(ExecutionStream):
    """Execution over ``GET /stream/session/{id}/execute`` (one request frame, result frames)."""

    def __init__(self, connection: Any) -> None:
        self._ws = connection

    async def receive(self) -> ExecutionResult:
        from websockets.exceptions import ConnectionClosed

        try:
            frame = await self._ws.recv()
        except ConnectionClosed as exc:
            self.done = True
            raise ExecutionFailed("closed", f"the server closed the stream ({exc})") from None
        try:
            raw = json.loads(frame)
        except (TypeError, json.JSONDecodeError):
            raise APIError(200, title="Unexpected execution frame", msg=str(frame)[:200]) from None
        result = _result(raw)
        self.done = result.finished
        return result

    async def send_input(self, line: str) -> None:
        await self._ws.send(line)

    async def close(self) -> None:
        self.done = True
        await self._ws.close()


class StreamUnavailable(SDKError):
    """The WebSocket channel cannot be used (no library, or the server has no such route)."""


# --- The API -------------------------------------------------------------------------------


class ComputeSessions:
    """``/session`` and friends, on an ``AsyncAPISession``."""

    def __init__(self, session: AsyncAPISession) -> None:
        self._s = session

    # -- raw requests (streams, multipart, binary answers) --

    async def _build(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        sign_type: str = BINARY_TYPE,
        send_content_type: bool = False,
        **kwargs: Any,
    ) -> httpx.Request:
        request = self._s._http.build_request(method, self._s.url(path), params=params, **kwargs)
        if not send_content_type:
            request.headers.pop("Content-Type", None)
        request.headers["X-BackendAI-Domain"] = self._s.config.domain
        sign_request(
            request,
            access_key=self._s.config.access_key,
            secret_key=self._s.config.secret_key,
            version=await self._s.api_version(),
            content_type=sign_type,
        )
        return request

    # -- lifecycle --

    async def create(
        self,
        image: str,
        *,
        name: str | None = None,
        type: str = "interactive",
        resources: Mapping[str, Any] | None = None,
        resource_opts: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        mounts: Sequence[str] | None = None,
        mount_map: Mapping[str, str] | None = None,
        startup_command: str | None = None,
        bootstrap_script: str | None = None,
        enqueue_only: bool = False,
        max_wait: int = 0,
        reuse: bool = True,
        cluster_size: int = 1,
        cluster_mode: str = "single-node",
        group: str | None = None,
        domain: str | None = None,
        resource_group: str | None = None,
        tag: str | None = None,
        owner_access_key: str | None = None,
        architecture: str | None = None,
        starts_at: str | None = None,
        dependencies: Sequence[str] | None = None,
        callback_url: str | None = None,
        batch_timeout: int | float | str | None = None,
        priority: int | None = None,
        preopen_ports: Sequence[int] | None = None,
    ) -> SessionCreated:
        """``POST /session``: blocks until the session runs (unless ``enqueue_only``; at most
        ``max_wait`` seconds when > 0, then ``status`` is ``TIMEOUT``)."""
        name = name or generate_name()
        if not 4 <= len(name) <= 64:
            raise ValueError(f"session name {name!r} must be 4-64 characters long")
        config = _drop_none(
            {
                "mounts": list(mounts) if mounts else None,
                "mount_map": dict(mount_map) if mount_map else None,
                "environ": dict(environ or {}),
                "resources": dict(resources or {}),
                "resource_opts": dict(resource_opts or {}),
                "scalingGroup": resource_group,
                "preopen_ports": list(preopen_ports) if preopen_ports else None,
            }
        )
        body: dict[str, Any] = {
            "name": name,
            "image": image,
            "architecture": architecture or client_architecture(),
            "tag": tag,
            "type": type,
            "domain": domain or self._s.config.domain,
            "group": group or self._s.config.group,
            "owner_access_key": owner_access_key,
            "enqueueOnly": enqueue_only,
            "maxWaitSeconds": max_wait,
            "reuseIfExists": reuse,
            "startupCommand": startup_command,
            "bootstrap_script": bootstrap_script,
            "starts_at": starts_at,
            "clusterSize": cluster_size,
            "clusterMode": cluster_mode,
            "dependencies": list(dependencies) if dependencies else None,
            "callback_url": callback_url,
            "config": config,
        }
        if batch_timeout is not None:
            body["batch_timeout"] = batch_timeout
        if priority is not None:
            body["priority"] = priority
        answer = await self._s.request("POST", "/session", json=body)
        if not isinstance(answer, dict) or "sessionId" not in answer:
            raise APIError(200, title="Unexpected answer from POST /session", msg=str(answer))
        if "servicePorts" not in answer and "service_ports" in answer:
            answer = {**answer, "servicePorts": answer["service_ports"]}
        return SessionCreated.model_validate(answer)

    async def info(
        self, session: SessionRef, *, owner_access_key: str | None = None
    ) -> SessionInfo:
        """``GET /session/{id}``."""
        params = _drop_none({"owner_access_key": owner_access_key})
        answer = await self._s.request("GET", f"/session/{_ref(session)}", params=params or None)
        return SessionInfo.model_validate(answer or {})

    async def destroy(
        self,
        session: SessionRef,
        *,
        forced: bool = False,
        recursive: bool = False,
        owner_access_key: str | None = None,
    ) -> dict[str, Any]:
        """``DELETE /session/{id}``; the ``stats`` it answers (``{"status": "terminated"}``)."""
        params = _drop_none(
            {
                "forced": "true" if forced else None,
                "recursive": "true" if recursive else None,
                "owner_access_key": owner_access_key,
            }
        )
        answer = await self._s.request("DELETE", f"/session/{_ref(session)}", params=params or None)
        stats = answer.get("stats") if isinstance(answer, dict) else None
        return stats if isinstance(stats, dict) else {}

    async def restart(self, session: SessionRef) -> None:
        """``PATCH /session/{id}`` (a 501 from servers that cannot restart)."""
        await self._s.request("PATCH", f"/session/{_ref(session)}")

    async def rename(self, session: SessionRef, new_name: str) -> None:
        """``POST /session/{id}/rename?name=NEW``."""
        if not 4 <= len(new_name) <= 64:
            raise ValueError(f"session name {new_name!r} must be 4-64 characters long")
        await self._s.request("POST", f"/session/{_ref(session)}/rename", params={"name": new_name})

    async def interrupt(self, session: SessionRef) -> None:
        """``POST /session/{id}/interrupt``: stop what is running (the session stays)."""
        await self._s.request("POST", f"/session/{_ref(session)}/interrupt")

    async def logs(self, session: SessionRef, *, kernel_id: str | None = None) -> str:
        """``GET /session/{id}/logs``: the container log of the main (or the given) kernel."""
        params = _drop_none({"kernel_id": kernel_id})
        answer = await self._s.request(
            "GET", f"/session/{_ref(session)}/logs", params=params or None
        )
        result = answer.get("result") if isinstance(answer, dict) else None
        logs = result.get("logs") if isinstance(result, dict) else None
        return logs if isinstance(logs, str) else ""

    async def status_history(self, session: SessionRef) -> dict[str, str]:
        """``GET /session/{id}/status-history``: ``{STATUS: iso8601}`` in the order reached."""
        answer = await self._s.request("GET", f"/session/{_ref(session)}/status-history")
        history = answer.get("result", answer) if isinstance(answer, dict) else None
        if not isinstance(history, dict):
            return {}
        return {str(k): str(v) for k, v in history.items()}

    async def scheduling(self, session: SessionRef) -> dict[str, Any]:
        """``GET /session/{id}/scheduling``: why the session is pending — the scheduler's
        latest try (``scheduler``: ``msg``, ``queue_position``, ``plugins``, ``agents``)."""
        answer = await self._s.request("GET", f"/session/{_ref(session)}/scheduling")
        return dict(answer) if isinstance(answer, dict) else {}

    # -- execution --

    async def execute(
        self,
        session: SessionRef,
        code: str = "",
        *,
        mode: str = "query",
        run_id: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> ExecutionResult:
        """One REST execution step: ``query``/``batch`` to start (``run_id`` None), then
        ``continue`` (code ``""``) or ``input`` (code = the line) with the returned ``run_id``."""
        if mode in ("continue", "input") and not run_id:
            raise ValueError(f"mode {mode!r} needs the run_id of the execution it continues")
        body = {
            "mode": mode,
            "code": code,
            "runId": run_id,
            "options": dict(options or {}),
        }
        answer = await self._s.request("POST", f"/session/{_ref(session)}", json=body)
        raw = answer.get("result") if isinstance(answer, dict) else None
        return _result(raw)

    async def stream_execute(
        self,
        session: SessionRef,
        code: str = "",
        *,
        mode: ExecMode = "query",
        options: Mapping[str, Any] | None = None,
        transport: Transport = "auto",
    ) -> ExecutionStream:
        """Start an execution and return its stream of results.

        ``websocket`` uses ``/stream/session/{id}/execute``; ``rest`` uses ``POST /session/{id}``
        with ``continue`` polling; ``auto`` tries the WebSocket and falls back to REST when the
        ``websockets`` package is missing or the server has no stream route.
        """
        if transport != "rest":
            try:
                return await self._open_websocket(session, code, mode, options)
            except StreamUnavailable:
                if transport == "websocket":
                    raise
        return RESTExecution(self, session, mode, code, dict(options or {}))

    async def _open_websocket(
        self, session: SessionRef, code: str, mode: str, options: Mapping[str, Any] | None
    ) -> WebSocketExecution:
        try:
            from websockets.asyncio.client import connect
            from websockets.exceptions import InvalidStatus, WebSocketException
        except ImportError as exc:  # pragma: no cover - websockets ships with uvicorn[standard]
            raise StreamUnavailable("the 'websockets' package is not installed") from exc
        request = await self._build("GET", f"/stream/session/{_ref(session)}/execute")
        url = str(request.url)
        url = "ws" + url[len("http") :] if url.startswith("http") else url
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "accept-encoding", "connection")
        }
        ssl_context: ssl.SSLContext | None = None
        if url.startswith("wss:") and not self._s.config.verify_ssl:
            ssl_context = ssl.create_default_context()
            ssl_context.check_hostname = False
            ssl_context.verify_mode = ssl.CERT_NONE
        extra: dict[str, Any] = {"ssl": ssl_context} if ssl_context else {}
        try:
            ws = await connect(
                url,
                additional_headers=headers,
                user_agent_header=None,
                open_timeout=self._s.config.connect_timeout,
                ping_interval=30,
                max_size=None,
                proxy=None,
                **extra,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            try:
                body: Any = json.loads(exc.response.body or b"")
            except ValueError:
                body = (exc.response.body or b"").decode(errors="replace")
            if _route_missing(status, body):
                raise StreamUnavailable(f"no WebSocket execute route (HTTP {status})") from exc
            raise _api_error(status, body) from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise ClientError(
                f"Cannot open the execution stream at {url} ({exc or type(exc).__name__}).",
                self._s.config.endpoint,
            ) from exc
        request_frame = {"code": code, "mode": mode, "options": dict(options or {})}
        await ws.send(json.dumps(request_frame))
        return WebSocketExecution(ws)

    # -- files --

    async def upload(
        self,
        session: SessionRef,
        files: Sequence[str | os.PathLike[str]],
        *,
        basedir: Path | None = None,
    ) -> list[str]:
        """``POST /session/{id}/upload``: each file as a ``src`` part named by its path relative
        to ``basedir`` (default: the current directory); returns the names sent."""
        if not files:
            raise ValueError("no files to upload")
        if len(files) > MAX_UPLOAD_PARTS:
            raise ValueError(f"at most {MAX_UPLOAD_PARTS} files can be uploaded at once")
        names, parts = read_upload_parts(files, basedir or Path.cwd())
        request = await self._build(
            "POST",
            f"/session/{_ref(session)}/upload",
            files=parts,
            sign_type="multipart/form-data",
            send_content_type=True,
        )
        parse_response(await self._s._send(request))
        return names

    async def download(
        self, session: SessionRef, paths: Sequence[str], dest: Path | None = None
    ) -> list[str]:
        """``POST /session/{id}/download``: fetch up to 5 paths (relative to ``/home/work``) and
        extract them into ``dest`` (default: the current directory). Members that would land
        outside ``dest`` are refused (``UnsafeArchive``). Returns the names extracted."""
        if not paths:
            raise ValueError("no paths to download")
        if len(paths) > MAX_DOWNLOAD_PATHS:
            raise ValueError(f"at most {MAX_DOWNLOAD_PATHS} paths can be downloaded at once")
        request = await self._build(
            "POST",
            f"/session/{_ref(session)}/download",
            params=[("files", p) for p in paths],
            sign_type="text/plain",
            send_content_type=True,
            content=b"",
            headers={"Content-Type": "text/plain"},
        )
        response = await self._s._send(request)
        if not response.is_success:
            parse_response(response)
        content_type = response.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/"):
            archives = split_multipart(response.content, content_type)
        else:
            archives = [response.content]
        target = dest or Path.cwd()
        extracted: list[str] = []
        for archive in archives:
            if archive:
                extracted.extend(extract_tar(archive, target))
        return extracted

    async def list_files(self, session: SessionRef, path: str = ".") -> FileListing:
        """``GET /session/{id}/files`` (path in a JSON body): the entries of a directory."""
        answer = await self._s.request(
            "GET", f"/session/{_ref(session)}/files", json={"path": path}
        )
        if not isinstance(answer, dict):
            raise APIError(200, title="Unexpected answer from /files", msg=str(answer)[:200])
        files = answer.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files) if files.strip() else []
            except json.JSONDecodeError:
                files = []
        return FileListing.model_validate({**answer, "files": files or []})

    # -- events --

    async def events(
        self,
        session: SessionRef = "*",
        *,
        scope: str = "*",
        owner_access_key: str | None = None,
        group: str | None = None,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """``GET /events/session`` (SSE): ``(event_name, data)`` pairs as they arrive, until the
        caller stops or the server sends ``server_close``."""
        params: dict[str, str] = {"scope": scope}
        if session != "*" and _is_uuid(session):
            params["sessionId"] = str(session)
        else:
            params["sessionName"] = str(session)
        if owner_access_key:
            params["owner_access_key"] = owner_access_key
        if group:
            params["groupName"] = group
        async for message in self.sse("/events/session", params):
            if message.event == "server_close":
                return
            yield message.event, message.json()

    async def sse(self, path: str, params: Mapping[str, str]) -> AsyncIterator[SSEMessage]:
        """The raw messages of an SSE endpoint (signed as ``application/octet-stream``)."""
        request = await self._build("GET", path, params=dict(params))
        request.headers["Accept"] = "text/event-stream"
        try:
            response = await self._s._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ClientError(
                f"Cannot connect to the Cygnet manager at {self._s.config.endpoint} "
                f"({exc or type(exc).__name__}). Is it running?",
                self._s.config.endpoint,
            ) from exc
        try:
            if not response.is_success:
                await response.aread()
                parse_response(response)
            parser = SSEParser()
            async for line in response.aiter_lines():
                message = parser.feed(line)
                if message is not None:
                    yield message
        except httpx.HTTPError as exc:
            raise ClientError(
                f"The event stream from {self._s.config.endpoint} broke ({exc}).",
                self._s.config.endpoint,
            ) from exc
        finally:
            await response.aclose()

    # -- listing (GraphQL) --

    async def list(
        self,
        *,
        status: Sequence[str] | None = LIVE_STATUSES,
        access_key: str | None = None,
        filter: str | None = None,
        order: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[ComputeSession]:
        """A page of ``compute_session_list``; ``access_key`` None lists every session the
        caller may see (admins: everyone's)."""
        variables: dict[str, tuple[str, Any]] = {
            "status": ("String", ",".join(status) if status else None),
            "access_key": ("String", access_key),
            "filter": ("String", filter),
            "order": ("String", order),
        }
        items, total = await paginated(
            self._s, "compute_session_list", LIST_FIELDS, variables, limit=limit, offset=offset
        )
        return Page[ComputeSession](
            items=[ComputeSession.model_validate(i) for i in items], total_count=total
        )

    async def detail(self, session_id: uuid.UUID | str) -> dict[str, Any]:
        """GraphQL ``compute_session_node`` (by UUID): the detail record as a dict."""
        global_id = base64.b64encode(f"compute_session_node:{session_id}".encode()).decode()
        data = await self._s.gql(
            f"query($id: GlobalIDField!) {{ compute_session_node(id: $id) {{ {NODE_FIELDS} }} }}",
            {"id": global_id},
        )
        node = data.get("compute_session_node")
        return node if isinstance(node, dict) else {}


def _route_missing(status: int, body: Any) -> bool:
    """Whether a refused WebSocket upgrade means "no such route" (so REST may be tried).

    ASGI servers refuse an upgrade to an unknown path with a bare 403 or 404; an API error
    (a missing session, a bad signature) comes as problem+json.
    """
    if status in (405, 501):
        return True
    if status in (403, 404):
        return not isinstance(body, dict) or "url-not-found" in str(body.get("type", ""))
    return False


def _api_error(status: int, body: Any) -> APIError:
    error = APIError.from_body(status, body)
    if status == 404:
        return NotFound(404, error.error_code, error.title, error.msg, error.data, type=error.type)
    return error
