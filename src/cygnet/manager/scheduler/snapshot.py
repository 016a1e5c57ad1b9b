"""The immutable input of a scheduling cycle, with resource slots as fixed-point vectors.

A ``Snapshot`` holds everything a cycle may look at: the agents (capacity, occupancy, free
room per accelerator device, images, metrics), the pending queue, current usage, the limits of
keypairs/users/projects/domains, dependency outcomes, the time, and the carried-over state of
stateful plugins. Nothing in a cycle reads the database.

Slot quantities are ``Vec`` tuples of ints, one position per slot name of the snapshot's
``SlotSchema``: bytes slots (``mem`` …) in bytes, every other slot in millionths (``cpu`` 2 ->
2_000_000, ``cuda.shares`` 0.5 -> 500_000). They are converted once, by ``SnapshotBuilder``,
from the ``{"cpu": "2", "mem": "4294967296"}`` maps the database holds; requests round up
and capacities round down, so rounding never lets a cycle overcommit.

Limits: a count limit (``max_concurrent_sessions``, ``max_containers_per_session``) of ``None``
or ``0`` means no limit (as the session service already treats them). A slot limit map
follows Backend.AI's ``ResourceSlot.from_policy``: a slot that is missing from the map is
unlimited when the policy's ``default_for_unspecified`` is ``UNLIMITED`` (the default, and
always for users, projects and domains) and zero when it is ``LIMITED``; a value of ``null`` or
``Infinity`` is unlimited; any other value, ``0`` included, is the limit.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any

from cygnet.common.lifecycle import ClusterMode
from cygnet.common.resources import BinarySize, ResourceSlot, SlotValue, is_bytes_slot

Vec = tuple[int, ...]
"""Slot quantities in fixed-point units, positioned by ``SlotSchema.names``."""

SCALE = 1_000_000
"""Fixed-point units per 1 of a non-bytes slot."""


@dataclass(frozen=True, slots=True)
class SlotSchema:
    """The slot names of one snapshot, their vector positions and fixed-point scales."""

    names: tuple[str, ...]
    scales: tuple[int, ...]
    index: Mapping[str, int]
    # units() by (name, value, round_up): a snapshot converts the same few quantities many times
    _units: dict[tuple[str, Any, bool], int] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, names: Iterable[str], slot_types: Mapping[str, str] | None = None) -> SlotSchema:
        ordered = tuple(sorted(set(names), key=_slot_order))
        scales = tuple(1 if is_bytes_slot(n, slot_types) else SCALE for n in ordered)
        return cls(ordered, scales, {n: i for i, n in enumerate(ordered)})

    @property
    def zero(self) -> Vec:
        return (0,) * len(self.names)

    def units(self, name: str, value: SlotValue | Decimal, *, round_up: bool) -> int:
        """One quantity in fixed-point units (requests round up, capacities down)."""
        key = (name, value, round_up)
        try:
            known = self._units.get(key)
        except TypeError:  # an unhashable value: not remembered
            return self._to_units(name, value, round_up)
        if known is None:
            known = self._units[key] = self._to_units(name, value, round_up)
        return known

    def _to_units(self, name: str, value: SlotValue | Decimal, round_up: bool) -> int:
        number = ResourceSlot({name: value}).get_or_zero(name)
        if number.is_infinite():
            raise ValueError(f"slot {name!r}: an unlimited quantity has no fixed-point form")
        scaled = number * self.scales[self.index[name]]
        return int(scaled.to_integral_value(rounding=ROUND_CEILING if round_up else ROUND_FLOOR))

    def vector(self, slots: Mapping[str, SlotValue] | None, *, round_up: bool) -> Vec:
        """A slot map as a vector; names outside the schema must be zero."""
        values = [0] * len(self.names)
        for name, value in (slots or {}).items():
            if name not in self.index:
                if ResourceSlot({name: value}).get_or_zero(name) != 0:
                    raise ValueError(f"slot {name!r} is not in this snapshot's schema")
                continue
            values[self.index[name]] = self.units(name, value, round_up=round_up)
        return tuple(values)

    def limit(
        self, slots: Mapping[str, SlotValue | None] | None, *, unspecified_unlimited: bool = True
    ) -> SlotLimit:
        """A policy's ``total_resource_slots`` as the pairs that actually limit something."""
        given = dict(slots or {})
        pairs: list[tuple[int, int]] = []
        for i, name in enumerate(self.names):
            if name not in given:
                if not unspecified_unlimited:
                    pairs.append((i, 0))
                continue
            value = given[name]
            if value is None:
                continue
            number = ResourceSlot({name: value}).get_or_zero(name)
            if number.is_infinite():
                continue
            pairs.append((i, self.units(name, number, round_up=False)))
        return SlotLimit(tuple(pairs))

    def decimal(self, index: int, units: int) -> Decimal:
        return Decimal(units) / self.scales[index]

    def render(self, index: int, units: int) -> str:
        """A quantity for people: ``0.5``, ``2``, ``16g``."""
        if self.scales[index] == 1:
            return BinarySize(units).format() if units >= 0 else str(units)
        return _plain(self.decimal(index, units))

    def to_json(self, vec: Vec) -> dict[str, str]:
        """A vector as the ``{slot: "<decimal string>"}`` map the database holds (non-zeros)."""
        return {
            n: _plain(self.decimal(i, v))
            for i, (n, v) in enumerate(zip(self.names, vec, strict=True))
            if v
        }


