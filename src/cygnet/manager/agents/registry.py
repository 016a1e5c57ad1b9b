"""The agent registry: registration, heartbeats and liveness (ALIVE / LOST / TERMINATED).

Heartbeats are cheap: they update memory, and a flusher writes occupancy and live stats of
the agents that reported since the last flush in one transaction, so thousands of agents do
not mean thousands of writes a second. Registration, status changes and goodbyes are written
at once. A sweep marks agents LOST when no heartbeat came for ``heartbeat_timeout`` seconds;
a heartbeat from a LOST agent makes it ALIVE again. After a manager restart, agents the store
lists as ALIVE get one timeout's grace to heartbeat (and are asked to register again).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from cygnet.common import rpc
from cygnet.common.clock import Clock
from cygnet.common.errors import AgentNotFound
from cygnet.common.events import AgentLost, AgentStarted, AgentTerminated
from cygnet.common.lifecycle import AgentStatus
from cygnet.common.logging import get_logger
from cygnet.common.resources import ResourceSlot
from cygnet.common.tasks import cancel_and_wait
from cygnet.common.transport import InProcNetwork, RPCClient
from cygnet.manager import entities as e
from cygnet.manager.agents.client import AgentClient
from cygnet.manager.events import EventBus
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import agents as repo

log = get_logger(__name__)

MANAGER_REQUEST: TypeAdapter[Any] = TypeAdapter(rpc.ManagerRequest)


@dataclass(frozen=True, slots=True)
class RegistrySettings:
    secret: str
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 30.0
    flush_interval: float = 2.0


@dataclass(slots=True)
class _Live:
    address: str
    last_seen: float
    registered: bool
    status: AgentStatus = AgentStatus.ALIVE
    occupied: dict[str, str] = field(default_factory=dict)
    live_stat: dict[str, Any] = field(default_factory=dict)
    kernels: list[rpc.KernelSummary] = field(default_factory=list)


class AgentRegistry:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        events: EventBus,
        settings: RegistrySettings,
        network: InProcNetwork | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._events = events
        self.settings = settings
        self.network = network
        self._live: dict[str, _Live] = {}
        self._dirty: set[str] = set()
        self._clients: dict[str, AgentClient] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # Bumped whenever the set of live agents or what they offer may have changed
        # (registration, a status change): what is derived from them can key on it.
        self.generation = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._db.read() as session:
            known = await repo.list_all(session, statuses=[AgentStatus.ALIVE])
        now = self._clock.monotonic()
        for agent in known:
            self._live.setdefault(
                agent.id, _Live(address=agent.address, last_seen=now, registered=False)
            )
        self._tasks = [
            asyncio.create_task(self._every(self._sweep_interval(), self.sweep), name="sweep"),
            asyncio.create_task(
                self._every(self.settings.flush_interval, self.flush), name="heartbeat-flush"
            ),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await self.flush()
        for client in self._clients.values():
            await client.rpc.aclose()
        self._clients.clear()

    def _sweep_interval(self) -> float:
        return max(0.05, min(2.0, self.settings.heartbeat_timeout / 4))

    async def _every(self, interval: float, action: Any) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await action()
            except Exception:
                log.exception("agent registry: %s failed", getattr(action, "__name__", action))

    # -- RPC from agents ------------------------------------------------------------------

    async def handle(self, request: Any) -> rpc.Message:
        match request:
            case rpc.Heartbeat():
                return await self.heartbeat(request)
            case rpc.RegisterAgent():
                return await self.register(request)
            case rpc.PushEvents():
                for event in request.events:
                    self._events.publish(event)
                return rpc.Ack()
            case rpc.AgentGoodbye():
                await self.goodbye(request.agent_id, request.reason)
                return rpc.Ack()
        raise TypeError(f"unexpected request {type(request).__name__}")

    async def register(self, request: rpc.RegisterAgent) -> rpc.Registered:
        info = request.info
        total = ResourceSlot()
        for kernel in request.kernels:
            total = total + ResourceSlot.from_json(kernel.occupied_slots)
        occupied = total.to_json()
        async with self._db.transaction() as session:
            await repo.register(session, info, occupied, self._clock.now())
        self.generation += 1
        self._live[info.agent_id] = _Live(
            address=info.address,
            last_seen=self._clock.monotonic(),
            registered=True,
            occupied=occupied,
            kernels=list(request.kernels),
        )
        self._dirty.discard(info.agent_id)
        old = self._clients.pop(info.agent_id, None)
        if old is not None and old.address != info.address:
            await old.rpc.aclose()
        elif old is not None:
            self._clients[info.agent_id] = old
        log.info("agent %s registered from %s", info.agent_id, info.address)
        self._events.publish(AgentStarted(at=self._clock.now(), agent_id=info.agent_id))
        return rpc.Registered(heartbeat_interval=self.settings.heartbeat_interval)

    async def heartbeat(self, request: rpc.Heartbeat) -> rpc.HeartbeatAck:
        live = self._live.get(request.agent_id)
        if live is None or not live.registered:
            return rpc.HeartbeatAck(known=False)
        live.last_seen = self._clock.monotonic()
        live.occupied = dict(request.occupied_slots)
        live.live_stat = request.live_stat.model_dump(mode="json")
        self._dirty.add(request.agent_id)
        if live.status != AgentStatus.ALIVE:
            await self._set_status([request.agent_id], AgentStatus.ALIVE)
            log.info("agent %s is back", request.agent_id)
        return rpc.HeartbeatAck(known=True)

    async def goodbye(self, agent_id: str, reason: str) -> None:
        if agent_id not in self._live:
            return
        await self.flush()
        await self._set_status([agent_id], AgentStatus.TERMINATED)
        self._live.pop(agent_id, None)
        self._dirty.discard(agent_id)
        client = self._clients.pop(agent_id, None)
        if client is not None:
            await client.rpc.aclose()
        self._events.publish(
            AgentTerminated(at=self._clock.now(), agent_id=agent_id, reason=reason)
        )

    # -- periodic work --------------------------------------------------------------------

    async def sweep(self) -> list[str]:
        """Mark agents whose heartbeats stopped as LOST; returns their ids."""
        now = self._clock.monotonic()
        timeout = self.settings.heartbeat_timeout
        expired = [
            agent_id
            for agent_id, live in self._live.items()
            if live.status == AgentStatus.ALIVE and now - live.last_seen > timeout
        ]
        if not expired:
            return []
        await self._set_status(expired, AgentStatus.LOST)
        at = self._clock.now()
        for agent_id in expired:
            log.warning("agent %s is LOST (no heartbeat for %.0f s)", agent_id, timeout)
            self._events.publish(AgentLost(at=at, agent_id=agent_id))
        return expired

    async def flush(self) -> None:
        """Write the heartbeats received since the last flush."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        at = self._clock.now()
        beats = {
            agent_id: (live.occupied, live.live_stat, at)
            for agent_id in dirty
            if (live := self._live.get(agent_id)) is not None
        }
        try:
            async with self._db.transaction() as session:
                await repo.record_heartbeats(session, beats)
        except Exception:
            self._dirty |= dirty
            raise

    async def _set_status(self, agent_ids: list[str], status: AgentStatus) -> None:
        async with self._db.transaction() as session:
            await repo.set_status(session, agent_ids, status, self._clock.now())
        self.generation += 1
        for agent_id in agent_ids:
            live = self._live.get(agent_id)
            if live is not None:
                live.status = status

    # -- queries and calls ----------------------------------------------------------------

    def status_of(self, agent_id: str) -> AgentStatus | None:
        live = self._live.get(agent_id)
        return None if live is None else live.status

    def live_ids(self) -> list[str]:
        return [i for i, live in self._live.items() if live.status == AgentStatus.ALIVE]

    async def get(self, agent_id: str) -> e.Agent:
        async with self._db.read() as session:
            agent = await repo.get(session, agent_id)
        if agent is None:
            raise AgentNotFound(f"agent {agent_id} is not known")
        return agent

    async def list(
        self, *, statuses: list[str] | None = None, resource_group: str | None = None
    ) -> list[e.Agent]:
        async with self._db.read() as session:
            return await repo.list_all(session, statuses=statuses, resource_group=resource_group)

    async def client(self, agent_id: str) -> AgentClient:
        """The RPC client for an agent (by the address it registered)."""
        client = self._clients.get(agent_id)
        if client is not None:
            return client
        live = self._live.get(agent_id)
        address = live.address if live is not None else (await self.get(agent_id)).address
        client = AgentClient(
            agent_id, RPCClient(address, self.settings.secret, network=self.network)
        )
        self._clients[agent_id] = client
        return client
