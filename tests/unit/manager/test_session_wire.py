"""The compute-session wire format: parsing (aliases, tolerance rules, every 400) and rendering
(wire notes 2.1 and 6), plus the streaming helpers' pure parts."""

from __future__ import annotations

import email.policy
import io
import json
import tarfile
import uuid
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from typing import Any

import pytest

from cygnet.common.errors import CygnetError, InvalidAPIParameters, InvalidParameters
from cygnet.common.lifecycle import (
    ClusterMode,
    KernelStatus,
    SessionResult,
    SessionStatus,
    SessionType,
)
from cygnet.common.rpc import ExecutionResult, FileEntry, FileList
from cygnet.manager.api.rest import session_wire as wire
from cygnet.manager.api.rest.session_streams import EventFilter, _run_loop, render_sse_event
from cygnet.manager.entities import Kernel, Session, SessionEvent
from cygnet.manager.services.sessions.spec import CreatedSession

NOW = datetime(2026, 11, 23, 6, 0, 0, tzinfo=UTC)
SID = uuid.UUID("10add49d-b953-4448-945c-964cc4d133fc")
PROJECT = uuid.UUID("2de2b969-1d04-48a6-af16-0bc8adb3c831")
USER = uuid.UUID("f38dea23-50fa-42a0-b5ae-338f5f4693f4")
VF = uuid.UUID("0b7a6f4c-0d3b-4e0b-9c43-3f0e2f1a9d11")

# What the official client sends for `backend.ai session create` (captures, run 2).
CLIENT_BODY: dict[str, Any] = {
    "tag": None,
    "name": "ex-1795415122",
    "config": {
        "mounts": [],
        "mount_ids": [],
        "environ": {},
        "resources": {"cpu": "1", "mem": "512m"},
        "resource_opts": {},
        "scalingGroup": None,
        "attach_network": None,
        "mount_map": {},
        "mount_id_map": {},
        "mount_options": {},
        "preopen_ports": None,
    },
    "dependencies": [],
    "callback_url": None,
    "architecture": "x86_64",
    "clusterSize": 1,
    "clusterMode": "single-node",
    "starts_at": None,
    "bootstrap_script": None,
    "owner_access_key": None,
    "domain": "default",
    "group": "default",
    "type": "interactive",
    "enqueueOnly": False,
    "maxWaitSeconds": 0,
    "reuseIfExists": True,
    "startupCommand": None,
    "image": "cr.backend.ai/stable/python:3.9-ubuntu20.04",
    "some_future_key": {"ignored": True},
}


def body(**changes: Any) -> dict[str, Any]:
    result = {"image": "python:3.11"}
    result.update(changes)
    return result


def batch(**changes: Any) -> dict[str, Any]:
    return body(type="batch", startupCommand="python main.py", **changes)


# ---------------------------------------------------------------------------------------------
# parse_create


def test_client_body_parses_with_nulls_unset_and_unknown_keys_ignored() -> None:
    spec = wire.parse_create(CLIENT_BODY, {}, now=NOW)
    assert spec.name == "ex-1795415122"
    assert spec.image == "cr.backend.ai/stable/python:3.9-ubuntu20.04"
    assert spec.architecture == "x86_64"
    assert spec.type is SessionType.INTERACTIVE
    assert (spec.domain, spec.group, spec.owner_access_key) == ("default", "default", None)
    assert (spec.enqueue_only, spec.max_wait_seconds, spec.reuse) == (False, 0, True)
    assert spec.resources == {"cpu": "1", "mem": "512m"}
    assert spec.resource_group is None
    assert spec.preopen_ports == []
    assert (spec.cluster_size, spec.cluster_mode) == (1, ClusterMode.SINGLE_NODE)
    assert (spec.starts_at, spec.batch_timeout, spec.priority) == (None, None, 10)


def test_defaults_from_a_minimal_body() -> None:
    spec = wire.parse_create({"image": "python"}, None)
    assert spec.name is None
    assert spec.type is SessionType.INTERACTIVE
    assert spec.reuse is True
    assert spec.environ == {} and spec.mounts == [] and spec.dependencies == []


