"""Lifecycle enums shared by the manager and the agents.

The session and kernel state machines come with the sessions work; agents have a small one:
ALIVE while heartbeats arrive, LOST when they stop for longer than the configured timeout
(back to ALIVE when they resume), TERMINATED when the agent says goodbye.
"""

from __future__ import annotations

from enum import StrEnum


class AgentStatus(StrEnum):
    ALIVE = "ALIVE"
    LOST = "LOST"
    RESTARTING = "RESTARTING"
    TERMINATED = "TERMINATED"


class KernelRunState(StrEnum):
    """What an agent knows about one of its kernels (the manager's kernel status is richer)."""

    PREPARING = "PREPARING"
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"
    EXITED = "EXITED"
