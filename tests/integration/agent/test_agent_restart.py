"""Restart safety: ``kill -9`` an agent process, let a kernel end while it is away, start it
again, and check that it re-attached to the running kernel, reconciled its occupancy and
reported the kernel that ended meanwhile with its exit code."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cygnet.common import rpc
from cygnet.common.events import AgentStarted, KernelTerminated
from cygnet.manager.agents.client import AgentClient
from cygnet.testing.cluster import LocalManager, run_manager
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)

IMAGES = {"process": "python", "docker": "cygnet/busybox:latest"}
# The main command of the kernel that ends while the agent is away: it waits for the file
# "go" in /home/work, then exits 5.
WAIT_THEN_EXIT = ["/bin/sh", "-c", "while [ ! -f go ]; do sleep 0.1; done; echo leaving; exit 5"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[LocalManager]:
    async with (
        fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url,
        run_manager(
            data_dir=tmp_path / "manager",
            db_url=url,
            agent_heartbeat_interval=0.2,
            agent_heartbeat_timeout=5.0,
        ) as local,
    ):
        yield local


class AgentProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cygnet.launcher.main",
                    "agent",
                    "serve",
                    "--config",
                    str(self.config),
                ],
                stdout=log,
                stderr=log,
            )

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.proc.wait, 10)

    async def stop(self) -> int:
        # Waiting in a thread keeps the manager (in this event loop) answering the agent's
        # goodbye.
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(self.proc.wait, 30)
        return self.proc.returncode


async def _next(sub: Any, kind: type, timeout: float = 30, **match: Any) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await sub.get(timeout=max(0.01, deadline - loop.time()))
        if isinstance(event, kind) and all(getattr(event, k) == v for k, v in match.items()):
            return event


async def test_process_agent_survives_kill_9(manager: LocalManager, tmp_path: Path) -> None:
    await _survives_kill_9("process", manager, tmp_path)


async def test_docker_agent_survives_kill_9(
    manager: LocalManager, tmp_path: Path, docker_engine: object
) -> None:
    await _survives_kill_9("docker", manager, tmp_path)


async def _survives_kill_9(runtime: str, manager: LocalManager, tmp_path: Path) -> None:
    image = IMAGES[runtime]
    registry = manager.manager.services.agents
    events = manager.manager.services.events
    data_dir = tmp_path / "agent"
    config = tmp_path / "agent.toml"
    config.write_text(
        "\n".join(
            [
                f'id = "restart-{runtime}"',
                f'manager = "{manager.endpoint}"',
                f'secret = "{registry.settings.secret}"',
                'rpc_host = "127.0.0.1"',
                f"rpc_port = {_free_port()}",
                f'data_dir = "{data_dir}"',
                f'runtime = "{runtime}"',
                "cpus = [0, 1]",
                'memory = "2g"',
                "kernel_poll_interval = 0.1",
                'log_level = "INFO"',
            ]
        )
        + "\n"
    )
    agent = AgentProcess(config, tmp_path / "agent.log")
    kernels: list[uuid.UUID] = []
    client: AgentClient | None = None
    try:
        with events.subscribe() as sub:
            agent.start()
            await _next(sub, AgentStarted, agent_id=f"restart-{runtime}")
        client = await registry.client(f"restart-{runtime}")

        def create(command: list[str] | None) -> rpc.CreateKernel:
            return rpc.CreateKernel(
                kernel_id=uuid.uuid4(),
                session_id=uuid.uuid4(),
                owner_access_key="AKIATEST",
                image=image,
                resources={"cpu": "0.5", "mem": "256m"},
                command=command,
            )

        stays = await client.create_kernel(create(None))
        kernels.append(stays.kernel_id)
        leaves = await client.create_kernel(create(WAIT_THEN_EXIT))
        kernels.append(leaves.kernel_id)
        before = (await client.status()).occupied_slots
        assert before == {"cpu": "1", "mem": str(512 * 1024**2)}

        await agent.kill9()
        # While the agent is gone, one kernel ends on its own.
        (data_dir / "scratch" / str(leaves.kernel_id) / "go").write_text("")
        await asyncio.sleep(1.0)

        with events.subscribe() as sub:
            agent.start()
            ended = await _next(sub, KernelTerminated, kernel_id=leaves.kernel_id)
            assert (ended.reason, ended.exit_code) == ("self-terminated", 5)
        await _wait_registered(registry, f"restart-{runtime}")
        client = await registry.client(f"restart-{runtime}")
        summaries = {k.kernel_id: k for k in await client.list_kernels()}
        assert summaries[stays.kernel_id].state == "RUNNING"
        assert summaries[leaves.kernel_id].state == "EXITED"
        assert summaries[leaves.kernel_id].exit_code == 5
        # Occupancy now counts only the kernel that is still running.
        status = await client.status()
        assert status.occupied_slots == stays.occupied_slots
        # The re-attached kernel still works.
        result = await client.execute(stays.kernel_id, "batch", "echo still here")
        while result.status == "continued":
            result = await client.execute(stays.kernel_id, "continue", run_id=result.run_id)
        assert result.exit_code == 0 and ("stdout", "still here\n") in result.console
        assert "leaving" in await client.logs(leaves.kernel_id)
        for kernel_id in kernels:
            await client.destroy_kernel(kernel_id)
        kernels.clear()
        assert (await client.status()).occupied_slots in ({}, {"cpu": "0", "mem": "0"})
    finally:
        if client is not None:
            for kernel_id in kernels:
                try:
                    await client.destroy_kernel(kernel_id)
                except Exception:
                    pass
        code = await agent.stop()
        print(agent.log.read_text())
    assert code == 0
    assert (await registry.get(f"restart-{runtime}")).status == "TERMINATED"


async def _wait_registered(registry: Any, agent_id: str) -> None:
    for _ in range(200):
        if agent_id in registry.live_ids():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{agent_id} did not register again")
