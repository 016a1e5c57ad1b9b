"""A small world builder for scheduler tests: agents and sessions by name, one cycle.

Imported by the tests as ``sched_world`` (the test directory is on ``sys.path``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from cygnet.common.clock import FakeClock
from cygnet.common.lifecycle import ClusterMode
from cygnet.manager.scheduler import (
    CycleResult,
    Snapshot,
    SnapshotBuilder,
    build_profile,
    run_cycle,
)

USER = uuid.UUID(int=1)
PROJECT = uuid.UUID(int=2)


class World:
    """Agents and sessions by name; sessions are created one second apart, in call order."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.builder = SnapshotBuilder(clock.now())
        self.ids: dict[str, uuid.UUID] = {}
        self.names: dict[uuid.UUID, str] = {}
        self.kernel_names: dict[uuid.UUID, str] = {}
        self._created = clock.now() - timedelta(hours=1)

    def agent(self, name: str, cpu: str = "8", mem: str = "16g", **kw: Any) -> World:
        capacity = {"cpu": cpu, "mem": mem, **kw.pop("extra", {})}
        self.builder.agent(name, capacity=capacity, **kw)
        return self

    def gpu_agent(self, name: str, devices: list[str], **kw: Any) -> World:
        total = sum(float(d) for d in devices)
        occupied = {"cuda.shares": str(len(devices) - total)} if total != len(devices) else None
        self.builder.agent(
            name,
            capacity={"cpu": "64", "mem": "256g", "cuda.shares": str(len(devices))},
            occupied=occupied,
            devices={"cuda.shares": devices},
            **kw,
        )
        return self

    def session(
        self,
        name: str,
        cpu: str = "1",
        mem: str = "1g",
        extra: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> uuid.UUID:
        sid = uuid.uuid5(uuid.NAMESPACE_DNS, name)
        self.ids[name] = sid
        self.names[sid] = name
        self._created += timedelta(seconds=1)
        kw.setdefault("access_key", "AK")
        kw.setdefault("user", USER)
        kw.setdefault("project", PROJECT)
        kw.setdefault("created_at", self._created)
        self.builder.session(
            sid, name=name, requested={"cpu": cpu, "mem": mem, **(extra or {})}, **kw
        )
        return sid

    def cluster(self, name: str, size: int, mode: ClusterMode, **kw: Any) -> uuid.UUID:
        return self.session(name, cluster_size=size, cluster_mode=mode, **kw)

    def snapshot(self) -> Snapshot:
        return self.builder.build()

    def run(self, scheduler: str = "fifo", **opts: Any) -> Outcome:
        snapshot = self.snapshot()
        return Outcome(self, snapshot, run_cycle(snapshot, build_profile(scheduler, opts)))


class Outcome:
    def __init__(self, world: World, snapshot: Snapshot, result: CycleResult) -> None:
        self.world = world
        self.snapshot = snapshot
        self.result = result

    @property
    def placed(self) -> list[str]:
        """Placed session names, in the order the cycle placed them."""
        return [self.world.names[p.session_id] for p in self.result.placed]

    @property
    def pending(self) -> list[str]:
        return sorted(self.world.names[s] for s in self.result.pending)

    @property
    def cancelled(self) -> dict[str, str]:
        return {self.world.names[s]: r for s, r in self.result.cancelled.items()}

    def agents_of(self, name: str) -> list[str]:
        sid = self.world.ids[name]
        for p in self.result.placed:
            if p.session_id == sid:
                return [k.agent_id for k in p.kernels]
        raise AssertionError(f"{name} was not placed")

    def agent_of(self, name: str) -> str:
        (agent,) = set(self.agents_of(name))
        return agent

    def why(self, name: str) -> Any:
        return self.result.pending[self.world.ids[name]]
