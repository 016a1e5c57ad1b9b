"""FIFO placement: oldest first, whole sessions or nothing, never blocking what fits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cygnet.common.lifecycle import (
    ClusterMode,
    KernelStatus,
    SessionResult,
    SessionStatus,
    SessionType,
)
from cygnet.common.resources import ResourceSlot
from cygnet.manager import entities as e
from cygnet.manager.lifecycle.placement import place_fifo

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GiB = 1 << 30


def agent(agent_id: str, cpu: int = 4, mem: int = 8 * GiB, **kw: object) -> e.Agent:
    values: dict[str, object] = {
        "id": agent_id,
        "status": "ALIVE",
        "status_changed": NOW,
        "region": "local",
        "resource_group": "default",
        "schedulable": True,
        "available_slots": {"cpu": str(cpu), "mem": str(mem)},
        "occupied_slots": {},
        "address": f"inproc://{agent_id}",
        "architecture": "x86_64",
        "version": "test",
        "runtime": "simulated",
        "slot_types": {"cpu": "count", "mem": "bytes"},
        "compute_plugins": {},
        "hardware_metadata": {},
        "images": [{"name": "cygnet/python:3.11"}, {"name": "busybox"}],
        "live_stat": {},
        "first_contact": NOW,
        "lost_at": None,
        "last_heartbeat": NOW,
    }
    values.update(kw)
    return e.Agent(**values)  # type: ignore[arg-type]


def session(
    cpu: int = 1,
    mem: int = GiB,
    *,
    age: int = 0,
    size: int = 1,
    mode: ClusterMode = ClusterMode.SINGLE_NODE,
    image: str = "cygnet/python:3.11",
    **kw: object,
) -> e.Session:
    session_id = uuid.uuid4()
    slots = {"cpu": str(cpu), "mem": str(mem)}
    kernels = [
        e.Kernel(
            id=uuid.uuid4(),
            session_id=session_id,
            cluster_role="main" if i == 0 else "sub",
            cluster_idx=max(i, 1),
            cluster_hostname=f"k{i}",
            status=KernelStatus.PENDING,
            status_info=None,
            status_data={},
            status_changed=NOW,
            agent_id=None,
            agent_address=None,
            container_id=None,
            image=image,
            architecture="x86_64",
            requested_slots=slots,
            occupied_slots={},
            created_at=NOW,
            started_at=None,
            terminated_at=None,
            exit_code=None,
        )
        for i in range(size)
    ]
    values: dict[str, object] = {
        "id": session_id,
        "name": f"s-{session_id.hex[:6]}",
        "type": SessionType.INTERACTIVE,
        "access_key": "AKTEST",
        "user_uuid": uuid.uuid4(),
        "user_email": "u@example.com",
        "domain_name": "default",
        "project_id": uuid.uuid4(),
        "project_name": "default",
        "resource_group": "default",
        "image": image,
        "architecture": "x86_64",
        "tag": None,
        "status": SessionStatus.PENDING,
        "status_info": None,
        "status_data": {},
        "status_changed": NOW,
        "status_history": {},
        "result": SessionResult.UNDEFINED,
        "priority": 10,
        "cluster_mode": mode,
        "cluster_size": size,
        "requested_slots": slots,
        "resource_opts": {},
        "environ": {},
        "startup_command": None,
        "bootstrap_script": None,
        "batch_timeout": None,
        "callback_url": None,
        "created_at": NOW - timedelta(seconds=age),
        "started_at": None,
        "terminated_at": None,
        "last_activity": None,
        "num_queries": 0,
        "kernels": kernels,
    }
    values.update(kw)
    return e.Session(**values)  # type: ignore[arg-type]


def test_oldest_first_and_a_big_one_does_not_block_small_ones() -> None:
    old_big = session(cpu=8, age=30)
    small = session(cpu=1, age=10)
    plan = place_fifo([small, old_big], [agent("a1", cpu=4)], {}, NOW)
    assert [sid for sid, _ in plan.placed] == [small.id]
    assert "not enough free resources" in plan.waiting[old_big.id]


def test_booked_resources_count_and_placement_never_overcommits() -> None:
    sessions = [session(cpu=1, age=i) for i in range(10)]
    booked = {"a1": ResourceSlot({"cpu": 1}), "a2": ResourceSlot({"cpu": 2})}
    plan = place_fifo(sessions, [agent("a1"), agent("a2")], booked, NOW)
    # a1 has 3 cpus left, a2 has 2: five sessions fit, the rest wait.
    assert len(plan.placed) == 5
    used: dict[str, int] = {}
    for _, assignment in plan.placed:
        for agent_id in assignment.values():
            used[agent_id] = used.get(agent_id, 0) + 1
    assert used == {"a1": 3, "a2": 2}
    assert len(plan.waiting) == 5


def test_prefers_the_agent_with_most_room() -> None:
    plan = place_fifo([session()], [agent("a1", cpu=2), agent("a2", cpu=8)], {}, NOW)
    assert set(plan.placed[0][1].values()) == {"a2"}


@pytest.mark.parametrize(
    ("agents", "kw", "why"),
    [
        ([agent("a1", resource_group="other")], {}, "no ALIVE agent in resource group"),
        ([agent("a1", architecture="aarch64")], {}, "architecture"),
        ([agent("a1", images=[])], {}, "has image"),
        ([agent("a1", status="LOST")], {}, "resource group"),
        ([agent("a1", schedulable=False)], {}, "resource group"),
    ],
)
def test_reasons_for_waiting(agents: list[e.Agent], kw: dict[str, object], why: str) -> None:
    pending = session(**kw)
    plan = place_fifo([pending], agents, {}, NOW)
    assert plan.placed == []
    assert why in plan.waiting[pending.id]


def test_untagged_agent_image_means_latest() -> None:
    plan = place_fifo([session(image="busybox:latest")], [agent("a1")], {}, NOW)
    assert len(plan.placed) == 1


def test_single_node_cluster_lands_on_one_agent_or_waits() -> None:
    cluster = session(cpu=2, size=3)
    plan = place_fifo([cluster], [agent("a1", cpu=4), agent("a2", cpu=4)], {}, NOW)
    assert plan.placed == []  # 6 cpus on one node do not fit anywhere
    plan = place_fifo([cluster], [agent("a1", cpu=8), agent("a2", cpu=4)], {}, NOW)
    assert set(plan.placed[0][1].values()) == {"a1"}


def test_multi_node_cluster_spreads_all_or_nothing() -> None:
    cluster = session(cpu=2, size=3, mode=ClusterMode.MULTI_NODE)
    plan = place_fifo([cluster], [agent("a1", cpu=4), agent("a2", cpu=2)], {}, NOW)
    assignment = plan.placed[0][1]
    assert sorted(assignment.values()) == ["a1", "a1", "a2"]
    plan = place_fifo([cluster], [agent("a1", cpu=2), agent("a2", cpu=2)], {}, NOW)
    assert plan.placed == []


def test_designated_agents_and_start_time() -> None:
    pinned = session(designated_agents=["a2"])
    later = session(starts_at=NOW + timedelta(minutes=5))
    plan = place_fifo([pinned, later], [agent("a1", cpu=8), agent("a2")], {}, NOW)
    assert [(sid, set(a.values())) for sid, a in plan.placed] == [(pinned.id, {"a2"})]
    assert plan.waiting[later.id] == "waiting for its start time"
