"""Cluster sessions on real agents: the kernels of a session with ``cluster_size`` 2 see the
cluster's environment and, with the docker runtime, reach each other by hostname on their
session's own network, which goes away with the session."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiodocker
import pytest

from cygnet.agent.runtime.base import KernelSpec, RuntimeContext
from cygnet.agent.runtime.docker.backend import DockerRuntime
from cygnet.common.errors import SessionTerminatedWhileWaiting
from cygnet.common.lifecycle import ClusterMode, SessionStatus
from cygnet.common.rpc import ImageInfo
from cygnet.manager.entities import Caller, Kernel, Session, UserRole
from cygnet.manager.services.sessions import SessionSpec
from cygnet.manager.store.repositories import keypairs
from cygnet.testing.agents import ClusterFactory, LocalCluster
from cygnet.testing.docker import DockerEngine

FAST = {
    "agent_heartbeat_interval": 0.1,
    "agent_heartbeat_timeout": 2.0,
    "session_sweep_interval": 0.1,
}
AGENT = {"kernel_poll_interval": 0.05}
RESOURCES = {"cpu": 1, "mem": "512m"}
PORT = 7777

SERVE = f"""
import socket, threading
_server = socket.create_server(("0.0.0.0", {PORT}))
def _serve():
    while True:
        conn, _ = _server.accept()
        with conn:
            conn.sendall(("hello from " + socket.gethostname()).encode())
threading.Thread(target=_serve, daemon=True).start()
print("listening")
"""

CONNECT = f"""
import os, socket, json
with socket.create_connection(("sub1", {PORT}), timeout=10) as conn:
    reply = conn.recv(100).decode()
print(json.dumps({{
    "sub1": socket.gethostbyname("sub1"),
    "main1": socket.gethostbyname("main1"),
    "reply": reply,
    "env": {{k: v for k, v in os.environ.items() if k.startswith("BACKENDAI_CLUSTER")
            or k in ("MASTER_ADDR", "WORLD_SIZE", "WORLD_RANK", "LOCAL_RANK")}},
}}))
"""

ENV = """
import os, json
print(json.dumps({k: v for k, v in os.environ.items() if k.startswith("BACKENDAI_")
                  or k in ("MASTER_ADDR", "WORLD_SIZE", "WORLD_RANK", "LOCAL_RANK")}))
