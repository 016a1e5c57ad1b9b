"""Why a session is still pending: each plugin's verdict and the agents' reasons, grouped.

An ``Explanation`` is what the lifecycle records in ``status_data["scheduler"]`` and what
``GET /session/{id}/scheduling`` shows (``to_json()``), with a one-line ``msg`` such as::

    no agent can host it: 3 agents: not enough cuda.shares on one device (need 0.5,
    largest free 0.3); 12 agents: architecture aarch64, not x86_64

Agents that refuse for the same reason (same plugin, reason, slot and amount needed) are
grouped; for a quantity the group shows the largest free amount among its agents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cygnet.manager.scheduler.framework import (
    SEVERITY,
    Rejection,
    Status,
    StatusCode,
)
from cygnet.manager.scheduler.snapshot import PendingSession, SlotSchema

if TYPE_CHECKING:  # the profile only types the arguments; no import cycle at run time
    from cygnet.manager.scheduler.framework import Profile

MSG_GROUPS = 3  # agent groups spelled out in the one-line message


@dataclass(frozen=True, slots=True)
class AgentGroup:
    count: int
    plugin: str
    reason: str  # e.g. "not enough cuda.shares (need 0.5, largest free 0.3)"

    @property
    def text(self) -> str:
        return f"{self.count} agent{'s' if self.count != 1 else ''}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "plugin": self.plugin, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class PlacementFailure:
    """Why no agent could take a request, computed once per request shape and cycle."""

    code: StatusCode
    groups: tuple[AgentGroup, ...]
    filter_verdicts: tuple[Status, ...]
    considered: int
    resource_group: str


@dataclass(frozen=True, slots=True)
class Explanation:
    code: StatusCode
    msg: str
    queue_position: int  # 1 = the first session the queue policy tried
    verdicts: tuple[Status, ...]  # each plugin's verdict, in pipeline order
    agents: tuple[AgentGroup, ...] = ()  # grouped per-agent reasons (largest group first)
    agents_considered: int = 0
    kernel: str | None = None  # the kernel that could not be placed (multi-node sessions)

    def to_json(self) -> dict[str, Any]:
        """JSON-able, for ``status_data["scheduler"]`` and the scheduling API."""
        out: dict[str, Any] = {
            "code": self.code.value,
            "msg": self.msg,
            "queue_position": self.queue_position,
            "plugins": [v.to_json() for v in self.verdicts],
            "agents": [g.to_json() for g in self.agents],
            "agents_considered": self.agents_considered,
        }
        if self.kernel:
            out["kernel"] = self.kernel
        return out


def group_rejections(rejections: Iterable[Rejection], schema: SlotSchema) -> tuple[AgentGroup, ...]:
    """Group agents' rejections by (plugin, reason, slot, need), largest group first."""
    counts: dict[tuple[str, str, int | None, int], list[int]] = {}
    for r in rejections:
        key = (r.plugin, r.reason, r.slot, r.need)
        entry = counts.get(key)
        if entry is None:
            counts[key] = [1, r.free]
        else:
            entry[0] += 1
            if r.free > entry[1]:
                entry[1] = r.free
    groups = []
    for (plugin, reason, slot, need), (count, free) in counts.items():
        if slot is not None:
            amounts = f"need {schema.render(slot, need)}, largest free {schema.render(slot, free)}"
            reason = f"{reason} ({amounts})"
        groups.append(AgentGroup(count, plugin, reason))
    groups.sort(key=lambda g: -g.count)
    return tuple(groups)


def summarize(
    code: StatusCode,
    rejections: Sequence[Rejection],
    considered: int,
    schema: SlotSchema,
    filter_names: Sequence[str],
    resource_group: str,
) -> PlacementFailure:
    per_plugin: dict[str, int] = {}
    for r in rejections:
        per_plugin[r.plugin] = per_plugin.get(r.plugin, 0) + 1
    verdicts = []
    for name in [*filter_names, *(n for n in per_plugin if n not in filter_names)]:
        n = per_plugin.get(name, 0)
        if n:
            verdicts.append(
                Status(StatusCode.UNSCHEDULABLE, (f"rejected {n} of {considered} agents",), name)
            )
        else:
            verdicts.append(Status(StatusCode.SUCCESS, (), name))
    return PlacementFailure(
        code, group_rejections(rejections, schema), tuple(verdicts), considered, resource_group
    )


def placement_explanation(
    position: int, failure: PlacementFailure, profile: Profile, kernel: str | None = None
) -> Explanation:
    if failure.considered == 0:
        msg = f"no schedulable agent in resource group {failure.resource_group!r}"
    else:
        shown = "; ".join(g.text for g in failure.groups[:MSG_GROUPS])
        more = len(failure.groups) - MSG_GROUPS
        msg = f"no agent can host it: {shown}" + (f"; and {more} more reasons" if more > 0 else "")
    if kernel:
        msg = f"kernel {kernel}: {msg}"
    passed = tuple(Status(StatusCode.SUCCESS, (), p.name) for p in profile.pre_filters)
    return Explanation(
        failure.code,
        msg,
        position,
        passed + failure.filter_verdicts,
        failure.groups,
        failure.considered,
        kernel,
    )


def prefilter_explanation(position: int, verdicts: Sequence[Status]) -> Explanation:
    failing = sorted((v for v in verdicts if not v.ok), key=lambda v: -SEVERITY[v.code])
    code = failing[0].code if failing else StatusCode.UNSCHEDULABLE
    msg = "; ".join(r for v in failing for r in (v.reasons or (f"rejected by {v.plugin}",)))
    return Explanation(code, msg, position, tuple(verdicts))


def blocked_explanation(position: int, blocker: PendingSession, profile: Profile) -> Explanation:
    reason = f"waiting behind session {blocker.name} ({blocker.id}): strict {profile.name} order"
    status = Status(StatusCode.UNSCHEDULABLE, (reason,), profile.queue_sort.name)
    return Explanation(StatusCode.UNSCHEDULABLE, reason, position, (status,))
