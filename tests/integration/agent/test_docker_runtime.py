"""The ``docker`` runtime against a real Docker Engine (see ``docker_engine`` in conftest)."""

from __future__ import annotations

import asyncio
import platform
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiodocker
import pytest

from cygnet.agent.images.catalog import BUILD_HASH_LABEL, BUSYBOX_IMAGE, PYTHON_IMAGE
from cygnet.agent.runtime.base import (
    ExecProcess,
    KernelPoll,
    KernelSpec,
    KernelState,
    Mount,
    RuntimeContext,
)
from cygnet.agent.runtime.docker.backend import DockerRuntime
from cygnet.common.errors import AgentError, ImageNotFound, KernelNotFound
from cygnet.common.rpc import ImageInfo
from cygnet.testing.docker import DockerEngine

pytestmark = pytest.mark.usefixtures("docker_engine")

IMAGES = [BUSYBOX_IMAGE.name, PYTHON_IMAGE.name]
MiB = 1024 * 1024


@pytest.fixture
async def runtime(docker_engine: DockerEngine, tmp_path: Path) -> AsyncIterator[DockerRuntime]:
    rt = DockerRuntime(RuntimeContext("test-agent", tmp_path), {"url": docker_engine.url})
    yield rt
    await rt.close()


@pytest.fixture
async def engine(docker_engine: DockerEngine) -> AsyncIterator[aiodocker.Docker]:
    async with aiodocker.Docker(url=docker_engine.url) as docker:
        yield docker


def make_spec(tmp_path: Path, image: str = BUSYBOX_IMAGE.name, **changes: Any) -> KernelSpec:
    kernel_id = uuid.uuid4()
    scratch = tmp_path / f"scratch-{kernel_id.hex[:8]}"
    runner = tmp_path / f"runner-{kernel_id.hex[:8]}"
    scratch.mkdir()
    runner.mkdir()
    spec = KernelSpec(
        kernel_id=kernel_id,
        session_id=uuid.uuid4(),
        agent_id="test-agent",
        owner="AKTEST",
        image=ImageInfo(name=image),
        scratch_dir=scratch,
        runner_dir=runner,
        cpus=Decimal(1),
        cpuset=(),
        memory=256 * MiB,
    )
    return replace(spec, **changes)


@asynccontextmanager
async def running(runtime: DockerRuntime, spec: KernelSpec) -> AsyncIterator[KernelState]:
    """Start a kernel and always remove it afterwards."""
    state = await runtime.start(spec)
    try:
        yield state
    finally:
        await runtime.stop(state, timeout=1)


async def run(
    runtime: DockerRuntime, state: KernelState, argv: Sequence[str], stdin: bytes | None = None
) -> tuple[int, bytes, bytes]:
    proc = await runtime.exec(state, argv)
    if stdin is not None:
        await proc.write(stdin)
        await proc.close_stdin()
    out, err = await collect(proc)
    return await proc.wait(), out, err


async def collect(proc: ExecProcess) -> tuple[bytes, bytes]:
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    while (chunk := await asyncio.wait_for(proc.read(), 30)) is not None:
        chunks[chunk[0]].append(chunk[1])
    return b"".join(chunks["stdout"]), b"".join(chunks["stderr"])


async def wait_exited(runtime: DockerRuntime, state: KernelState) -> KernelPoll:
    for _ in range(200):
        polled = await runtime.poll(state)
        if polled.status != "running":
            return polled
        await asyncio.sleep(0.05)
    raise AssertionError("the kernel did not exit")


@pytest.mark.parametrize("image", IMAGES)
async def test_start_poll_stop(runtime: DockerRuntime, tmp_path: Path, image: str) -> None:
    spec = make_spec(tmp_path, image)
    state = await runtime.start(spec)
    assert set(state) >= {"container_id", "name"}
    assert state["name"] == f"cygnet-{spec.kernel_id}"
    assert await runtime.poll(state) == KernelPoll("running")
    started = time.monotonic()
    assert await runtime.stop(state, timeout=10) == 0  # the keep-alive exits at once
    assert time.monotonic() - started < 5
    assert await runtime.poll(state) == KernelPoll("missing")
    assert await runtime.stop(state) is None  # idempotent


