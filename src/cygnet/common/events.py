"""Events that components publish (pydantic models tagged by ``kind``, one union).

Agents send them to the manager (``PushEvents``), which publishes them on its event bus for
the session lifecycle and the SSE streams. Reasons are the kebab-case strings of the Backend.AI
wire protocol (``user-requested``, ``self-terminated``, ``failed-to-start`` …).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime


class KernelEvent(Event):
    agent_id: str
    kernel_id: uuid.UUID
    session_id: uuid.UUID


class KernelStarted(KernelEvent):
    kind: Literal["kernel_started"] = "kernel_started"
    container_id: str = ""


class KernelTerminated(KernelEvent):
    """A kernel's main process ended, or its container disappeared (``exit_code`` None when it
    is unknown). ``reason`` is ``self-terminated`` when it ended on its own,
    ``user-requested``/the given reason when destroyed, ``missing`` when the runtime no longer
    knows it."""

    kind: Literal["kernel_terminated"] = "kernel_terminated"
    reason: str
    exit_code: int | None = None


class KernelFailed(KernelEvent):
    """Creating the kernel failed after the request was accepted."""

    kind: Literal["kernel_failed"] = "kernel_failed"
    reason: str = "failed-to-start"
    msg: str = ""


class AgentStarted(Event):
    kind: Literal["agent_started"] = "agent_started"
    agent_id: str


class AgentLost(Event):
    kind: Literal["agent_lost"] = "agent_lost"
    agent_id: str


class AgentTerminated(Event):
    kind: Literal["agent_terminated"] = "agent_terminated"
    agent_id: str
    reason: str = "agent-shutdown"


AgentEvent = Annotated[
    KernelStarted | KernelTerminated | KernelFailed,
    Field(discriminator="kind"),
]

AnyEvent = Annotated[
    KernelStarted | KernelTerminated | KernelFailed | AgentStarted | AgentLost | AgentTerminated,
    Field(discriminator="kind"),
]
