"""The lifecycle's snapshot builder fills each agent's per-device free room from what the
agent registered (its devices) and what the live kernels hold on them (their allocations)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from cygnet.common.lifecycle import ClusterMode, KernelStatus
from cygnet.common.resources import ResourceSlot
from cygnet.manager import entities as e
from cygnet.manager.lifecycle.snapshot import build_snapshot, device_capacity, device_room
from cygnet.manager.scheduler import Snapshot, build_profile, run_cycle
from cygnet.manager.store.repositories.scheduling import Holding, SchedulingInputs

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SHARES = "cuda.shares"


def _agent(agent_id: str = "a1", devices: int = 2, per_device: str = "1") -> e.Agent:
    total = str(int(per_device) * devices)
    accelerator = {
        "plugin": "mock",
        "slot_types": {SHARES: "count"},
        "devices": [
            {"device_id": str(i), "model": "Mock GPU", "slots": {SHARES: per_device}}
            for i in range(devices)
        ],
        "metadata": {},
    }
    return e.Agent(
        id=agent_id,
        status="ALIVE",
        status_changed=NOW,
        region="local",
        resource_group="default",
        schedulable=True,
        available_slots={"cpu": "8", "mem": str(16 << 30), SHARES: total},
        occupied_slots={},
        address=f"inproc://{agent_id}",
        architecture="x86_64",
        version="test",
        runtime="simulated",
        slot_types={"cpu": "count", "mem": "bytes", SHARES: "count"},
        compute_plugins={"mock": accelerator},
        hardware_metadata={},
        images=[{"name": "cygnet/python:3.11"}],
        live_stat={},
        first_contact=NOW,
        lost_at=None,
        last_heartbeat=NOW,
    )


def _holding(shares: str, allocation: dict[str, dict[str, str]] | None = None) -> Holding:
    return Holding(ResourceSlot.from_json({"cpu": "1", SHARES: shares}), allocation or {})


def _build(
    agent: e.Agent, holdings: list[Holding], pending: list[e.Session] | None = None
) -> Snapshot:
    booked = ResourceSlot()
    for h in holdings:
        booked = booked + h.requested
    return build_snapshot(
        NOW,
        pending or [],
        [agent],
        {agent.id: booked},
        SchedulingInputs(domain_groups={"default": {"default"}}),
        {},
        holdings={agent.id: holdings},
    )


def test_device_capacity_comes_from_the_registered_devices() -> None:
    assert device_capacity(_agent()) == {SHARES: {"0": 1, "1": 1}}


def test_kernels_holding_half_a_device_leave_half_of_it_free() -> None:
    snapshot = _build(_agent(), [_holding("0.5", {SHARES: {"0": "0.5"}, "cpu": {"0": "1"}})])
    info = snapshot.agents[0]
    slot = snapshot.slots.index[SHARES]
    assert info.devices[slot].ids == ("0", "1")
    assert info.devices[slot].free == (500_000, 1_000_000)
    assert info.devices[slot].unit == 1_000_000


def test_an_amount_without_devices_is_counted_where_the_agent_would_put_it() -> None:
    # Kernels recorded before devices were (no allocation): best fit, like the agent.
    held = [_holding("0.5", {SHARES: {"1": "0.5"}}), _holding("0.25")]
    info = _build(_agent(), held).agents[0]
    assert next(iter(info.devices.values())).free == (1_000_000, 250_000)


def test_an_agent_without_devices_has_no_device_room() -> None:
    agent = _agent()
    bare = e.Agent(**{**{f: getattr(agent, f) for f in agent.__slots__}, "compute_plugins": {}})
    assert not _build(bare, []).agents[0].devices


def _pending(shares: str) -> e.Session:
    sid = uuid.uuid4()
    kernel = e.Kernel(
        id=uuid.uuid4(),
        session_id=sid,
        cluster_role="main",
        cluster_idx=1,
        cluster_hostname="main1",
        status=KernelStatus.PENDING,
        status_info=None,
        status_data={},
        status_changed=NOW,
        agent_id=None,
        agent_address=None,
        container_id=None,
        image="cygnet/python:3.11",
        architecture="x86_64",
        requested_slots={"cpu": "1", SHARES: shares},
        occupied_slots={},
        created_at=NOW,
        started_at=None,
        terminated_at=None,
        exit_code=None,
    )
    fields: dict[str, Any] = {f: None for f in e.Session.__slots__}
    fields.update(
        id=sid,
        name=f"s-{sid.hex[:6]}",
        access_key="AKTEST",
        user_uuid=uuid.uuid4(),
        domain_name="default",
        project_id=uuid.uuid4(),
        resource_group="default",
        image="cygnet/python:3.11",
        architecture="x86_64",
        created_at=NOW,
        priority=10,
        cluster_mode=ClusterMode.SINGLE_NODE,
        cluster_size=1,
        kernels=[kernel],
        designated_agents=[],
        starts_at=None,
        status_data={},
    )
    return e.Session(**fields)


def test_the_cycle_books_the_half_used_device_and_refuses_what_only_fits_by_totals() -> None:
    profile = build_profile("fifo", {"agent_selection_strategy": "fragmentation"})
    held = [_holding("0.6", {SHARES: {"0": "0.6"}}), _holding("0.6", {SHARES: {"1": "0.6"}})]
    result = run_cycle(_build(_agent(), held, [_pending("0.8")]), profile)
    assert not result.placed  # 0.8 free in total, but 0.4 on each device
    (why,) = result.pending.values()
    assert "not enough cuda.shares on any one device" in why.msg
    result = run_cycle(
        _build(_agent(), [_holding("0.5", {SHARES: {"1": "0.5"}})], [_pending("0.5")]), profile
    )
    assert [dict(k.devices) for p in result.placed for k in p.kernels] == [
        {SHARES: (("1", "0.5"),)}
    ]


def test_a_grouped_holding_counts_as_that_many_kernels() -> None:
    """The store reads kernels with equal requests and devices as one holding with a count:
    the free room must be what the kernels one by one leave."""
    capacity = device_capacity(_agent(devices=4))
    placed = ResourceSlot.from_json({"cpu": "1", SHARES: "0.25"})
    unplaced = ResourceSlot.from_json({"cpu": "1", SHARES: "0.5"})
    grouped = [
        Holding(placed, {SHARES: {"1": "0.25"}}, count=3),
        Holding(unplaced, {}, count=3),
    ]
    one_by_one = [Holding(placed, {SHARES: {"1": "0.25"}})] * 3 + [Holding(unplaced, {})] * 3
    assert device_room(capacity, grouped) == device_room(capacity, one_by_one)
    devices, _ = device_room(capacity, grouped)
    assert devices[SHARES]["1"] == "0.25"
    assert sorted(devices[SHARES].values()) == ["0", "0.25", "0.5", "1"]
