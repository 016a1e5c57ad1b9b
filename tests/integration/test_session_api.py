"""The compute-session REST API (wire notes 2.1 and 6) against a manager with one in-process
agent of the process runtime: create (blocking, reuse, enqueue-only, max-wait, validation),
info, execute (REST with ``runId`` continuation and ``input``, and the WebSocket stream), files
(upload, list, download, download_single), logs, rename, status history, destroy, the SSE
events stream, and isolation between users."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import io
import json
import tarfile
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from cygnet.common.auth import API_VERSION, make_auth_headers
from cygnet.testing.agents import ClusterFactory, LocalCluster
from cygnet.testing.builders import SeededUser, add_user
from cygnet.testing.signing import SignedClient

IMAGE = "python"
OTHER_IMAGE = "python-alt"  # a second local environment, for the name-conflict case
SMALL = {"cpu": 1, "mem": "128m"}


def unique(prefix: str = "api") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def cluster(
    local_cluster: ClusterFactory, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalCluster]:
    data_dir = tmp_path_factory.mktemp("session-api")
    async with local_cluster(
        data_dir,
        runtime="process",
        cpus=[0, 1],
        memory="2g",
        runtime_options={"images": {IMAGE: {}, OTHER_IMAGE: {}}},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def api(cluster: LocalCluster) -> SignedClient:
    return cluster.manager.client()


@pytest.fixture(scope="module")
async def other(cluster: LocalCluster) -> SeededUser:
    return await add_user(cluster.manager)


@pytest.fixture(scope="module")
def other_api(cluster: LocalCluster, other: SeededUser) -> SignedClient:
    return cluster.manager.client(other.access_key, other.secret_key)


def create_body(name: str, image: str = IMAGE, **extra: Any) -> dict[str, Any]:
    """A create request as the v9 client sends it (every top-level key, nulls when unset)."""
    config = {"resources": dict(SMALL), **extra.pop("config", {})}
    body: dict[str, Any] = {
        "name": name,
        "image": image,
        "architecture": None,
        "tag": None,
        "type": "interactive",
        "domain": None,
        "group": None,
        "owner_access_key": None,
        "enqueueOnly": False,
        "maxWaitSeconds": 0,
        "reuseIfExists": True,
        "startupCommand": None,
        "bootstrap_script": None,
        "starts_at": None,
        "clusterSize": 1,
        "clusterMode": "single-node",
        "dependencies": None,
        "callback_url": None,
        "config": config,
    }
    body.update(extra)
    return body


async def create(api: SignedClient, name: str, **extra: Any) -> dict[str, Any]:
    resp = await api.request("POST", "/session", json=create_body(name, **extra))
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


async def destroy(api: SignedClient, ref: str) -> dict[str, Any]:
    resp = await api.request("DELETE", f"/session/{ref}")
    assert resp.status_code == 200, resp.text
    stats: dict[str, Any] = resp.json()
    return stats


async def execute(
    api: SignedClient, ref: str, mode: str, code: str, run_id: str | None = None
) -> dict[str, Any]:
    resp = await api.request(
        "POST",
        f"/session/{ref}",
        json={"mode": mode, "code": code, "runId": run_id, "options": {}},
    )
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()["result"]
    return result


async def run_to_end(api: SignedClient, ref: str, code: str) -> tuple[dict[str, Any], list[Any]]:
    result = await execute(api, ref, "query", code)
    console = list(result["console"])
    while result["status"] == "continued":
        result = await execute(api, ref, "continue", "", result["runId"])
        console += result["console"]
    return result, console


def problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith(("application/problem+json", "application/json"))
    body: dict[str, Any] = resp.json()
    return body


def signed_headers(
    client: SignedClient, path: str, content_type: str, method: str = "GET"
) -> dict[str, str]:
    """Headers signed as the official client signs them: the mime type without parameters."""
    url = httpx.URL(client.endpoint + path)
    signed = make_auth_headers(
        client.access_key,
        client.secret_key,
        method=method,
        rel_url=url.raw_path.decode(),
        host=url.netloc.decode(),
        content_type=content_type.split(";")[0].strip().lower(),
    )
    return {
        "Date": signed.date,
        "Authorization": signed.authorization,
        "X-BackendAI-Version": API_VERSION,
        "Content-Type": content_type,
    }


# --- create ------------------------------------------------------------------------------------


async def test_create_reuse_conflict_and_destroy(api: SignedClient) -> None:
    name = unique()
    created = await create(api, name)
    assert set(created) >= {"sessionId", "sessionName", "status", "servicePorts", "created"}
    assert created["sessionName"] == name
    assert created["status"] == "RUNNING" and created["created"] is True
    assert isinstance(created["servicePorts"], list)
    sid = str(uuid.UUID(created["sessionId"]))
    try:
        again = await create(api, name)
        assert again["sessionId"] == created["sessionId"]
        assert again["created"] is False and again["status"] == "RUNNING"

        resp = await api.request("POST", "/session", json=create_body(name, image=OTHER_IMAGE))
        body = problem(resp, 400)
        assert body["type"].endswith("/session-already-exists"), body
        assert str(uuid.UUID(body["data"]["existingSessionId"])) == sid

        resp = await api.request("POST", "/session", json=create_body(name, reuseIfExists=False))
        assert problem(resp, 400)["type"].endswith("/session-already-exists")

        info = await api.request("GET", f"/session/{sid}")
        assert info.status_code == 200, info.text
        keys = {
            "age", "domainName", "groupId", "userId", "lang", "image", "architecture",
            "registry", "tag", "containerId", "occupiedSlots", "occupyingSlots",
            "requestedSlots", "occupiedShares", "environ", "resourceOpts", "status",
            "statusInfo", "statusData", "creationTime", "terminationTime",
            "numQueriesExecuted", "lastStat", "idleChecks",
        }  # fmt: skip
        assert keys <= set(info.json()), keys - set(info.json())
        assert info.json()["status"] == "RUNNING"
        by_name = await api.request("GET", f"/session/{name}")
        assert by_name.status_code == 200 and by_name.json()["status"] == "RUNNING"
    finally:
        stats = await destroy(api, sid)
    assert stats == {"stats": {"status": "terminated"}}
    gone = await api.request("DELETE", f"/session/{sid}")
    assert gone.status_code in (200, 404), gone.text
    # The name is free again once the session is terminated.
    replacement = await create(api, name)
    assert replacement["created"] is True and replacement["sessionId"] != created["sessionId"]
    await destroy(api, replacement["sessionId"])


async def test_enqueue_only_and_cancel(api: SignedClient) -> None:
    name = unique()
    created = await create(api, name, enqueueOnly=True, config={"resources": {"cpu": 1000}})
    assert created["status"] == "PENDING" and created["created"] is True
    info = await api.request("GET", f"/session/{created['sessionId']}")
    assert info.json()["status"] == "PENDING"
    assert await destroy(api, created["sessionId"]) == {"stats": {"status": "cancelled"}}


async def test_max_wait_times_out_and_stays_pending(api: SignedClient) -> None:
    name = unique()
    created = await create(api, name, maxWaitSeconds=1, config={"resources": {"cpu": 1000}})
    assert created["status"] == "TIMEOUT"
    try:
        await asyncio.sleep(0.3)
        info = await api.request("GET", f"/session/{created['sessionId']}")
        assert info.status_code == 200 and info.json()["status"] == "PENDING"
    finally:
        assert await destroy(api, created["sessionId"]) == {"stats": {"status": "cancelled"}}


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("below-image-minimum", {"config": {"resources": {"cpu": 1, "mem": "16m"}}}),
        ("unknown-slot", {"config": {"resources": {"cpu": 1, "mem": "128m", "warp.drive": 1}}}),
        ("negative", {"config": {"resources": {"cpu": -1, "mem": "128m"}}}),
        ("absurd", {"config": {"resources": {"cpu": "1e400", "mem": "128m"}}}),
        ("bad-name", {"name": "x"}),
        ("bad-name-chars", {"name": "no/slashes here"}),
        ("batch-without-command", {"type": "batch"}),
        ("starts-at-interactive", {"starts_at": "10s"}),
    ],
)
async def test_invalid_create_is_400_and_creates_nothing(
    api: SignedClient, case: str, overrides: dict[str, Any]
) -> None:
    name = unique(case[:20])
    body = create_body(name)
    body.update({k: v for k, v in overrides.items() if k != "config"})
    if "config" in overrides:
        body["config"] = overrides["config"]
    resp = await api.request("POST", "/session", json=body)
    problem_body = problem(resp, 400)
    assert problem_body.get("title") or problem_body.get("msg"), problem_body
    if case == "below-image-minimum":
        assert problem_body["error_code"] == "api_generic_invalid-parameters", problem_body
    # Nothing was created under the name (nor under the bad names).
    lookup = await api.request("GET", f"/session/{body['name']}")
    assert lookup.status_code in (400, 404), lookup.text


# --- execute -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def running(api: SignedClient) -> AsyncIterator[str]:
    """One interactive session for the tests that only use it (its UUID)."""
    created = await create(api, unique("shared"))
    yield created["sessionId"]
    await destroy(api, created["sessionId"])


async def test_execute_query_mode(api: SignedClient, running: str) -> None:
    result, console = await run_to_end(api, running, 'print("Hello, world!")')
    assert (result["status"], result["exitCode"]) == ("finished", 0)
    assert console == [["stdout", "Hello, world!\n"]]
    assert "runId" in result and result["files"] is None
    _, console = await run_to_end(api, running, "1 + 1")
    assert console == [["stdout", "2"]]
    await run_to_end(api, running, "x = 20")
    _, console = await run_to_end(api, running, "x + 22")
    assert console == [["stdout", "42"]]
    result, console = await run_to_end(api, running, "1/0")
    assert result["exitCode"] == 1 and console[0][0] == "stderr"
    result, console = await run_to_end(api, running, "import sys; sys.exit(2)")
    assert result["exitCode"] == 2 and console[0][0] == "stderr"


async def test_execute_continue_and_input(api: SignedClient, running: str) -> None:
    code = "import time\nfor i in range(4):\n    print(i, flush=True)\n    time.sleep(1)\n"
    first = await execute(api, running, "query", code)
    assert first["status"] == "continued", first
    assert first["exitCode"] is None and first["runId"]
    result, console = first, list(first["console"])
    while result["status"] == "continued":
        result = await execute(api, running, "continue", "", first["runId"])
        console += result["console"]
    assert result["status"] == "finished" and result["exitCode"] == 0
    assert "".join(data for kind, data in console if kind == "stdout") == "0\n1\n2\n3\n"

    asked = await execute(api, running, "query", 'name = input("name? "); print("hi", name)')
    assert asked["status"] == "waiting-input", asked
    answered = await execute(api, running, "input", "bob", asked["runId"])
    assert answered["status"] == "finished"
    assert ["stdout", "hi bob\n"] in answered["console"]

    # continue/input without a run id is a bad request.
    resp = await api.request(
        "POST", f"/session/{running}", json={"mode": "continue", "code": "", "runId": None}
    )
    assert resp.status_code == 400, resp.text


async def test_websocket_execute_first_frame_is_finished(api: SignedClient, running: str) -> None:
    path = f"/stream/session/{running}/execute"
    headers = signed_headers(api, path, "application/json")
    url = "ws" + api.endpoint.removeprefix("http") + path
    async with connect(url, additional_headers=headers, user_agent_header=None) as ws:
        await ws.send(json.dumps({"code": "print(6*7)", "mode": "query", "options": {}}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert frame["status"] == "finished", frame
    assert frame["exitCode"] == 0 and frame["console"] == [["stdout", "42\n"]]
    assert set(frame) >= {"status", "console", "exitCode", "options", "files"}

    # waiting-input: the input line goes back as a raw text frame.
    headers = signed_headers(api, path, "application/json")
    async with connect(url, additional_headers=headers, user_agent_header=None) as ws:
        await ws.send(json.dumps({"code": 'print("got", input())', "mode": "query", "options": {}}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert frame["status"] == "waiting-input", frame
        await ws.send("ping")
        frames = []
        while frame["status"] != "finished":
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            frames.append(frame)
    out = "".join(d for f in frames for kind, d in f["console"] if kind == "stdout")
    assert out == "got ping\n"


# --- files, logs, rename, history --------------------------------------------------------------


def multipart_upload(files: dict[str, bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    chunks = []
    for filename, data in files.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="src"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def mixed_parts(resp: httpx.Response) -> list[bytes]:
    raw = f"Content-Type: {resp.headers['content-type']}\r\n\r\n".encode() + resp.content
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.is_multipart()
    return [part.get_payload(decode=True) for part in message.iter_parts()]  # type: ignore[misc]


async def test_files_upload_list_download(api: SignedClient, running: str) -> None:
    body, content_type = multipart_upload(
        {"hello.txt": b"hello\n", "sub/dir/data.bin": b"\x00\x01"}
    )
    path = f"/session/{running}/upload"
    headers = signed_headers(api, path, content_type, method="POST")
    resp = await api.http.post(path, content=body, headers=headers)
    assert resp.status_code == 204, resp.text

    listing = await api.request("GET", f"/session/{running}/files", json={"path": "."})
    assert listing.status_code == 200, listing.text
    assert set(listing.json()) >= {"files", "errors", "abspath"}
    entries = {e["filename"]: e for e in json.loads(listing.json()["files"])}
    assert entries["hello.txt"]["size"] == 6 and entries["hello.txt"]["mode"].startswith("-")
    assert entries["sub"]["mode"].startswith("d")
    assert {"ctime", "mtime", "atime"} <= set(entries["hello.txt"])
    nested = await api.request("GET", f"/session/{running}/files", json={"path": "sub/dir"})
    assert [e["filename"] for e in json.loads(nested.json()["files"])] == ["data.bin"]
    absolute = await api.request(
        "GET", f"/session/{running}/files", json={"path": "/home/work/sub"}
    )
    assert "dir" in [e["filename"] for e in json.loads(absolute.json()["files"])]

    resp = await api.request("POST", f"/session/{running}/download?files=hello.txt&files=sub")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("multipart/mixed")
    members: dict[str, bytes] = {}
    for payload in mixed_parts(resp):
        with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    members[member.name] = extracted.read()
    assert members == {"hello.txt": b"hello\n", "sub/dir/data.bin": b"\x00\x01"}

    single = await api.request("POST", f"/session/{running}/download_single?file=hello.txt")
    assert single.status_code == 200 and single.content == b"hello\n"
    escape = await api.request("POST", f"/session/{running}/download?files=../../etc/passwd")
    assert escape.status_code in (400, 404), escape.text


async def test_logs_rename_history(api: SignedClient) -> None:
    name, new_name = unique(), unique("renamed")
    created = await create(api, name)
    sid = created["sessionId"]
    try:
        await run_to_end(api, sid, 'print("to the log")')
        logs = await api.request("GET", f"/session/{sid}/logs")
        assert logs.status_code == 200, logs.text
        assert isinstance(logs.json()["result"]["logs"], str)

        resp = await api.request("POST", f"/session/{sid}/rename?name={new_name}")
        assert resp.status_code == 204, resp.text
        assert (await api.request("GET", f"/session/{new_name}")).status_code == 200
        assert (await api.request("GET", f"/session/{name}")).status_code == 404

        history = await api.request("GET", f"/session/{sid}/status-history")
        assert history.status_code == 200, history.text
        result = history.json()["result"]
        assert "PENDING" in result and "RUNNING" in result, result
        assert not {"TERMINATING", "TERMINATED"} & set(result)
        assert all(isinstance(v, str) for v in result.values())
    finally:
        await destroy(api, new_name)


# --- events ------------------------------------------------------------------------------------


async def collect_events(
    client: SignedClient,
    query: str,
    into: list[tuple[str, dict[str, Any]]],
    connected: asyncio.Event,
    until: str | None = None,
) -> None:
    path = f"/events/session?{query}"
    headers = signed_headers(client, path, "text/plain")
    headers["Accept"] = "text/event-stream"
    async with client.http.stream("GET", path, headers=headers, timeout=None) as resp:
        assert resp.status_code == 200, await resp.aread()
        assert resp.headers["content-type"].startswith("text/event-stream")
        connected.set()
        event, data = "", ""
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data += line.removeprefix("data:").strip()
            elif line == "" and event:
                into.append((event, json.loads(data or "{}")))
                if event == until:
                    return
                event, data = "", ""


async def test_session_events_and_isolation(
    api: SignedClient, other_api: SignedClient, cluster: LocalCluster
) -> None:
    name = unique("events")
    mine: list[tuple[str, dict[str, Any]]] = []
    theirs: list[tuple[str, dict[str, Any]]] = []
    mine_up, theirs_up = asyncio.Event(), asyncio.Event()
    # Subscribed before the session exists: no 404.
    watcher = asyncio.create_task(
        collect_events(api, f"sessionName={name}", mine, mine_up, until="session_terminated")
    )
    spy = asyncio.create_task(collect_events(other_api, "sessionName=*", theirs, theirs_up))
    try:
        await asyncio.wait_for(asyncio.gather(mine_up.wait(), theirs_up.wait()), 10)
        created = await create(api, name)
        sid = created["sessionId"]
        # Another user cannot reach the session by id or by name.
        for ref in (sid, name):
            assert (await other_api.request("GET", f"/session/{ref}")).status_code == 404
        for method, path, body in [
            ("POST", f"/session/{sid}", {"mode": "query", "code": "1", "runId": None}),
            ("GET", f"/session/{sid}/logs", None),
            ("GET", f"/session/{sid}/files", {"path": "."}),
            ("GET", f"/session/{sid}/status-history", None),
            ("POST", f"/session/{sid}/rename?name={unique()}", None),
            ("DELETE", f"/session/{sid}", None),
        ]:
            resp = await other_api.request(method, path, json=body)
            assert resp.status_code == 404, (method, path, resp.status_code, resp.text)
        # ... nor open its execution stream (the handshake is refused with the 404 problem).
        path = f"/stream/session/{sid}/execute"
        url = "ws" + other_api.endpoint.removeprefix("http") + path
        headers = signed_headers(other_api, path, "application/json")
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers, user_agent_header=None):
                pass
        assert refused.value.response.status_code == 404
        assert json.loads(refused.value.response.body or b"{}")["error_code"] == (
            "session_read_not-found"
        )
        assert (await api.request("GET", f"/session/{sid}")).json()["status"] == "RUNNING"
        await destroy(api, sid)
        await asyncio.wait_for(watcher, 30)
    finally:
        watcher.cancel()
        await asyncio.sleep(0.5)
        spy.cancel()
        await asyncio.gather(watcher, spy, return_exceptions=True)
    names = [event for event, _ in mine]
    assert "session_enqueued" in names, names
    assert names.index("session_enqueued") < names.index("session_started")
    assert names.index("session_started") < names.index("session_terminated")
    assert not {"session_failure", "session_cancelled"} & set(names)
    for _event, data in mine:
        assert set(data) >= {"reason", "sessionName", "ownerAccessKey", "sessionId", "exitCode"}
        assert data["sessionId"] == sid
        assert data["ownerAccessKey"] == cluster.manager.admin.access_key
    terminated = dict(mine)["session_terminated"]
    assert terminated["reason"] == "user-requested"
    assert theirs == [], theirs


async def test_events_for_a_pending_cancelled_session(api: SignedClient) -> None:
    name = unique("cancel")
    seen: list[tuple[str, dict[str, Any]]] = []
    up = asyncio.Event()
    watcher = asyncio.create_task(
        collect_events(api, f"sessionName={name}&scope=session", seen, up, "session_cancelled")
    )
    try:
        await asyncio.wait_for(up.wait(), 10)
        created = await create(api, name, enqueueOnly=True, config={"resources": {"cpu": 1000}})
        assert await destroy(api, created["sessionId"]) == {"stats": {"status": "cancelled"}}
        await asyncio.wait_for(watcher, 30)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    names = [event for event, _ in seen]
    assert names[0] == "session_enqueued" and names[-1] == "session_cancelled", names
    assert "session_started" not in names


async def test_batch_session_events(api: SignedClient) -> None:
    ok_name, bad_name = unique("batch-ok"), unique("batch-bad")
    ok_seen: list[tuple[str, dict[str, Any]]] = []
    bad_seen: list[tuple[str, dict[str, Any]]] = []
    ok_up, bad_up = asyncio.Event(), asyncio.Event()
    watchers = [
        asyncio.create_task(
            collect_events(api, f"sessionName={ok_name}", ok_seen, ok_up, "session_terminated")
        ),
        asyncio.create_task(
            collect_events(api, f"sessionName={bad_name}", bad_seen, bad_up, "session_terminated")
        ),
    ]
    try:
        await asyncio.wait_for(asyncio.gather(ok_up.wait(), bad_up.wait()), 10)
        ok = await create(api, ok_name, type="batch", startupCommand="echo hi")
        bad = await create(api, bad_name, type="batch", startupCommand="exit 3")
        assert ok["status"] in ("RUNNING", "TERMINATING", "TERMINATED"), ok
        await asyncio.wait_for(asyncio.gather(*watchers), 60)
    finally:
        for w in watchers:
            w.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    ok_names = [e for e, _ in ok_seen]
    assert "session_success" in ok_names and "session_terminated" in ok_names, ok_names
    assert not {"session_failure", "session_cancelled"} & set(ok_names)
    bad_names = [e for e, _ in bad_seen]
    assert "session_failure" in bad_names, bad_names
    assert bad_names.index("session_failure") < bad_names.index("session_terminated")
    assert "session_success" not in bad_names
    for ref in (ok["sessionId"], bad["sessionId"]):
        info = await api.request("GET", f"/session/{ref}")
        if info.status_code == 200:
            assert info.json()["status"] == "TERMINATED"
