"""The ``process`` runtime: a kernel is a local process group, with cgroup limits where the
host lets us make cgroups, and rlimits plus CPU affinity where it does not.

Every kernel's main process is ``/bin/sh`` running ``MAIN_WRAPPER``, started in a session of
its own. The wrapper first reads one line from a *gate* on its stdin and runs nothing until
the agent writes ``go``: meanwhile the agent moves the wrapper's pid into the kernel's cgroups
(or sets its rlimits and CPU affinity), so the user's command and everything it forks start
inside the limits - no ``preexec_fn``, and no window where a fork escapes. Execs work the same
way, their gate being the first line of their stdin pipe. Before opening the gate the agent
also waits until the wrapper has set its SIGTERM trap (``SigCgt`` in ``/proc/<pid>/status``),
so a stop right after start is handled like any other. The wrapper then runs the command
(or idles, without one), writes its exit code to ``<data_dir>/process/<kernel>/exit-code`` and
exits with it, so an agent that was restarted (the kernel no longer being its child) still
learns the code. ``stop`` removes the kernel's cgroups and that directory (log included).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import posixpath
import resource
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from cygnet.agent.runtime.base import (
    RUNNER_DIR,
    WORKDIR,
    ExecProcess,
    KernelPoll,
    KernelSpec,
    KernelState,
    KernelStats,
    Runtime,
    RuntimeContext,
    StreamName,
)
from cygnet.agent.runtime.process import cgroups, procfs
from cygnet.agent.runtime.process.cgroups import CgroupLimits, KernelCgroup
from cygnet.agent.runtime.process.config import ProcessImage, ProcessRuntimeConfig
from cygnet.common.errors import AgentError, ImageNotFound
from cygnet.common.rpc import ImageInfo

log = logging.getLogger(__name__)

STATE_VERSION = 1
SHELL = "/bin/sh"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LOG_CAP = 1 << 20  # logs() returns at most the last 1 MiB
READ_CHUNK = 65536
GATE = b"go\n"
GATE_FAILED = 125  # the wrapper's exit code when the agent did not open the gate

# $1: working directory, $2: exit-code file, $3...: the command (none: idle until SIGTERM).
# ``trap :`` keeps the wrapper alive through the SIGTERM sent to the whole group (the command
# gets default handlers back) so it can record the command's exit code. The traps are set
# before the gate opens, so a stop right after start finds them in place.
MAIN_WRAPPER = """\
f=$2
if [ $# -eq 2 ]; then
  trap 'echo 0 >"$f"; exit 0' HUP INT TERM
else
  trap : HUP INT TERM
fi
read -r gate && [ "$gate" = go ] || exit 125
exec </dev/null
cd -- "$1" || exit 125
shift 2
if [ $# -eq 0 ]; then
  while :; do sleep 3600 & wait $!; done
fi
"$@"
c=$?
echo "$c" >"$f"
exit "$c"
"""
# $1...: the command, which replaces the shell once the gate opens.
EXEC_WRAPPER = """\
read -r gate && [ "$gate" = go ] || exit 125
exec "$@"
"""
# Signals the agent may ignore (Python ignores SIGPIPE) that a kernel must not inherit ignored.
RESET_SIGNALS = (
    signal.SIGPIPE,
    signal.SIGXFSZ,
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
)

Mechanism = Literal["cgroup", "rlimit", "affinity", "none"]


def _exit_code(status: int) -> int:
    """A ``waitpid`` status as a shell reports it: the code, or 128 + the signal."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _read_exit_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _reap(pid: int) -> int | None:
    """The exit code of ``pid`` if it is our child and has ended (reaping it), else None."""
    try:
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return _exit_code(status) if reaped == pid else None


def _kill_quietly(pid: int, sig: int, *, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _mechanisms(cgroup: KernelCgroup | None, spec: KernelSpec) -> dict[str, Mechanism]:
    """How each limit of ``spec`` is enforced, given the cgroup controllers we got."""

    def has(controller: str) -> bool:
        return cgroup is not None and cgroup.has(controller)

    return {
        "memory": "cgroup" if has("memory") else ("rlimit" if spec.memory > 0 else "none"),
        "cpu": "cgroup" if has("cpu") and spec.cpus > 0 else "none",
        "cpuset": "cgroup" if has("cpuset") else ("affinity" if spec.cpuset else "none"),
        "pids": "cgroup" if has("pids") else "none",
    }


def _apply_fallbacks(pid: int, state: Mapping[str, Any]) -> None:
    """Limit ``pid`` (still held at its gate) with what cgroups do not cover: RLIMIT_AS for
    memory (coarse: it counts address space, per process) and CPU affinity for the cpuset."""
    limits = state["limits"]
    if limits["memory"] == "rlimit":
        resource.prlimit(pid, resource.RLIMIT_AS, (state["memory"], state["memory"]))
    if limits["cpuset"] == "affinity":
        os.sched_setaffinity(pid, state["cpuset"])


def _link_mounts(spec: KernelSpec) -> None:
    """Mounts become symlinks in the scratch directory (the kernel's ``/home/work``): a
    process kernel shares the host's filesystem, so there is no mount namespace to bind into
    and read-only cannot be enforced; targets outside ``/home/work`` are refused."""
    for mount in spec.mounts:
        relative = posixpath.relpath(posixpath.normpath(mount.target), WORKDIR)
        if relative == "." or relative.startswith(".."):
            raise AgentError(
                f"the process runtime mounts folders only under {WORKDIR}, not at {mount.target}"
            )
        link = spec.scratch_dir / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(mount.source, target_is_directory=True)


def _spawn_main(state: Mapping[str, Any], command: Sequence[str], gate: int) -> int:
    """Start the kernel's wrapper in a new session, stdin from ``gate``, output to the log."""
    return os.posix_spawn(
        SHELL,
        [SHELL, "-c", MAIN_WRAPPER, "sh", state["scratch_dir"], state["exit_path"], *command],
        state["environ"],
        file_actions=[
            (os.POSIX_SPAWN_DUP2, gate, 0),
            (
                os.POSIX_SPAWN_OPEN,
                1,
                state["log_path"],
                os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                0o644,
            ),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
        setsigdef=RESET_SIGNALS,
        setsigmask=(),
    )


def _traps_set(pid: int) -> bool:
    """Whether the wrapper has set its SIGTERM trap (it does so first, then waits at its
    gate), so that a stop right after start reaches the trap, not the default action."""
    stat, caught = procfs.read_stat(pid), procfs.caught_signals(pid)
    if stat is None or not stat.alive or caught is None:
        raise AgentError("the kernel's wrapper ended while starting")
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def _kill_and_reap(pid: int) -> None:
    """Kill our child ``pid`` (still held at its gate, so it dies at once) and reap it."""
    _kill_quietly(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _append_line(path: Path, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")


def _tail(path: Path, cap: int) -> bytes:
    """The last ``cap`` bytes of ``path`` (nothing if it does not exist)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - cap))
            return f.read()
    except FileNotFoundError:
        return b""


async def _poll_until(check: Callable[[], bool], within: float, interval: float = 0.02) -> bool:
    """Call ``check`` every ``interval`` seconds until it holds (True) or ``within`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(interval)
    return True


class ProcessExec(ExecProcess):
    """A process started in a kernel, reached through asyncio subprocess pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._open: list[StreamName] = ["stdout", "stderr"]
        self._reads: dict[StreamName, asyncio.Task[bytes]] = {}

    @property
    def pid(self) -> int:
        return self._process.pid

    async def write(self, data: bytes) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(data)
        await stdin.drain()

    async def close_stdin(self) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        if not stdin.is_closing():
            stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await stdin.wait_closed()

    def _stream(self, name: StreamName) -> asyncio.StreamReader:
        stream = self._process.stdout if name == "stdout" else self._process.stderr
        assert stream is not None
        return stream

    async def read(self) -> tuple[StreamName, bytes] | None:
        while self._open:
            for name in self._open:
                if name not in self._reads:
                    self._reads[name] = asyncio.create_task(self._stream(name).read(READ_CHUNK))
            # One pending read per open stream; a cancelled caller leaves them for the next call.
            await asyncio.wait(self._reads.values(), return_when=asyncio.FIRST_COMPLETED)
            for name in list(self._open):
                task = self._reads[name]
                if not task.done():
                    continue
                del self._reads[name]
                data = task.result()
                if data:
                    return name, data
                self._open.remove(name)
        return None

    async def wait(self) -> int:
        code = await self._process.wait()
        return 128 - code if code < 0 else code

    async def kill(self) -> None:
        pid = self._process.pid
        # Once the leader is reaped, its pid stays reserved while the group has members.
        if self._process.returncode is None or procfs.group_members([pid]):
            _kill_quietly(pid, signal.SIGKILL, group=True)


class ProcessRuntime(Runtime):
    """Kernels as local process groups (see the module docstring)."""

    name: ClassVar[str] = "process"

    def __init__(self, context: RuntimeContext, options: Mapping[str, Any]) -> None:
        self._context = context
        self.config = ProcessRuntimeConfig.model_validate(dict(options))
        self._root = context.data_dir / "process"
        self._layout = cgroups.detect_layout() if self.config.cgroups == "auto" else None

    # -- images ---------------------------------------------------------------------------

    async def list_images(self) -> list[ImageInfo]:
        arch = platform.machine()
        return [
            ImageInfo(name=name, labels=image.effective_labels(), architecture=arch)
            for name, image in sorted(self.config.images.items())
        ]

    def _image(self, name: str) -> ProcessImage:
        found = self.config.find_image(name)
        if found is None:
            available = ", ".join(sorted(self.config.images)) or "none"
            raise ImageNotFound(f"no image {name!r} in the process runtime; available: {available}")
        return found[1]

    # -- start ----------------------------------------------------------------------------

    def _environment(self, spec: KernelSpec, image: ProcessImage) -> dict[str, str]:
        path = [*image.path_prepend, os.path.dirname(image.python), DEFAULT_PATH]
        return {
            "PATH": os.pathsep.join(path),
            "LANG": "C.UTF-8",
            "HOME": str(spec.scratch_dir.absolute()),
            **image.env,
            **spec.environ,
            "CYGNET_KERNEL_ID": str(spec.kernel_id),
            "CYGNET_SESSION_ID": str(spec.session_id),
        }

    async def start(self, spec: KernelSpec) -> KernelState:
        image = self._image(spec.image.name)
        kernel_id = str(spec.kernel_id)
        kernel_dir = self._root / kernel_id
        try:
            spec.scratch_dir.mkdir(exist_ok=True)
            if kernel_dir.exists():  # left over from an earlier, failed start of this kernel
                shutil.rmtree(kernel_dir)
            kernel_dir.mkdir(parents=True)
            _link_mounts(spec)
        except OSError as e:
            raise AgentError(f"cannot prepare kernel {kernel_id}: {e}") from e
        cgroup = None
        if self._layout is not None:
            limits = CgroupLimits(
                memory=spec.memory, cpus=spec.cpus, cpuset=spec.cpuset, pids=spec.pids_limit
            )
            cgroup = cgroups.create(self._layout, self.config.cgroup_root, kernel_id, limits)
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "kernel_id": kernel_id,
            "session_id": str(spec.session_id),
            "image": spec.image.name,
            "dir": str(kernel_dir),
            "log_path": str(kernel_dir / "main.log"),
            "exit_path": str(kernel_dir / "exit-code"),
            "execs_path": str(kernel_dir / "execs"),
            "scratch_dir": str(spec.scratch_dir.absolute()),
            "runner_dir": str(spec.runner_dir.absolute()),
            "environ": self._environment(spec, image),
            "memory": spec.memory,
            "cpus": str(spec.cpus),
            "cpuset": list(spec.cpuset),
        }
        command = list(spec.command or ())  # none: the wrapper itself idles
        gate_read, gate_write = os.pipe()
        try:
            pid = _spawn_main(state, command, gate_read)
        except OSError as e:
            os.close(gate_write)
            await self._discard(cgroup, kernel_dir)
            raise AgentError(f"cannot start kernel {kernel_id}: {e}") from e
        finally:
            os.close(gate_read)
        try:
            if cgroup is not None:
                cgroup = cgroups.place(cgroup, pid)
            state["cgroup"] = cgroup.to_json() if cgroup and cgroup.dirs else None
            state["limits"] = _mechanisms(cgroup if state["cgroup"] else None, spec)
            _apply_fallbacks(pid, state)
            if not await _poll_until(lambda: _traps_set(pid), 10.0, 0.002):
                raise AgentError(f"kernel {kernel_id} did not start")
            stat = procfs.read_stat(pid)
            if stat is None:
                raise AgentError(f"kernel {kernel_id} vanished while starting")
            state.update(pid=pid, pgid=pid, start_time=stat.start_time)
            os.write(gate_write, GATE)
        except BaseException as e:
            _kill_and_reap(pid)
            await self._discard(cgroup, kernel_dir)
            if isinstance(e, OSError):
                raise AgentError(f"cannot limit kernel {kernel_id}: {e}") from e
            raise
        finally:
            os.close(gate_write)
        log.info("kernel %s started as pid %d (limits: %s)", kernel_id, pid, state["limits"])
        return state

    async def _discard(self, cgroup: KernelCgroup | None, kernel_dir: Path) -> None:
        if cgroup is not None:
            await cgroups.remove(cgroup)
        shutil.rmtree(kernel_dir, ignore_errors=True)

    # -- finding the kernel again ---------------------------------------------------------

    @staticmethod
    def _main_status(state: Mapping[str, Any]) -> Literal["running", "zombie", "gone"]:
        stat = procfs.read_stat(state["pid"])
        if stat is None or stat.start_time != state["start_time"]:
            return "gone"  # ended (and reaped), or the pid now belongs to someone else
        return "running" if stat.alive else "zombie"

    @staticmethod
    def _collect_exit(state: Mapping[str, Any], status: str) -> int | None:
        """The main process's exit code: from the exit-code file, or by reaping it if it is
        still our child (then recorded in the file for later calls and other instances)."""
        exit_path = Path(state["exit_path"])
        code = _read_exit_file(exit_path)
        if status == "zombie":
            reaped = _reap(state["pid"])
            if code is None and reaped is not None:
                code = reaped
                with contextlib.suppress(OSError):
                    exit_path.write_text(f"{code}\n")
        return code

    async def poll(self, state: KernelState) -> KernelPoll:
        status = self._main_status(state)
        if status == "running":
            return KernelPoll("running")
        code = self._collect_exit(state, status)
        if code is not None or status == "zombie":
            return KernelPoll("exited", code)
        return KernelPoll("missing")

    # -- stop -----------------------------------------------------------------------------

    @staticmethod
    def _exec_groups(state: Mapping[str, Any]) -> list[tuple[int, int]]:
        try:
            lines = Path(state["execs_path"]).read_text().splitlines()
        except OSError:
            return []
        groups = []
        for line in lines:
            with contextlib.suppress(ValueError):
                pid, start_time = line.split()
                groups.append((int(pid), int(start_time)))
        return groups

    def _live_groups(
        self, state: Mapping[str, Any], stats: list[procfs.ProcStat] | None = None
    ) -> list[int]:
        """The kernel's process groups (main and execs) that still have live members. A group
        whose leader's pid now belongs to another process group leader is not ours."""
        stats = procfs.all_stats() if stats is None else stats
        by_pid = {s.pid: s for s in stats}
        live_pgrps = {s.pgrp for s in stats if s.alive}
        groups = []
        for pgid, start_time in [(state["pgid"], state["start_time"]), *self._exec_groups(state)]:
            leader = by_pid.get(pgid)
            if leader is not None and leader.start_time != start_time and leader.pgrp == pgid:
                continue  # reused pid
            if pgid in live_pgrps:
                groups.append(pgid)
        return groups

    def _signal_kernel(self, state: Mapping[str, Any], sig: int) -> bool:
        """Signal every process of the kernel; True if there was any."""
        groups = self._live_groups(state)
        for pgid in groups:
            _kill_quietly(pgid, sig, group=True)
        cgroup = KernelCgroup.from_json(state.get("cgroup"))
        in_cgroup = cgroups.pids(cgroup) if cgroup is not None else set()
        if cgroup is not None:
            cgroups.kill(cgroup, sig)
        return bool(groups or in_cgroup)

    async def stop(self, state: KernelState, timeout: float = 10.0) -> int | None:
        killed = False
        if self._main_status(state) == "running":
            self._signal_kernel(state, signal.SIGTERM)
            ended = await _poll_until(lambda: self._main_status(state) != "running", timeout)
            killed = not ended
        # Whatever is left (the main process past its timeout, forks that outlived it, execs);
        # reap the main process on the way if it is our child, so it does not linger.
        code: int | None = None

        def gone() -> bool:
            nonlocal code
            status = self._main_status(state)
            if status != "running" and code is None:
                code = self._collect_exit(state, status)
            return not self._signal_kernel(state, signal.SIGKILL)

        if not await _poll_until(gone, 5.0):
            log.warning("kernel %s: processes survive SIGKILL", state["kernel_id"])
        if code is None and killed:
            code = 128 + signal.SIGKILL
        cgroup = KernelCgroup.from_json(state.get("cgroup"))
        if cgroup is not None:
            await cgroups.remove(cgroup)
        shutil.rmtree(state["dir"], ignore_errors=True)
        return code

    # -- exec, logs, stats ----------------------------------------------------------------

    async def exec(
        self,
        state: KernelState,
        argv: Sequence[str],
        environ: Mapping[str, str] | None = None,
        workdir: str = WORKDIR,
    ) -> ExecProcess:
        if not argv:
            raise AgentError("exec needs a command")
        if self._main_status(state) != "running":
            raise AgentError(f"kernel {state['kernel_id']} is not running")
        cwd = self.kernel_path(state, workdir)
        try:
            process = await asyncio.create_subprocess_exec(
                SHELL,
                "-c",
                EXEC_WRAPPER,
                "sh",
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env={**state["environ"], **(environ or {})},
                start_new_session=True,
            )
        except OSError as e:
            raise AgentError(f"cannot exec in kernel {state['kernel_id']}: {e}") from e
        try:
            cgroup = KernelCgroup.from_json(state.get("cgroup"))
            if cgroup is not None:
                cgroups.place(cgroup, process.pid, strict=True)
            _apply_fallbacks(process.pid, state)
            stat = procfs.read_stat(process.pid)
            start_time = stat.start_time if stat else 0
            _append_line(Path(state["execs_path"]), f"{process.pid} {start_time}")
            assert process.stdin is not None
            process.stdin.write(GATE)
            await process.stdin.drain()
        except BaseException as e:
            _kill_quietly(process.pid, signal.SIGKILL)
            await process.communicate()
            if isinstance(e, OSError):
                raise AgentError(f"cannot exec in kernel {state['kernel_id']}: {e}") from e
            raise
        return ProcessExec(process)

    async def logs(self, state: KernelState) -> str:
        return _tail(Path(state["log_path"]), LOG_CAP).decode("utf-8", errors="replace")

    async def stats(self, state: KernelState) -> KernelStats:
        cgroup = KernelCgroup.from_json(state.get("cgroup"))
        cpu = cgroups.cpu_seconds(cgroup) if cgroup is not None else None
        memory = cgroups.memory_bytes(cgroup) if cgroup is not None else None
        if cpu is None or memory is None:
            stats = procfs.all_stats()
            groups = set(self._live_groups(state, stats))
            members = [s for s in stats if s.alive and s.pgrp in groups]
            if cpu is None:
                cpu = sum(s.cpu_ticks for s in members) / procfs.CLOCK_TICKS
            if memory is None:
                memory = sum(s.rss_pages for s in members) * procfs.PAGE_SIZE
        return KernelStats(cpu_seconds=cpu, memory=memory)

    # -- paths ----------------------------------------------------------------------------

    def kernel_path(self, state: KernelState, path: str) -> str:
        """``/home/work/...`` is the scratch dir, ``/opt/cygnet/...`` the runner dir."""
        normal = posixpath.normpath(path) if path else path
        for inside, host in ((WORKDIR, state["scratch_dir"]), (RUNNER_DIR, state["runner_dir"])):
            if normal == inside or normal.startswith(inside + "/"):
                return str(host) + normal[len(inside) :]
        return path


__all__ = ["ProcessExec", "ProcessRuntime"]
