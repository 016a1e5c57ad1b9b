"""``resource-group-access`` pre-filter: the session's resource group must be associated with
its domain or its project (when the snapshot carries associations at all)."""

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
        if limits.domain_groups is None and limits.project_groups is None:
            return SUCCESS
        group = session.resource_group
        if limits.domain_groups is not None and group in limits.domain_groups.get(
            session.domain, ()
        ):
            return SUCCESS
        if limits.project_groups is not None and group in limits.project_groups.get(
            session.project, ()
        ):
            return SUCCESS
        return unresolvable(
            self.name,
            f"resource group {group!r} is not allowed for domain {session.domain!r} "
            f"or project {session.project}",
        )
