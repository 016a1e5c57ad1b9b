"""``keypair-quota`` pre-filter: the keypair resource policy.

* ``max_containers_per_session``: more kernels than that -> UNRESOLVABLE.
* ``max_concurrent_sessions``: live sessions + sessions placed earlier in the cycle.
* ``total_resource_slots``: occupied + placed earlier in the cycle + this request.

``None`` or ``0`` count limits mean no limit (see ``snapshot`` for slot limits).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygnet.manager.scheduler.framework import (
    SUCCESS,
    CycleState,
    Status,
    unresolvable,
    unschedulable,
)
from cygnet.manager.scheduler.snapshot import PendingSession, SlotLimit, Vec


def slot_quota(
    plugin: str,
    scope: str,
    limit: SlotLimit,
    used: Vec | None,
    session: PendingSession,
    state: CycleState,
) -> Status:
    """A ``total_resource_slots`` check shared by the keypair/user/project/domain quotas."""
    need = session.requested
    schema = state.schema
    if limit.exceeded(schema.zero, need) is not None:
        i, most = limit.exceeded(schema.zero, need) or (0, 0)
        return unresolvable(
            plugin,
            f"quota: {scope} total_resource_slots {schema.names[i]} {schema.render(i, most)} "
            f"is less than the request ({schema.render(i, need[i])})",
        )
    over = limit.exceeded(used or schema.zero, need)
    if over is None:
        return SUCCESS
    i, most = over
    current = (used or schema.zero)[i]
    return unschedulable(
        plugin,
        f"quota: {scope} total_resource_slots {schema.names[i]} {schema.render(i, current)} "
        f"of {schema.render(i, most)} used, need {schema.render(i, need[i])}",
    )


class KeypairQuota:
    name = "keypair-quota"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def pre_filter(self, session: PendingSession, state: CycleState) -> Status:
        limits = state.snapshot.limits.keypairs.get(session.access_key)
        if limits is None:
            return SUCCESS
        most = limits.max_containers_per_session
        if most and len(session.kernels) > most:
            return unresolvable(
                self.name,
                f"quota: max_containers_per_session {most}, the session has "
                f"{len(session.kernels)} kernels",
            )
        most = limits.max_concurrent_sessions
        if most:
            live = state.kp_sessions.get(session.access_key, 0)
            if live >= most:
                return unschedulable(
                    self.name, f"quota: max_concurrent_sessions {live} of {most} used"
                )
        if not limits.total_resource_slots.pairs:
            return SUCCESS
        return slot_quota(
            self.name,
            "keypair",
            limits.total_resource_slots,
            state.kp_slots.get(session.access_key),
            session,
            state,
        )
