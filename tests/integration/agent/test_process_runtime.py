"""The ``process`` runtime against the real host: processes, cgroups (where writable), rlimits.

Every test checks afterwards that its kernels left no live process, cgroup or runtime
directory behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cygnet.agent.runtime.base import KernelPoll, KernelSpec, KernelState, RuntimeContext
from cygnet.agent.runtime.process import cgroups, procfs
from cygnet.agent.runtime.process.backend import ProcessRuntime
from cygnet.agent.runtime.process.cgroups import CgroupLayout, KernelCgroup
from cygnet.common.errors import AgentError, ImageNotFound
from cygnet.common.rpc import ImageInfo

if not sys.platform.startswith("linux"):
    pytest.skip("the process runtime needs Linux", allow_module_level=True)

CGROUP_ROOT = f"cygnet-test-{os.getpid()}"
OPTIONS: dict[str, Any] = {"cgroup_root": CGROUP_ROOT}
MiB = 1 << 20


def allowed_cpu() -> int:
    return max(os.sched_getaffinity(0))


def make_spec(tmp_path: Path, **overrides: Any) -> KernelSpec:
    kernel_id = uuid.uuid4()
    scratch = tmp_path / f"scratch-{kernel_id.hex[:8]}"
    runner = tmp_path / "runner"
    scratch.mkdir()
    runner.mkdir(exist_ok=True)
    fields: dict[str, Any] = {
        "kernel_id": kernel_id,
        "session_id": uuid.uuid4(),
        "agent_id": "test-agent",
        "owner": "AKTEST",
        "image": ImageInfo(name="python"),
        "scratch_dir": scratch,
        "runner_dir": runner,
        "cpus": Decimal(1),
        "cpuset": (),
        "memory": 256 * MiB,
        "pids_limit": 256,
    }
    fields.update(overrides)
    return KernelSpec(**fields)


def live_processes(state: KernelState) -> list[int]:
    """Live processes of a kernel: its main process and anything in its groups or cgroups."""
    found: set[int] = set()
    main = procfs.read_stat(state["pid"])
    if main is not None and main.start_time == state["start_time"] and main.alive:
        found.add(main.pid)
    found.update(s.pid for s in procfs.group_members([state["pgid"]]))
    cgroup = KernelCgroup.from_json(state.get("cgroup"))
    if cgroup is not None:
        for pid in cgroups.pids(cgroup):
            stat = procfs.read_stat(pid)
            if stat is not None and stat.alive:
                found.add(pid)
    return sorted(found)


def read_text(path: str | Path) -> str:
    return Path(path).read_text()


def exists(path: str | Path) -> bool:
    return Path(path).exists()


def assert_clean(state: KernelState) -> None:
    assert live_processes(state) == [], f"leftover processes of {state['kernel_id']}"
    cgroup = KernelCgroup.from_json(state.get("cgroup"))
    if cgroup is not None:
        leftovers = [d for d in cgroup.unique_dirs() if d.exists()]
        assert leftovers == [], "leftover cgroups"
    assert not Path(state["dir"]).exists(), "leftover runtime directory"


async def wait_for(
    runtime: ProcessRuntime, state: KernelState, status: str, within: float = 10.0
) -> KernelPoll:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        polled = await runtime.poll(state)
        if polled.status == status or loop.time() > deadline:
            return polled
        await asyncio.sleep(0.05)


async def eventually(check: Callable[[], bool], within: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def read_all(process: Any, within: float = 20.0) -> tuple[bytes, bytes]:
    out, err = b"", b""
    async with asyncio.timeout(within):
        while (chunk := await process.read()) is not None:
            if chunk[0] == "stdout":
                out += chunk[1]
            else:
                err += chunk[1]
    return out, err


@pytest.fixture(scope="module", autouse=True)
def remove_cgroup_roots() -> Iterator[None]:
    yield
    layout = cgroups.detect_layout()
    mounts = set(layout.mounts.values()) if layout else set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if " - cgroup2 " in line:
            mounts.add(Path(line.split()[4]))
    for mount in mounts:
        if (mount / CGROUP_ROOT).is_dir():
            (mount / CGROUP_ROOT).rmdir()  # fails (and so the test run) if a kernel remains


class Kernels:
    """Runtimes and started kernels of one test, all stopped and checked at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "agent"
        self.runtimes: list[ProcessRuntime] = []
        self.states: list[KernelState] = []

    def runtime(self, **options: Any) -> ProcessRuntime:
        runtime = ProcessRuntime(RuntimeContext("test-agent", self.data_dir), OPTIONS | options)
        self.runtimes.append(runtime)
        return runtime

    async def start(self, runtime: ProcessRuntime, **overrides: Any) -> KernelState:
        state = await runtime.start(make_spec(self.tmp_path, **overrides))
        json.dumps(state)  # the blob must be JSON-able
        self.states.append(state)
        return state