@pytest.mark.parametrize(
    ("changes", "attr", "expected"),
    [
        ({"name": "abcd"}, "name", "abcd"),
        ({"session_name": "my.sess-1_x"}, "name", "my.sess-1_x"),
        ({"clientSessionToken": "legacy-name"}, "name", "legacy-name"),
        ({"lang": "python:3.6", "image": None}, "image", "python:3.6"),
        ({"arch": "aarch64"}, "architecture", "aarch64"),
        ({"architecture": "x86_64"}, "architecture", "x86_64"),
        ({"tag": "t1"}, "tag", "t1"),
        ({"type": "inference"}, "type", SessionType.INFERENCE),
        ({"session_type": "INTERACTIVE"}, "type", SessionType.INTERACTIVE),
        ({"sessionType": "batch", "startupCommand": "ls"}, "type", SessionType.BATCH),
        ({"group": "g1"}, "group", "g1"),
        ({"groupName": "g2"}, "group", "g2"),
        ({"group_name": "g3"}, "group", "g3"),
        ({"domain": "d1"}, "domain", "d1"),
        ({"domainName": "d2"}, "domain", "d2"),
        ({"owner_access_key": "AKIAOTHER"}, "owner_access_key", "AKIAOTHER"),
        ({"enqueueOnly": True}, "enqueue_only", True),
        ({"enqueueOnly": "yes"}, "enqueue_only", True),
        ({"enqueue_only": 1}, "enqueue_only", True),
        ({"maxWaitSeconds": 30}, "max_wait_seconds", 30),
        ({"max_wait_seconds": "5"}, "max_wait_seconds", 5),
        ({"reuseIfExists": False}, "reuse", False),
        ({"reuse": "false"}, "reuse", False),
        ({"startupCommand": "echo hi"}, "startup_command", "echo hi"),
        ({"startup_command": "echo hi"}, "startup_command", "echo hi"),
        ({"bootstrap_script": "pip install x"}, "bootstrap_script", "pip install x"),
        ({"bootstrapScript": "pip install y"}, "bootstrap_script", "pip install y"),
        ({"clusterSize": 2}, "cluster_size", 2),
        ({"cluster_size": "3"}, "cluster_size", 3),
        ({"config": {"clusterSize": 4}}, "cluster_size", 4),
        ({"clusterMode": "multi-node"}, "cluster_mode", ClusterMode.MULTI_NODE),
        ({"clusterMode": "MULTI_NODE"}, "cluster_mode", ClusterMode.MULTI_NODE),
        ({"cluster_mode": "Single-Node"}, "cluster_mode", ClusterMode.SINGLE_NODE),
        ({"config": {"clusterMode": "multi-node"}}, "cluster_mode", ClusterMode.MULTI_NODE),
        ({"dependencies": ["sess-a", str(SID)]}, "dependencies", ["sess-a", str(SID)]),
        ({"dependencies": None}, "dependencies", []),
        ({"callback_url": "http://hook.example/x"}, "callback_url", "http://hook.example/x"),
        ({"callbackURL": "https://hook.example/y"}, "callback_url", "https://hook.example/y"),
        ({"callbackUrl": "https://hook.example/z"}, "callback_url", "https://hook.example/z"),
        ({"priority": 0}, "priority", 0),
        ({"priority": 100}, "priority", 100),
    ],
)
def test_top_level_aliases(changes: dict[str, Any], attr: str, expected: Any) -> None:
    spec = wire.parse_create(body(**changes), {}, now=NOW)
    assert getattr(spec, attr) == expected


def test_top_level_cluster_keys_win_over_config() -> None:
    spec = wire.parse_create(body(clusterSize=2, config={"clusterSize": 5}), {})
    assert spec.cluster_size == 2


@pytest.mark.parametrize(
    ("config", "attr", "expected"),
    [
        ({"mounts": ["vf1", "vf2/sub"]}, "mounts", ["vf1", "vf2/sub"]),
        ({"mount_map": {"vf1": "/data"}}, "mount_map", {"vf1": "/data"}),
        ({"mountMap": {"vf1": "data"}}, "mount_map", {"vf1": "data"}),
        ({"mount_ids": [VF.hex]}, "mount_ids", [VF]),
        ({"mount_ids": [str(VF)]}, "mount_ids", [VF]),
        ({"mount_id_map": {VF.hex: "/data"}}, "mount_id_map", {VF: "/data"}),
        ({"mount_id_map": {str(VF): "out"}}, "mount_id_map", {VF: "out"}),
        (
            {"mount_options": {"vf1": {"type": "bind", "perm": "ro"}}},
            "mount_options",
            {"vf1": {"type": "bind", "permission": "ro"}},
        ),
        (
            {"mount_options": {"vf1": {"permission": "rw", "subpath": "a"}}},
            "mount_options",
            {"vf1": {"permission": "rw", "subpath": "a"}},
        ),
        ({"environ": {"A": "1"}}, "environ", {"A": "1"}),
        ({"resources": {"cpu": 2, "mem": "4g", "cuda.shares": 0.5}}, "resources", None),
        ({"resource_opts": {"shmem": "64m"}}, "resource_opts", {"shmem": "64m"}),
        ({"resourceOpts": {"shmem": "1g"}}, "resource_opts", {"shmem": "1g"}),
        ({"scalingGroup": "gpu"}, "resource_group", "gpu"),
        ({"scaling_group": "cpu"}, "resource_group", "cpu"),
        ({"preopen_ports": [8080, 9000]}, "preopen_ports", [8080, 9000]),
        ({"agentList": ["i-agent1"]}, "agent_list", ["i-agent1"]),
        ({"agent_list": ["i-agent2"]}, "agent_list", ["i-agent2"]),
        ({"attach_network": str(VF)}, "image", "python:3.11"),  # accepted, not used yet
    ],
)
def test_config_keys_and_aliases(config: dict[str, Any], attr: str, expected: Any) -> None:
    spec = wire.parse_create(body(config=config), {})
    if expected is None:  # passed through untouched
        expected = config[attr]
    assert getattr(spec, attr) == expected


