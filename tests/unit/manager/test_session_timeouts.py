"""Which time limit ends a session (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cygnet.common.lifecycle import SessionStatus, SessionType
from cygnet.manager.lifecycle.timeouts import expired
from cygnet.manager.store.repositories.sessions import Deadlines

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def item(
    *,
    type: SessionType = SessionType.INTERACTIVE,
    status: SessionStatus = SessionStatus.RUNNING,
    changed: int = 0,
    started: int | None = 0,
    active: int | None = None,
    batch_timeout: float | None = None,
    idle: int = 0,
    lifetime: int = 0,
) -> Deadlines:
    def ago(seconds: int | None) -> datetime | None:
        return None if seconds is None else NOW - timedelta(seconds=seconds)

    changed_at = ago(changed)
    assert changed_at is not None
    return Deadlines(
        session_id=uuid.uuid4(),
        type=type,
        status=status,
        status_changed=changed_at,
        started_at=ago(started),
        last_activity=ago(active),
        batch_timeout=batch_timeout,
        idle_timeout=idle,
        max_session_lifetime=lifetime,
    )


@pytest.mark.parametrize(
    ("deadlines", "reason"),
    [
        (item(), None),
        (item(status=SessionStatus.CREATING, changed=601, started=None), "start-timeout"),
        (item(status=SessionStatus.SCHEDULED, changed=599, started=None), None),
        (item(type=SessionType.BATCH, started=11, batch_timeout=10), "task-timeout"),
        (item(type=SessionType.BATCH, started=9, batch_timeout=10), None),
        (item(started=100, active=50, idle=30), "idle-timeout"),
        (item(started=100, active=10, idle=30), None),
        (item(started=40, active=None, idle=30), "idle-timeout"),
        (item(type=SessionType.BATCH, started=100, idle=30), None),  # idle is for interactive
        (item(started=3601, active=1, lifetime=3600), "max-lifetime-exceeded"),
        (item(status=SessionStatus.TERMINATING, changed=10_000, started=10_000, idle=1), None),
        (item(status=SessionStatus.RESTARTING, changed=601, started=900), "restart-timeout"),
        (item(status=SessionStatus.RESTARTING, changed=599, started=900, idle=1), None),
    ],
)
def test_expired(deadlines: Deadlines, reason: str | None) -> None:
    assert expired(deadlines, NOW, start_timeout=600) == reason