@pytest.fixture
async def kernels(tmp_path: Path) -> AsyncIterator[Kernels]:
    k = Kernels(tmp_path)
    yield k
    runtime = k.runtimes[0] if k.runtimes else k.runtime()
    for state in k.states:
        await runtime.stop(state, timeout=1.0)
        assert_clean(state)
    for rt in k.runtimes:
        await rt.close()


# -- basics ---------------------------------------------------------------------------------


async def test_idle_kernel_start_poll_stop(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    state = await kernels.start(runtime)
    assert (await runtime.poll(state)).status == "running"
    assert set(state) >= {"pid", "pgid", "start_time", "scratch_dir", "runner_dir", "cgroup"}
    assert len(json.dumps(state)) < 8192
    assert state["pgid"] == state["pid"] == os.getpgid(state["pid"])
    assert os.getsid(state["pid"]) == state["pid"]  # a session of its own
    environ = read_text(f"/proc/{state['pid']}/environ").split("\0")
    assert f"CYGNET_KERNEL_ID={state['kernel_id']}" in environ
    assert f"HOME={state['scratch_dir']}" in environ
    [path] = [v for v in environ if v.startswith("PATH=")]
    assert path.removeprefix("PATH=").split(":")[0] == os.path.dirname(sys.executable)
    # The wrapper changes directory once its gate opens.
    cwd = f"/proc/{state['pid']}/cwd"
    assert await eventually(lambda: os.readlink(cwd) == state["scratch_dir"])

    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await runtime.stop(state, timeout=5.0) == 0  # the keep-alive exits on SIGTERM
    assert loop.time() - began < 3.0
    assert_clean(state)
    assert await runtime.poll(state) == KernelPoll("missing")
    assert await runtime.stop(state) is None  # idempotent


async def test_stop_right_after_start(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    for _ in range(10):
        state = await kernels.start(runtime)
        assert await runtime.stop(state, timeout=5.0) == 0  # the traps are set before the gate
        assert_clean(state)


async def test_main_command_exit_code_and_logs(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    state = await kernels.start(
        runtime, command=["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"]
    )
    assert await wait_for(runtime, state, "exited") == KernelPoll("exited", 3)
    assert await runtime.poll(state) == KernelPoll("exited", 3)  # also once reaped
    logs = await runtime.logs(state)
    assert "to-stdout" in logs and "to-stderr" in logs
    assert await runtime.stop(state) == 3
    assert_clean(state)


async def test_command_ignoring_sigterm_is_killed(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    state = await kernels.start(
        runtime, command=["sh", "-c", "trap '' TERM; touch ready; while :; do sleep 0.1; done"]
    )
    ready = Path(state["scratch_dir"]) / "ready"
    assert await eventually(ready.exists)  # SIGTERM before the trap would end it at once
    assert await runtime.stop(state, timeout=0.3) == 128 + signal.SIGKILL
    assert_clean(state)


async def test_unknown_image(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    with pytest.raises(ImageNotFound, match="available: python"):
        await runtime.start(make_spec(kernels.tmp_path, image=ImageInfo(name="nope:1")))
    assert not (kernels.data_dir / "process").exists() or not any(
        (kernels.data_dir / "process").iterdir()
    )


@pytest.mark.parametrize("mode", ["auto", "off"])
async def test_failed_start_leaves_nothing(kernels: Kernels, mode: str) -> None:
    runtime = kernels.runtime(cgroups=mode)
    before = {p.pid for p in procfs.all_stats()}
    with pytest.raises(AgentError, match="cannot limit kernel"):
        await runtime.start(make_spec(kernels.tmp_path, cpuset=(4095,)))  # no such CPU
    assert list((kernels.data_dir / "process").iterdir()) == []
    layout = cgroups.detect_layout()
    for mount in set(layout.mounts.values()) if layout and mode == "auto" else ():
        root = mount / CGROUP_ROOT
        assert not root.exists() or [d for d in root.iterdir() if d.is_dir()] == []
    new = [p for p in procfs.all_stats() if p.pid not in before and p.alive]
    assert [p for p in new if p.ppid == os.getpid()] == []


async def test_images_and_aliases(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    [image] = await runtime.list_images()
    assert image.name == "python"
    assert image.labels["ai.backend.runtime-type"] == "python"
    assert image.labels["ai.backend.runtime-path"] == sys.executable
    assert image.labels["ai.backend.kernelspec"] == "1"
    assert image.labels["ai.backend.resource.min.mem"] == "64m"
    state = await kernels.start(runtime, image=ImageInfo(name="python:latest"))
    assert (await runtime.poll(state)).status == "running"


async def test_kernel_path(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    state = {"scratch_dir": "/data/s1", "runner_dir": "/data/runner"}
    assert runtime.kernel_path(state, "/home/work") == "/data/s1"
    assert runtime.kernel_path(state, "/home/work/a/b.txt") == "/data/s1/a/b.txt"
    assert runtime.kernel_path(state, "/opt/cygnet/runner.py") == "/data/runner/runner.py"
    assert runtime.kernel_path(state, "/home/workshop") == "/home/workshop"
    assert runtime.kernel_path(state, "/etc/passwd") == "/etc/passwd"


# -- exec -----------------------------------------------------------------------------------


async def test_exec_streams_and_separates_output(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    state = await kernels.start(runtime, environ={"KERNEL_VAR": "k"})
    (Path(state["scratch_dir"]) / "sub").mkdir()
    script = textwrap.dedent(
        """
        import os, sys
        line = sys.stdin.readline()
        print("got", line.strip(), os.environ["KERNEL_VAR"], os.environ["EXEC_VAR"], flush=True)
        print("warning", file=sys.stderr, flush=True)
        print(os.getcwd(), flush=True)
        rest = sys.stdin.read()
        print("rest", rest.strip(), flush=True)
        sys.exit(5)
        """
    )
    process = await runtime.exec(
        state, ["python", "-c", script], environ={"EXEC_VAR": "e"}, workdir="/home/work/sub"
    )
    await process.write(b"first\n")
    # Output arrives while the process still runs (it waits for the rest of stdin).
    seen: dict[str, bytes] = {"stdout": b"", "stderr": b""}
    async with asyncio.timeout(20):
        while b"sub" not in seen["stdout"] or b"warning" not in seen["stderr"]:
            chunk = await process.read()
            assert chunk is not None
            seen[chunk[0]] += chunk[1]
    assert b"got first k e" in seen["stdout"]
    assert seen["stderr"] == b"warning\n"
    assert seen["stdout"].splitlines()[-1].decode() == str(Path(state["scratch_dir"]) / "sub")
    await process.write(b"second")
    await process.close_stdin()
    out, err = await read_all(process)
    assert out == b"rest second\n" and err == b""
    assert await process.wait() == 5


async def test_exec_kill_kills_its_group(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    state = await kernels.start(runtime)
    process = await runtime.exec(state, ["sh", "-c", "sleep 100 & sleep 100; wait"])
    pid = process.pid  # type: ignore[attr-defined]
    assert await eventually(lambda: len(procfs.group_members([pid])) == 3)
    await process.kill()
    assert await process.wait() == 128 + signal.SIGKILL
    await read_all(process)
    await asyncio.sleep(0.1)
    assert procfs.group_members([pid]) == []
    await process.kill()  # idempotent


async def test_exec_in_stopped_kernel_fails(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    state = await kernels.start(runtime, command=["true"])
    await wait_for(runtime, state, "exited")
    with pytest.raises(AgentError, match="not running"):
        await runtime.exec(state, ["true"])


async def test_stop_ends_running_execs(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    state = await kernels.start(runtime)
    process = await runtime.exec(state, ["sh", "-c", "trap '' TERM; touch ready; sleep 100"])
    assert await eventually((Path(state["scratch_dir"]) / "ready").exists)
    assert await runtime.stop(state, timeout=0.5) == 0
    assert await process.wait() == 128 + signal.SIGKILL
    await read_all(process)
    assert_clean(state)


async def test_stats(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    state = await kernels.start(runtime)
    process = await runtime.exec(
        state,
        [
            "python",
            "-c",
            "import time\nx = b'x' * (20 << 20)\nt = time.process_time()\n"
            "while time.process_time() - t < 0.3: pass\nprint('done', flush=True)\n"
            "import sys; sys.stdin.read()",
        ],
    )
    out = b""
    while b"done" not in out:
        chunk = await process.read()
        assert chunk is not None
        out += chunk[1]
    stats = await runtime.stats(state)
    assert stats.cpu_seconds >= 0.25
    assert stats.memory >= 20 << 20
    await process.close_stdin()
    await read_all(process)
    assert await process.wait() == 0


# -- limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "off"])
async def test_memory_limit(kernels: Kernels, mode: str) -> None:
    runtime = kernels.runtime(cgroups=mode)
    state = await kernels.start(runtime, memory=128 * MiB)
    if mode == "off":
        assert state["limits"]["memory"] == "rlimit" and state["cgroup"] is None
    elif state["limits"]["memory"] != "cgroup":
        pytest.skip("cgroups are not writable here: the memory limit is an rlimit")
    process = await runtime.exec(state, ["python", "-c", "x = b'x' * (512 << 20)\nprint('alive')"])
    out, err = await read_all(process)
    code = await process.wait()
    assert b"alive" not in out
    if mode == "auto":
        assert code == 128 + signal.SIGKILL  # the OOM killer, inside the kernel's cgroup
    else:
        assert code == 1 and b"MemoryError" in err  # RLIMIT_AS: allocation fails
    assert (await runtime.poll(state)).status == "running"  # the kernel itself survives


@pytest.mark.parametrize("mode", ["auto", "off"])
async def test_cpuset(kernels: Kernels, mode: str) -> None:
    runtime = kernels.runtime(cgroups=mode)
    cpu = allowed_cpu()
    state = await kernels.start(runtime, cpuset=(cpu,), cpus=Decimal("0.5"))
    assert state["limits"]["cpuset"] == ("affinity" if mode == "off" else state["limits"]["cpuset"])
    assert os.sched_getaffinity(state["pid"]) == {cpu}
    process = await runtime.exec(
        state, ["python", "-c", "import os; print(os.sched_getaffinity(0))"]
    )
    out, _ = await read_all(process)
    assert out.strip() == str({cpu}).encode()
    assert await process.wait() == 0
    if state["limits"]["cpu"] == "cgroup":
        cgroup = KernelCgroup.from_json(state["cgroup"])
        assert cgroup is not None
        directory = Path(cgroup.dirs["cpu"])
        if cgroup.version == 1:
            assert (directory / "cpu.cfs_quota_us").read_text().strip() == "50000"
        else:
            assert (directory / "cpu.max").read_text().split() == ["50000", "100000"]


async def test_cgroup_catches_processes_that_leave_the_group(kernels: Kernels) -> None:
    runtime = kernels.runtime()
    state = await kernels.start(runtime, command=["sh", "-c", "setsid sleep 100 & sleep 100"])
    if state["cgroup"] is None:
        pytest.skip("cgroups are not writable here; a setsid process escapes an rlimit kernel")

    def escaped() -> list[int]:
        return [p for p in live_processes(state) if os.getpgid(p) != state["pgid"]]

    assert await eventually(lambda: len(escaped()) == 1)
    await runtime.stop(state, timeout=2.0)
    assert_clean(state)


def v2_mount() -> Path | None:
    """A cgroup v2 mount we may write to (the unified one of a hybrid host counts)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if " - cgroup2 " in line:
            mount = Path(line.split()[4])
            if os.access(mount, os.W_OK):
                return mount
    return None


async def test_cgroup_v2(kernels: Kernels) -> None:
    mount = v2_mount()
    if mount is None:
        pytest.skip("no writable cgroup v2 mount")
    runtime = kernels.runtime()
    runtime._layout = CgroupLayout(version=2, mounts={cgroups.UNIFIED: mount})
    cpu = allowed_cpu()
    state = await kernels.start(runtime, cpuset=(cpu,))
    assert state["cgroup"]["version"] == 2
    directory = Path(state["cgroup"]["dirs"][cgroups.UNIFIED])
    assert directory == mount / CGROUP_ROOT / state["kernel_id"]
    assert state["pid"] in cgroups.pids(KernelCgroup.from_json(state["cgroup"]))  # type: ignore[arg-type]
    # Controllers the host does not delegate fall back to rlimits / affinity.
    expected = "cgroup" if "memory" in state["cgroup"]["dirs"] else "rlimit"
    assert state["limits"]["memory"] == expected
    assert os.sched_getaffinity(state["pid"]) == {cpu}
    process = await runtime.exec(state, ["cat", "/proc/self/cgroup"])
    out, _ = await read_all(process)
    assert f"0::/{CGROUP_ROOT}/{state['kernel_id']}".encode() in out
    await process.wait()
    assert (await runtime.stats(state)).cpu_seconds > 0
    await runtime.stop(state, timeout=2.0)
    assert not exists(directory)


def test_parse_mountinfo() -> None:
    hybrid = textwrap.dedent(
        """\
        31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
        40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
        """
    )
    layout = cgroups.parse_mountinfo(hybrid)
    assert layout is not None and layout.version == 1
    assert dict(layout.mounts) == {
        "cpu": Path("/sys/fs/cgroup/cpu,cpuacct"),
        "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct"),
        "memory": Path("/sys/fs/cgroup/memory"),
    }
    pure = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
    assert cgroups.parse_mountinfo(pure) == CgroupLayout(
        2, {cgroups.UNIFIED: Path("/sys/fs/cgroup")}
    )
    assert cgroups.parse_mountinfo("22 1 0:5 / /proc rw - proc proc rw\n") is None
    spaced = r"30 23 0:26 / /mnt/my\040cg rw - cgroup2 cgroup2 rw" + "\n"
    assert cgroups.parse_mountinfo(spaced) == CgroupLayout(2, {cgroups.UNIFIED: Path("/mnt/my cg")})


# -- re-attaching after an agent restart -------------------------------------------------------


async def test_second_instance_reattaches(kernels: Kernels) -> None:
    first = kernels.runtime()
    state = await kernels.start(first)
    blob = json.loads(json.dumps(state))  # as stored on disk by the agent
    second = kernels.runtime()
    assert (await second.poll(blob)).status == "running"
    process = await second.exec(blob, ["sh", "-c", "echo $CYGNET_KERNEL_ID"])
    out, _ = await read_all(process)
    assert out.decode().strip() == state["kernel_id"]
    assert await process.wait() == 0
    assert await second.stop(blob, timeout=5.0) == 0
    assert_clean(blob)
    assert (await first.poll(state)).status == "missing"


async def test_exit_code_learned_by_a_new_instance(kernels: Kernels) -> None:
    first = kernels.runtime()
    state = await kernels.start(
        first, command=["sh", "-c", "while [ ! -e go ]; do sleep 0.05; done; exit 5"]
    )
    del first  # the "agent" goes away while the kernel runs
    kernels.runtimes.clear()
    second = kernels.runtime()
    assert (await second.poll(state)).status == "running"
    (Path(state["scratch_dir"]) / "go").touch()
    assert await wait_for(second, state, "exited") == KernelPoll("exited", 5)
    assert read_text(state["exit_path"]).strip() == "5"
    assert await second.stop(state) == 5


AGENT_SCRIPT = """
import asyncio, json, sys, uuid
from decimal import Decimal
from pathlib import Path
from cygnet.agent.runtime.base import KernelSpec, RuntimeContext
from cygnet.agent.runtime.process.backend import ProcessRuntime
from cygnet.common.rpc import ImageInfo

async def main():
    data_dir, tmp, options = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    runtime = ProcessRuntime(RuntimeContext("doomed-agent", data_dir), options)
    states = []
    for name, command in [
        ("idle", None),
        ("waits", ["sh", "-c", "while [ ! -e go ]; do sleep 0.05; done; echo bye; exit 7"]),
    ]:
        (tmp / name).mkdir()
        spec = KernelSpec(
            kernel_id=uuid.uuid4(), session_id=uuid.uuid4(), agent_id="doomed-agent",
            owner="AK", image=ImageInfo(name="python"), scratch_dir=tmp / name,
            runner_dir=tmp, cpus=Decimal(1), cpuset=(), memory=256 << 20, command=command,
        )
        states.append(await runtime.start(spec))
    print(json.dumps(states), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_exit_code_after_agent_was_sigkilled(kernels: Kernels) -> None:
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        AGENT_SCRIPT,
        str(kernels.data_dir),
        str(kernels.tmp_path),
        json.dumps(OPTIONS),
        stdout=asyncio.subprocess.PIPE,
    )
    assert agent.stdout is not None
    async with asyncio.timeout(30):
        line = await agent.stdout.readline()
    idle, waits = json.loads(line)
    kernels.states.extend([idle, waits])
    agent.kill()  # SIGKILL: no cleanup, the kernels are orphaned
    await agent.wait()

    runtime = kernels.runtime()  # the restarted agent
    assert (await runtime.poll(idle)).status == "running"
    assert (await runtime.poll(waits)).status == "running"
    assert procfs.read_stat(waits["pid"]).ppid != os.getpid()  # type: ignore[union-attr]

    (Path(waits["scratch_dir"]) / "go").touch()
    assert await wait_for(runtime, waits, "exited") == KernelPoll("exited", 7)
    assert "bye" in await runtime.logs(waits)
    assert await runtime.stop(waits) == 7
    assert_clean(waits)

    assert await runtime.stop(idle, timeout=5.0) == 0  # written by the orphaned wrapper
    assert_clean(idle)
