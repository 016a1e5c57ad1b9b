"""Per-session networks for the kernels of a cluster session (docker runtime).

A cluster session's kernels join one user-defined network named by the manager
(``cygnet-session-<session id>``), each with its hostname (``main1``, ``sub1`` …) as its alias
there, so they reach each other by name through the engine's DNS. The first kernel that
needs the network creates it; the others find it. Agents that share an engine (or one agent
starting two kernels at once) may race to create it: the engine refuses a second network of
the same name (``CheckDuplicate``; always on API >= 1.44), and where an old engine lets two
through anyway (20.10 does, under load), every racer keeps the same one (the one a kernel
already joined, else the oldest) and removes the others. The network goes when its last
kernel on the engine goes: every kernel's ``stop`` tries to remove it, and the engine refuses
while other containers are still attached.

The ``bridge`` driver (the default) joins kernels on one engine only. Kernels on different
Docker hosts need a multi-host driver: ``overlay`` (the engines must be in one swarm; the
network is made ``Attachable`` so plain containers can join it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiodocker

from cygnet.common.errors import AgentError
from cygnet.common.logging import get_logger

log = get_logger(__name__)

NETWORK_LABEL = "cygnet.cluster-network"  # on every per-session network, value: session id
UNDEFINED_NETWORKS = frozenset({"bridge", "default"})  # config.network values that mean none
ISOLATED_NETWORKS = frozenset({"host", "none"})  # no per-session network can be added
SETTLE_ATTEMPTS = 40
SETTLE_DELAY = 0.05  # seconds between looks while twins are being removed


def joins_cluster_network(network: str | None, cluster_network: str | None) -> bool:
    """Whether a kernel with ``cluster_network`` joins it, given the runtime's configured
    ``network`` (a host-network or network-less runtime cannot: it keeps its setting)."""
    if cluster_network is None:
        return False
    if network is None:
        return True
    return network not in ISOLATED_NETWORKS and not network.startswith("container:")


def extra_network(network: str | None) -> str | None:
    """The configured network a cluster kernel joins besides its session's (None: the
    default bridge, which the session's network replaces as the way out)."""
    if network is None or network in UNDEFINED_NETWORKS:
        return None
    return network


def network_config(name: str, session_id: str, driver: str) -> dict[str, Any]:
    """The ``POST /networks/create`` body of a per-session network (pure)."""
    body: dict[str, Any] = {
        "Name": name,
        "Driver": driver,
        "CheckDuplicate": True,
        "Labels": {NETWORK_LABEL: session_id, "cygnet.session-id": session_id},
    }
    if driver == "overlay":
        body["Attachable"] = True  # plain (non-service) containers may join
    return body


def endpoint_config(network_id: str, hostname: str) -> dict[str, Any]:
    """The ``NetworkingConfig`` joining a container to ``network_id`` as ``hostname``."""
    return {"EndpointsConfig": {network_id: {"Aliases": [hostname]}}}


class ClusterNetworks:
    """Creates (if absent) and removes per-session networks on one engine."""

    def __init__(self, driver: str) -> None:
        self.driver = driver
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    async def ensure(self, docker: aiodocker.Docker, name: str, session_id: str) -> str:
        """The id of network ``name``, created if absent (one creation at a time per name
        in this runtime; the engine arbitrates between runtimes)."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        self._users[name] = self._users.get(name, 0) + 1
        try:
            async with lock:
                return await self._ensure(docker, name, session_id)
        finally:
            self._users[name] -= 1
            if not self._users[name]:
                del self._users[name], self._locks[name]

    async def _ensure(self, docker: aiodocker.Docker, name: str, session_id: str) -> str:
        for _ in range(SETTLE_ATTEMPTS):
            found = await _find(docker, name)
            if len(found) == 1:
                return found[0]
            if not found:
                try:
                    await docker.networks.create(network_config(name, session_id, self.driver))
                except aiodocker.DockerError as exc:
                    if exc.status != 409:  # 409: another kernel created it meanwhile
                        raise
                continue  # look again: a concurrent creator may have made a twin
            # Twins (an old engine let two concurrent creations through): every racer keeps
            # the one a kernel already joined (a racer that saw it alone), else the oldest,
            # and removes the others (the engine refuses to remove one in use).
            in_use = [twin for twin in found if await _attached(docker, twin)]
            keep = in_use[0] if in_use else found[0]
            for twin in found:
                if twin != keep:
                    await remove_network(docker, twin)
            await asyncio.sleep(SETTLE_DELAY)
        for twin in await _find(docker, name):  # leave none behind that no kernel uses
            await remove_network(docker, twin)
        raise AgentError(f"could not settle on one network named {name}")

    async def remove(self, docker: aiodocker.Docker, network_id: str) -> None:
        await remove_network(docker, network_id)


async def _find(docker: aiodocker.Docker, name: str) -> list[str]:
    """Ids of the networks named exactly ``name`` (the engine's filter matches substrings),
    oldest first."""
    networks: list[dict[str, Any]] = await docker.networks.list(filters={"name": name})
    named = [n for n in networks if n.get("Name") == name]
    return [str(n["Id"]) for n in sorted(named, key=lambda n: (_created(n), str(n["Id"])))]


async def _attached(docker: aiodocker.Docker, network_id: str) -> bool:
    """Whether any container is attached to the network."""
    try:
        info = await docker.networks.get(network_id)
        return bool((await info.show()).get("Containers"))
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return False
        raise


def _created(network: dict[str, Any]) -> str:
    """A network's creation time, comparable as text (RFC 3339 with the fraction padded to
    nanoseconds: the engine trims trailing zeros)."""
    text = str(network.get("Created") or "")
    stamp, dot, rest = text.partition(".")
    if not dot:
        return text
    digits = "".join(c for c in rest if c.isdigit())
    zone = rest[len(digits) :]
    return f"{stamp}.{digits:0<9}{zone}"


async def remove_network(docker: aiodocker.Docker, network_id: str) -> bool:
    """Remove a per-session network unless containers still use it; True if it is gone.
    Never raises for the expected races (still in use, already removed)."""
    try:
        async with docker._query(f"networks/{network_id}", method="DELETE"):
            return True
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return True
        if exc.status in (403, 409) or "active endpoints" in exc.message:
            return False  # other kernels of the session still run on this engine
        log.warning("could not remove network %s: %s", network_id, exc.message)
        return False
