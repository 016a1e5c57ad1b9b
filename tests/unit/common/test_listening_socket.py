"""Servers listen on sockets whose connections have Nagle's algorithm off: otherwise each
response written in two parts waits ~40 ms for the client's delayed ACK."""

from __future__ import annotations

import asyncio
import socket

from cygnet.common.transport import listening_socket


async def test_accepted_connections_have_tcp_nodelay() -> None:
    sock = listening_socket("127.0.0.1")
    seen: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted = writer.get_extra_info("socket")
        seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, sock=sock)
    try:
        port = sock.getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.read()
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    assert seen and seen[0] != 0
