"""Writing to a docker exec's stdin works whatever class the event loop's transport is
(uvloop's transports, which `cygnet up` runs on, are not asyncio.Transport subclasses)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from cygnet.agent.runtime.docker.execproc import DockerExecProcess


class LoopAgnosticTransport:
    """Quacks like a transport without inheriting from asyncio.Transport (as uvloop's)."""

    def __init__(self) -> None:
        self.eof = False

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True


class FakeStream:
    def __init__(self, transport: Any) -> None:
        self._resp = SimpleNamespace(connection=SimpleNamespace(transport=transport))
        self.written: list[bytes] = []

    async def write_in(self, data: bytes) -> None:
        self.written.append(data)


async def test_stdin_write_and_eof_on_a_transport_of_any_class() -> None:
    transport = LoopAgnosticTransport()
    stream = FakeStream(transport)
    proc = DockerExecProcess(SimpleNamespace(), stream)  # type: ignore[arg-type]
    await proc.write(b"print(1)\n")
    assert stream.written == [b"print(1)\n"]
    await proc.close_stdin()
    assert transport.eof