async def test_limits_labels_and_mounts_in_inspect(
    runtime: DockerRuntime, engine: aiodocker.Docker, tmp_path: Path
) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    spec = make_spec(
        tmp_path,
        cpus=Decimal("0.5"),
        cpuset=(1, 0),
        memory=128 * MiB,
        shmem=32 * MiB,
        pids_limit=256,
        environ={"GREETING": "hello world"},
        labels={"cygnet.extra": "yes"},
        mounts=[Mount(extra, "/data", read_only=True)],
        hostname="kernel-a",
    )
    async with running(runtime, spec) as state:
        info = await engine.containers.container(state["container_id"]).show()
    host = info["HostConfig"]
    assert host["NanoCpus"] == 500_000_000
    assert host["CpusetCpus"] == "0,1"
    assert host["Memory"] == 128 * MiB
    assert host["MemorySwap"] == 128 * MiB
    assert host["PidsLimit"] == 256
    assert host["ShmSize"] == 32 * MiB
    config = info["Config"]
    assert config["Labels"] | spec.standard_labels() == config["Labels"]
    assert config["Labels"]["cygnet.kernel-id"] == str(spec.kernel_id)
    assert config["Labels"]["cygnet.session-id"] == str(spec.session_id)
    assert config["Labels"]["cygnet.owner"] == "AKTEST"
    assert config["Labels"]["cygnet.agent-id"] == "test-agent"
    assert config["Labels"]["cygnet.extra"] == "yes"
    assert "GREETING=hello world" in config["Env"]
    assert config["WorkingDir"] == "/home/work"
    assert config["Hostname"] == "kernel-a"
    mounts = {m["Destination"]: (m["Source"], m["RW"]) for m in info["Mounts"]}
    assert mounts["/home/work"] == (str(spec.scratch_dir), True)
    assert mounts["/opt/cygnet"] == (str(spec.runner_dir), False)
    assert mounts["/data"] == (str(extra), False)


@pytest.mark.parametrize("image", IMAGES)
async def test_scratch_dir_is_home_work_and_runner_is_read_only(
    runtime: DockerRuntime, tmp_path: Path, image: str
) -> None:
    spec = make_spec(tmp_path, image)
    (spec.runner_dir / "runner.txt").write_text("from the agent")
    async with running(runtime, spec) as state:
        code, out, _ = await run(
            runtime, state, ["/bin/sh", "-c", "pwd; echo written > out.txt; cat /opt/cygnet/*"]
        )
        assert (code, out) == (0, b"/home/work\nfrom the agent")
        assert (spec.scratch_dir / "out.txt").read_text() == "written\n"
        code, _, err = await run(runtime, state, ["/bin/sh", "-c", "echo x > /opt/cygnet/new"])
        assert code != 0
        assert b"Read-only" in err
        assert not (spec.runner_dir / "new").exists()


@pytest.mark.parametrize("image", IMAGES)
async def test_exec_separates_streams_and_returns_exit_code(
    runtime: DockerRuntime, tmp_path: Path, image: str
) -> None:
    async with running(runtime, make_spec(tmp_path, image)) as state:
        script = "echo to-out; echo to-err >&2; echo more-out; exit 3"
        code, out, err = await run(runtime, state, ["/bin/sh", "-c", script])
        assert (code, out, err) == (3, b"to-out\nmore-out\n", b"to-err\n")


@pytest.mark.parametrize("image", IMAGES)
async def test_exec_stdin_reaches_eof_on_close(
    runtime: DockerRuntime, tmp_path: Path, image: str
) -> None:
    async with running(runtime, make_spec(tmp_path, image)) as state:
        proc = await runtime.exec(state, ["cat"])
        await proc.write(b"first ")
        await proc.write(b"second\n")
        await proc.close_stdin()  # cat ends only if it sees EOF
        out, err = await collect(proc)
        assert (out, err) == (b"first second\n", b"")
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        payload = b"x" * 200_000
        code, out, _ = await run(runtime, state, ["/bin/sh", "-c", "wc -c"], stdin=payload)
        assert (code, out.strip()) == (0, b"200000")


SHOW_ENV = "import os, sys; print(os.environ['X'], os.getcwd(), sys.stdin.read())"


async def test_exec_python_stdin_and_environment(runtime: DockerRuntime, tmp_path: Path) -> None:
    async with running(runtime, make_spec(tmp_path, PYTHON_IMAGE.name)) as state:
        proc = await runtime.exec(
            state,
            ["python3", "-c", SHOW_ENV],
            environ={"X": "env-value"},
            workdir="/tmp",
        )
        await proc.write(b"from stdin")
        await proc.close_stdin()
        out, err = await collect(proc)
        assert (await proc.wait(), out, err) == (0, b"env-value /tmp from stdin\n", b"")


