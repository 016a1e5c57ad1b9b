"""A manager process killed outright (SIGKILL, no shutdown) and started again: the sessions it
left are recovered from the store — running ones keep running and work, queued ones start.

``cygnet up --runtime process`` runs the manager and its agent in one process; the process
runtime's kernels are host processes in their own sessions, so they outlive the kill and the
restarted agent re-attaches to them."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from cygnet.testing.signing import SignedClient


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _up(data_dir: Path, port: int, log: IO[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cygnet.launcher.main",
            "up",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--runtime",
            "process",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
        env={**os.environ, "CYGNET_LOG_LEVEL": "WARNING"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"cygnet up exited early ({proc.returncode}):\n{log.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("cygnet up did not answer in time")


@pytest.fixture
def cluster_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # Whatever happened, no kernel process of this test outlives it: the agent's kernel
    # records name their process groups.
    for record in tmp_path.rglob("*.json"):
        try:
            pgid = json.loads(record.read_text())["runtime_state"]["pgid"]
            os.killpg(int(pgid), signal.SIGKILL)
        except (ValueError, KeyError, TypeError, OSError):
            pass


def _client(data_dir: Path, port: int) -> SignedClient:
    values = {}
    for line in (data_dir / "credentials.env").read_text().splitlines():
        key, _, raw = line.partition("=")
        values[key] = shlex.split(raw)[0]
    return SignedClient(
        f"http://127.0.0.1:{port}", values["CYGNET_ACCESS_KEY"], values["CYGNET_SECRET_KEY"]
    )


async def _execute(client: SignedClient, session: str, code: str) -> list[list[str]]:
    resp = await client.request(
        "POST", f"/session/{session}", json={"mode": "query", "code": code, "runId": None}
    )
    assert resp.status_code == 200, resp.text
    result = resp.json()["result"]
    assert result["status"] == "finished", result
    return list(result["console"])


async def test_a_killed_manager_recovers_its_sessions(cluster_dir: Path) -> None:
    port = _free_port()
    log = (cluster_dir / "up.log").open("w+")
    proc = _up(cluster_dir, port, log)
    client = _client(cluster_dir, port)
    try:
        resp = await client.request(
            "POST", "/session", json={"name": "outlives-it", "image": "python"}
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["status"] == "RUNNING"
        assert await _execute(client, "outlives-it", "x = 6 * 7") == []
        # Queued behind a request no agent can meet, it stays PENDING across the restart.
        resp = await client.request(
            "POST",
            "/session",
            json={
                "name": "waits-for-room",
                "image": "python",
                "enqueueOnly": True,
                "config": {"resources": {"cpu": 512}},
            },
        )
        assert resp.status_code == 201, resp.text
        proc.kill()  # no goodbye, no shutdown: as if the host lost power
        proc.wait(timeout=30)
        await client.aclose()

        proc = _up(cluster_dir, port, log)
        client = _client(cluster_dir, port)
        resp = await client.request("GET", "/session/outlives-it")
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "RUNNING"
        # The same kernel: a fresh interpreter is started, the container (process) is the same.
        assert await _execute(client, "outlives-it", "print(6 * 7)") == [["stdout", "42\n"]]
        resp = await client.request("GET", "/session/waits-for-room")
        assert resp.json()["status"] == "PENDING"
        resp = await client.request("DELETE", "/session/waits-for-room")
        assert resp.json() == {"stats": {"status": "cancelled"}}
        resp = await client.request("DELETE", "/session/outlives-it")
        assert resp.json() == {"stats": {"status": "terminated"}}
        resp = await client.request("GET", "/session/outlives-it/status-history")
        history = resp.json()["result"]
        assert {"PENDING", "RUNNING", "TERMINATING", "TERMINATED"} <= set(history)
    finally:
        await client.aclose()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        log.close()