def test_owner_access_key_from_query_and_body_wins() -> None:
    assert wire.parse_create(body(), {"owner_access_key": "AKQ"}).owner_access_key == "AKQ"
    spec = wire.parse_create(body(owner_access_key="AKB"), {"owner_access_key": "AKQ"})
    assert spec.owner_access_key == "AKB"


def test_batch_options() -> None:
    spec = wire.parse_create(batch(batch_timeout="5m", starts_at="1h"), {}, now=NOW)
    assert spec.type is SessionType.BATCH
    assert spec.startup_command == "python main.py"
    assert spec.batch_timeout == 300
    assert spec.starts_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        *[(30, 30), (1.5, 1.5), ("45", 45), ("30s", 30), ("5m", 300), ("1h", 3600)],
        *[("2d", 172800), ("1w", 604800), ("1.5h", 5400), ("0", 0)],
    ],
)
def test_batch_timeout_formats(value: Any, seconds: float) -> None:
    assert wire.parse_create(batch(batch_timeout=value), {}).batch_timeout == seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01T10:00:00+09:00", datetime(2026, 12, 1, 1, 0, tzinfo=UTC)),
        ("2026-12-01T10:00:00Z", datetime(2026, 12, 1, 10, 0, tzinfo=UTC)),
        ("2026-12-01T10:00:00", datetime(2026, 12, 1, 10, 0, tzinfo=UTC)),  # naive: UTC
        ("10s", NOW + timedelta(seconds=10)),
        ("5m", NOW + timedelta(minutes=5)),
        ("1h", NOW + timedelta(hours=1)),
        ("1h30m", NOW + timedelta(minutes=90)),
        ("2d", NOW + timedelta(days=2)),
    ],
)
def test_starts_at_formats(value: str, expected: datetime) -> None:
    assert wire.parse_create(batch(starts_at=value), {}, now=NOW).starts_at == expected


BAD_CREATES: list[tuple[str, dict[str, Any]]] = [
    ("no image", {"name": "abcd"}),
    ("image not a string", body(image=3)),
    ("name too short", body(name="abc")),
    ("name too long", body(name="a" * 65)),
    ("name with a space", body(name="my session")),
    ("name with a slash", body(name="a/bcd")),
    ("name starting with a dash", body(name="-abcd")),
    ("name ending with a dot", body(name="abcd.")),
    ("name not a string", body(name=1234)),
    ("non-ascii name", body(name="sessión")),
    ("unknown type", body(type="gui")),
    ("batch without startupCommand", body(type="batch")),
    ("batch with empty startupCommand", body(type="batch", startupCommand="")),
    ("starts_at on interactive", body(starts_at="10s")),
    ("batch_timeout on interactive", body(batch_timeout=30)),
    ("bad starts_at", batch(starts_at="tomorrow")),
    ("bad batch_timeout unit", batch(batch_timeout="5y")),
    ("negative batch_timeout", batch(batch_timeout=-1)),
    ("bool batch_timeout", batch(batch_timeout=True)),
    ("priority above 100", body(priority=101)),
    ("priority below 0", body(priority=-1)),
    ("priority not a number", body(priority="high")),
    ("clusterSize 0", body(clusterSize=0)),
    ("clusterSize in config 0", body(config={"clusterSize": 0})),
    ("clusterSize fractional", body(clusterSize=1.5)),
    ("bad clusterMode", body(clusterMode="cluster")),
    ("negative maxWaitSeconds", body(maxWaitSeconds=-1)),
    ("maxWaitSeconds not a number", body(maxWaitSeconds="soon")),
    ("enqueueOnly not a bool", body(enqueueOnly="maybe")),
    ("reuseIfExists a list", body(reuseIfExists=[])),
    ("dependencies not a list", body(dependencies="sess-a")),
    ("dependencies with numbers", body(dependencies=[1])),
    ("callback_url not a URL", body(callback_url="ftp://x")),
    ("config not an object", body(config=[])),
    ("mounts not a list", body(config={"mounts": "vf1"})),
    ("mount_ids not UUIDs", body(config={"mount_ids": ["vf1"]})),
    ("mount_id_map key not a UUID", body(config={"mount_id_map": {"vf1": "/data"}})),
    ("mount_map values not strings", body(config={"mount_map": {"vf1": 1}})),
    ("mount_options entry not an object", body(config={"mount_options": {"vf1": "ro"}})),
    ("environ values not strings", body(config={"environ": {"A": 1}})),
    ("resources not an object", body(config={"resources": ["cpu"]})),
    ("resource quantity an object", body(config={"resources": {"cpu": {"n": 1}}})),
    ("resource quantity a bool", body(config={"resources": {"cpu": True}})),
    ("resource_opts not an object", body(config={"resource_opts": "64m"})),
    ("scalingGroup not a string", body(config={"scalingGroup": 1})),
    ("preopen_ports not ints", body(config={"preopen_ports": ["http"]})),
    ("preopen port too low", body(config={"preopen_ports": [80]})),
    ("agentList not a list", body(config={"agentList": "i-a"})),
    ("attach_network not a UUID", body(config={"attach_network": "net"})),
    ("domain not a string", body(domain=["default"])),
]