async def test_exec_kill(runtime: DockerRuntime, tmp_path: Path) -> None:
    async with running(runtime, make_spec(tmp_path)) as state:
        proc = await runtime.exec(state, ["/bin/sh", "-c", "sleep 300 & sleep 300; echo never"])
        await asyncio.sleep(0.2)
        await proc.kill()
        assert await asyncio.wait_for(proc.wait(), 10) == 137
        await proc.kill()  # idempotent
        _, out, _ = await run(runtime, state, ["/bin/sh", "-c", "ps | grep -c '[s]leep 300'"])
        assert out.strip() == b"0"


async def test_main_command_exit_code_and_logs(runtime: DockerRuntime, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, command=["/bin/sh", "-c", "echo to-out; echo to-err >&2; exit 7"])
    async with running(runtime, spec) as state:
        assert await wait_exited(runtime, state) == KernelPoll("exited", 7)
        logs = await runtime.logs(state)
        assert "to-out\n" in logs
        assert "to-err\n" in logs
        assert await runtime.stop(state) == 7
        assert await runtime.poll(state) == KernelPoll("missing")


async def test_main_command_stops_promptly_on_sigterm(
    runtime: DockerRuntime, tmp_path: Path
) -> None:
    sleeper = ["python3", "-c", "import time; time.sleep(300)"]
    spec = make_spec(tmp_path, PYTHON_IMAGE.name, command=sleeper)
    state = await runtime.start(spec)
    await asyncio.sleep(0.3)
    started = time.monotonic()
    code = await runtime.stop(state, timeout=10)
    assert time.monotonic() - started < 5  # the command got SIGTERM, not a 10 s wait
    assert code == 143


async def test_stats(runtime: DockerRuntime, tmp_path: Path) -> None:
    async with running(runtime, make_spec(tmp_path, PYTHON_IMAGE.name)) as state:
        before = await runtime.stats(state)
        burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
        code, _, _ = await run(runtime, state, ["python3", "-c", burn])
        assert code == 0
        started = time.monotonic()
        after = await runtime.stats(state)
        assert time.monotonic() - started < 0.5
        assert after.cpu_seconds >= before.cpu_seconds + 0.25
        assert after.memory > 0


async def test_list_images_has_the_catalogue_with_labels(runtime: DockerRuntime) -> None:
    images = {image.name: image for image in await runtime.list_images()}
    for entry in (BUSYBOX_IMAGE, PYTHON_IMAGE):
        info = images[entry.name]
        assert info.labels | entry.labels == info.labels
        assert BUILD_HASH_LABEL in info.labels
        assert info.id.startswith("sha256:")
        assert info.size > 0
        assert info.architecture == platform.machine()


async def test_missing_image(runtime: DockerRuntime, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "cygnet/does-not-exist:1")
    with pytest.raises(ImageNotFound, match="cygnet image bootstrap"):
        await runtime.start(spec)


async def test_reattach_from_state_with_a_new_instance(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    context = RuntimeContext("test-agent", tmp_path)
    first = DockerRuntime(context, {"url": docker_engine.url})
    state = await first.start(make_spec(tmp_path))
    await first.close()
    second = DockerRuntime(context, {"url": docker_engine.url})
    try:
        assert await second.poll(dict(state)) == KernelPoll("running")
        assert await run(second, state, ["echo", "again"]) == (0, b"again\n", b"")
    finally:
        assert await second.stop(state) == 0
        await second.close()


async def test_gone_kernel(runtime: DockerRuntime, tmp_path: Path) -> None:
    state = {"container_id": "0" * 64, "name": "cygnet-gone"}
    assert await runtime.poll(state) == KernelPoll("missing")
    assert await runtime.stop(state) is None
    with pytest.raises(KernelNotFound):
        await runtime.exec(state, ["true"])
    with pytest.raises(KernelNotFound):
        await runtime.logs(state)


async def test_no_engine_is_an_agent_error(tmp_path: Path) -> None:
    rt = DockerRuntime(RuntimeContext("a", tmp_path), {"url": "unix:///nonexistent/docker.sock"})
    try:
        with pytest.raises(AgentError, match="start dockerd"):
            await rt.list_images()
    finally:
        await rt.close()
