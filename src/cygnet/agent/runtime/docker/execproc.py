"""``DockerExecProcess``: a process started with ``docker exec``, stdin piped, stdout and
stderr kept apart.

The Engine hijacks the HTTP connection of ``POST /exec/{id}/start`` into a raw stream:
stdin goes up as is, output comes down multiplexed (8-byte header: stream, length). Half-
closing our side of the socket (``shutdown(SHUT_WR)``) makes the Engine close the process's
stdin, so ``cat`` sees EOF while we keep reading its output. aiodocker's ``Stream.close``
closes both directions, hence ``close_stdin`` half-closes the transport itself.

The Engine has no call to kill an exec'd process; ``kill`` signals its process group on the
host (the agent runs on the Engine's host: kernel scratch directories are bind mounts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import aiodocker
from aiodocker.execs import Exec
from aiodocker.stream import Stream

from cygnet.agent.runtime.base import ExecProcess, StreamName
from cygnet.common.errors import AgentError

_STREAMS: dict[int, StreamName] = {1: "stdout", 2: "stderr"}


class DockerExecProcess(ExecProcess):
    """Read until ``read()`` returns None, or ``kill()``: either releases the connection."""

    def __init__(self, execution: Exec, stream: Stream) -> None:
        self._exec = execution
        self._stream = stream
        self._stdin_closed = False
        self._eof = False
        self._exit_code: int | None = None

    @classmethod
    async def open(cls, execution: Exec) -> DockerExecProcess:
        stream = execution.start(detach=False)
        await stream.__aenter__()  # starts the process and hijacks the connection
        return cls(execution, stream)

    def _transport(self) -> Any:
        response = self._stream._resp
        if response is None or response.connection is None:
            return None
        transport = response.connection.transport
        # uvloop's transports are not asyncio.Transport subclasses: check what is used.
        if transport is None or not all(
            hasattr(transport, name) for name in ("is_closing", "can_write_eof", "write_eof")
        ):
            return None
        return transport

    async def write(self, data: bytes) -> None:
        transport = self._transport()
        if self._stdin_closed or self._eof or transport is None or transport.is_closing():
            raise BrokenPipeError("stdin of the exec'd process is closed")
        try:
            await self._stream.write_in(data)
        except (RuntimeError, ConnectionError) as exc:
            raise BrokenPipeError(str(exc)) from exc

    async def close_stdin(self) -> None:
        if self._stdin_closed:
            return
        self._stdin_closed = True
        transport = self._transport()
        if transport is not None and not transport.is_closing() and transport.can_write_eof():
            transport.write_eof()

    async def read(self) -> tuple[StreamName, bytes] | None:
        while not self._eof:
            message = await self._stream.read_out()
            if message is None:
                self._eof = True
                await self._stream.close()
                return None
            name = _STREAMS.get(message.stream)
            if name is not None and message.data:
                return name, message.data
        return None

    async def _inspect(self) -> dict[str, object]:
        try:
            return await self._exec.inspect()
        except aiodocker.DockerError as exc:
            raise AgentError(f"docker exec inspect failed: {exc.message}") from exc

    async def wait(self) -> int:
        delay = 0.002
        while self._exit_code is None:
            info = await self._inspect()
            code = info.get("ExitCode")
            if not info.get("Running") and isinstance(code, int):
                self._exit_code = code
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        return self._exit_code

    async def kill(self) -> None:
        try:
            if self._exit_code is None:
                info = await self._inspect()
                pid = info.get("Pid")
                if info.get("Running") and isinstance(pid, int) and pid > 0:
                    _kill_tree(pid)
        finally:
            if not self._eof:
                self._eof = True
                await self._stream.close()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parentheses
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid``, its process group and every descendant (collected first, so that
    none is re-parented out of sight)."""
    if not Path(f"/proc/{pid}").exists():
        raise AgentError(
            f"cannot kill exec'd process {pid}: it is not visible here "
            "(the agent must run on the Docker Engine's host)"
        )
    tree = _children()
    victims, todo = [], [pid]
    while todo:
        current = todo.pop()
        victims.append(current)
        todo.extend(tree.get(current, []))
    with contextlib.suppress(OSError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
