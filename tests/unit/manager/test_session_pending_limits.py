"""The keypair policy's limits on pending sessions, checked at creation (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cygnet.common.errors import QuotaExceeded
from cygnet.common.resources import ResourceSlot
from cygnet.manager.entities import DefaultForUnspecified, KeyPairResourcePolicy
from cygnet.manager.services.sessions.creation import check_pending_limits


def policy(count: int | None = None, slots: dict[str, Any] | None = None) -> KeyPairResourcePolicy:
    return KeyPairResourcePolicy(
        name="p",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        default_for_unspecified=DefaultForUnspecified.UNLIMITED,
        total_resource_slots={},
        max_session_lifetime=0,
        max_concurrent_sessions=0,
        max_concurrent_sftp_sessions=0,
        max_containers_per_session=1,
        idle_timeout=0,
        allowed_vfolder_hosts={},
        max_pending_session_count=count,
        max_pending_session_resource_slots=slots,
    )


CPU2 = ResourceSlot.from_json({"cpu": "2", "mem": "1073741824"})


@pytest.mark.parametrize(
    ("limits", "pending", "pending_slots", "refused"),
    [
        (policy(), 50, ResourceSlot.from_json({"cpu": "100"}), None),
        (policy(count=0), 50, ResourceSlot(), None),  # 0: no limit
        (policy(count=3), 2, ResourceSlot(), None),
        (policy(count=3), 3, ResourceSlot(), "max_pending_session_count is 3"),
        (policy(slots={"cpu": "4"}), 1, ResourceSlot.from_json({"cpu": "2"}), None),
        (policy(slots={"cpu": "4"}), 1, ResourceSlot.from_json({"cpu": "3"}), "allows 4"),
        (policy(slots={"cpu": None, "mem": "Infinity"}), 9, CPU2 * 9, None),
        (policy(slots={"mem": "1g"}), 0, ResourceSlot(), None),
        (policy(slots={"mem": "1g"}), 1, CPU2, "mem"),
    ],
)
def test_pending_limits(
    limits: KeyPairResourcePolicy,
    pending: int,
    pending_slots: ResourceSlot,
    refused: str | None,
) -> None:
    if refused is None:
        check_pending_limits(limits, pending, pending_slots, CPU2)
    else:
        with pytest.raises(QuotaExceeded, match=refused):
            check_pending_limits(limits, pending, pending_slots, CPU2)


def test_no_policy_no_limit() -> None:
    check_pending_limits(None, 10_000, CPU2 * 100, CPU2)
