"""The ``simulated`` runtime: kernels without processes or containers.

A simulated kernel is nothing but its state blob, a small JSON-able dict::

    {"kernel_id": "…", "image": "cygnet/python:3.11", "created_at": 1767225600.0,
     "started_at": 1767225600.5, "status": "running"}            # + "ends_at", "exit_code"

Everything else is computed from that blob and the clock when asked: ``poll`` answers
``exited`` once ``ends_at`` (start + ``run_seconds``) has passed, ``stop`` marks the blob
stopped, ``logs`` describes the stages the blob records. The runtime keeps nothing per kernel
and starts no task or timer, so thousands of simulated agents with thousands of kernels fit in
one process, and an agent that restarts re-attaches to its blobs like to real containers.
Delays, failures and images come from ``SimulatedRuntimeConfig``.

**The simulated runtime does not run code.** ``exec`` returns a process double that imitates a
tiny subset of ``/bin/sh`` so batch sessions and tests have something to look at. For
``["/bin/sh", "-c", cmd]`` (or ``sh``), when ``cmd`` is one simple command - no ``;``, ``&``,
``|``, redirections, ``$`` or backquotes - it understands:

* ``echo [-n] words…``: writes the words (quotes are removed as the shell would) and a newline
  (none with ``-n``) to stdout, exit code 0;
* ``exit [N]``: exit code N modulo 256 (0 without N; a non-number: code 2 and a message);
* ``true``: 0, ``false``: 1.

``echo``, ``true`` and ``false`` given directly as ``argv`` behave the same. Everything else
(including ``python …``, so a Python image's REPL ends at once) writes nothing and exits 0.
The process ends as soon as it starts: stdin is accepted and discarded until it is closed,
output waits to be read, and ``kill`` has nothing left to kill.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from cygnet.agent.runtime.base import (
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
from cygnet.agent.runtime.simulated.config import SimulatedRuntimeConfig
from cygnet.common.clock import Clock, RealClock
from cygnet.common.errors import AgentError, ImageNotFound
from cygnet.common.rpc import ImageInfo

Sleep = Callable[[float], Awaitable[None]]

RUNNING = "running"
STOPPED = "stopped"
_SHELLS = frozenset({"/bin/sh", "sh", "/bin/bash", "bash", "/usr/bin/sh", "/usr/bin/bash"})
_SHELL_SPECIALS = frozenset(";&|<>()`$\n")


def _simulate(argv: Sequence[str]) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of the command, as the module docstring describes."""
    if len(argv) == 3 and argv[0] in _SHELLS and argv[1] == "-c":
        command = argv[2]
        if _SHELL_SPECIALS.intersection(command):
            return 0, b"", b""
        try:
            words = shlex.split(command)
        except ValueError:
            return 2, b"", b"sh: syntax error: unterminated quoted string\n"
        shell = True
    else:
        words = list(argv)
        words[:1] = [words[0].rsplit("/", 1)[-1]] if words else []
        shell = False
    if not words:
        return 0, b"", b""
    name, args = words[0], words[1:]
    if name == "echo":
        newline = True
        if args[:1] == ["-n"]:
            newline, args = False, args[1:]
        return 0, (" ".join(args) + ("\n" if newline else "")).encode(), b""
    if name == "true":
        return 0, b"", b""
    if name == "false":
        return 1, b"", b""
    if name == "exit" and shell:
        if not args:
            return 0, b"", b""
        try:
            return int(args[0]) % 256, b"", b""
        except ValueError:
            return 2, b"", f"sh: exit: Illegal number: {args[0]}\n".encode()
    return 0, b"", b""


class SimulatedExec(ExecProcess):
    """A finished process's output and exit code, behind the ``ExecProcess`` interface."""

    def __init__(self, argv: Sequence[str]) -> None:
        code, stdout, stderr = _simulate(argv)
        self._exit_code = code
        self._output: list[tuple[StreamName, bytes]] = []
        if stdout:
            self._output.append(("stdout", stdout))
        if stderr:
            self._output.append(("stderr", stderr))
        self._stdin_closed = False
        self.stdin_bytes = 0  # how much was written to stdin (and discarded)

    async def write(self, data: bytes) -> None:
        if self._stdin_closed:
            raise BrokenPipeError("stdin of the simulated process is closed")
        self.stdin_bytes += len(data)

    async def close_stdin(self) -> None:
        self._stdin_closed = True

    async def read(self) -> tuple[StreamName, bytes] | None:
        return self._output.pop(0) if self._output else None

    async def wait(self) -> int:
        return self._exit_code

    async def kill(self) -> None:
        return None  # it has already exited


