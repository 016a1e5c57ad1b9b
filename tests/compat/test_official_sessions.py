"""Compute sessions through the official ``backend.ai`` CLI (wire notes 2.1 and 5(a)):
``run`` over the WebSocket execute stream (process runtime, and Docker when it is there),
query-mode echo in a reused session, ``session create/info/logs/rename/status-history/events/
rm``, batch sessions that succeed and fail, ``--enqueue-only``, and ``admin session list``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from official import OfficialClient

from cygnet.testing.agents import LocalCluster

pytestmark = pytest.mark.compat

PYTHON_IMAGE = {"process": "python", "docker": "cygnet/python:3.11"}
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def unique(prefix: str = "bai") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _client(exe: Path, cluster: LocalCluster, home: Path) -> OfficialClient:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "BACKEND_ENDPOINT_TYPE": "api",
        **cluster.manager.env(),
    }
    return OfficialClient(exe, env, home)


@pytest.fixture(scope="module")
def bai(
    official_client_exe: Path,
    process_cluster: LocalCluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> OfficialClient:
    return _client(official_client_exe, process_cluster, tmp_path_factory.mktemp("bai-sessions"))


async def ok(bai: OfficialClient, *args: str) -> str:
    result = await bai.run(*args, output_json=False)
    assert result.code == 0, f"backend.ai {' '.join(args)} failed ({result.code}):\n{result.out}"
    assert "Traceback" not in result.out, result.out
    return result.out


@dataclass
class EventWatch:
    """``backend.ai session events REF`` running in the background; its lines as they come."""

    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)

    async def wait_for(self, event: str, timeout: float = 60) -> dict[str, Any]:
        """The data of the first ``event`` line (reading more output until it comes)."""

        async def read() -> dict[str, Any]:
            for line in self.lines:
                if line.split(" ", 1)[0] == event:
                    return dict(json.loads(line.split(" ", 1)[1]))
            assert self.proc.stdout is not None
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"events ended without {event}: {self.lines}")
                line = raw.decode().strip()
                if not line:
                    continue
                self.lines.append(line)
                if line.split(" ", 1)[0] == event:
                    return dict(json.loads(line.split(" ", 1)[1]))

        return await asyncio.wait_for(read(), timeout)

    @property
    def names(self) -> list[str]:
        return [line.split(" ", 1)[0] for line in self.lines]


@contextlib.asynccontextmanager
async def watch_events(bai: OfficialClient, ref: str, *extra: str) -> AsyncIterator[EventWatch]:
    proc = await asyncio.create_subprocess_exec(
        str(bai.exe),
        "session",
        "events",
        ref,
        *extra,
        env=bai.env,
        cwd=bai.cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    watch = EventWatch(proc)
    try:
        # Let the client connect before the caller acts (the stream never 404s on a new name).
        await asyncio.sleep(1.5)
        yield watch
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


# --- run ---------------------------------------------------------------------------------------


@pytest.fixture(params=["process", "docker"])
def run_client(
    request: pytest.FixtureRequest,
    official_client_exe: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[OfficialClient, str]:
    cluster: LocalCluster = request.getfixturevalue(f"{request.param}_cluster")
    home = tmp_path_factory.mktemp(f"bai-run-{request.param}")
    return _client(official_client_exe, cluster, home), PYTHON_IMAGE[request.param]


async def test_run_prints_the_answer(run_client: tuple[OfficialClient, str]) -> None:
    client, image = run_client
    out = await ok(client, "run", "--rm", image, "-c", "print(6*7)")
    assert "42" in out.splitlines(), out
    out = await ok(client, "run", "--rm", image, "-c", "import sys; print('oops', file=sys.stderr)")
    assert "oops" in out


async def test_query_mode_echo_in_a_reused_session(bai: OfficialClient) -> None:
    name = unique("echo")
    out = await ok(bai, "session", "create", "--name", name, "python")
    assert "is created and ready" in out, out
    try:
        out = await ok(bai, "run", "--name", name, "python", "-c", "1 + 1")
        # The value is echoed REPL-style, without a newline, before the client's status line.
        assert re.search(r"^2(✓|$)", out, re.MULTILINE), out
        await ok(bai, "run", "--name", name, "python", "-c", "x = 20")
        out = await ok(bai, "run", "--name", name, "python", "-c", "x + 22")
        assert re.search(r"^42(✓|$)", out, re.MULTILINE), out
    finally:
        await ok(bai, "session", "rm", name)


# --- create / logs / status history / events / rm ---------------------------------------------


async def test_session_lifecycle_with_events(bai: OfficialClient) -> None:
    name = unique("life")
    async with watch_events(bai, name) as events:
        out = await ok(bai, "session", "create", "--name", name, "python")
        assert "is created and ready" in out, out
        found = UUID_RE.search(out)
        assert found is not None, out
        sid = found.group(0)
        started = await events.wait_for("session_started")
        assert started["sessionName"] == name and started["sessionId"] == sid

        await ok(bai, "run", "--name", name, "python", "-c", "print('for the log')")
        out = await ok(bai, "session", "logs", sid)
        assert "End of logs." in out
        out = await ok(bai, "session", "status-history", sid)
        assert "status_history:" in out and "RUNNING" in out, out
        assert "Actual Resource Allocation Time" in out

        out = await ok(bai, "session", "rm", sid)
        assert "Done." in out
        terminated = await events.wait_for("session_terminated")
    assert terminated["reason"] == "user-requested", terminated
    assert terminated["sessionId"] == sid
    names = events.names
    assert names.index("session_started") < names.index("session_terminated"), names
    assert "session_failure" not in names
    # A second rm of a terminated session fails with a clear message (no traceback).
    again = await bai.run("session", "rm", sid, output_json=False)
    assert "Traceback" not in again.out


async def test_rename(bai: OfficialClient) -> None:
    name, new_name = unique("old"), unique("new")
    await ok(bai, "session", "create", "--name", name, "python")
    try:
        out = await ok(bai, "session", "rename", name, new_name)
        assert f"Session renamed to {new_name}." in out
        await ok(bai, "session", "logs", new_name)
        missing = await bai.run("session", "logs", name, output_json=False)
        assert missing.code != 0 and "404" in missing.out, missing.out
    finally:
        await ok(bai, "session", "rm", new_name)


async def test_info_by_uuid(bai: OfficialClient) -> None:
    name = unique("info")
    out = await ok(bai, "session", "create", "--name", name, "python")
    found = UUID_RE.search(out)
    assert found is not None, out
    try:
        info = await bai.run("session", "info", found.group(0))
        assert info.code == 0, info.out
        assert name in info.out and "RUNNING" in info.out, info.out
    finally:
        await ok(bai, "session", "rm", name)


# --- batch -------------------------------------------------------------------------------------


@dataclass
class BatchRun:
    name: str
    exit_code: int
    events: list[str]
    create_output: str


@pytest.fixture(scope="module")
async def batches(bai: OfficialClient) -> dict[str, BatchRun]:
    """A batch session that succeeds and one that fails, with their event streams."""
    runs: dict[str, BatchRun] = {}
    for label, command in (("ok", "echo hi"), ("bad", "exit 3")):
        name = unique(f"batch-{label}")
        async with watch_events(bai, name, "--wait", "batch_session_result") as events:
            out = await ok(
                bai, "session", "create", "--name", name, "--type", "batch",
                "--startup-command", command, "python",
            )  # fmt: skip
            await events.wait_for("session_success" if label == "ok" else "session_failure")
            # The stream goes on to the end of the session.
            with contextlib.suppress(AssertionError, TimeoutError):
                await events.wait_for("session_terminated", timeout=10)
            code = await asyncio.wait_for(events.proc.wait(), 10)
        runs[label] = BatchRun(name, code, events.names, out)
    return runs


async def test_batch_sessions(bai: OfficialClient, batches: dict[str, BatchRun]) -> None:
    good, bad = batches["ok"], batches["bad"]
    assert good.exit_code == 0 and bad.exit_code == 1
    assert "session_success" in good.events, good.events
    assert not {"session_failure", "session_cancelled"} & set(good.events)
    assert "session_failure" in bad.events and "session_success" not in bad.events
    if "session_terminated" in bad.events:
        assert bad.events.index("session_failure") < bad.events.index("session_terminated")
    assert "Traceback" not in good.create_output + bad.create_output


async def test_batch_results_listed(bai: OfficialClient, batches: dict[str, BatchRun]) -> None:
    listing = await bai.run(
        "admin", "session", "list", "--status", "ALL", "--format", "name,status,result"
    )
    assert listing.code == 0, listing.out
    items = {item["name"]: item for item in listing.json()["items"]}
    for label, result in (("ok", "SUCCESS"), ("bad", "FAILURE")):
        item = items[batches[label].name]
        assert item["status"] == "TERMINATED" and item["result"] == result, item


# --- enqueue-only and the admin list ----------------------------------------------------------


async def test_enqueue_only(bai: OfficialClient) -> None:
    name = unique("queued")
    ak = bai.env["BACKEND_ACCESS_KEY"]
    out = await ok(
        bai, "session", "create", "--enqueue-only", "-o", ak, "--name", name,
        "-r", "cpu=1000", "python",
    )  # fmt: skip
    assert "is enqueued for scheduling." in out, out
    out = await ok(bai, "session", "rm", "-o", ak, name)
    assert "Done." in out


async def test_admin_session_list(bai: OfficialClient) -> None:
    name = unique("listed")
    await ok(bai, "session", "create", "--name", name, "python")
    try:
        listing = await bai.run("admin", "session", "list")
        assert listing.code == 0, listing.out
        items = {item["name"]: item for item in listing.json()["items"]}
        assert name in items, items
        assert items[name].get("status", "RUNNING") == "RUNNING"
        plain = await bai.run("admin", "session", "list", output_json=False)
        assert plain.code == 0 and name in plain.out, plain.out
    finally:
        await ok(bai, "session", "rm", name)
