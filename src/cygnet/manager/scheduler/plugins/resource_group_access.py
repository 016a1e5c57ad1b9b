"""``resource-group-access`` pre-filter: the session's resource group must be associated with
its domain, its project or its keypair (when the snapshot carries associations at all)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygnet.manager.scheduler.framework import SUCCESS, CycleState, Status, unresolvable
from cygnet.manager.scheduler.snapshot import PendingSession


class ResourceGroupAccess:
    name = "resource-group-access"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def pre_filter(self, session: PendingSession, state: CycleState) -> Status:
        limits = state.snapshot.limits
        by_domain, by_project, by_keypair = (
            limits.domain_groups,
            limits.project_groups,
            limits.keypair_groups,
        )
        if by_domain is None and by_project is None and by_keypair is None:
            return SUCCESS
        group = session.resource_group
        if (
            (by_domain is not None and group in by_domain.get(session.domain, ()))
            or (by_project is not None and group in by_project.get(session.project, ()))
            or (by_keypair is not None and group in by_keypair.get(session.access_key, ()))
        ):
            return SUCCESS
        return unresolvable(
            self.name,
            f"resource group {group!r} is not allowed for domain {session.domain!r}, "
            f"project {session.project} or keypair {session.access_key}",
        )
