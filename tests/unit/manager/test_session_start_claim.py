"""Moving a session to CREATING claims its start: a CREATING session is taken up again only
once it has been left so for ``RESUME_AFTER`` (another manager, or this one, is at work)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cygnet.common.lifecycle import SessionStatus
from cygnet.manager.lifecycle.start import RESUME_AFTER, claim
from cygnet.manager.store.repositories.session_changes import SESSIONS, Loaded, SessionChange

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def change(status: SessionStatus, age: timedelta) -> SessionChange:
    row = Loaded(
        SESSIONS, {"id": uuid.uuid4(), "status": status.value, "status_changed": NOW - age}
    )
    session: Any = None  # not touched: nothing changes for these
    return SessionChange(session, row, [])


@pytest.mark.parametrize(
    ("age", "taken"),
    [
        (timedelta(0), False),
        (RESUME_AFTER - timedelta(seconds=1), False),
        (RESUME_AFTER, True),
        (RESUME_AFTER * 10, True),
    ],
)
def test_a_creating_session_is_resumed_only_when_left(age: timedelta, taken: bool) -> None:
    assert claim(change(SessionStatus.CREATING, age), NOW) is taken


def test_sessions_no_longer_starting_are_left_alone() -> None:
    for status in (SessionStatus.RUNNING, SessionStatus.TERMINATING, SessionStatus.CANCELLED):
        assert claim(change(status, RESUME_AFTER * 2), NOW) is False
