"""``dependencies`` pre-filter: a session waits until the sessions it depends on succeeded.

A dependency that failed (or was cancelled) -> CANCEL with the reason
``dependency-failed: NAME (ID)``; one still pending or running, or missing from the
snapshot's ``dependencies`` -> WAIT.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygnet.manager.scheduler.framework import SUCCESS, CycleState, Status, cancel, wait
from cygnet.manager.scheduler.snapshot import DependencyOutcome, PendingSession


class Dependencies:
    name = "dependencies"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def pre_filter(self, session: PendingSession, state: CycleState) -> Status:
        if not session.dependencies:
            return SUCCESS
        known = state.snapshot.dependencies
        waiting: list[str] = []
        for dep in session.dependencies:
            info = known.get(dep)
            if info is None:
                waiting.append(str(dep))
            elif info.outcome is DependencyOutcome.FAILURE:
                return cancel(self.name, f"dependency-failed: {info.name} ({dep})")
            elif info.outcome is DependencyOutcome.RUNNING:
                waiting.append(info.name)
        if waiting:
            return wait(self.name, f"waiting for dependencies to finish: {', '.join(waiting)}")
        return SUCCESS
