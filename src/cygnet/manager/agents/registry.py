"""The agent registry: registration, heartbeats and liveness (ALIVE / LOST / TERMINATED).

Heartbeats are cheap: they update memory, and a flusher writes occupancy, live stats and the
time of the latest heartbeat of the agents that reported since the last flush in one
transaction, so thousands of agents do not mean thousands of writes a second. Registration,
status changes and goodbyes are written at once. A heartbeat from a LOST agent makes it ALIVE
again. After a manager restart, agents the store lists as ALIVE get one timeout's grace to
heartbeat (and are asked to register again).

**Several managers.** An agent registers with, heartbeats to and pushes its events to one
manager (its *own* manager, the one in its config), but every manager may schedule onto it:
agents are reached by the address they registered, and the store lists them. So the registry
knows two kinds of agents:

* *own* agents, registered with this manager: their liveness is what their heartbeats say;
* *peer* agents, ALIVE in the store but registered with another manager: learned from the
  store by a periodic refresh and by every scheduling pass (``schedulable``), called at their
  stored address; their liveness is what the store says (status, and the last heartbeat their
  own manager flushed).

**The liveness rule.** An agent is LOST when *neither* this manager's memory *nor* the store
has a heartbeat from it within ``heartbeat_timeout``. Any manager may notice, but the change is
one conditional update (``agents.mark_lost``: still ALIVE and the stored heartbeat still older
than the cutoff), so only one manager marks it and publishes ``AgentLost``, and never while
its own manager is flushing fresh heartbeats. Checking the store, rather than sweeping only
one's own agents, is what makes an agent whose manager died LOST too: nobody hears its kernel
events any more. (The stored time is the flushing manager's wall clock: managers' clocks must
agree to well within the timeout, as NTP gives.) An own agent whose heartbeats stop here while
the store's stay fresh has registered with another manager: it becomes a peer. The store's
status wins over memory: a refresh adopts it (an agent another manager marked LOST is LOST
here until it heartbeats again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    # How often statuses (and peers) are re-read from the store; default: heartbeat_interval.
    refresh_interval: float | None = None


@dataclass(slots=True)
class _Live:
    address: str
    last_seen: float  # monotonic time of the latest heartbeat (here or, for peers, stored)
    registered: bool  # an own agent: it registered with this manager
    heard_at: datetime | None = None  # wall time of its latest heartbeat here (what is stored)
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
                self._every(self._flush_interval(), self.flush), name="heartbeat-flush"
            ),
            asyncio.create_task(
                self._every(
                    self.settings.refresh_interval or self.settings.heartbeat_interval,
                    self.refresh,
                ),
                name="agent-refresh",
            ),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await self.flush()
        for client in self._clients.values():
            await client.rpc.aclose()
        self._clients.clear()

    def _flush_interval(self) -> float:
        # Other managers judge this manager's agents by the stored heartbeat time: it must be
        # written well within the timeout.
        return min(self.settings.flush_interval, self.settings.heartbeat_timeout / 4)

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
            heard_at=self._clock.now(),
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
        live.heard_at = self._clock.now()
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
        await self._forget(agent_id)
        self._events.publish(
            AgentTerminated(at=self._clock.now(), agent_id=agent_id, reason=reason)
        )

    # -- periodic work --------------------------------------------------------------------

    async def sweep(self) -> list[str]:
        """Mark agents that no manager heard from within the timeout LOST; returns their ids.

        Agents whose heartbeats stopped reaching this manager are checked against the store:
        a fresh stored heartbeat (another manager hears them) keeps them ALIVE."""
        now = self._clock.monotonic()
        timeout = self.settings.heartbeat_timeout
        expired = [
            agent_id
            for agent_id, live in self._live.items()
            if live.status == AgentStatus.ALIVE and now - live.last_seen > timeout
        ]
        if not expired:
            return []
        at = self._clock.now()
        async with self._db.transaction() as session:
            lost = await repo.mark_lost(
                session, expired, cutoff=at - timedelta(seconds=timeout), now=at
            )
            heard = {
                beat.id: beat for beat in await repo.liveness(session, ids=set(expired) - set(lost))
            }
        for agent_id in expired:
            live = self._live.get(agent_id)
            if live is None:
                continue
            if agent_id in lost:
                live.status = AgentStatus.LOST
                continue
            beat = heard.get(agent_id)
            if beat is None or beat.status == AgentStatus.TERMINATED:
                await self._forget(agent_id)
                continue
            stored = beat.last_heartbeat
            if live.registered and stored is not None and stored > (live.heard_at or stored):
                log.info("agent %s heartbeats to another manager now", agent_id)
                live.registered = False
            live.status = AgentStatus(beat.status)
            live.last_seen = self._seen(beat.last_heartbeat, at, now)
        if lost:
            self.generation += 1
        for agent_id in lost:
            log.warning("agent %s is LOST (no heartbeat for %.0f s)", agent_id, timeout)
            self._events.publish(AgentLost(at=at, agent_id=agent_id))
        return lost

    async def refresh(self) -> None:
        """Learn from the store: peer agents (ALIVE, registered with another manager) join,
        departed ones leave, and every known agent takes the status the store gives it."""
        began = self._clock.monotonic()
        async with self._db.read() as session:
            beats = await repo.liveness(session)
        at, now = self._clock.now(), self._clock.monotonic()

        def settled(live: _Live) -> bool:
            # An own agent heard from since the read began: memory is newer than the read.
            return not (live.registered and live.last_seen >= began)

        changed = False
        stored = {beat.id: beat for beat in beats}
        for agent_id, known in list(self._live.items()):
            if agent_id not in stored and settled(known):
                await self._forget(agent_id)
                changed = True
        for beat in beats:
            live = self._live.get(beat.id)
            if live is not None and not settled(live):
                continue
            if live is None:
                seen = self._seen(beat.last_heartbeat, at, now)
                if beat.status == AgentStatus.ALIVE and self._learn(beat.id, beat.address, seen):
                    changed = True
                continue
            if not live.registered:
                if live.address != beat.address:
                    live.address = beat.address
                    changed = True
                live.last_seen = max(live.last_seen, self._seen(beat.last_heartbeat, at, now))
            if live.status != beat.status:
                live.status = AgentStatus(beat.status)
                changed = True
        if changed:
            self.generation += 1

    def schedulable(self, agents: Sequence[e.Agent]) -> list[e.Agent]:
        """Of the agents the store lists as ALIVE (read in a scheduling pass), those this
        manager considers ALIVE, learning peers it did not know yet (so an agent that just
        registered with another manager can take work at once)."""
        at, now = self._clock.now(), self._clock.monotonic()
        out = []
        for agent in agents:
            if agent.status != AgentStatus.ALIVE:
                continue
            seen = self._seen(agent.last_heartbeat, at, now)
            live = self._live.get(agent.id)
            if live is None:
                if not self._learn(agent.id, agent.address, seen):
                    continue
                live = self._live[agent.id]
                self.generation += 1
            if not live.registered:  # a peer: the row just read is the freshest word on it
                live.last_seen = max(live.last_seen, seen)
                live.address = agent.address  # (a client at an old address is replaced)
                if live.status != AgentStatus.ALIVE:
                    live.status = AgentStatus.ALIVE
                    self.generation += 1
            if live.status == AgentStatus.ALIVE:
                out.append(agent)
        return out

    def _learn(self, agent_id: str, address: str, last_seen: float) -> bool:
        """Know a peer agent; False when this manager cannot call it (an in-process address
        of another process)."""
        if address.startswith("inproc:") and self.network is None:
            return False
        self._live[agent_id] = _Live(address=address, last_seen=last_seen, registered=False)
        log.info("agent %s (registered with another manager) is schedulable here", agent_id)
        return True

    def _seen(self, last_heartbeat: datetime | None, at: datetime, now: float) -> float:
        """A stored heartbeat time as a monotonic time of this manager."""
        if last_heartbeat is None:
            return now - self.settings.heartbeat_timeout - 1
        return now - max(0.0, (at - last_heartbeat).total_seconds())

    async def _forget(self, agent_id: str) -> None:
        self._live.pop(agent_id, None)
        self._dirty.discard(agent_id)
        await self._drop_client(agent_id)

    async def _drop_client(self, agent_id: str) -> None:
        client = self._clients.pop(agent_id, None)
        if client is not None:
            await client.rpc.aclose()

    async def flush(self) -> None:
        """Write the heartbeats received since the last flush."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        at = self._clock.now()
        beats = {
            agent_id: (live.occupied, live.live_stat, live.heard_at or at)
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
        live = self._live.get(agent_id)
        client = self._clients.get(agent_id)
        if client is not None:
            if live is None or client.address == live.address:
                return client
            del self._clients[agent_id]  # a peer that registered again elsewhere
            await client.rpc.aclose()
        address = live.address if live is not None else (await self.get(agent_id)).address
        client = AgentClient(
            agent_id, RPCClient(address, self.settings.secret, network=self.network)
        )
        self._clients[agent_id] = client
        return client
