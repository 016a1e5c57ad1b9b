"""``user-quota``, ``project-quota``, ``domain-quota`` pre-filters: the ``total_resource_slots``
of the session's user, project and domain, counting sessions placed earlier in the cycle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygnet.manager.scheduler.framework import SUCCESS, CycleState, Status
from cygnet.manager.scheduler.plugins.keypair_quota import slot_quota
from cygnet.manager.scheduler.snapshot import PendingSession


class UserQuota:
    name = "user-quota"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def pre_filter(self, session: PendingSession, state: CycleState) -> Status:
        limit = state.snapshot.limits.users.get(session.user)
        if limit is None or not limit.pairs:
            return SUCCESS
        used = state.user_slots.get(session.user)
        return slot_quota(self.name, "user", limit, used, session, state)


class ProjectQuota:
    name = "project-quota"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def pre_filter(self, session: PendingSession, state: CycleState) -> Status:
        limit = state.snapshot.limits.projects.get(session.project)
        if limit is None or not limit.pairs:
            return SUCCESS
        used = state.project_slots.get(session.project)
        return slot_quota(self.name, "project", limit, used, session, state)


class DomainQuota:
    name = "domain-quota"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def pre_filter(self, session: PendingSession, state: CycleState) -> Status:
        limit = state.snapshot.limits.domains.get(session.domain)
        if limit is None or not limit.pairs:
            return SUCCESS
        used = state.domain_slots.get(session.domain)
        return slot_quota(self.name, "domain", limit, used, session, state)