@pytest.mark.parametrize(("case", "payload"), BAD_CREATES, ids=[c for c, _ in BAD_CREATES])
def test_bad_creates_are_400_invalid_parameters(case: str, payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameters) as caught:
        wire.parse_create(payload, {}, now=NOW)
    assert caught.value.status == 400
    assert caught.value.body()["error_code"] == "api_parsing_invalid-parameters"


# ---------------------------------------------------------------------------------------------
# Rendering sessions


def make_kernel(**changes: Any) -> Kernel:
    values: dict[str, Any] = {
        "id": uuid.UUID("7f0d6d3e-77a4-4bd5-8a0e-5f6e1f5b2c33"),
        "session_id": SID,
        "cluster_role": "main",
        "cluster_idx": 1,
        "cluster_hostname": "main1",
        "status": KernelStatus.RUNNING,
        "status_info": None,
        "status_data": {},
        "status_changed": NOW,
        "agent_id": "i-agent",
        "agent_address": "tcp://127.0.0.1:6001",
        "container_id": "c0ffee",
        "image": "cr.backend.ai/stable/python:3.9-ubuntu20.04",
        "architecture": "x86_64",
        "requested_slots": {"cpu": "1", "mem": "536870912"},
        "occupied_slots": {"cpu": "1", "mem": "536870912"},
        "created_at": NOW,
        "started_at": NOW,
        "terminated_at": None,
        "exit_code": None,
    }
    values.update(changes)
    return Kernel(**values)


def make_session(**changes: Any) -> Session:
    values: dict[str, Any] = {
        "id": SID,
        "name": "ex-1795414271",
        "type": SessionType.INTERACTIVE,
        "access_key": "AKIAUSER",
        "user_uuid": USER,
        "user_email": "user@lablup.com",
        "domain_name": "default",
        "project_id": PROJECT,
        "project_name": "default",
        "resource_group": "default",
        "image": "cr.backend.ai/stable/python:3.9-ubuntu20.04",
        "architecture": "x86_64",
        "tag": None,
        "status": SessionStatus.RUNNING,
        "status_info": None,
        "status_data": {},
        "status_changed": NOW,
        "status_history": {"PENDING": NOW.isoformat()},
        "result": SessionResult.UNDEFINED,
        "priority": 10,
        "cluster_mode": ClusterMode.SINGLE_NODE,
        "cluster_size": 1,
        "requested_slots": {"cpu": "1", "mem": "536870912"},
        "resource_opts": {},
        "environ": {"A": "1"},
        "startup_command": None,
        "bootstrap_script": None,
        "batch_timeout": None,
        "callback_url": None,
        "created_at": NOW - timedelta(seconds=2),
        "started_at": NOW,
        "terminated_at": None,
        "last_activity": None,
        "num_queries": 3,
        "kernels": [make_kernel()],
    }
    values.update(changes)
    return Session(**values)


def test_render_create_new_session() -> None:
    reply = wire.render_create(CreatedSession(make_session(), created=True))
    assert reply == {
        "sessionId": str(SID),
        "sessionName": "ex-1795414271",
        "status": "RUNNING",
        "servicePorts": [],
        "created": True,
    }