class SimulatedRuntime(Runtime):
    """Kernels that are only state blobs (see the module docstring).

    ``clock`` (default ``RealClock``) dates the blobs and decides when ``run_seconds`` is up;
    ``sleep`` (default ``asyncio.sleep``) waits out the configured delays - tests may pass a
    ``FakeClock`` and a sleep that only records or advances it.
    """

    name: ClassVar[str] = "simulated"
    # No kernel sees a scratch directory (the agent makes one when files are first moved in
    # or out), and a REPL started ahead of time would only have ended at once.
    runs_code: ClassVar[bool] = False

    def __init__(
        self,
        context: RuntimeContext,
        options: Mapping[str, Any],
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self._context = context
        self.config = SimulatedRuntimeConfig.model_validate(dict(options))
        self._clock: Clock = clock or RealClock()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._images: dict[str, ImageInfo] = {
            image.name: ImageInfo(
                name=image.name,
                id="sha256:" + hashlib.sha256(image.name.encode()).hexdigest(),
                labels=dict(image.labels),
                architecture=self.config.architecture,
            )
            for image in self.config.images
        }
        self._fail_images = frozenset(self.config.fail_images)
        # Created on first use: a Random holds ~5 KB, and most simulated agents draw nothing.
        self._failure_rng: random.Random | None = None
        self._jitter_rng: random.Random | None = None

    # -- helpers ----------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.now().timestamp()

    async def _delay(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.config.jitter:
            if self._jitter_rng is None:
                seed = self.config.seed
                self._jitter_rng = random.Random(None if seed is None else f"jitter:{seed}")
            spread = self.config.jitter
            seconds *= self._jitter_rng.uniform(1 - spread, 1 + spread)
        await self._sleep(seconds)

    def _start_fails(self) -> bool:
        probability = self.config.fail_start_probability
        if probability <= 0:
            return False
        if self._failure_rng is None:
            self._failure_rng = random.Random(self.config.seed)
        return self._failure_rng.random() < probability

    def _image(self, name: str) -> ImageInfo:
        image = self._images.get(name)
        if image is None and ":" not in name.rsplit("/", 1)[-1]:
            image = self._images.get(f"{name}:latest")
        if image is None:
            available = ", ".join(sorted(self._images)) or "none"
            raise ImageNotFound(
                f"no image {name!r} in the simulated runtime; available: {available}"
            )
        return image

    @staticmethod
    def _valid(state: KernelState) -> bool:
        return (
            isinstance(state, dict)
            and isinstance(state.get("kernel_id"), str)
            and state.get("status") in (RUNNING, STOPPED)
            and isinstance(state.get("started_at"), int | float)
        )

    def _ended(self, state: KernelState) -> bool:
        """Whether a running kernel's ``run_seconds`` are up."""
        ends_at = state.get("ends_at")
        return ends_at is not None and self._now() >= ends_at

    # -- the Runtime interface --------------------------------------------------------------

    async def list_images(self) -> list[ImageInfo]:
        return list(self._images.values())

    async def start(self, spec: KernelSpec) -> KernelState:
        image = self._image(spec.image.name)
        created_at = self._now()
        await self._delay(self.config.start_delay)
        if image.name in self._fail_images or spec.image.name in self._fail_images:
            raise AgentError(
                f"simulated failure: kernel {spec.kernel_id} cannot start from {image.name!r}"
            )
        if self._start_fails():
            raise AgentError(f"simulated failure: kernel {spec.kernel_id} did not start")
        started_at = self._now()
        state: KernelState = {
            "kernel_id": str(spec.kernel_id),
            "image": image.name,
            "created_at": created_at,
            "started_at": started_at,
            "status": RUNNING,
        }
        if self.config.run_seconds is not None:
            state["ends_at"] = started_at + self.config.run_seconds
            state["exit_code"] = self.config.exit_code
        return state

    async def poll(self, state: KernelState) -> KernelPoll:
        if not self._valid(state):
            return KernelPoll(status="missing")
        if state["status"] == STOPPED or self._ended(state):
            return KernelPoll(status="exited", exit_code=state.get("exit_code"))
        return KernelPoll(status="running")

    async def stop(self, state: KernelState, timeout: float = 10.0) -> int | None:
        """Mark the blob stopped and return its exit code: ``exit_code`` if ``run_seconds``
        were up, ``kill_exit_code`` if it was still running. Idempotent; an unknown blob is
        already gone (None)."""
        if not self._valid(state):
            return None
        if state["status"] == STOPPED:
            code: int | None = state.get("exit_code")
            return code
        if self._ended(state):
            code = state.get("exit_code")
        else:
            await self._delay(self.config.stop_delay)
            if state["status"] == STOPPED:  # stopped by a concurrent call meanwhile
                code = state.get("exit_code")
                return code
            code = self.config.kill_exit_code
        state["status"] = STOPPED
        state["exit_code"] = code
        state["stopped_at"] = self._now()
        return code

    async def exec(
        self,
        state: KernelState,
        argv: Sequence[str],
        environ: Mapping[str, str] | None = None,
        workdir: str = WORKDIR,
    ) -> ExecProcess:
        if not argv:
            raise AgentError("exec needs a command")
        if (await self.poll(state)).status != "running":
            raise AgentError(f"kernel {state.get('kernel_id')} is not running")
        await self._delay(self.config.exec_delay)
        return SimulatedExec(argv)

    async def logs(self, state: KernelState) -> str:
        """One line per lifecycle stage the blob records."""
        if not self._valid(state):
            return ""
        kernel = f"simulated kernel {state['kernel_id']}"
        started_at = float(state["started_at"])
        created_at = float(state.get("created_at", started_at))
        ends_at: float | None = state.get("ends_at")
        stopped_at: float | None = state.get("stopped_at")

        def at(timestamp: float) -> str:
            return datetime.fromtimestamp(timestamp, UTC).isoformat()

        lines = [
            f"{at(created_at)} {kernel}: creating from image {state.get('image')}",
            f"{at(started_at)} {kernel}: started",
        ]
        if (
            ends_at is not None
            and self._now() >= ends_at
            and (stopped_at is None or stopped_at >= ends_at)
        ):
            lines.append(f"{at(ends_at)} {kernel}: exited with code {state.get('exit_code')}")
        elif state["status"] == STOPPED:
            when = stopped_at if stopped_at is not None else started_at
            lines.append(f"{at(when)} {kernel}: stopped (exit code {state.get('exit_code')})")
        return "\n".join(lines) + "\n"

    async def stats(self, state: KernelState) -> KernelStats:
        return KernelStats()