def _slot_order(name: str) -> tuple[int, str]:
    return ({"cpu": 0, "mem": 1}.get(name, 2), name)


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class SlotLimit:
    """``(slot position, maximum)`` for each limited slot; empty means no limit at all."""

    pairs: tuple[tuple[int, int], ...] = ()

    def exceeded(self, used: Vec, need: Vec) -> tuple[int, int] | None:
        """The first limited slot that ``used + need`` goes over, as ``(position, maximum)``."""
        for i, most in self.pairs:
            if need[i] and used[i] + need[i] > most:
                return i, most
        return None


NO_LIMIT = SlotLimit()


@dataclass(frozen=True, slots=True)
class DeviceSet:
    """The devices behind one accelerator slot of an agent (e.g. 8 GPUs for ``cuda.shares``)."""

    ids: tuple[str, ...]
    free: tuple[int, ...]  # fixed-point units free on each device
    unit: int  # one device's capacity in fixed-point units: smaller requests use one device


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: str
    resource_group: str
    architecture: str
    schedulable: bool
    capacity: Vec
    occupied: Vec
    free: Vec  # capacity - occupied
    images: frozenset[str] | None = None  # None: the agent can pull any image
    devices: Mapping[int, DeviceSet] = field(default_factory=dict)  # slot position -> devices
    metrics: Mapping[str, float] = field(default_factory=dict)
    # derived from ``devices`` (None without devices), shared read-only by cycles
    device_free: Mapping[int, tuple[int, ...]] | None = field(init=False, repr=False)
    device_units: Mapping[int, int] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        devices = self.devices
        free = {s: d.free for s, d in devices.items()} if devices else None
        units = {s: d.unit for s, d in devices.items()} if devices else None
        object.__setattr__(self, "device_free", free)
        object.__setattr__(self, "device_units", units)


@dataclass(frozen=True, slots=True)
class KernelRequest:
    id: uuid.UUID
    cluster_role: str  # "main" or "sub"
    cluster_idx: int
    hostname: str
    requested: Vec


@dataclass(frozen=True, slots=True)
class PendingSession:
    id: uuid.UUID
    name: str
    access_key: str
    user: uuid.UUID
    project: uuid.UUID
    domain: str
    resource_group: str
    image: str
    architecture: str
    created_at: datetime
    kernels: tuple[KernelRequest, ...]
    requested: Vec  # the sum over the kernels
    priority: int = 10
    cluster_mode: ClusterMode = ClusterMode.SINGLE_NODE
    designated_agents: tuple[str, ...] = ()
    starts_at: datetime | None = None
    dependencies: tuple[uuid.UUID, ...] = ()
    wait_deadline: datetime | None = None  # CANCELLED with "pending-timeout" from then on
    created_ts: float = 0.0  # created_at as a POSIX timestamp, for fast ordering


class DependencyOutcome(StrEnum):
    RUNNING = "running"  # not finished yet (pending or running): dependants wait
    SUCCESS = "success"
    FAILURE = "failure"  # dependants are cancelled