def test_render_create_reused_session_also_has_service_ports() -> None:
    reply = wire.render_create(CreatedSession(make_session(), created=False))
    assert reply["created"] is False
    assert reply["service_ports"] == [] and reply["servicePorts"] == []


@pytest.mark.parametrize(
    ("status", "timed_out", "expected"),
    [
        (SessionStatus.PENDING, False, "PENDING"),
        (SessionStatus.PENDING, True, "TIMEOUT"),
        (SessionStatus.TERMINATING, False, "TERMINATING"),
        (SessionStatus.TERMINATED, False, "TERMINATED"),
    ],
)
def test_render_create_status(status: SessionStatus, timed_out: bool, expected: str) -> None:
    created = CreatedSession(make_session(status=status), created=True, timed_out=timed_out)
    assert wire.render_create(created)["status"] == expected


INFO_KEYS = {
    "age",
    "domainName",
    "groupId",
    "userId",
    "lang",
    "image",
    "architecture",
    "registry",
    "tag",
    "containerId",
    "occupiedSlots",
    "occupyingSlots",
    "requestedSlots",
    "occupiedShares",
    "environ",
    "resourceOpts",
    "status",
    "statusInfo",
    "statusData",
    "creationTime",
    "terminationTime",
    "numQueriesExecuted",
    "lastStat",
    "idleChecks",
}


def test_render_info() -> None:
    info = wire.render_info(make_session(), NOW)
    assert set(info) == INFO_KEYS
    assert info["age"] == 2000
    assert info["groupId"] == str(PROJECT) and info["userId"] == str(USER)
    assert info["lang"] == info["image"] == "cr.backend.ai/stable/python:3.9-ubuntu20.04"
    assert info["registry"] == "cr.backend.ai"
    assert info["containerId"] == "c0ffee"
    assert info["occupiedSlots"] == "{'cpu': '1', 'mem': '536870912'}"
    assert info["requestedSlots"] == "{'cpu': '1', 'mem': '536870912'}"
    assert info["environ"] == "{'A': '1'}"
    assert info["resourceOpts"] == "{}"
    assert info["status"] == "RUNNING"
    assert info["statusInfo"] == "None"
    assert info["creationTime"] == str(NOW - timedelta(seconds=2))
    assert info["terminationTime"] is None
    assert info["numQueriesExecuted"] == 3
    json.dumps(info)  # JSON-serialisable as it is


def test_render_info_of_a_terminated_session_without_kernels() -> None:
    info = wire.render_info(
        make_session(
            status=SessionStatus.TERMINATED,
            status_info="user-requested",
            terminated_at=NOW,
            kernels=[],
        ),
        NOW,
    )
    assert info["status"] == "TERMINATED"
    assert info["statusInfo"] == "user-requested"
    assert info["terminationTime"] == str(NOW)
    assert info["containerId"] == "None"
    assert info["occupiedSlots"] == "{}"


# ---------------------------------------------------------------------------------------------
# Execute


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"mode": "query", "code": "print(1)", "runId": None}, ("query", "print(1)", None, {})),
        ({"mode": "continue", "code": "", "runId": "r1"}, ("continue", "", "r1", {})),
        ({"mode": "input", "code": "x", "run_id": "r2"}, ("input", "x", "r2", {})),
        (
            {"mode": "batch", "options": {"build": "*", "exec": "python a.py"}},
            ("batch", "", None, {"build": "*", "exec": "python a.py"}),
        ),
        ({"code": "1+1"}, ("query", "1+1", None, {})),
        ({"mode": "QUERY", "code": "1", "options": None}, ("query", "1", None, {})),
    ],
)
def test_parse_execute(payload: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert wire.parse_execute(payload) == expected


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"mode": "eval", "code": "1"}, InvalidParameters),
        ({"mode": "query", "code": 1}, InvalidParameters),
        ({"mode": "query", "code": "1", "options": []}, InvalidParameters),
        ({"mode": "query", "runId": 5}, InvalidParameters),
        ({"mode": "continue", "code": ""}, InvalidAPIParameters),
        ({"mode": "input", "code": "x", "runId": None}, InvalidAPIParameters),
    ],
)
def test_bad_executes(payload: dict[str, Any], error: type[CygnetError]) -> None:
    with pytest.raises(error) as caught:
        wire.parse_execute(payload)
    assert caught.value.status == 400


def test_render_execute_always_has_run_id_and_merges_console() -> None:
    result = ExecutionResult(
        run_id="r1",
        status="finished",
        exit_code=0,
        console=[("stdout", "Hello, "), ("stdout", "world!\n"), ("stderr", "w"), ("stdout", "x")],
    )
    assert wire.render_execute(result) == {
        "result": {
            "status": "finished",
            "runId": "r1",
            "exitCode": 0,
            "options": None,
            "files": None,
            "console": [["stdout", "Hello, world!\n"], ["stderr", "w"], ["stdout", "x"]],
        }
    }


