"""``cygnet up`` and ``cygnet manager serve`` as a user runs them: real processes, real ports."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cygnet.testing.signing import SignedClient

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(proc: subprocess.Popen[str], endpoint: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"server exited early ({proc.returncode}):\n{out}\n{err}")
        try:
            if httpx.get(endpoint + "/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("server did not answer in time")


def _read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        key, _, raw = line.partition("=")
        values[key] = shlex.split(raw)[0]
    return values


def _cygnet(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cygnet.launcher.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, f"exit code {proc.returncode}:\n{out}\n{err}"
    return out, err


async def _signed_get(endpoint: str, creds: dict[str, str], path: str) -> httpx.Response:
    client = SignedClient(endpoint, creds["CYGNET_ACCESS_KEY"], creds["CYGNET_SECRET_KEY"])
    try:
        return await client.request("GET", path)
    finally:
        await client.aclose()


async def test_up_bootstraps_serves_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = _cygnet("up", "--data-dir", str(tmp_path), "--port", str(port))
    try:
        _wait_until_up(proc, endpoint)
        creds_file = tmp_path / "credentials.env"
        assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
        creds = _read_env(creds_file)
        assert creds["CYGNET_ENDPOINT"] == creds["BACKEND_ENDPOINT"] == endpoint
        assert creds["CYGNET_ACCESS_KEY"] == creds["BACKEND_ACCESS_KEY"]
        assert creds["CYGNET_ADMIN_EMAIL"] == "admin@cygnet.local"
        assert len(creds["CYGNET_ADMIN_PASSWORD"]) >= 16
        resp = await _signed_get(endpoint, creds, "/manager/announcement")
        assert resp.status_code == 200
    finally:
        if proc.poll() is None:
            _out, err = _stop(proc)
    assert endpoint in err and str(creds_file) in err
    # The embedded agent started with the manager, in the runtime auto chose.
    assert "local-agent (" in err and (" runtime;" in err)
    # A second start keeps the store and the same credentials.
    proc = _cygnet("up", "--data-dir", str(tmp_path), "--port", str(port))
    try:
        _wait_until_up(proc, endpoint)
        again = _read_env(tmp_path / "credentials.env")
        assert again["CYGNET_ACCESS_KEY"] == creds["CYGNET_ACCESS_KEY"]
        resp = await _signed_get(endpoint, again, "/manager/announcement")
        assert resp.status_code == 200
    finally:
        if proc.poll() is None:
            _stop(proc)


async def test_manager_serve_with_config_file(tmp_path: Path) -> None:
    from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

    port = _free_port()
    async with fresh_database(
        DB_KIND, tmp_path, os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
    ) as url:
        config = tmp_path / "manager.toml"
        config.write_text(
            f'db_url = "{url}"\nport = {port}\ndata_dir = "{tmp_path}"\nlog_level = "WARNING"\n'
        )
        proc = _cygnet("manager", "serve", "--config", str(config))
        try:
            _wait_until_up(proc, f"http://127.0.0.1:{port}")
            creds = _read_env(tmp_path / "credentials.env")
            resp = await _signed_get(f"http://127.0.0.1:{port}", creds, "/manager/announcement")
            assert resp.status_code == 200
        finally:
            if proc.poll() is None:
                _stop(proc)


def test_manager_serve_rejects_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "manager.toml"
    config.write_text('port = "not a number"\n')
    proc = _cygnet("manager", "serve", "--config", str(config))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "invalid manager settings" in err and "port" in err


async def test_up_runs_agents_that_register_and_say_goodbye(tmp_path: Path) -> None:
    import sqlite3

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = _cygnet(
        "up",
        "--data-dir",
        str(tmp_path),
        "--port",
        str(port),
        "--runtime",
        "process",
        "--agents",
        "2",
    )
    try:
        _wait_until_up(proc, endpoint)
        deadline = time.monotonic() + 30
        while True:
            with sqlite3.connect(tmp_path / "cygnet.db") as db:
                rows = db.execute("SELECT id, status, runtime FROM agents ORDER BY id").fetchall()
            if len(rows) == 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert rows == [
            ("local-agent-1", "ALIVE", "process"),
            ("local-agent-2", "ALIVE", "process"),
        ]
    finally:
        if proc.poll() is None:
            _out, err = _stop(proc)
    assert "local-agent-1 (process runtime;" in err
    with sqlite3.connect(tmp_path / "cygnet.db") as db:
        statuses = {row[0] for row in db.execute("SELECT status FROM agents")}
    assert statuses == {"TERMINATED"}


def test_agent_serve_explains_a_missing_secret(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f'manager = "http://127.0.0.1:1"\ndata_dir = "{tmp_path}"\n')
    proc = _cygnet("agent", "serve", "--config", str(config))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "invalid agent settings" in err and "secret_file" in err