@dataclass(frozen=True, slots=True)
class Dependency:
    name: str
    outcome: DependencyOutcome


@dataclass(frozen=True, slots=True)
class KeypairLimits:
    max_concurrent_sessions: int | None = None  # None or 0: no limit
    max_containers_per_session: int | None = None  # None or 0: no limit
    total_resource_slots: SlotLimit = NO_LIMIT


@dataclass(frozen=True, slots=True)
class Usage:
    """What is occupied now (before the cycle): live sessions and their slots."""

    keypair_sessions: Mapping[str, int] = field(default_factory=dict)
    keypair_slots: Mapping[str, Vec] = field(default_factory=dict)
    user_slots: Mapping[uuid.UUID, Vec] = field(default_factory=dict)
    project_slots: Mapping[uuid.UUID, Vec] = field(default_factory=dict)
    domain_slots: Mapping[str, Vec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Limits:
    keypairs: Mapping[str, KeypairLimits] = field(default_factory=dict)
    users: Mapping[uuid.UUID, SlotLimit] = field(default_factory=dict)
    projects: Mapping[uuid.UUID, SlotLimit] = field(default_factory=dict)
    domains: Mapping[str, SlotLimit] = field(default_factory=dict)
    # Resource groups each domain / project / keypair may use. None (all): no restriction;
    # otherwise a session's group must be associated with its domain, project or keypair.
    domain_groups: Mapping[str, frozenset[str]] | None = None
    project_groups: Mapping[uuid.UUID, frozenset[str]] | None = None
    keypair_groups: Mapping[str, frozenset[str]] | None = None  # linked to the access key


@dataclass(frozen=True, slots=True)
class Snapshot:
    now: datetime
    slots: SlotSchema
    agents: tuple[AgentInfo, ...]
    pending: tuple[PendingSession, ...]
    usage: Usage = field(default_factory=Usage)
    limits: Limits = field(default_factory=Limits)
    dependencies: Mapping[uuid.UUID, Dependency] = field(default_factory=dict)
    plugin_state: Mapping[str, Any] = field(default_factory=dict)  # JSON-able, per plugin name


def vadd(a: Vec, b: Vec) -> Vec:
    return tuple(map(operator.add, a, b))


def vsub(a: Vec, b: Vec) -> Vec:
    return tuple(map(operator.sub, a, b))


_KERNEL_NS = uuid.UUID("6f1b2d0e-5c1a-4f55-9b4e-0c6a3e1d2a77")


@dataclass(slots=True)
class _AgentInput:
    id: str
    resource_group: str
    architecture: str
    schedulable: bool
    capacity: Mapping[str, SlotValue]
    occupied: Mapping[str, SlotValue]
    images: frozenset[str] | None
    devices: Mapping[str, Sequence[SlotValue] | Mapping[str, SlotValue]]
    device_unit: Mapping[str, SlotValue]
    metrics: Mapping[str, float]


@dataclass(slots=True)
class _KernelInput:
    id: uuid.UUID
    cluster_role: str
    cluster_idx: int
    hostname: str
    requested: Mapping[str, SlotValue]


@dataclass(slots=True)
class _SessionInput:
    fields: dict[str, Any]
    kernels: list[_KernelInput]


class AgentMemo:
    """The agents of the last snapshot built with this memo, each with what it was made from:
    an agent given the same inputs again, under the same slot schema, is not made again (from
    one scheduling pass to the next, most agents are unchanged). Keep one per scheduler."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[_AgentInput, tuple[str, ...], AgentInfo]] = {}

    def get(self, given: _AgentInput, schema: SlotSchema) -> AgentInfo | None:
        kept = self._kept.get(given.id)
        if kept is None or kept[1] != schema.names or kept[0] != given:
            return None
        return kept[2]

    def keep(self, built: dict[str, tuple[_AgentInput, tuple[str, ...], AgentInfo]]) -> None:
        """What the last build made (agents gone since are forgotten)."""
        self._kept = built

    def __len__(self) -> int:
        return len(self._kept)


class SnapshotBuilder:
    """Builds a ``Snapshot`` from the plain ``{slot: "<decimal>"}`` maps the database holds.

    Collect agents, sessions, usage and limits, then ``build()``: the slot schema is the union
    of the slot names seen on agents and requests, and every map becomes a vector once.
    """

    def __init__(
        self,
        now: datetime,
        *,
        slot_types: Mapping[str, str] | None = None,
        plugin_state: Mapping[str, Any] | None = None,
        memo: AgentMemo | None = None,
    ) -> None:
        self._now = now
        self._memo = memo
        self._slot_types = dict(slot_types or {})
        self._plugin_state = dict(plugin_state or {})
        self._agents: list[_AgentInput] = []
        self._sessions: list[_SessionInput] = []
        self._kp_sessions: dict[str, int] = {}
        self._kp_slots: dict[str, Mapping[str, SlotValue]] = {}
        self._user_slots: dict[uuid.UUID, Mapping[str, SlotValue]] = {}
        self._project_slots: dict[uuid.UUID, Mapping[str, SlotValue]] = {}
        self._domain_slots: dict[str, Mapping[str, SlotValue]] = {}
        self._kp_limits: dict[str, tuple[int | None, int | None, Mapping[str, Any], bool]] = {}
        self._user_limits: dict[uuid.UUID, Mapping[str, Any]] = {}
        self._project_limits: dict[uuid.UUID, Mapping[str, Any]] = {}
        self._domain_limits: dict[str, Mapping[str, Any]] = {}
        self._domain_groups: dict[str, set[str]] | None = None
        self._project_groups: dict[uuid.UUID, set[str]] | None = None
        self._keypair_groups: dict[str, set[str]] | None = None
        self._dependencies: dict[uuid.UUID, Dependency] = {}

    def agent(
        self,
        id: str,
        *,
        capacity: Mapping[str, SlotValue],
        occupied: Mapping[str, SlotValue] | None = None,
        resource_group: str = "default",
        architecture: str = "x86_64",
        schedulable: bool = True,
        images: Iterable[str] | None = None,
        devices: Mapping[str, Sequence[SlotValue] | Mapping[str, SlotValue]] | None = None,
        device_unit: Mapping[str, SlotValue] | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> SnapshotBuilder:
        """An agent. ``devices`` gives, per accelerator slot, the free amount on each device
        (a list, ids ``"0"``, ``"1"`` …, or a ``{device_id: free}`` map); ``device_unit`` one
        device's capacity per slot (default 1): smaller requests go on a single device."""
        self._agents.append(
            _AgentInput(
                id,
                resource_group,
                architecture,
                schedulable,
                capacity,
                occupied or {},
                None if images is None else frozenset(images),
                devices or {},
                device_unit or {},
                metrics or {},
            )
        )
        return self

    def session(
        self,
        id: uuid.UUID,
        *,
        access_key: str,
        user: uuid.UUID,
        project: uuid.UUID,
        created_at: datetime,
        requested: Mapping[str, SlotValue] | None = None,
        kernels: Sequence[tuple[uuid.UUID, str, int, str, Mapping[str, SlotValue]]] | None = None,
        cluster_size: int = 1,
        cluster_mode: ClusterMode = ClusterMode.SINGLE_NODE,
        name: str | None = None,
        domain: str = "default",
        resource_group: str = "default",
        image: str = "python:latest",
        architecture: str = "x86_64",
        priority: int = 10,
        designated_agents: Sequence[str] = (),
        starts_at: datetime | None = None,
        dependencies: Sequence[uuid.UUID] = (),
        wait_deadline: datetime | None = None,
    ) -> SnapshotBuilder:
        """A pending session. Either ``kernels`` as ``(id, role, idx, hostname, requested)``
        tuples, or ``requested`` per kernel and ``cluster_size`` (kernels ``main1``, ``sub1``
        … with ids derived from the session id)."""
        if kernels is None:
            per_kernel = requested or {}
            made = [
                _KernelInput(uuid.uuid5(_KERNEL_NS, f"{id}/main1"), "main", 1, "main1", per_kernel)
            ]
            for n in range(1, cluster_size):
                made.append(
                    _KernelInput(
                        uuid.uuid5(_KERNEL_NS, f"{id}/sub{n}"), "sub", n, f"sub{n}", per_kernel
                    )
                )
        else:
            made = [_KernelInput(*k) for k in kernels]
        self._sessions.append(
            _SessionInput(
                {
                    "id": id,
                    "name": name or f"session-{str(id)[:8]}",
                    "access_key": access_key,
                    "user": user,
                    "project": project,
                    "domain": domain,
                    "resource_group": resource_group,
                    "image": image,
                    "architecture": architecture,
                    "created_at": created_at,
                    "priority": priority,
                    "cluster_mode": cluster_mode,
                    "designated_agents": tuple(designated_agents),
                    "starts_at": starts_at,
                    "dependencies": tuple(dependencies),
                    "wait_deadline": wait_deadline,
                },
                made,
            )
        )
        return self

    def keypair(
        self,
        access_key: str,
        *,
        sessions: int = 0,
        occupied: Mapping[str, SlotValue] | None = None,
        max_concurrent_sessions: int | None = None,
        max_containers_per_session: int | None = None,
        total_resource_slots: Mapping[str, Any] | None = None,
        default_for_unspecified: str = "UNLIMITED",
        resource_groups: Iterable[str] | None = None,
    ) -> SnapshotBuilder:
        """A keypair's live session count, occupied slots, resource policy limits and the
        resource groups linked to it."""
        if resource_groups is not None:
            if self._keypair_groups is None:
                self._keypair_groups = {}
            self._keypair_groups.setdefault(access_key, set()).update(resource_groups)
        self._kp_sessions[access_key] = sessions
        if occupied:
            self._kp_slots[access_key] = occupied
        self._kp_limits[access_key] = (
            max_concurrent_sessions,
            max_containers_per_session,
            total_resource_slots or {},
            default_for_unspecified.upper() != "LIMITED",
        )
        return self

    def user(
        self,
        user: uuid.UUID,
        *,
        occupied: Mapping[str, SlotValue] | None = None,
        total_resource_slots: Mapping[str, Any] | None = None,
    ) -> SnapshotBuilder:
        if occupied:
            self._user_slots[user] = occupied
        if total_resource_slots:
            self._user_limits[user] = total_resource_slots
        return self

    def project(
        self,
        project: uuid.UUID,
        *,
        occupied: Mapping[str, SlotValue] | None = None,
        total_resource_slots: Mapping[str, Any] | None = None,
        resource_groups: Iterable[str] | None = None,
    ) -> SnapshotBuilder:
        if occupied:
            self._project_slots[project] = occupied
        if total_resource_slots:
            self._project_limits[project] = total_resource_slots
        if resource_groups is not None:
            if self._project_groups is None:
                self._project_groups = {}
            self._project_groups.setdefault(project, set()).update(resource_groups)
        return self

    def domain(
        self,
        domain: str,
        *,
        occupied: Mapping[str, SlotValue] | None = None,
        total_resource_slots: Mapping[str, Any] | None = None,
        resource_groups: Iterable[str] | None = None,
    ) -> SnapshotBuilder:
        if occupied:
            self._domain_slots[domain] = occupied
        if total_resource_slots:
            self._domain_limits[domain] = total_resource_slots
        if resource_groups is not None:
            if self._domain_groups is None:
                self._domain_groups = {}
            self._domain_groups.setdefault(domain, set()).update(resource_groups)
        return self

    def dependency(
        self, id: uuid.UUID, outcome: DependencyOutcome | str, name: str | None = None
    ) -> SnapshotBuilder:
        self._dependencies[id] = Dependency(name or str(id), DependencyOutcome(outcome))
        return self

    def build(self) -> Snapshot:
        names: set[str] = set()
        for a in self._agents:
            names.update(a.capacity)
            names.update(a.devices)
        for s in self._sessions:
            for k in s.kernels:
                names.update(n for n, v in k.requested.items() if v not in (0, "0"))
        schema = SlotSchema.of(names, self._slot_types)
        # Thousands of agents of a few kinds, mostly equally full: each distinct map of slots
        # becomes a vector once.
        vectors: dict[tuple[bool, tuple[tuple[str, SlotValue], ...]], Vec] = {}

        def vector(slots: Mapping[str, SlotValue], round_up: bool) -> Vec:
            key = (round_up, tuple(slots.items()))
            found = vectors.get(key)
            if found is None:
                found = vectors[key] = schema.vector(slots, round_up=round_up)
            return found

        agents = self._make_agents(schema, vector)
        pending = tuple(self._make_session(schema, s) for s in self._sessions)
        vec = schema.vector
        usage = Usage(
            keypair_sessions=dict(self._kp_sessions),
            keypair_slots={k: vec(v, round_up=True) for k, v in self._kp_slots.items()},
            user_slots={k: vec(v, round_up=True) for k, v in self._user_slots.items()},
            project_slots={k: vec(v, round_up=True) for k, v in self._project_slots.items()},
            domain_slots={k: vec(v, round_up=True) for k, v in self._domain_slots.items()},
        )
        limits = Limits(
            keypairs={
                k: KeypairLimits(mcs, mcps, schema.limit(slots, unspecified_unlimited=unl))
                for k, (mcs, mcps, slots, unl) in self._kp_limits.items()
            },
            users={k: schema.limit(v) for k, v in self._user_limits.items()},
            projects={k: schema.limit(v) for k, v in self._project_limits.items()},
            domains={k: schema.limit(v) for k, v in self._domain_limits.items()},
            domain_groups=_frozen(self._domain_groups),
            project_groups=_frozen(self._project_groups),
            keypair_groups=_frozen(self._keypair_groups),
        )
        return Snapshot(
            now=self._now,
            slots=schema,
            agents=agents,
            pending=pending,
            usage=usage,
            limits=limits,
            dependencies=dict(self._dependencies),
            plugin_state=dict(self._plugin_state),
        )

    def _make_agents(
        self, schema: SlotSchema, vector: Callable[[Mapping[str, SlotValue], bool], Vec]
    ) -> tuple[AgentInfo, ...]:
        memo = self._memo
        if memo is None:
            return tuple(self._make_agent(schema, a, vector) for a in self._agents)
        made: list[AgentInfo] = []
        built: dict[str, tuple[_AgentInput, tuple[str, ...], AgentInfo]] = {}
        for given in self._agents:
            info = memo.get(given, schema)
            if info is None:
                info = self._make_agent(schema, given, vector)
            built[given.id] = (given, schema.names, info)
            made.append(info)
        memo.keep(built)
        return tuple(made)

    @staticmethod
    def _make_agent(
        schema: SlotSchema, a: _AgentInput, vector: Callable[[Mapping[str, SlotValue], bool], Vec]
    ) -> AgentInfo:
        capacity = vector(a.capacity, False)
        occupied = vector(a.occupied, True)
        devices: dict[int, DeviceSet] = {}
        for slot, per_device in a.devices.items():
            items = (
                list(per_device.items())
                if isinstance(per_device, Mapping)
                else [(str(i), v) for i, v in enumerate(per_device)]
            )
            unit = schema.units(slot, a.device_unit.get(slot, 1), round_up=False)
            devices[schema.index[slot]] = DeviceSet(
                tuple(str(d) for d, _ in items),
                tuple(schema.units(slot, v, round_up=False) for _, v in items),
                unit,
            )
        return AgentInfo(
            id=a.id,
            resource_group=a.resource_group,
            architecture=a.architecture,
            schedulable=a.schedulable,
            capacity=capacity,
            occupied=occupied,
            free=vsub(capacity, occupied),
            images=a.images,
            devices=devices,
            metrics=dict(a.metrics),
        )

    @staticmethod
    def _make_session(schema: SlotSchema, s: _SessionInput) -> PendingSession:
        kernels = tuple(
            KernelRequest(
                k.id,
                k.cluster_role,
                k.cluster_idx,
                k.hostname,
                schema.vector(k.requested, round_up=True),
            )
            for k in s.kernels
        )
        total = schema.zero
        for k in kernels:
            total = vadd(total, k.requested)
        created: datetime = s.fields["created_at"]
        return PendingSession(
            kernels=kernels, requested=total, created_ts=created.timestamp(), **s.fields
        )


def _frozen(groups: Mapping[Any, set[str]] | None) -> dict[Any, frozenset[str]] | None:
    return None if groups is None else {k: frozenset(v) for k, v in groups.items()}
