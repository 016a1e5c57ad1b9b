"""The compute-session wire format (wire notes 2.1 and 6), parsed and rendered without I/O.

Parsing turns what ``backend.ai-client`` sends (camelCase and snake_case aliases, ``null``
meaning "unset", unknown keys) into our service's inputs and raises ``InvalidParameters``
(400 ``api_parsing_invalid-parameters``) for wrong types and out-of-range values. Rendering
turns the service's domain objects into the exact shapes the client reads.
"""

from __future__ import annotations

import email.policy
import io
import json
import re
import tarfile
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from typing import Any

from cygnet.common.errors import InvalidAPIParameters, InvalidParameters
from cygnet.common.lifecycle import ClusterMode, SessionStatus, SessionType
from cygnet.common.rpc import ExecutionResult, FileList
from cygnet.manager.entities import Session
from cygnet.manager.services.sessions.spec import CreatedSession, SessionSpec

__all__ = [
    "EXEC_MODES",
    "MAX_DOWNLOAD_PATHS",
    "MAX_UPLOAD_PARTS",
    "MAX_UPLOAD_PART_SIZE",
    "extract_single_file",
    "parse_batch_timeout",
    "parse_create",
    "parse_download_paths",
    "parse_execute",
    "parse_list_files_path",
    "parse_rename",
    "parse_starts_at",
    "parse_upload",
    "parse_uuid",
    "parse_ws_execute",
    "query_param",
    "render_console",
    "render_create",
    "render_execute",
    "render_files",
    "render_info",
    "render_multipart_mixed",
    "render_status_history",
    "render_ws_frame",
    "to_bool",
    "validate_session_name",
]

# Backend.AI's rule: 4-64 ASCII word characters, dots and dashes; starts and ends with a
# letter, digit or underscore.
_NAME_RE = re.compile(r"^(?=.{4,64}$)\w[\w.-]*\w$", re.ASCII)
_UNSET: Any = object()

EXEC_MODES = frozenset({"query", "batch", "continue", "input", "complete"})

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
# Relative starts_at: "1d2h30m", "10s", "+5m", "1 hour" …
_RELATIVE_RE = re.compile(
    r"^\+?\s*"
    r"(?:(?P<weeks>\d+(?:\.\d+)?)\s*(?:w|wk|wks|week|weeks))?\s*"
    r"(?:(?P<days>\d+(?:\.\d+)?)\s*(?:d|day|days))?\s*"
    r"(?:(?P<hours>\d+(?:\.\d+)?)\s*(?:h|hr|hrs|hour|hours))?\s*"
    r"(?:(?P<minutes>\d+(?:\.\d+)?)\s*(?:m|min|mins|minute|minutes))?\s*"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)\s*(?:s|sec|secs|second|seconds)?)?\s*$",
    re.IGNORECASE,
)

_TRUE = frozenset({"true", "yes", "y", "on", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "off", "0", "f", ""})


# ---------------------------------------------------------------------------------------------
# Small typed readers


def _invalid(key: str, expected: str, value: Any) -> InvalidParameters:
    return InvalidParameters(
        f"{key}: expected {expected}, got {value!r}"[:500], data={"field": key}
    )


def _pick(src: Mapping[str, Any], *aliases: str) -> Any:
    """The value of the first alias present with a non-null value; ``_UNSET`` otherwise."""
    for key in aliases:
        value = src.get(key)
        if value is not None:
            return value
    return _UNSET


def to_bool(value: Any, key: str) -> bool:
    """JSON booleans, 0/1 and the usual strings ("true", "no" …), as trafaret's ToBool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _invalid(key, "a boolean", value)


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _invalid(key, "a string", value)
    return value


def _opt_str(src: Mapping[str, Any], key: str, *aliases: str) -> str | None:
    value = _pick(src, key, *aliases)
    return None if value is _UNSET else _str(value, key)


def _int(value: Any, key: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer (numeric strings and integral floats too), within [lo, hi]."""
    result: int
    if isinstance(value, bool):
        raise _invalid(key, "an integer", value)
    if isinstance(value, int):
        result = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value)
    ):
        result = int(value)
    else:
        raise _invalid(key, "an integer", value)
    if lo is not None and result < lo:
        raise InvalidParameters(f"{key} must be at least {lo} (got {result}).", data={"field": key})
    if hi is not None and result > hi:
        raise InvalidParameters(f"{key} must be at most {hi} (got {result}).", data={"field": key})
    return result


