"""Runtimes by name, from the ``cygnet.runtimes`` entry points (imported lazily)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from cygnet.agent.runtime.base import Runtime, RuntimeContext
from cygnet.common.registry import load_plugin, plugin_names

GROUP = "cygnet.runtimes"


def available_runtimes() -> list[str]:
    return plugin_names(GROUP)


def load_runtime(name: str, context: RuntimeContext, options: Mapping[str, Any]) -> Runtime:
    cls: type[Runtime] = load_plugin(GROUP, name, Runtime, "runtime")
    return cls(context, options)  # type: ignore[call-arg]  # the constructor every runtime has


async def docker_answers(timeout: float = 2.0) -> bool:
    """Whether a Docker engine answers on the default socket (for ``runtime = "auto"``)."""
    socket_path = "/var/run/docker.sock"
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        socket_path = host.removeprefix("unix://")
    elif host:
        return True  # a remote engine: let the docker runtime try it
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(socket_path)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(b"GET /_ping HTTP/1.0\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(timeout):
            line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
    return b" 200 " in line