"""


async def admin(cluster: LocalCluster) -> Caller:
    """The admin, allowed sessions of up to 4 containers."""
    async with cluster.manager.manager.db.read() as tx:
        kp = await keypairs.get(tx, cluster.manager.admin.access_key)
    assert kp is not None
    caller = Caller(kp.access_key, kp.user, kp.user_id, UserRole.SUPERADMIN, "default", True)
    await cluster.manager.manager.services.policies.modify_keypair_policy(
        caller, kp.resource_policy, {"max_containers_per_session": 4}
    )
    return caller


async def run(cluster: LocalCluster, kernel: Kernel, code: str) -> str:
    """Run ``code`` in one kernel of a session; its stdout (fails on any stderr)."""
    assert kernel.agent_id is not None
    client = await cluster.manager.manager.services.agents.client(kernel.agent_id)
    result = await client.execute(kernel.id, "query", code)
    console = list(result.console)
    while result.status == "continued":
        result = await client.execute(kernel.id, "continue", run_id=result.run_id)
        console += result.console
    assert result.exit_code in (0, None), console
    assert all(kind == "stdout" for kind, _ in console), console
    return "".join(text for _, text in console)


def by_host(session: Session) -> dict[str, Kernel]:
    return {k.cluster_hostname: k for k in session.kernels}


@pytest.fixture
async def engine(docker_engine: DockerEngine) -> AsyncIterator[aiodocker.Docker]:
    async with aiodocker.Docker(url=docker_engine.url) as docker:
        yield docker


async def session_networks(docker: aiodocker.Docker, session_id: uuid.UUID) -> list[str]:
    name = f"cygnet-session-{session_id}"
    return [n["Name"] for n in await docker.networks.list() if n["Name"] == name]


async def session_containers(docker: aiodocker.Docker, session_id: uuid.UUID) -> list[Any]:
    label = f"cygnet.session-id={session_id}"
    return list(await docker.containers.list(all=True, filters={"label": [label]}))


async def check_cluster(
    cluster: LocalCluster, docker: aiodocker.Docker, mode: ClusterMode, name: str
) -> set[str | None]:
    """Create a two-kernel session, talk from main1 to sub1 by name, destroy it; returns the
    agents its kernels ran on."""
    svc = cluster.manager.manager.services.sessions
    me = await admin(cluster)
    spec = SessionSpec(
        image="cygnet/python:3.11",
        name=name,
        cluster_size=2,
        cluster_mode=mode,
        resources=RESOURCES,
    )
    try:
        created = await svc.create(me, spec)
    except SessionTerminatedWhileWaiting:
        failed = await svc.get(me, name)
        raise AssertionError(f"{name} did not start: {failed.status_data}") from None
    session = created.session
    try:
        assert session.status == SessionStatus.RUNNING, session.status_info
        kernels = by_host(await svc.get(me, name))
        assert set(kernels) == {"main1", "sub1"}
        assert await session_networks(docker, session.id) == [f"cygnet-session-{session.id}"]
        assert "listening" in await run(cluster, kernels["sub1"], SERVE)
        seen = json.loads(await run(cluster, kernels["main1"], CONNECT))
        assert seen["reply"] == "hello from sub1"
        assert seen["sub1"] != seen["main1"]
        assert seen["env"] == {
            "BACKENDAI_CLUSTER_MODE": mode.value,
            "BACKENDAI_CLUSTER_SIZE": "2",
            "BACKENDAI_CLUSTER_HOSTS": "main1,sub1",
            "BACKENDAI_CLUSTER_REPLICAS": "main:1,sub:1",
            "BACKENDAI_CLUSTER_ROLE": "main",
            "BACKENDAI_CLUSTER_IDX": "1",
            "BACKENDAI_CLUSTER_HOST": "main1",
            "BACKENDAI_CLUSTER_LOCAL_RANK": "0",
            "MASTER_ADDR": "main1",
            "WORLD_SIZE": "2",
            "WORLD_RANK": "0",
            "LOCAL_RANK": "0",
        }
        sub_env = json.loads(await run(cluster, kernels["sub1"], ENV))
        assert sub_env["BACKENDAI_CLUSTER_HOST"] == "sub1"
        assert sub_env["BACKENDAI_CLUSTER_LOCAL_RANK"] == "1"
        assert sub_env["WORLD_RANK"] == "1"
        return {k.agent_id for k in kernels.values()}
    finally:
        assert await svc.destroy(me, name) == "terminated"
        assert await session_networks(docker, session.id) == []
        assert await session_containers(docker, session.id) == []


async def test_single_node_cluster_on_docker(
    local_cluster: ClusterFactory, engine: aiodocker.Docker, tmp_path: Path
) -> None:
    async with local_cluster(
        tmp_path, runtime="docker", cpus=[0, 1], memory="2g", manager_settings=FAST, **AGENT
    ) as cluster:
        agents = await check_cluster(cluster, engine, ClusterMode.SINGLE_NODE, "cl-single")
        assert agents == {"local-agent"}


async def test_multi_node_cluster_on_two_docker_agents(
    local_cluster: ClusterFactory, engine: aiodocker.Docker, tmp_path: Path
) -> None:
    # Two agents on one engine: each creates the session's network if absent (they race).
    async with local_cluster(
        tmp_path,
        runtime="docker",
        agents=2,
        cpus=[0, 1],
        memory="2g",
        manager_settings=FAST,
        **AGENT,
    ) as cluster:
        agents = await check_cluster(cluster, engine, ClusterMode.MULTI_NODE, "cl-multi")
        assert agents == {"local-agent-1", "local-agent-2"}


async def test_cluster_env_on_the_process_runtime(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    """The process runtime gets the same variables (but no hostnames: they do not resolve)."""
    async with local_cluster(
        tmp_path, runtime="process", cpus=[0, 1], memory="2g", manager_settings=FAST, **AGENT
    ) as cluster:
        svc = cluster.manager.manager.services.sessions
        me = await admin(cluster)
        spec = SessionSpec(image="python", name="cl-proc", cluster_size=2, resources=RESOURCES)
        created = await svc.create(me, spec)
        try:
            assert created.session.status == SessionStatus.RUNNING
            kernels = by_host(await svc.get(me, "cl-proc"))
            env = json.loads(await run(cluster, kernels["sub1"], ENV))
            assert env["BACKENDAI_CLUSTER_HOSTS"] == "main1,sub1"
            assert env["BACKENDAI_CLUSTER_HOST"] == "sub1"
            assert env["BACKENDAI_CLUSTER_ROLE"] == "sub"
            assert env["BACKENDAI_CLUSTER_SIZE"] == "2"
            assert env["MASTER_ADDR"] == "main1"
        finally:
            assert await svc.destroy(me, "cl-proc") == "terminated"


async def test_concurrent_kernels_settle_on_one_network(
    docker_engine: DockerEngine, engine: aiodocker.Docker, tmp_path: Path
) -> None:
    """Four runtimes on one engine (four agents sharing it) start the four kernels of one
    session at once: they all join one network, which stays until the last one stops."""
    session_id = uuid.uuid4()
    network = f"cygnet-session-{session_id}"
    runtimes = [
        DockerRuntime(RuntimeContext(f"agent-{i}", tmp_path), {"url": docker_engine.url})
        for i in range(4)
    ]
    hosts = ["main1", "sub1", "sub2", "sub3"]
    specs = []
    for i, host in enumerate(hosts):
        (tmp_path / host).mkdir()
        specs.append(
            KernelSpec(
                kernel_id=uuid.uuid4(),
                session_id=session_id,
                agent_id=f"agent-{i}",
                owner="AKTEST",
                image=ImageInfo(name="cygnet/busybox:latest"),
                scratch_dir=tmp_path / host,
                runner_dir=tmp_path / host,
                cpus=Decimal("0.1"),
                cpuset=(),
                memory=64 << 20,
                hostname=host,
                cluster_network=network,
            )
        )
    states = await asyncio.gather(
        *(rt.start(spec) for rt, spec in zip(runtimes, specs, strict=True)),
        return_exceptions=True,
    )
    started = [(rt, st) for rt, st in zip(runtimes, states, strict=True) if isinstance(st, dict)]
    try:
        assert len(started) == 4, states
        assert len({st["network"] for _, st in started}) == 1
        assert await session_networks(engine, session_id) == [network]
        # Every kernel reaches every other by hostname.
        proc = await runtimes[0].exec(started[0][1], ["ping", "-c", "1", "-W", "2", "sub3"])
        await proc.close_stdin()
        output = []
        while (chunk := await asyncio.wait_for(proc.read(), 30)) is not None:
            output.append(chunk)
        assert await proc.wait() == 0, output
        # The network stays while kernels of the session remain on the engine.
        for rt, st in started[1:]:
            await rt.stop(st, timeout=1)
            assert await session_networks(engine, session_id) == [network]
    finally:
        for rt, st in started:
            await rt.stop(st, timeout=1)
        for rt in runtimes:
            await rt.close()
    assert await session_networks(engine, session_id) == []
    assert await session_containers(engine, session_id) == []
