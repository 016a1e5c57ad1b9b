"""The runtime ABC: what an agent needs from a container engine (or its stand-in).

A runtime starts a kernel from a ``KernelSpec``, hands back an opaque JSON-able state blob,
and later polls, execs into, reads logs from, and stops the kernel given only that blob - so an
agent that restarts reloads the blobs from disk and re-attaches (``poll``) without keeping
anything else. Backends live in sub-packages (``docker/``, ``process/``, ``simulated/``) with
the same file names: ``backend.py`` (the ``Runtime`` subclass) and ``config.py`` (its options,
a pydantic model). They are found by name through the ``cygnet.runtimes`` entry points.

Paths: every kernel has a scratch directory on the agent's host that appears as ``/home/work``
inside the kernel (a bind mount for containers, the working directory for processes), so file
transfer is done by the agent on the host side, never through the runtime.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

from cygnet.common.rpc import ImageInfo

WORKDIR = "/home/work"
RUNNER_DIR = "/opt/cygnet"  # where the in-kernel runner is mounted (read-only)

KernelState = dict[str, Any]  # opaque to the agent; JSON-serialisable


@dataclass(frozen=True, slots=True)
class Mount:
    source: Path
    target: str  # absolute path inside the kernel
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """A Docker-style device request (``--gpus``): driver, device ids, capabilities."""

    driver: str
    device_ids: tuple[str, ...]
    capabilities: tuple[tuple[str, ...], ...] = (("gpu",),)


@dataclass(frozen=True, slots=True)
class KernelSpec:
    kernel_id: uuid.UUID
    session_id: uuid.UUID
    agent_id: str
    owner: str  # access key
    image: ImageInfo
    scratch_dir: Path  # host directory seen as /home/work inside the kernel
    runner_dir: Path  # host directory with the runner, seen as /opt/cygnet
    cpus: Decimal  # CPU quota in cores (may be fractional)
    cpuset: tuple[int, ...]  # host cores the kernel may run on
    memory: int  # bytes; hard limit
    shmem: int = 64 * 1024 * 1024
    pids_limit: int = 4096
    environ: Mapping[str, str] = field(default_factory=dict)
    mounts: Sequence[Mount] = ()
    devices: Sequence[DeviceRequest] = ()
    device_paths: Sequence[str] = ()  # host device nodes to expose (e.g. /dev/nvidia0)
    command: Sequence[str] | None = None  # main process; None: an idle keep-alive process
    labels: Mapping[str, str] = field(default_factory=dict)
    hostname: str = "main1"
    # A cluster session's network (None: the runtime's default). Runtimes that can give
    # kernels their own network (docker) join it with ``hostname`` as the kernel's name there;
    # the others ignore it.
    cluster_network: str | None = None

    def standard_labels(self) -> dict[str, str]:
        """Labels every container of the project carries, so tools and tests find them."""
        return {
            "cygnet.kernel-id": str(self.kernel_id),
            "cygnet.session-id": str(self.session_id),
            "cygnet.owner": self.owner,
            "cygnet.agent-id": self.agent_id,
            **self.labels,
        }


@dataclass(frozen=True, slots=True)
class KernelPoll:
    status: Literal["running", "exited", "missing"]
    exit_code: int | None = None


@dataclass(frozen=True, slots=True)
class KernelStats:
    cpu_seconds: float = 0.0  # CPU time used since start
    memory: int = 0  # bytes in use now


StreamName = Literal["stdout", "stderr"]


class ExecProcess(abc.ABC):
    """A process started inside a running kernel, with piped stdin and separated output."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Write to the process's stdin."""

    @abc.abstractmethod
    async def close_stdin(self) -> None: ...

    @abc.abstractmethod
    async def read(self) -> tuple[StreamName, bytes] | None:
        """The next chunk of output as it is produced, or None once both streams closed."""

    @abc.abstractmethod
    async def wait(self) -> int:
        """Wait for the exit and return the exit code."""

    @abc.abstractmethod
    async def kill(self) -> None:
        """Kill the process (and what it started); idempotent."""


@dataclass(frozen=True, slots=True)
class RuntimeContext:
    agent_id: str
    data_dir: Path  # the agent's own directory (state, scratch dirs live below it)


class Runtime(abc.ABC):
    """A kernel backend. Methods raise ``cygnet.common.errors`` types: ``ImageNotFound`` for an
    unknown image, ``AgentError`` for engine failures."""

    name: ClassVar[str]
    # Whether kernels are real: processes that run code and see their scratch directory. The
    # agent makes that directory before ``start`` and starts an interactive kernel's Python REPL
    # ahead of its first query only for runtimes whose kernels are.
    runs_code: ClassVar[bool] = True

    @abc.abstractmethod
    async def list_images(self) -> list[ImageInfo]:
        """The images kernels can start from, with their labels."""

    @abc.abstractmethod
    async def start(self, spec: KernelSpec) -> KernelState:
        """Create and start a kernel; return the state needed to find it again."""

    @abc.abstractmethod
    async def poll(self, state: KernelState) -> KernelPoll:
        """Whether the kernel's main process still runs (and its exit code once it ended)."""

    @abc.abstractmethod
    async def stop(self, state: KernelState, timeout: float = 10.0) -> int | None:
        """Stop the kernel (SIGTERM, then SIGKILL after ``timeout``) and free what the runtime
        holds for it (container, cgroup, …). Returns the exit code if known. Idempotent: a
        kernel that is already gone is not an error."""

    @abc.abstractmethod
    async def exec(
        self,
        state: KernelState,
        argv: Sequence[str],
        environ: Mapping[str, str] | None = None,
        workdir: str = WORKDIR,
    ) -> ExecProcess:
        """Start ``argv`` inside the running kernel (paths as the kernel sees them)."""

    @abc.abstractmethod
    async def logs(self, state: KernelState) -> str:
        """The main process's output so far (stdout and stderr interleaved)."""

    @abc.abstractmethod
    async def stats(self, state: KernelState) -> KernelStats: ...

    async def close(self) -> None:
        """Release engine connections. Kernels keep running."""
        return None

    def kernel_path(self, state: KernelState, path: str) -> str:
        """How the kernel names ``path`` (a path inside the kernel, e.g. ``/opt/cygnet/x``).
        Containers see it as is; the process runtime maps it to the host."""
        return path
