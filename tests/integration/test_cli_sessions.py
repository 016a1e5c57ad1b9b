"""Our ``cygnet`` CLI as a real subprocess against a manager with an in-process agent:
``cygnet run`` (output, exit codes, stderr, ``--keep``, batch), the ``cygnet session`` commands
(create, ls, info, exec, upload, files, download, logs, rename, history, events, rm) and the
error paths (unknown image, another user's session)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from cygnet.testing.agents import LocalCluster
from cygnet.testing.builders import add_user
from cygnet.testing.cli import SCRIPT, Cygnet, cli_env

PYTHON_IMAGE = {"process": "python", "docker": "cygnet/python:3.11"}


def unique(prefix: str = "cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_cli(cluster: LocalCluster, home: Path, **keys: str) -> Cygnet:
    return Cygnet(cli_env(cluster.manager.env(), home, **keys), home)


@pytest.fixture(scope="module")
def cygnet(process_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Cygnet:
    return make_cli(process_cluster, tmp_path_factory.mktemp("cli-home"))


# --- cygnet run --------------------------------------------------------------------------------


@pytest.fixture(params=["process", "docker"])
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Cygnet, str]:
    cluster: LocalCluster = request.getfixturevalue(f"{request.param}_cluster")
    cli = make_cli(cluster, tmp_path)
    cli.script = SCRIPT.exists()
    return cli, PYTHON_IMAGE[request.param]


async def test_run_output_exit_code_and_stderr(runner: tuple[Cygnet, str]) -> None:
    cli, image = runner
    first, second = await asyncio.gather(
        cli("run", image, "-c", "print(6*7)"),
        cli(
            "run", image, "-c",
            "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)",
        ),
    )  # fmt: skip
    assert (first.code, first.out) == (0, "42\n"), first
    assert "Traceback" not in first.err
    assert second.code == 3, second
    assert second.out == "out\n" and "err" in second.err, second


async def test_run_keep_and_session_commands(cygnet: Cygnet, tmp_path: Path) -> None:
    name, new_name = unique("keep"), unique("renamed")
    kept = await cygnet.ok("run", "--keep", "--name", name, "python", "-c", "x = 20")
    assert kept.out == "" and "cygnet session rm" in kept.err
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.txt").write_text("hello\n")
    dest = tmp_path / "dest"
    try:
        info, listing, table, uploaded = await asyncio.gather(
            cygnet.ok("session", "info", name, "--json"),
            cygnet.ok("--json", "session", "ls"),
            cygnet.ok("session", "ls"),
            replace(cygnet, cwd=src).ok("session", "upload", name, "hello.txt"),
        )
        assert info.json()["status"] == "RUNNING", info
        rows = listing.json()["items"] if "items" in listing.json() else listing.json()
        assert name in [row["name"] for row in rows], listing
        assert name in table.out
        assert "hello.txt" in uploaded.out

        # The session keeps the REPL's state between executions.
        echoed = await cygnet("session", "exec", name, "-c", "x + 22")
        assert (echoed.code, echoed.out) == (0, "42"), echoed
        failed = await cygnet("session", "exec", name, "-c", "import sys; sys.exit(4)")
        assert failed.code == 4, failed
        asked = await cygnet("session", "exec", name, "-c", "print('hi', input())", stdin="bob\n")
        assert (asked.code, asked.out) == (0, "hi bob\n"), asked

        files, _, logs = await asyncio.gather(
            cygnet.ok("session", "files", name, "--json"),
            cygnet.ok("session", "download", name, "hello.txt", "--dest", str(dest)),
            cygnet.ok("session", "logs", name),
        )
        entries = files.json()["items"] if "items" in files.json() else files.json()
        assert "hello.txt" in [e["filename"] for e in entries], files
        assert (dest / "hello.txt").read_text() == "hello\n"
        assert "Traceback" not in logs.out

        await cygnet.ok("session", "rename", name, new_name)
        gone, history = await asyncio.gather(
            cygnet("session", "info", name),
            cygnet.ok("session", "history", new_name, "--json"),
        )
        assert gone.code == 1 and "session_read_not-found" in gone.err, gone
        assert "PENDING" in history.json() and "RUNNING" in history.json(), history
    finally:
        removed = await cygnet("session", "rm", new_name, name)
    assert removed.code in (0, 1), removed
    assert f"Session {new_name}: terminated." in removed.out, removed


async def test_create_json_and_rm(cygnet: Cygnet) -> None:
    name = unique("created")
    created = (await cygnet.ok("session", "create", "python", "--name", name, "--json")).json()
    sid = created.get("id") or created.get("sessionId")
    try:
        assert uuid.UUID(str(sid)) and created["status"] == "RUNNING", created
        again = (await cygnet.ok("session", "create", "python", "--name", name, "--json")).json()
        assert again["created"] is False, again
        conflict = await cygnet("session", "create", "python", "--name", name, "--no-reuse")
        assert conflict.code == 1 and "Traceback" not in conflict.err, conflict
        assert "session-already-exists" in conflict.err or "already" in conflict.err.lower()
        human = await cygnet.ok("session", "info", str(sid))
        assert name in human.out or str(sid) in human.out
    finally:
        removed = (await cygnet.ok("session", "rm", str(sid), "--json")).json()
    assert removed["ok"] is True and removed["items"][0]["stats"]["status"] == "terminated"


# --- events and batch --------------------------------------------------------------------------


@dataclass
class Watch:
    proc: asyncio.subprocess.Process
    events: list[dict[str, Any]] = field(default_factory=list)

    async def wait_for(self, name: str, timeout: float = 60) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            for event in self.events:
                if event["event"] == name:
                    return event
            assert self.proc.stdout is not None
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    assert self.proc.stderr is not None
                    err = await self.proc.stderr.read()
                    raise AssertionError(f"no {name}: {self.events} {err.decode()}")
                if raw.strip():
                    event = json.loads(raw)
                    self.events.append(event)
                    if event["event"] == name:
                        return dict(event)

        return await asyncio.wait_for(read(), timeout)


@contextlib.asynccontextmanager
async def watch(cli: Cygnet, ref: str) -> AsyncIterator[Watch]:
    proc = await asyncio.create_subprocess_exec(
        *cli.argv("session", "events", ref, "--json"),
        env=cli.env,
        cwd=cli.cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await asyncio.sleep(1.0)  # let it subscribe
        yield Watch(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_session_events(cygnet: Cygnet) -> None:
    name = unique("events")
    async with watch(cygnet, name) as events:
        created = (await cygnet.ok("session", "create", "python", "--name", name, "--json")).json()
        started = await events.wait_for("session_started")
        assert started["sessionName"] == name
        await cygnet.ok("session", "rm", name)
        terminated = await events.wait_for("session_terminated")
    assert terminated["reason"] == "user-requested"
    assert str(created.get("id") or created.get("sessionId")) == terminated["sessionId"]
    human = await cygnet("session", "events", "--help")
    assert human.code == 0


async def test_batch_run(cygnet: Cygnet) -> None:
    good, bad = await asyncio.gather(
        cygnet("run", "--type", "batch", "--exec", "echo hi", "python"),
        cygnet("run", "--type", "batch", "--exec", "echo bye; exit 3", "python"),
    )
    assert good.code == 0 and "hi" in good.out, good
    assert bad.code == 3 and "bye" in bad.out, bad
    name = unique("batch")
    created = await cygnet.ok(
        "session", "create", "python", "--type", "batch", "--startup-command", "echo hi",
        "--name", name,
    )  # fmt: skip
    assert name in created.out
    usage = await cygnet("session", "create", "python", "--type", "batch")
    assert usage.code == 2 and "startup-command" in usage.err


# --- errors ------------------------------------------------------------------------------------


async def test_unknown_image(cygnet: Cygnet) -> None:
    done = await cygnet("run", "no-such-image:1.0", "-c", "print(1)")
    assert done.code == 1, done
    assert "no-such-image" in done.err and "image" in done.err.lower(), done.err
    assert "Traceback" not in done.err and done.out == ""


async def test_another_users_session_is_not_found(
    cygnet: Cygnet, process_cluster: LocalCluster, tmp_path: Path
) -> None:
    user = await add_user(process_cluster.manager)
    theirs = make_cli(
        process_cluster,
        tmp_path,
        CYGNET_ACCESS_KEY=user.access_key,
        CYGNET_SECRET_KEY=user.secret_key,
        BACKEND_ACCESS_KEY=user.access_key,
        BACKEND_SECRET_KEY=user.secret_key,
    )
    name = unique("private")
    created = (await cygnet.ok("session", "create", "python", "--name", name, "--json")).json()
    sid = str(created.get("id") or created.get("sessionId"))
    try:
        probes = [
            ("session", "info", sid),
            ("session", "info", name),
            ("session", "logs", sid),
            ("session", "exec", sid, "-c", "print(1)"),
            ("session", "rm", sid),
        ]
        answers = await asyncio.gather(*(theirs(*args) for args in probes))
        for args, done in zip(probes, answers, strict=True):
            assert done.code == 1, (args, done)
            assert "session_read_not-found" in done.err, (args, done.err)
            assert "Traceback" not in done.err
        mine = (await theirs.ok("--json", "session", "ls")).json()
        rows = mine["items"] if isinstance(mine, dict) else mine
        assert name not in [row["name"] for row in rows]
    finally:
        await cygnet.ok("session", "rm", sid)