def _str_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(key, "a list of strings", value)
    return list(value)


def _str_map(value: Any, key: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _invalid(key, "an object of strings", value)
    return {str(k): v for k, v in value.items()}


def _dict(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(key, "an object", value)
    return dict(value)


def parse_uuid(value: Any, key: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            pass
    raise _invalid(key, "a UUID (hex or dashed)", value)


def query_param(query: Mapping[str, Any] | None, *keys: str) -> str | None:
    if not query:
        return None
    for key in keys:
        value = query.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def validate_session_name(value: Any, key: str = "name") -> str:
    """4-64 characters of letters, digits, ``_``, ``.`` and ``-``, not starting or ending
    with ``.`` or ``-`` (Backend.AI's rule)."""
    name = _str(value, key)
    if not _NAME_RE.match(name):
        raise InvalidParameters(
            f"{key}: a session name has 4 to 64 characters (letters, digits, '_', '.', '-'), "
            f"starting and ending with a letter, digit or '_' (got {name!r}).",
            data={"field": key},
        )
    return name


# ---------------------------------------------------------------------------------------------
# Durations and times


def parse_batch_timeout(value: Any, key: str = "batch_timeout") -> float:
    """Seconds, as a number or a string like ``"30s"``, ``"5m"``, ``"1h"``, ``"2d"``, ``"1w"``."""
    seconds: float
    if isinstance(value, bool):
        raise _invalid(key, "a duration", value)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[(m.group(2) or "s").lower()]
    else:
        raise _invalid(key, 'a duration (seconds, or "30s", "5m", "1h", "2d", "1w")', value)
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        raise InvalidParameters(f"{key} must be a non-negative duration.", data={"field": key})
    return seconds


def parse_starts_at(value: Any, now: datetime, key: str = "starts_at") -> datetime:
    """An ISO-8601 time (naive times are UTC) or a delay from now ("10s", "5m", "1h30m")."""
    text = _str(value, key).strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        pass
    else:
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    m = _RELATIVE_RE.match(text)
    if text and m and any(m.groupdict().values()):
        parts = {k: float(v) for k, v in m.groupdict().items() if v is not None}
        return now + timedelta(**parts)
    raise _invalid(key, 'an ISO-8601 time or a delay such as "10s", "5m", "1h"', value)


# ---------------------------------------------------------------------------------------------
# Create


def _session_type(value: Any) -> SessionType:
    text = _str(value, "type").strip().lower()
    try:
        return SessionType(text)
    except ValueError:
        raise _invalid("type", "one of interactive, batch, inference", value) from None


def _cluster_mode(value: Any) -> ClusterMode:
    text = _str(value, "clusterMode").strip().lower().replace("_", "-")
    try:
        return ClusterMode(text)
    except ValueError:
        raise _invalid("clusterMode", "single-node or multi-node", value) from None


def _resources(value: Any) -> dict[str, Any]:
    resources = _dict(value, "config.resources")
    for slot, qty in resources.items():
        if isinstance(qty, bool) or not isinstance(qty, int | float | str):
            raise _invalid(f"config.resources.{slot}", "a number or a string", qty)
    return resources


def _mount_options(value: Any) -> dict[str, Any]:
    options = _dict(value, "config.mount_options")
    result: dict[str, Any] = {}
    for target, opts in options.items():
        if opts is None:
            continue
        entry = _dict(opts, f"config.mount_options.{target}")
        if "permission" not in entry and "perm" in entry:
            entry["permission"] = entry.pop("perm")
        result[str(target)] = entry
    return result


def _preopen_ports(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise _invalid("config.preopen_ports", "a list of port numbers", value)
    return [_int(p, "config.preopen_ports", lo=1024, hi=65535) for p in value]


def _callback_url(value: Any) -> str:
    url = _str(value, "callback_url").strip()
    if not re.match(r"^https?://[^\s/]+", url, re.IGNORECASE):
        raise _invalid("callback_url", "an http(s) URL", value)
    return url


def parse_create(
    body: Mapping[str, Any],
    query: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> SessionSpec:
    """``POST /session``'s JSON body (and ``owner_access_key`` in the query) -> a SessionSpec."""
    if not isinstance(body, Mapping):
        raise InvalidParameters("The request body must be a JSON object.")
    now = now or datetime.now(UTC)
    raw_config = body.get("config")
    config: Mapping[str, Any] = {} if raw_config is None else _dict(raw_config, "config")

    name_value = _pick(body, "name", "session_name", "clientSessionToken", "sessionName")
    name = None if name_value is _UNSET else validate_session_name(name_value)

    image = _opt_str(body, "image", "lang")
    if not image:
        raise InvalidParameters("image: the image to run is required.", data={"field": "image"})

    type_value = _pick(body, "type", "session_type", "sessionType", "sess_type")
    session_type = SessionType.INTERACTIVE if type_value is _UNSET else _session_type(type_value)

    owner = _opt_str(body, "owner_access_key", "ownerAccessKey") or query_param(
        query, "owner_access_key", "ownerAccessKey"
    )

    enqueue_value = _pick(body, "enqueueOnly", "enqueue_only")
    max_wait_value = _pick(body, "maxWaitSeconds", "max_wait_seconds")
    reuse_value = _pick(body, "reuseIfExists", "reuse", "reuse_if_exists")

    cluster_size_value = _pick(body, "clusterSize", "cluster_size")
    if cluster_size_value is _UNSET:
        cluster_size_value = _pick(config, "clusterSize", "cluster_size")
    cluster_mode_value = _pick(body, "clusterMode", "cluster_mode")
    if cluster_mode_value is _UNSET:
        cluster_mode_value = _pick(config, "clusterMode", "cluster_mode")

    startup_command = _opt_str(body, "startupCommand", "startup_command")
    starts_at_value = _pick(body, "starts_at", "startsAt")
    batch_timeout_value = _pick(body, "batch_timeout", "batchTimeout")
    priority_value = _pick(body, "priority")

    if session_type is SessionType.BATCH:
        if not startup_command:
            raise InvalidParameters(
                "A batch session needs a startupCommand.", data={"field": "startupCommand"}
            )
    else:
        for key, value in (("starts_at", starts_at_value), ("batch_timeout", batch_timeout_value)):
            if value is not _UNSET:
                raise InvalidParameters(
                    f"{key} is only allowed for batch sessions.", data={"field": key}
                )

    dependencies_value = _pick(body, "dependencies")
    dependencies = (
        [] if dependencies_value is _UNSET else _str_list(dependencies_value, "dependencies")
    )
    callback_value = _pick(body, "callback_url", "callbackURL", "callbackUrl")

    mount_ids_value = _pick(config, "mount_ids", "mountIds")
    mount_id_map_value = _pick(config, "mount_id_map", "mountIdMap")
    attach_network = _pick(config, "attach_network", "attachNetwork")
    if attach_network is not _UNSET:
        parse_uuid(attach_network, "config.attach_network")  # checked; not used yet

    def cfg(default: Any, parse: Any, *aliases: str) -> Any:
        value = _pick(config, *aliases)
        return default if value is _UNSET else parse(value, "config." + aliases[0])

    return SessionSpec(
        image=image,
        name=name,
        type=session_type,
        architecture=_opt_str(body, "architecture", "arch"),
        tag=_opt_str(body, "tag"),
        domain=_opt_str(body, "domain", "domainName", "domain_name"),
        group=_opt_str(body, "group", "groupName", "group_name"),
        owner_access_key=owner,
        enqueue_only=False if enqueue_value is _UNSET else to_bool(enqueue_value, "enqueueOnly"),
        max_wait_seconds=(
            0 if max_wait_value is _UNSET else _int(max_wait_value, "maxWaitSeconds", lo=0)
        ),
        reuse=True if reuse_value is _UNSET else to_bool(reuse_value, "reuseIfExists"),
        startup_command=startup_command,
        bootstrap_script=_opt_str(body, "bootstrap_script", "bootstrapScript"),
        starts_at=None if starts_at_value is _UNSET else parse_starts_at(starts_at_value, now),
        cluster_size=(
            1 if cluster_size_value is _UNSET else _int(cluster_size_value, "clusterSize", lo=1)
        ),
        cluster_mode=(
            ClusterMode.SINGLE_NODE
            if cluster_mode_value is _UNSET
            else _cluster_mode(cluster_mode_value)
        ),
        environ=cfg({}, _str_map, "environ"),
        resources=({} if _pick(config, "resources") is _UNSET else _resources(config["resources"])),
        resource_opts=cfg({}, _dict, "resource_opts", "resourceOpts"),
        resource_group=cfg(None, _str, "scalingGroup", "scaling_group"),
        priority=10 if priority_value is _UNSET else _int(priority_value, "priority", lo=0, hi=100),
        batch_timeout=(
            None if batch_timeout_value is _UNSET else parse_batch_timeout(batch_timeout_value)
        ),
        callback_url=None if callback_value is _UNSET else _callback_url(callback_value),
        dependencies=dependencies,
        mounts=cfg([], _str_list, "mounts"),
        mount_map=cfg({}, _str_map, "mount_map", "mountMap"),
        mount_ids=(
            []
            if mount_ids_value is _UNSET
            else [parse_uuid(v, "config.mount_ids") for v in _as_list(mount_ids_value, "mount_ids")]
        ),
        mount_id_map=(
            {}
            if mount_id_map_value is _UNSET
            else {
                parse_uuid(k, "config.mount_id_map"): dst
                for k, dst in _str_map(mount_id_map_value, "config.mount_id_map").items()
            }
        ),
        mount_options=(
            {}
            if _pick(config, "mount_options", "mountOptions") is _UNSET
            else _mount_options(_pick(config, "mount_options", "mountOptions"))
        ),
        agent_list=cfg([], _str_list, "agentList", "agent_list"),
        preopen_ports=(
            []
            if _pick(config, "preopen_ports", "preopenPorts") is _UNSET
            else _preopen_ports(_pick(config, "preopen_ports", "preopenPorts"))
        ),
    )


def _as_list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise _invalid("config." + key, "a list", value)
    return value


def render_create(created: CreatedSession) -> dict[str, Any]:
    """The flat create reply; ``TIMEOUT`` when the wait ran out, else the session's status."""
    session = created.session
    body: dict[str, Any] = {
        "sessionId": str(session.id),
        "sessionName": session.name,
        "status": "TIMEOUT" if created.timed_out else session.status.name,
    }
    if not created.created:
        body["service_ports"] = []
    body["servicePorts"] = []
    body["created"] = created.created
    return body


# ---------------------------------------------------------------------------------------------
# Info


def _registry_of(image: str) -> str:
    first, sep, _rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return ""


def render_info(session: Session, now: datetime) -> dict[str, Any]:
    """``GET /session/{id}``: the flat info reply, with the legacy stringified dicts."""
    main = next((k for k in session.kernels if k.is_main), None)
    if main is None and session.kernels:
        main = session.kernels[0]
    image = main.image if main is not None else session.image
    occupied = main.occupied_slots if main is not None else {}
    age = now - session.created_at
    return {
        "domainName": session.domain_name,
        "groupId": str(session.project_id),
        "userId": str(session.user_uuid),
        "lang": image,
        "image": image,
        "architecture": main.architecture if main is not None else session.architecture,
        "registry": _registry_of(image),
        "tag": session.tag,
        "containerId": str(main.container_id if main is not None else None),
        "occupiedSlots": str(dict(occupied)),
        "occupyingSlots": str(dict(session.occupied_slots)),
        "requestedSlots": str(dict(session.requested_slots)),
        "occupiedShares": str({}),
        "environ": str(dict(session.environ)),
        "resourceOpts": str(dict(session.resource_opts)),
        "status": session.status.name,
        "statusInfo": str(session.status_info or None),
        "statusData": session.status_data,
        "age": int(age.total_seconds() * 1000),
        "creationTime": str(session.created_at),
        "terminationTime": str(session.terminated_at) if session.terminated_at else None,
        "numQueriesExecuted": session.num_queries,
        "lastStat": None,
        "idleChecks": {},
    }


# ---------------------------------------------------------------------------------------------
# Execute


def parse_execute(body: Mapping[str, Any]) -> tuple[str, str, str | None, dict[str, Any]]:
    """``POST /session/{id}`` -> (mode, code, run_id, options); ``runId`` or ``run_id``."""
    mode_value = _pick(body, "mode")
    mode = "query" if mode_value is _UNSET else _str(mode_value, "mode").strip().lower()
    if mode not in EXEC_MODES:
        raise _invalid("mode", "one of " + ", ".join(sorted(EXEC_MODES)), mode_value)
    code_value = _pick(body, "code")
    code = "" if code_value is _UNSET else _str(code_value, "code")
    run_id_value = _pick(body, "runId", "run_id")
    run_id = None if run_id_value is _UNSET else _str(run_id_value, "runId") or None
    options_value = _pick(body, "options")
    options = {} if options_value is _UNSET else _dict(options_value, "options")
    if mode in ("continue", "input") and run_id is None:
        raise InvalidAPIParameters(f"runId is required in the {mode!r} mode.")
    return mode, code, run_id, options


def parse_ws_execute(frame: str) -> tuple[str, str, dict[str, Any]]:
    """The first WebSocket frame ``{"code","mode","options"}`` -> (mode, code, options)."""
    try:
        params = json.loads(frame)
    except json.JSONDecodeError as exc:
        raise InvalidParameters(f"The first frame is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise InvalidParameters("The first frame must be a JSON object.")
    mode_value = _pick(params, "mode")
    mode = "query" if mode_value is _UNSET else _str(mode_value, "mode").strip().lower()
    if mode not in ("query", "batch"):
        raise _invalid("mode", "query or batch", mode_value)
    code_value = _pick(params, "code")
    code = "" if code_value is _UNSET else _str(code_value, "code")
    options_value = _pick(params, "options")
    options = {} if options_value is _UNSET else _dict(options_value, "options")
    return mode, code, options


def render_console(items: Iterable[Any]) -> list[list[Any]]:
    """``[[type, data], …]`` with consecutive stdout (or stderr) chunks merged."""
    console: list[list[Any]] = []
    for item in items:
        kind, data = item[0], item[1]
        if (
            console
            and kind in ("stdout", "stderr")
            and console[-1][0] == kind
            and isinstance(data, str)
            and isinstance(console[-1][1], str)
        ):
            console[-1][1] += data
        else:
            console.append([kind, data])
    return console


def _result_options(result: ExecutionResult) -> dict[str, Any] | None:
    if result.options:
        return dict(result.options)
    return {} if result.status == "waiting-input" else None


def render_execute(result: ExecutionResult) -> dict[str, Any]:
    """The REST execute reply, always with ``runId``."""
    return {
        "result": {
            "status": result.status,
            "runId": result.run_id,
            "exitCode": result.exit_code,
            "options": _result_options(result),
            "files": result.files,
            "console": render_console(result.console),
        }
    }


def render_ws_frame(
    status: str,
    console: Iterable[Any],
    *,
    exit_code: int | None = None,
    options: Mapping[str, Any] | None = None,
    files: list[Any] | None = None,
) -> dict[str, Any]:
    """One WebSocket execute frame (no ``runId``), as the reference server sends it."""
    return {
        "status": status,
        "console": render_console(console),
        "exitCode": exit_code,
        "options": dict(options) if options else ({} if status == "waiting-input" else None),
        "files": list(files or []),
    }


# ---------------------------------------------------------------------------------------------
# Status history, files, rename


_STATUS_ORDER = {status.name: i for i, status in enumerate(SessionStatus)}


def render_status_history(history: Mapping[str, str]) -> dict[str, Any]:
    """``{"result": {STATUS: iso8601}}`` in lifecycle order (wire notes 6 row 4)."""
    ordered = sorted(history.items(), key=lambda kv: (_STATUS_ORDER.get(kv[0], 1_000), kv[1]))
    return {"result": dict(ordered)}


def render_files(listing: FileList) -> dict[str, Any]:
    """``{"files": "<JSON text of the entries>", "errors", "abspath"}``."""
    entries = [
        {
            "mode": f.mode,
            "size": f.size,
            "ctime": f.ctime,
            "mtime": f.mtime,
            "atime": f.atime,
            "filename": f.filename,
        }
        for f in listing.files
    ]
    return {"files": json.dumps(entries), "errors": listing.errors, "abspath": listing.abspath}


def parse_list_files_path(body: Mapping[str, Any], query: Mapping[str, Any] | None) -> str:
    """The directory to list: the JSON body's ``path``, then the query's, then ``"."``."""
    value = _pick(body, "path")
    if value is not _UNSET:
        return _str(value, "path") or "."
    return query_param(query, "path") or "."


def parse_rename(query: Mapping[str, Any] | None, body: Mapping[str, Any]) -> str:
    """The new name, from the query or the body (``name``, ``session_name`` or
    ``clientSessionToken``)."""
    aliases = ("name", "session_name", "clientSessionToken")
    found = query_param(query, *aliases)
    if found is None:
        value = _pick(body, *aliases)
        if value is _UNSET:
            raise InvalidParameters(
                "name: the new session name is required.", data={"field": "name"}
            )
        found = _str(value, "name")
    return validate_session_name(found)


# ---------------------------------------------------------------------------------------------
# File transfer bodies: multipart upload, multipart/mixed download, single-file download

MAX_UPLOAD_PARTS = 20
MAX_UPLOAD_PART_SIZE = 1 << 20  # each part must be strictly smaller
MAX_DOWNLOAD_PATHS = 5


def parse_upload(content_type: str | None, body: bytes) -> list[tuple[str, bytes]]:
    """A ``multipart/form-data`` upload -> [(relative path, content)], one per part (the
    client names them ``src`` and puts the path in ``filename``); at most 20 parts, each
    under 1 MiB."""
    if not content_type or not content_type.lower().startswith("multipart/"):
        raise InvalidParameters("The upload must be a multipart/form-data body.")
    header = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    if not message.is_multipart() or message.get_boundary() is None:
        raise InvalidParameters("The multipart body could not be parsed.")
    files: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        if len(files) == MAX_UPLOAD_PARTS:
            raise InvalidAPIParameters(f"Too many files (at most {MAX_UPLOAD_PARTS}).")
        filename = part.get_filename()
        if not filename:
            raise InvalidParameters("Every part of an upload needs a filename.")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if len(data) >= MAX_UPLOAD_PART_SIZE:
            raise InvalidAPIParameters(f"Too large file: {filename} (each must be under 1 MiB).")
        files.append((filename, data))
    if not files:
        raise InvalidParameters("The upload holds no files.")
    return files


def parse_download_paths(query_paths: list[str], body: Mapping[str, Any]) -> list[str]:
    """``?files=a&files=b`` (or a JSON body ``{"files": [...]}``): 1 to 5 paths."""
    paths = [p for p in query_paths if p]
    if not paths:
        value = _pick(body, "files")
        if value is not _UNSET:
            paths = [value] if isinstance(value, str) else _str_list(value, "files")
    if not paths:
        raise InvalidParameters("files: give at least one path to download.")
    if len(paths) > MAX_DOWNLOAD_PATHS:
        raise InvalidAPIParameters(f"Too many files (at most {MAX_DOWNLOAD_PATHS}).")
    return paths


def render_multipart_mixed(archives: Iterable[bytes]) -> tuple[bytes, str]:
    """One ``multipart/mixed`` body holding each tar archive as an octet-stream part with
    ``Content-Encoding: identity``; returns (body, content type)."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for data in archives:
        chunks.append(
            f"--{boundary}\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Encoding: identity\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode("ascii")
        )
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks), f"multipart/mixed; boundary={boundary}"


def extract_single_file(archive: bytes, path: str) -> bytes:
    """The content of the one regular file in a ``docker cp``-style tar archive."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for member in tar:
                if member.isfile():
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        return extracted.read()
                if member.isdir():
                    raise InvalidAPIParameters(f"{path} is a directory; use download instead.")
    except tarfile.TarError as exc:
        raise InvalidAPIParameters(f"Could not read the archive of {path}: {exc}") from exc
    raise InvalidAPIParameters(f"{path} is not a regular file.")