def test_render_execute_waiting_input_has_options() -> None:
    waiting = ExecutionResult(run_id="r1", status="waiting-input", console=[("stdout", "? ")])
    assert wire.render_execute(waiting)["result"]["options"] == {}
    password = waiting.model_copy(update={"options": {"is_password": True}})
    assert wire.render_execute(password)["result"]["options"] == {"is_password": True}


def test_console_keeps_media_items_apart() -> None:
    items = [("stdout", "a"), ("media", ["image/png", "xx"]), ("stdout", "b"), ("stdout", "c")]
    assert wire.render_console(items) == [
        ["stdout", "a"],
        ["media", ["image/png", "xx"]],
        ["stdout", "bc"],
    ]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"code": "print(1)", "mode": "query", "options": {}}', ("query", "print(1)", {})),
        ('{"code": "", "mode": "batch", "options": {"exec": "ls"}}', ("batch", "", {"exec": "ls"})),
        ('{"code": "x"}', ("query", "x", {})),
    ],
)
def test_parse_ws_execute(frame: str, expected: tuple[Any, ...]) -> None:
    assert wire.parse_ws_execute(frame) == expected


@pytest.mark.parametrize("frame", ["not json", "[1]", '{"mode": "continue"}', '{"code": 1}'])
def test_bad_ws_first_frames(frame: str) -> None:
    with pytest.raises(InvalidParameters):
        wire.parse_ws_execute(frame)


def test_ws_frame_shape_matches_the_capture() -> None:
    frame = wire.render_ws_frame("finished", [("stdout", "via proxy 2\n")], exit_code=0)
    assert json.dumps(frame) == (
        '{"status": "finished", "console": [["stdout", "via proxy 2\\n"]], '
        '"exitCode": 0, "options": null, "files": []}'
    )


class FakeWebSocket:
    def __init__(self, inputs: list[str]) -> None:
        self.sent: list[dict[str, Any]] = []
        self.inputs = inputs

    async def send_json(self, data: dict[str, Any]) -> None:
        self.sent.append(data)

    async def receive_text(self) -> str:
        return self.inputs.pop(0)


async def test_ws_run_loop_sends_a_short_run_as_one_finished_frame() -> None:
    results = [
        ExecutionResult(run_id="r", status="continued", console=[("stdout", "a")]),
        ExecutionResult(run_id="r", status="continued", console=[("stdout", "b")]),
        ExecutionResult(run_id="r", status="finished", exit_code=0, console=[("stdout", "c\n")]),
    ]
    calls: list[tuple[str, str, str | None]] = []

    async def step(mode: str, code: str, run_id: str | None) -> ExecutionResult:
        calls.append((mode, code, run_id))
        return results.pop(0)

    ws = FakeWebSocket([])
    await _run_loop(ws, step, "query", "print('abc')")  # type: ignore[arg-type]
    assert calls == [("query", "print('abc')", None), ("continue", "", "r"), ("continue", "", "r")]
    assert ws.sent == [
        {
            "status": "finished",
            "console": [["stdout", "abc\n"]],
            "exitCode": 0,
            "options": None,
            "files": [],
        }
    ]


async def test_ws_run_loop_relays_input() -> None:
    results = [
        ExecutionResult(run_id="r", status="waiting-input", console=[("stdout", "name? ")]),
        ExecutionResult(run_id="r", status="finished", exit_code=0, console=[("stdout", "hi")]),
    ]
    calls: list[tuple[str, str, str | None]] = []

    async def step(mode: str, code: str, run_id: str | None) -> ExecutionResult:
        calls.append((mode, code, run_id))
        return results.pop(0)

    ws = FakeWebSocket(["bob"])
    await _run_loop(ws, step, "query", "input()")  # type: ignore[arg-type]
    assert calls[1] == ("input", "bob", "r")
    assert [f["status"] for f in ws.sent] == ["waiting-input", "finished"]
    assert ws.sent[0]["console"] == [["stdout", "name? "]] and ws.sent[0]["options"] == {}
    assert ws.sent[1]["console"] == [["stdout", "hi"]]


# ---------------------------------------------------------------------------------------------
# Status history, files, rename


def test_render_status_history_wraps_in_result_in_lifecycle_order() -> None:
    history = {
        "PENDING": "2026-11-23T06:25:26+00:00",
        "RUNNING": "2026-11-23T06:25:38+00:00",
        "CREATING": "2026-11-23T06:25:36+00:00",
        "SCHEDULED": "2026-11-23T06:25:28+00:00",
    }
    rendered = wire.render_status_history(history)
    assert rendered == {"result": history}
    assert list(rendered["result"]) == ["PENDING", "SCHEDULED", "CREATING", "RUNNING"]


