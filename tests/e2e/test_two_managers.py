"""Two manager processes on one PostgreSQL database and four agent processes, two registered
with each manager: both managers schedule onto all four agents, and no room is ever booked
twice.

Many sessions (far more than fit) are submitted at once, half through each manager; then room
is freed several times (some running sessions are destroyed, alternately through each manager)
so that both managers' scheduling passes race for it. Throughout, a sampler checks every
agent's own allocation view and what the database books on each agent against the agent's
capacity. Every session must end RUNNING or PENDING (an agent refusing a kernel for lack of
room would cancel it with ``failed-to-start``); no agent may go LOST (each manager hears only
its own agents' heartbeats); after everything is destroyed, nothing is booked anywhere.

PostgreSQL only: SQLite is one process's database (``CYGNET_TEST_DB=postgresql``)."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import text

from cygnet.common import rpc
from cygnet.common.transport import RPCClient
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import scheduling
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database
from cygnet.testing.signing import SignedClient

pytestmark = pytest.mark.skipif(
    os.environ.get("CYGNET_TEST_DB", "sqlite") != "postgresql",
    reason="several managers need a shared PostgreSQL (run with CYGNET_TEST_DB=postgresql)",
)

PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
AGENTS_PER_MANAGER = 2
CPUS_PER_AGENT = 4
SESSIONS = 120
CHURN_ROUNDS = 5
TRIGGER_BURSTS = 6  # scheduling passes both managers run at once after room is freed
HEARTBEAT_TIMEOUT = 3.0  # short, so that a manager wrongly sweeping peers would mark them LOST
STARTING = ("SCHEDULED", "PREPARING", "PULLING", "PREPARED", "CREATING", "TERMINATING")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """Child processes, each in its own process group, all killed at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[IO[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        self.logs.append(log)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "cygnet.launcher.main", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def check(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited ({proc.returncode}):\n{self.tail(name)}")

    def tail(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for log in self.logs:
            log.close()


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("CYGNET_", "BACKEND_"))}


async def _until(
    what: str, check: Callable[[], Awaitable[bool]], procs: Processes, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        procs.check()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _credentials(data_dir: Path) -> tuple[str, str]:
    values = {}
    for line in (data_dir / "credentials.env").read_text().splitlines():
        key, _, raw = line.partition("=")
        values[key] = shlex.split(raw)[0]
    return values["CYGNET_ACCESS_KEY"], values["CYGNET_SECRET_KEY"]


def _agent_toml(
    agent_id: str, manager: str, secret: str, port: int, data_dir: Path, seed: int
) -> str:
    return f"""
id = "{agent_id}"
manager = "{manager}"
secret = "{secret}"
rpc_host = "127.0.0.1"
rpc_port = {port}
resource_group = "default"
runtime = "simulated"
data_dir = "{data_dir}"
cpus = {list(range(CPUS_PER_AGENT))}
memory = "16g"
kernel_poll_interval = 0.2
log_level = "WARNING"

[runtime_options]
start_delay = 0.05
stop_delay = 0.02
jitter = 0.8
seed = {seed}
"""


@pytest.fixture
async def pg_url(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database("postgresql", tmp_path, PG_ADMIN_URL) as url:
        yield url


async def test_two_managers_never_double_book(tmp_path: Path, pg_url: str) -> None:
    secret = secrets.token_hex(16)
    procs = Processes(tmp_path)
    db = Database(pg_url)
    clients: list[SignedClient] = []
    agent_rpcs: dict[str, RPCClient] = {}
    watch: asyncio.Task[None] | None = None
    try:
        # -- two managers on one database ------------------------------------------------------
        endpoints = []
        for name in ("manager-a", "manager-b"):
            port = _free_port()
            endpoint = f"http://127.0.0.1:{port}"
            env = {
                **_base_env(),
                "CYGNET_DB_URL": pg_url,
                "CYGNET_DATA_DIR": str(tmp_path / name),
                "CYGNET_PORT": str(port),
                "CYGNET_AGENT_SECRET": secret,
                "CYGNET_AGENT_HEARTBEAT_INTERVAL": "0.5",
                "CYGNET_AGENT_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
                "CYGNET_SESSION_SWEEP_INTERVAL": "0.15",
                "CYGNET_LOG_LEVEL": "WARNING",
            }
            procs.start(name, ["manager", "serve"], env)

            async def up(endpoint: str = endpoint) -> bool:
                try:
                    async with httpx.AsyncClient() as http:
                        return (await http.get(endpoint + "/", timeout=1)).status_code == 200
                except httpx.HTTPError:
                    return False

            # One after the other: the first creates the schema and the superadmin.
            await _until(f"{name} to answer", up, procs, timeout=60)
            endpoints.append(endpoint)
        access_key, secret_key = _credentials(tmp_path / "manager-a")
        clients = [SignedClient(endpoint, access_key, secret_key) for endpoint in endpoints]

        # -- four agents, two registered with each manager -------------------------------------
        capacity: dict[str, Decimal] = {}
        for m, endpoint in enumerate(endpoints):
            for i in range(AGENTS_PER_MANAGER):
                agent_id = f"agent-{'ab'[m]}{i + 1}"
                port = _free_port()
                config = tmp_path / f"{agent_id}.toml"
                config.write_text(
                    _agent_toml(agent_id, endpoint, secret, port, tmp_path / agent_id, 10 * m + i)
                )
                procs.start(agent_id, ["agent", "serve", "--config", str(config)], _base_env())
                agent_rpcs[agent_id] = RPCClient(f"http://127.0.0.1:{port}", secret)
                capacity[agent_id] = Decimal(CPUS_PER_AGENT)

        async def alive() -> list[str]:
            async with db.read() as tx:
                rows = await tx.execute(text("SELECT id FROM agents WHERE status = 'ALIVE'"))
                return sorted(r[0] for r in rows)

        async def all_alive() -> bool:
            return await alive() == sorted(capacity)

        await _until("the agents to register", all_alive, procs, timeout=60)

        # -- what is booked, watched all along --------------------------------------------------
        violations: list[str] = []
        samples = 0

        async def sample() -> None:
            nonlocal samples
            async with db.read() as tx:
                booked = await scheduling.occupancy(tx)
            for agent_id, slots in booked.items():
                cpu = slots.get_or_zero("cpu")
                if cpu > capacity[agent_id]:
                    violations.append(f"db books cpu={cpu} on {agent_id}")
            for agent_id, client in agent_rpcs.items():
                reply = await client.call(rpc.GetAgentStatus(), rpc.AgentStatusReply, timeout=10)
                cpu = Decimal(reply.occupied_slots.get("cpu", "0"))
                if cpu > Decimal(reply.info.available_slots["cpu"]):
                    violations.append(f"{agent_id} reports cpu={cpu} occupied")
            samples += 1

        async def sampler() -> None:
            while True:
                await sample()
                await asyncio.sleep(0.05)

        watch = asyncio.create_task(sampler())

        # -- far more sessions than fit, half through each manager, all at once -----------------
        rng = random.Random(5)
        sizes = [rng.choice((1, 1, 2, 3)) for _ in range(SESSIONS)]
        names = [f"race-{i:03d}" for i in range(SESSIONS)]
        assert sum(sizes) > 2 * sum(capacity.values())

        async def submit(i: int) -> None:
            resp = await clients[i % 2].request(
                "POST",
                "/session",
                json={
                    "name": names[i],
                    "image": "python",
                    "enqueueOnly": True,
                    "config": {"resources": {"cpu": sizes[i], "mem": "1g"}},
                },
            )
            assert resp.status_code == 201, resp.text

        await asyncio.gather(*(submit(i) for i in range(SESSIONS)))

        async def statuses() -> dict[str, str]:
            async with db.read() as tx:
                rows = await tx.execute(text("SELECT name, status FROM sessions"))
                return {name: status for name, status in rows}

        async def settled() -> bool:
            """Nothing is on its way, no waiting session fits on any agent's free room, and
            nothing changed for a moment (a loaded machine shows passing states)."""
            first = await statuses()
            await asyncio.sleep(0.3)
            current = await statuses()
            if current != first:
                return False
            if any(s in STARTING for s in current.values()):
                return False
            async with db.read() as tx:
                booked = await scheduling.occupancy(tx)
            most_free = max(
                capacity[a] - booked[a].get_or_zero("cpu") if a in booked else capacity[a]
                for a in capacity
            )
            waiting = [sizes[names.index(n)] for n, s in current.items() if s == "PENDING"]
            return not waiting or min(waiting) > most_free

        async def why(failed: list[str]) -> dict[str, Any]:
            async with db.read() as tx:
                rows = await tx.execute(
                    text(
                        "SELECT name, status_info, status_data FROM sessions WHERE name = ANY(:n)"
                    ),
                    {"n": failed},
                )
                return {name: (info, data) for name, info, data in rows}

        async def trigger(client: SignedClient) -> None:
            resp = await client.request("POST", "/admin/scheduler/trigger")
            assert resp.status_code == 200, resp.text

        destroyed: set[str] = set()
        for round_ in range(CHURN_ROUNDS):
            await _until(f"scheduling to settle (round {round_})", settled, procs)
            current = await statuses()
            failed = [n for n, s in current.items() if s in ("CANCELLED", "ERROR")]
            assert not failed, await why(failed)
            running = sorted(n for n, s in current.items() if s == "RUNNING")
            assert running, current
            # Free room through both managers at once: both schedulers race for it.
            victims = running[: max(2, len(running) // 2)]

            async def destroy(j: int, name: str) -> None:
                resp = await clients[j % 2].request("DELETE", f"/session/{name}")
                assert resp.status_code == 200, resp.text

            async def triggers() -> None:
                for _ in range(TRIGGER_BURSTS):
                    await asyncio.gather(*(trigger(c) for c in clients))

            # Room comes free on every agent at once, through both managers, while both run
            # scheduling passes.
            await asyncio.gather(*(destroy(j, n) for j, n in enumerate(victims)), triggers())
            destroyed.update(victims)
        await _until("scheduling to settle (last round)", settled, procs)

        # The managers' heartbeat timeout passed many times over: nobody was written off.
        assert await alive() == sorted(capacity)
        current = await statuses()
        outcome = {n: s for n, s in current.items() if n not in destroyed}
        assert set(outcome.values()) <= {"RUNNING", "PENDING"}, outcome
        assert "RUNNING" in outcome.values() and "PENDING" in outcome.values()
        async with db.read() as tx:
            rows = await tx.execute(
                text("SELECT DISTINCT agent_id FROM kernels WHERE agent_id IS NOT NULL")
            )
            used = {r[0] for r in rows}
        assert used == set(capacity), used  # every manager placed on every agent

        # -- everything destroyed: nothing booked anywhere -------------------------------------
        for j, name in enumerate(sorted(outcome)):
            resp = await clients[j % 2].request("DELETE", f"/session/{name}")
            assert resp.status_code == 200, resp.text

        async def all_over() -> bool:
            return set((await statuses()).values()) <= {"TERMINATED", "CANCELLED"}

        await _until("every session to end", all_over, procs)
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        await sample()
        assert samples > 20
        assert violations == []
        async with db.read() as tx:
            assert await scheduling.occupancy(tx) == {}
        for agent_id, client in agent_rpcs.items():
            reply = await client.call(rpc.GetAgentStatus(), rpc.AgentStatusReply)
            assert all(Decimal(v) == 0 for v in reply.occupied_slots.values()), (agent_id, reply)
        # Cancelled ones never ran; the rest ran and ended because we destroyed them.
        async with db.read() as tx:
            rows = await tx.execute(text("SELECT name, status_info FROM sessions"))
            reasons: dict[str, Any] = dict(rows.all())
        assert "failed-to-start" not in reasons.values(), reasons
    finally:
        if watch is not None:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
        for api in clients:
            await api.aclose()
        for agent_rpc in agent_rpcs.values():
            await agent_rpc.aclose()
        await db.close()
        procs.stop()
