"""Kernels end to end through the manager's RPC client: an in-process agent creates, runs code
in, moves files in and out of, and destroys real kernels — local processes (the process
runtime) and Docker containers (the docker runtime, with the bootstrap images)."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from cygnet.common import rpc
from cygnet.common.errors import (
    ImageNotFound,
    InsufficientResources,
    KernelNotFound,
    PathOutsideWorkdir,
)
from cygnet.common.events import KernelTerminated
from cygnet.manager.agents.client import AgentClient
from cygnet.testing.agents import LocalCluster, run_cluster

PYTHON_IMAGE = {"process": "python", "docker": "cygnet/python:3.11"}


@asynccontextmanager
async def _cluster(runtime: str, data_dir: Path) -> AsyncIterator[LocalCluster]:
    async with run_cluster(
        data_dir,
        runtime=runtime,
        cpus=[0, 1],
        memory="2g",
        kernel_poll_interval=0.05,
        accelerators={"mock": {"devices": 1, "mode": "discrete"}},
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def process_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    async with _cluster("process", tmp_path_factory.mktemp("process-cluster")) as running:
        yield running


@pytest.fixture(scope="module")
async def docker_cluster(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: object
) -> AsyncIterator[LocalCluster]:
    async with _cluster("docker", tmp_path_factory.mktemp("docker-cluster")) as running:
        yield running


@pytest.fixture(params=["process", "docker"])
def cluster(request: pytest.FixtureRequest) -> LocalCluster:
    """Each test runs against both runtimes (the docker one needs the engine fixture)."""
    running: LocalCluster = request.getfixturevalue(f"{request.param}_cluster")
    return running


@pytest.fixture
async def client(cluster: LocalCluster) -> AgentClient:
    return await cluster.manager.manager.services.agents.client(cluster.agent.id)


@pytest.fixture
def image(cluster: LocalCluster) -> str:
    return PYTHON_IMAGE[cluster.agent.runtime_name]


def _create(image: str, **overrides: object) -> rpc.CreateKernel:
    values: dict[str, object] = {
        "kernel_id": uuid.uuid4(),
        "session_id": uuid.uuid4(),
        "owner_access_key": "AKIATEST",
        "image": image,
        "resources": {"cpu": "1", "mem": "256m"},
    }
    values.update(overrides)
    return rpc.CreateKernel.model_validate(values)


async def _run(client: AgentClient, kernel_id: uuid.UUID, code: str, mode: str = "query"):  # type: ignore[no-untyped-def]
    result = await client.execute(kernel_id, mode, code)  # type: ignore[arg-type]
    console = list(result.console)
    while result.status == "continued":
        result = await client.execute(kernel_id, "continue", run_id=result.run_id)
        console += result.console
    return result, console


async def test_query_mode_keeps_state_and_echoes_values(
    cluster: LocalCluster, client: AgentClient, image: str
) -> None:
    created = await client.create_kernel(_create(image))
    kid = created.kernel_id
    try:
        result, console = await _run(client, kid, "x = 20")
        assert (result.status, result.exit_code, console) == ("finished", 0, [])
        result, console = await _run(client, kid, "x + 22")
        assert console == [("stdout", "42")]
        result, console = await _run(client, kid, 'print("Hello, world!")')
        assert console == [("stdout", "Hello, world!\n")]
        result, console = await _run(client, kid, "1/0")
        assert result.exit_code == 1 and console[0][0] == "stderr"
        assert "ZeroDivisionError" in console[0][1]
        result, console = await _run(client, kid, "import sys; sys.exit(2)")
        assert result.exit_code == 2 and console[0][0] == "stderr"
        # Input mode.
        first = await client.execute(kid, "query", 'name = input("name? "); print("hi", name)')
        assert first.status == "waiting-input"
        second = await client.execute(kid, "input", "bob", run_id=first.run_id)
        assert second.status == "finished"
        assert ("stdout", "hi bob\n") in second.console
        # Output streams: a long run answers "continued" with what it printed so far.
        slow = await client.execute(
            kid,
            "query",
            "import time\nprint('a', flush=True)\ntime.sleep(1.5)\nprint('b')",
            flush_timeout=0.5,
        )
        assert slow.status == "continued" and slow.console == [("stdout", "a\n")]
        done = await client.execute(kid, "continue", run_id=slow.run_id, flush_timeout=5)
        assert done.status == "finished" and done.console == [("stdout", "b\n")]
        # Batch mode runs a shell command; stdout and stderr stay apart.
        result, console = await _run(client, kid, "echo out; echo err >&2; exit 3", "batch")
        assert result.exit_code == 3
        assert ("stdout", "out\n") in console and ("stderr", "err\n") in console
    finally:
        await client.destroy_kernel(kid)


async def test_files_in_and_out_and_escapes_refused(
    cluster: LocalCluster, client: AgentClient, image: str
) -> None:
    created = await client.create_kernel(_create(image))
    kid = created.kernel_id
    try:
        await client.upload_file(kid, "data/hello.txt", b"hello from the host\n")
        _result, console = await _run(client, kid, "print(open('data/hello.txt').read(), end='')")
        assert console == [("stdout", "hello from the host\n")]
        await _run(client, kid, "open('made-inside.txt', 'w').write('x' * 10)")
        listing = await client.list_files(kid, ".")
        names = {f.filename: f for f in listing.files}
        assert names["made-inside.txt"].size == 10 and names["data"].mode.startswith("d")
        archive = await client.download_file(kid, "/home/work/data")
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            member = tar.extractfile("data/hello.txt")
            assert member is not None and member.read() == b"hello from the host\n"
        await _run(client, kid, "import os; os.symlink('/etc', 'etc-link')")
        for hostile in ("../escape.txt", "/etc/passwd", "etc-link/passwd", "/home/work/../x"):
            with pytest.raises(PathOutsideWorkdir):
                await client.upload_file(kid, hostile, b"no")
            with pytest.raises(PathOutsideWorkdir):
                await client.download_file(kid, hostile)
        with pytest.raises(PathOutsideWorkdir):
            await client.list_files(kid, "etc-link")
        assert not (cluster.agent.data_dir / "scratch" / "escape.txt").exists()
    finally:
        await client.destroy_kernel(kid)


async def test_resources_are_allocated_exactly_and_released(
    cluster: LocalCluster, client: AgentClient, image: str
) -> None:
    agent = cluster.agent
    assert agent.occupied().is_zero()
    a = await client.create_kernel(
        _create(image, resources={"cpu": "1.5", "mem": "1g", "cuda.device": "1"})
    )
    assert a.occupied_slots == {"cpu": "1.5", "mem": str(1024**3), "cuda.device": "1"}
    try:
        _result, console = await _run(
            client,
            a.kernel_id,
            "import os; print(os.environ['CUDA_VISIBLE_DEVICES'], len(os.sched_getaffinity(0)))",
        )
        assert console == [("stdout", "0 2\n")]
        with pytest.raises(InsufficientResources, match=r"cuda\.device"):
            await client.create_kernel(_create(image, resources={"cpu": "0.5", "cuda.device": "1"}))
        with pytest.raises(InsufficientResources, match="cpu"):
            await client.create_kernel(_create(image, resources={"cpu": "1"}))
        assert agent.occupied().to_json() == a.occupied_slots
    finally:
        await client.destroy_kernel(a.kernel_id)
    assert agent.occupied().is_zero()
    if cluster.agent.runtime_name == "docker":  # "repo" means "repo:latest"
        bare = await client.create_kernel(_create("cygnet/busybox"))
        await client.destroy_kernel(bare.kernel_id)
    with pytest.raises(ImageNotFound, match="no-such-image"):
        await client.create_kernel(_create("no-such-image"))
    assert agent.occupied().is_zero()
    with pytest.raises(KernelNotFound):
        await client.destroy_kernel(uuid.uuid4())


async def test_a_kernel_that_exits_is_reported_with_its_exit_code(
    cluster: LocalCluster, client: AgentClient, image: str
) -> None:
    events = cluster.manager.manager.services.events
    with events.subscribe() as sub:
        created = await client.create_kernel(
            _create(image, command=["/bin/sh", "-c", "echo bye; exit 7"])
        )
        while True:
            event = await sub.get(timeout=10)
            if isinstance(event, KernelTerminated) and event.kernel_id == created.kernel_id:
                break
    assert (event.reason, event.exit_code) == ("self-terminated", 7)
    assert cluster.agent.occupied().is_zero()
    kernels = {k.kernel_id: k for k in await client.list_kernels()}
    assert kernels[created.kernel_id].state == "EXITED"
    assert "bye" in await client.logs(created.kernel_id)
    destroyed = await client.destroy_kernel(created.kernel_id)
    assert destroyed.exit_code == 7
    assert created.kernel_id not in {k.kernel_id for k in await client.list_kernels()}


async def test_agent_status_reports_capacity_and_stats(
    cluster: LocalCluster, client: AgentClient, image: str
) -> None:
    status = await client.status()
    assert status.info.runtime == cluster.agent.runtime_name
    assert status.info.available_slots["cpu"] == "2"
    assert status.info.available_slots["cuda.device"] == "1"
    assert image in [i.name for i in status.info.images]
    assert status.live_stat.mem_total > 0
    await asyncio.sleep(0)
    json.dumps(status.model_dump(mode="json"))