def test_render_files_is_json_text() -> None:
    listing = FileList(
        abspath="/home/work",
        files=[
            FileEntry(filename="a.txt", mode="-rw-r--r--", size=5, ctime=1.0, mtime=2.0, atime=3.0)
        ],
        errors="",
    )
    rendered = wire.render_files(listing)
    assert rendered["abspath"] == "/home/work" and rendered["errors"] == ""
    assert isinstance(rendered["files"], str)
    assert '"filename": "a.txt"' in rendered["files"]
    assert json.loads(rendered["files"]) == [
        {
            "mode": "-rw-r--r--",
            "size": 5,
            "ctime": 1.0,
            "mtime": 2.0,
            "atime": 3.0,
            "filename": "a.txt",
        }
    ]


@pytest.mark.parametrize(
    ("payload", "query", "expected"),
    [
        ({"path": "/home/work"}, {"path": "ignored"}, "/home/work"),
        ({}, {"path": "sub"}, "sub"),
        ({}, {}, "."),
        ({"path": None}, None, "."),
    ],
)
def test_list_files_path(
    payload: dict[str, Any], query: dict[str, str] | None, expected: str
) -> None:
    assert wire.parse_list_files_path(payload, query) == expected


@pytest.mark.parametrize(
    ("query", "payload", "expected"),
    [
        ({"name": "new-name"}, {}, "new-name"),
        ({"session_name": "new-name2"}, {}, "new-name2"),
        ({}, {"name": "from-body"}, "from-body"),
        ({}, {"clientSessionToken": "legacy1"}, "legacy1"),
        ({"name": "query-wins"}, {"name": "body-loses"}, "query-wins"),
    ],
)
def test_rename(query: dict[str, str], payload: dict[str, Any], expected: str) -> None:
    assert wire.parse_rename(query, payload) == expected


@pytest.mark.parametrize(
    ("query", "payload"),
    [({}, {}), ({"name": "ab"}, {}), ({}, {"name": 5}), ({"name": "a b c d"}, {})],
)
def test_bad_renames(query: dict[str, str], payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameters):
        wire.parse_rename(query, payload)


# ---------------------------------------------------------------------------------------------
# File transfer bodies


def multipart(parts: list[tuple[str, bytes]], boundary: str = "XyZ") -> tuple[str, bytes]:
    chunks = []
    for filename, data in parts:
        chunks.append(
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f'Content-Disposition: form-data; name="src"; filename="{filename}"\r\n\r\n'.encode()
        )
        chunks.append(data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(chunks)


def test_parse_upload_keeps_bytes_exactly() -> None:
    binary = bytes(range(256)) + b"\r\n--Xy\r\r\n\n\r\n"  # (never the boundary itself)
    content_type, raw = multipart([("sub/dir/a.bin", binary), ("b.txt", b"hello\n")])
    assert wire.parse_upload(content_type, raw) == [
        ("sub/dir/a.bin", binary),
        ("b.txt", b"hello\n"),
    ]


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        (None, b""),
        ("application/json", b"{}"),
        multipart([]),
        multipart([("", b"x")]),
    ],
)
def test_bad_uploads_are_400(content_type: str | None, raw: bytes) -> None:
    with pytest.raises(InvalidParameters):
        wire.parse_upload(content_type, raw)


def test_upload_limits() -> None:
    ok_type, ok = multipart([(f"f{i}", b"x") for i in range(20)])
    assert len(wire.parse_upload(ok_type, ok)) == 20
    many_type, many = multipart([(f"f{i}", b"x") for i in range(21)])
    with pytest.raises(InvalidAPIParameters, match="Too many"):
        wire.parse_upload(many_type, many)
    assert wire.parse_upload(*multipart([("big", b"x" * ((1 << 20) - 1))]))
    with pytest.raises(InvalidAPIParameters, match="Too large"):
        wire.parse_upload(*multipart([("big", b"x" * (1 << 20))]))


def test_download_paths() -> None:
    assert wire.parse_download_paths(["a", "b"], {}) == ["a", "b"]
    assert wire.parse_download_paths([], {"files": ["c"]}) == ["c"]
    with pytest.raises(InvalidParameters):
        wire.parse_download_paths([], {})
    with pytest.raises(InvalidAPIParameters):
        wire.parse_download_paths(["1", "2", "3", "4", "5", "6"], {})


