"""The simulated runtime: delays, failure injection, timed exits, exec doubles, footprint."""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cygnet.agent.images.catalog import BOOTSTRAP_IMAGES
from cygnet.agent.runtime.base import KernelSpec, RuntimeContext
from cygnet.agent.runtime.registry import load_runtime
from cygnet.agent.runtime.simulated.backend import SimulatedExec, SimulatedRuntime
from cygnet.common.clock import FakeClock
from cygnet.common.errors import AgentError, ImageNotFound
from cygnet.common.rpc import ImageInfo

PYTHON = "cygnet/python:3.11"
BUSYBOX = "cygnet/busybox:latest"


class Sleeps:
    """A sleep that records what it was asked to wait and moves a FakeClock instead."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds)


def make_runtime(
    options: dict[str, Any] | None = None,
    clock: FakeClock | None = None,
    sleeps: Sleeps | None = None,
) -> SimulatedRuntime:
    context = RuntimeContext(agent_id="i-sim", data_dir=Path("/nonexistent/simulated"))
    return SimulatedRuntime(context, options or {}, clock=clock, sleep=sleeps)


def make_spec(image: str = PYTHON) -> KernelSpec:
    return KernelSpec(
        kernel_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        agent_id="i-sim",
        owner="AKIATEST",
        image=ImageInfo(name=image),
        scratch_dir=Path("/nonexistent/scratch"),
        runner_dir=Path("/nonexistent/runner"),
        cpus=Decimal(1),
        cpuset=(0,),
        memory=256 << 20,
    )


async def collect(proc: Any) -> tuple[bytes, bytes, int]:
    out = {"stdout": b"", "stderr": b""}
    while (chunk := await proc.read()) is not None:
        out[chunk[0]] += chunk[1]
    return out["stdout"], out["stderr"], await proc.wait()


async def test_default_images_are_the_bootstrap_catalog() -> None:
    images = await make_runtime().list_images()
    assert [(i.name, i.labels) for i in images] == [(c.name, c.labels) for c in BOOTSTRAP_IMAGES]
    assert all(i.id.startswith("sha256:") for i in images)
    assert images[0].labels["ai.backend.runtime-type"] == "python"


async def test_configured_images_and_latest_alias() -> None:
    runtime = make_runtime(
        {"images": [{"name": "x/tool:latest", "labels": {"k": "v"}}], "architecture": "aarch64"}
    )
    [image] = await runtime.list_images()
    assert (image.name, image.labels, image.architecture) == (
        "x/tool:latest",
        {"k": "v"},
        "aarch64",
    )
    state = await runtime.start(make_spec("x/tool"))
    assert state["image"] == "x/tool:latest"
    with pytest.raises(ImageNotFound, match="x/tool:latest"):
        await runtime.start(make_spec(PYTHON))


async def test_unknown_image_is_image_not_found() -> None:
    with pytest.raises(ImageNotFound, match="nope:1"):
        await make_runtime().start(make_spec("nope:1"))


async def test_lifecycle_start_poll_stop_logs() -> None:
    clock = FakeClock()
    runtime = make_runtime(clock=clock)
    state = await runtime.start(make_spec())
    assert json.loads(json.dumps(state)) == state  # an opaque, JSON-able blob
    assert state["status"] == "running" and state["image"] == PYTHON
    clock.advance(3600)
    assert (await runtime.poll(state)).status == "running"
    assert await runtime.stop(state) == 143
    assert await runtime.stop(state) == 143  # idempotent
    poll = await runtime.poll(state)
    assert (poll.status, poll.exit_code) == ("exited", 143)
    logs = (await runtime.logs(state)).splitlines()
    assert len(logs) == 3
    assert "creating from image cygnet/python:3.11" in logs[0]
    assert logs[1].endswith(": started")
    assert logs[2].startswith("2026-01-01T01:00:00+00:00") and "stopped (exit code 143)" in logs[2]
    assert (await runtime.stats(state)).cpu_seconds == 0.0
    assert (await runtime.stats(state)).memory == 0
    with pytest.raises(AgentError, match="not running"):
        await runtime.exec(state, ["/bin/sh", "-c", "echo hi"])


async def test_kill_exit_code_is_configurable() -> None:
    runtime = make_runtime({"kill_exit_code": 137})
    state = await runtime.start(make_spec())
    assert await runtime.stop(state) == 137


async def test_run_seconds_exit_is_computed_from_the_clock() -> None:
    clock = FakeClock()
    sleeps = Sleeps(clock)
    runtime = make_runtime({"run_seconds": 10, "exit_code": 3, "stop_delay": 5}, clock, sleeps)
    state = await runtime.start(make_spec())
    clock.advance(9.9)
    assert (await runtime.poll(state)).status == "running"
    assert len((await runtime.logs(state)).splitlines()) == 2
    clock.advance(0.1)
    poll = await runtime.poll(state)
    assert (poll.status, poll.exit_code) == ("exited", 3)
    assert (await runtime.logs(state)).splitlines()[-1].endswith("exited with code 3")
    assert await runtime.stop(state) == 3  # it had already ended: no stop delay, its own code
    assert sleeps.calls == []
    assert (await runtime.logs(state)).splitlines()[-1].endswith("exited with code 3")


async def test_stop_before_run_seconds_is_a_kill() -> None:
    clock = FakeClock()
    runtime = make_runtime({"run_seconds": 10, "exit_code": 3}, clock)
    state = await runtime.start(make_spec())
    clock.advance(2)
    assert await runtime.stop(state) == 143
    clock.advance(60)
    assert (await runtime.poll(state)).exit_code == 143
    assert "stopped (exit code 143)" in (await runtime.logs(state)).splitlines()[-1]


async def test_delays_are_waited_out() -> None:
    clock = FakeClock()
    sleeps = Sleeps(clock)
    runtime = make_runtime(
        {"start_delay": 2.5, "stop_delay": 1.5, "exec_delay": 0.25}, clock, sleeps
    )
    t0 = clock.now().timestamp()
    state = await runtime.start(make_spec())
    assert sleeps.calls == [2.5]
    assert (state["created_at"], state["started_at"]) == (t0, t0 + 2.5)
    await runtime.exec(state, ["true"])
    assert sleeps.calls == [2.5, 0.25]
    await runtime.stop(state)
    await runtime.stop(state)  # already stopped: answers at once
    assert sleeps.calls == [2.5, 0.25, 1.5]
    assert state["stopped_at"] == t0 + 4.25


async def test_zero_delays_do_not_sleep_at_all() -> None:
    sleeps = Sleeps(FakeClock())
    runtime = make_runtime({}, sleeps.clock, sleeps)
    state = await runtime.start(make_spec())
    await runtime.exec(state, ["true"])
    await runtime.stop(state)
    assert sleeps.calls == []


async def test_short_real_delays_are_honoured() -> None:
    runtime = make_runtime({"start_delay": 0.05, "stop_delay": 0.05})
    began = time.monotonic()
    state = await runtime.start(make_spec())
    assert time.monotonic() - began >= 0.05
    began = time.monotonic()
    await runtime.stop(state)
    assert time.monotonic() - began >= 0.05


async def test_jitter_stays_in_bounds_and_repeats_with_a_seed() -> None:
    async def delays(seed: int) -> list[float]:
        sleeps = Sleeps(FakeClock())
        runtime = make_runtime({"start_delay": 1.0, "jitter": 0.5, "seed": seed}, None, sleeps)
        for _ in range(50):
            await runtime.start(make_spec())
        return sleeps.calls

    first, again, other = await delays(11), await delays(11), await delays(12)
    assert first == again
    assert first != other
    assert all(0.5 <= d <= 1.5 for d in first + other)
    assert len(set(first)) == 50


async def test_failure_injection_is_deterministic_with_a_seed() -> None:
    async def outcomes(seed: int, probability: float) -> list[bool]:
        runtime = make_runtime({"fail_start_probability": probability, "seed": seed})
        results = []
        for _ in range(200):
            try:
                await runtime.start(make_spec())
                results.append(True)
            except AgentError as exc:
                assert "simulated failure" in str(exc)
                results.append(False)
        return results

    first = await outcomes(7, 0.3)
    assert first == await outcomes(7, 0.3)
    assert first != await outcomes(8, 0.3)
    assert 30 <= first.count(False) <= 90
    assert all(await outcomes(7, 0.0))
    assert not any(await outcomes(7, 1.0))


async def test_fail_images_always_fail() -> None:
    runtime = make_runtime({"fail_images": [BUSYBOX]})
    for _ in range(5):
        with pytest.raises(AgentError, match="busybox"):
            await runtime.start(make_spec(BUSYBOX))
    assert (await runtime.start(make_spec(PYTHON)))["status"] == "running"


@pytest.mark.parametrize(
    ("argv", "stdout", "stderr", "code"),
    [
        (["/bin/sh", "-c", "echo hello world"], b"hello world\n", b"", 0),
        (["/bin/sh", "-c", "echo   'two  spaces' \"q\""], b"two  spaces q\n", b"", 0),
        (["/bin/sh", "-c", "echo -n no newline"], b"no newline", b"", 0),
        (["/bin/sh", "-c", "echo"], b"\n", b"", 0),
        (["sh", "-c", "exit 3"], b"", b"", 3),
        (["/bin/sh", "-c", "exit 300"], b"", b"", 44),
        (["/bin/sh", "-c", "exit"], b"", b"", 0),
        (["/bin/sh", "-c", "exit x"], b"", b"sh: exit: Illegal number: x\n", 2),
        (["/bin/sh", "-c", "true"], b"", b"", 0),
        (["/bin/sh", "-c", "false"], b"", b"", 1),
        (
            ["/bin/sh", "-c", "echo 'open"],
            b"",
            b"sh: syntax error: unterminated quoted string\n",
            2,
        ),
        (["/bin/sh", "-c", "echo hi; exit 3"], b"", b"", 0),  # not a simple command
        (["/bin/sh", "-c", "echo $HOME"], b"", b"", 0),  # no expansions
        (["/bin/sh", "-c", "python3 -c 'print(1)'"], b"", b"", 0),  # runs no code
        (["/bin/echo", "direct", "argv"], b"direct argv\n", b"", 0),
        (["false"], b"", b"", 1),
        (["/usr/bin/python3", "-u", "/opt/cygnet/repl.py"], b"", b"", 0),
        (["exit", "4"], b"", b"", 0),  # exit is a shell builtin, not a program
    ],
)
async def test_exec_simulates_a_tiny_shell(
    argv: list[str], stdout: bytes, stderr: bytes, code: int
) -> None:
    runtime = make_runtime()
    state = await runtime.start(make_spec())
    assert await collect(await runtime.exec(state, argv)) == (stdout, stderr, code)


async def test_exec_process_reads_stdin_and_kill_is_idempotent() -> None:
    runtime = make_runtime()
    state = await runtime.start(make_spec())
    proc = await runtime.exec(state, ["/bin/sh", "-c", "echo ok"], {"A": "1"}, "/home/work/x")
    assert isinstance(proc, SimulatedExec)
    await proc.write(b"some input\n")
    await proc.write(b"more")
    assert proc.stdin_bytes == 15
    await proc.close_stdin()
    with pytest.raises(BrokenPipeError):
        await proc.write(b"late")
    await proc.kill()
    await proc.kill()
    assert await collect(proc) == (b"ok\n", b"", 0)
    assert await proc.read() is None
    with pytest.raises(AgentError, match="needs a command"):
        await runtime.exec(state, [])


async def test_reattach_from_a_stored_blob() -> None:
    clock = FakeClock()
    state = await make_runtime({"run_seconds": 100}, clock).start(make_spec())
    stored = json.loads(json.dumps(state))
    restarted = make_runtime({}, clock)  # a new agent process, other options
    assert (await restarted.poll(stored)).status == "running"
    clock.advance(100)
    assert (await restarted.poll(stored)).status == "exited"  # the end was fixed at start


async def test_unknown_blobs_are_missing() -> None:
    runtime = make_runtime()
    for blob in ({}, {"kernel_id": 1}, {"kernel_id": "k", "status": "weird", "started_at": 0}):
        assert (await runtime.poll(blob)).status == "missing"
        assert await runtime.stop(blob) is None
        assert await runtime.logs(blob) == ""


async def test_found_through_the_registry() -> None:
    context = RuntimeContext(agent_id="i-sim", data_dir=Path("/nonexistent"))
    runtime = load_runtime("simulated", context, {"start_delay": 0})
    assert isinstance(runtime, SimulatedRuntime)
    assert runtime.name == "simulated"
    await runtime.close()


@pytest.mark.parametrize(
    "options",
    [
        {"fail_start_probability": 1.5},
        {"start_delay": -1},
        {"jitter": 2},
        {"exit_code": 256},
        {"no_such_option": 1},
        {"images": [{"name": ""}]},
        {"start_delay": float("inf")},
    ],
)
def test_bad_options_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_runtime(options)


async def test_ten_thousand_kernels_are_cheap() -> None:
    count = 10_000
    runtime = make_runtime()
    specs = [make_spec(PYTHON if i % 2 else BUSYBOX) for i in range(count)]
    tasks_before = len(asyncio.all_tasks())
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        began = time.monotonic()
        states = [await runtime.start(spec) for spec in specs]
        used, _ = tracemalloc.get_traced_memory()
        assert len(asyncio.all_tasks()) == tasks_before  # no task per kernel
        codes = [await runtime.stop(state) for state in states]
        polls = [await runtime.poll(state) for state in states]
        elapsed = time.monotonic() - began
    finally:
        tracemalloc.stop()
    per_kernel = (used - baseline) / count
    assert per_kernel < 2048, f"{per_kernel:.0f} bytes per kernel"
    assert elapsed < 20, f"{elapsed:.1f} s for {count} kernels"
    assert codes == [143] * count
    assert {p.status for p in polls} == {"exited"}
    assert len({s["kernel_id"] for s in states}) == count