def tar_of(name: str, data: bytes | None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        if data is None:
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        else:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_render_multipart_mixed_parses_back() -> None:
    archives = [tar_of("a.txt", b"alpha"), tar_of("b.bin", bytes(range(256)))]
    content, content_type = wire.render_multipart_mixed(archives)
    assert content_type.startswith("multipart/mixed; boundary=")
    header = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(header + content)
    parts = list(message.iter_parts())
    assert [p.get_payload(decode=True) for p in parts] == archives
    assert all(p["Content-Encoding"] == "identity" for p in parts)
    assert all(p.get_content_type() == "application/octet-stream" for p in parts)


def test_extract_single_file() -> None:
    assert wire.extract_single_file(tar_of("a.txt", b"alpha"), "a.txt") == b"alpha"
    with pytest.raises(InvalidAPIParameters):
        wire.extract_single_file(tar_of("dir", None), "dir")
    with pytest.raises(InvalidAPIParameters):
        wire.extract_single_file(b"not a tar at all", "x")


# ---------------------------------------------------------------------------------------------
# Session events (SSE)


def event(**changes: Any) -> SessionEvent:
    values: dict[str, Any] = {
        "name": "session_started",
        "session_id": SID,
        "session_name": "ex-1",
        "access_key": "AKIAUSER",
        "domain_name": "default",
        "project_id": PROJECT,
        "status": "RUNNING",
        "reason": None,
    }
    values.update(changes)
    return SessionEvent(**values)


KERNEL_EVENT = {
    "name": "kernel_started",
    "kernel_id": SID,
    "cluster_role": "main",
    "cluster_idx": 1,
}


@pytest.mark.parametrize(
    ("query", "changes", "expected"),
    [
        ({}, {}, True),  # "*": everything visible
        ({}, {"access_key": "AKIAOTHER"}, True),  # admins see others' (may_see decides)
        ({"sessionName": "ex-1"}, {}, True),
        ({"session_name": "ex-1"}, {}, True),
        ({"sessionName": "ex-2"}, {}, False),
        ({"sessionName": "ex-1"}, {"access_key": "AKIAOTHER"}, False),  # another owner's
        (
            {"sessionName": "ex-1", "owner_access_key": "AKIAOTHER"},
            {"access_key": "AKIAOTHER"},
            True,
        ),
        ({"sessionName": "ex-1", "ownerAccessKey": "AKIAOTHER"}, {}, False),
        ({"sessionId": str(SID)}, {}, True),
        ({"sessionId": SID.hex}, {"session_name": "renamed"}, True),
        ({"sessionId": str(uuid.uuid4())}, {}, False),
        ({"sessionName": str(SID)}, {}, True),  # a UUID as the name
        ({"scope": "session"}, KERNEL_EVENT, False),
        ({"scope": "kernel"}, KERNEL_EVENT, True),
        ({"scope": "kernel"}, {}, False),
        ({"scope": "session,kernel"}, KERNEL_EVENT, True),
        ({"scope": "*"}, KERNEL_EVENT, True),
        ({"groupName": "default"}, {}, True),  # names are not filtered on
        ({"groupName": str(PROJECT)}, {}, True),
        ({"groupName": str(uuid.uuid4())}, {}, False),
    ],
)
def test_event_filter(query: dict[str, str], changes: dict[str, Any], expected: bool) -> None:
    wanted = EventFilter.from_query(query, "AKIAUSER")
    assert wanted.matches(event(**changes)) is expected


@pytest.mark.parametrize("query", [{"scope": "agent"}, {"scope": ","}, {"sessionId": "nope"}])
def test_bad_event_queries(query: dict[str, str]) -> None:
    with pytest.raises(InvalidParameters):
        EventFilter.from_query(query, "AKIAUSER")


def test_render_sse_event() -> None:
    text = render_sse_event(event(name="session_terminated", reason="user-requested"), retry=5)
    assert text.endswith("\n\n")
    lines = text.rstrip("\n").split("\n")
    assert lines[:2] == ["retry: 5", "event: session_terminated"]
    assert lines[2].startswith("data: ")
    assert json.loads(lines[2][len("data: ") :]) == {
        "reason": "user-requested",
        "sessionName": "ex-1",
        "ownerAccessKey": "AKIAUSER",
        "sessionId": str(SID),
        "exitCode": None,
    }


def test_render_sse_kernel_event() -> None:
    text = render_sse_event(event(exit_code=0, **KERNEL_EVENT))
    assert text.startswith("event: kernel_started\ndata: ")
    data = json.loads(text.split("data: ", 1)[1])
    assert data["kernelId"] == str(SID) and data["clusterRole"] == "main"
    assert data["clusterIdx"] == 1 and data["exitCode"] == 0 and data["reason"] == ""
