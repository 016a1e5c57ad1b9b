"""Properties over random snapshots: no cycle overcommits an agent or a device, every session
is placed whole or not at all, quotas hold, and each session gets exactly one outcome."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cygnet.common.lifecycle import ClusterMode
from cygnet.manager.scheduler import SnapshotBuilder, build_profile, run_cycle
from cygnet.manager.scheduler.snapshot import Snapshot, vadd

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SHARES = ["0", "0.25", "0.5", "0.75", "1"]

agent_st = st.fixed_dictionaries(
    {
        "cpu": st.integers(1, 8),
        "used_cpu": st.integers(0, 8),
        "mem_g": st.integers(1, 8),
        "arch": st.sampled_from(["x86_64", "x86_64", "aarch64"]),
        "devices": st.lists(st.sampled_from(SHARES), max_size=4),
        "schedulable": st.integers(0, 5).map(lambda n: n != 0),
    }
)
session_st = st.fixed_dictionaries(
    {
        "cpu": st.sampled_from(["0.5", "1", "2", "3"]),
        "mem_g": st.integers(0, 3),
        "shares": st.sampled_from(["0", "0", "0.25", "0.5", "1", "1.5", "2"]),
        "size": st.integers(1, 3),
        "mode": st.sampled_from(list(ClusterMode)),
        "arch": st.sampled_from(["x86_64", "x86_64", "x86_64", "aarch64"]),
        "key": st.integers(0, 2),
        "expired": st.integers(0, 9).map(lambda n: n == 0),
    }
)
setup_st = st.fixed_dictionaries(
    {
        "agents": st.lists(agent_st, min_size=1, max_size=6),
        "sessions": st.lists(session_st, max_size=14),
        "max_sessions": st.lists(st.integers(0, 4), min_size=3, max_size=3),
        "cpu_limit": st.lists(st.sampled_from([None, 2, 4, 8]), min_size=3, max_size=3),
        "policy": st.sampled_from(["fifo", "lifo", "drf", "priority"]),
        "strategy": st.sampled_from(["concentrated", "dispersed", "roundrobin", "fragmentation"]),
        "strict": st.booleans(),
        "sample_size": st.sampled_from([None, 0, 1, 2]),
    }
)


def build(setup: dict[str, Any]) -> Snapshot:
    b = SnapshotBuilder(NOW)
    for n, a in enumerate(setup["agents"]):
        devices = a["devices"]
        capacity = {"cpu": str(a["cpu"]), "mem": f"{a['mem_g']}g"}
        occupied = {"cpu": str(min(a["used_cpu"], a["cpu"]))}
        if devices:
            capacity["cuda.shares"] = str(len(devices))
            occupied["cuda.shares"] = str(len(devices) - sum(float(d) for d in devices))
        b.agent(
            f"a{n}",
            capacity=capacity,
            occupied=occupied,
            architecture=a["arch"],
            schedulable=a["schedulable"],
            devices={"cuda.shares": devices} if devices else None,
        )
    for k in range(3):
        limit = setup["cpu_limit"][k]
        b.keypair(
            f"K{k}",
            sessions=min(1, setup["max_sessions"][k]),
            occupied={"cpu": "1"} if limit else None,
            max_concurrent_sessions=setup["max_sessions"][k],
            total_resource_slots={"cpu": str(limit)} if limit else None,
        )
    for n, s in enumerate(setup["sessions"]):
        requested = {"cpu": s["cpu"], "mem": f"{s['mem_g']}g", "cuda.shares": s["shares"]}
        b.session(
            uuid.UUID(int=n + 1),
            access_key=f"K{s['key']}",
            user=uuid.UUID(int=1000 + s["key"]),
            project=uuid.UUID(int=2000),
            created_at=NOW - timedelta(minutes=60 - n),
            requested=requested,
            cluster_size=s["size"],
            cluster_mode=s["mode"],
            architecture=s["arch"],
            priority=n * 7 % 100,
            wait_deadline=NOW if s["expired"] else None,
        )
    return b.build()


# Found by hypothesis: a multi-node session's second kernel searched the candidates from a
# position past their end once a first search had dropped infeasible agents (IndexError).
DROPPED_THEN_SEARCHED: dict[str, Any] = {
    "agents": [
        {
            "cpu": 1,
            "used_cpu": 0,
            "mem_g": 1,
            "arch": "x86_64",
            "devices": [],
            "schedulable": False,
        },
        {"cpu": 1, "used_cpu": 0, "mem_g": 1, "arch": "x86_64", "devices": [], "schedulable": True},
        {"cpu": 1, "used_cpu": 0, "mem_g": 1, "arch": "x86_64", "devices": [], "schedulable": True},
        {"cpu": 1, "used_cpu": 0, "mem_g": 1, "arch": "x86_64", "devices": [], "schedulable": True},
        {"cpu": 1, "used_cpu": 0, "mem_g": 1, "arch": "x86_64", "devices": [], "schedulable": True},
        {
            "cpu": 1,
            "used_cpu": 0,
            "mem_g": 1,
            "arch": "x86_64",
            "devices": ["0.25"],
            "schedulable": True,
        },
    ],
    "sessions": [
        {
            "cpu": "0.5",
            "mem_g": 0,
            "shares": "0",
            "size": 1,
            "mode": ClusterMode.SINGLE_NODE,
            "arch": "x86_64",
            "key": 0,
            "expired": True,
        },
        {
            "cpu": "0.5",
            "mem_g": 0,
            "shares": "0",
            "size": 1,
            "mode": ClusterMode.SINGLE_NODE,
            "arch": "x86_64",
            "key": 0,
            "expired": True,
        },
        {
            "cpu": "0.5",
            "mem_g": 0,
            "shares": "0",
            "size": 1,
            "mode": ClusterMode.SINGLE_NODE,
            "arch": "x86_64",
            "key": 0,
            "expired": True,
        },
        {
            "cpu": "0.5",
            "mem_g": 0,
            "shares": "0.25",
            "size": 2,
            "mode": ClusterMode.MULTI_NODE,
            "arch": "x86_64",
            "key": 0,
            "expired": False,
        },
    ],
    "max_sessions": [0, 0, 0],
    "cpu_limit": [None, None, None],
    "policy": "fifo",
    "strategy": "dispersed",
    "strict": False,
    "sample_size": None,
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setup_st)
@example(DROPPED_THEN_SEARCHED)
def test_cycles_never_overcommit_and_place_whole_sessions(setup: dict[str, Any]) -> None:
    snapshot = build(setup)
    opts: dict[str, Any] = {
        "agent_selection_strategy": setup["strategy"],
        "strict": setup["strict"],
    }
    if setup["sample_size"] is not None:
        opts["sample_size"] = setup["sample_size"]
    result = run_cycle(snapshot, build_profile(setup["policy"], opts))

    sessions = {s.id: s for s in snapshot.pending}
    outcomes = [p.session_id for p in result.placed] + [*result.pending, *result.cancelled]
    assert sorted(outcomes) == sorted(sessions)  # exactly one outcome each

    agents = {a.id: a for a in snapshot.agents}
    taken = {a.id: snapshot.slots.zero for a in snapshot.agents}
    device_taken: dict[tuple[str, int, int], int] = {}
    kp_sessions = dict(snapshot.usage.keypair_sessions)
    kp_slots = dict(snapshot.usage.keypair_slots)
    for placement in result.placed:
        session = sessions[placement.session_id]
        assert session.wait_deadline is None  # expired ones are never placed
        kernels = {k.id: k for k in session.kernels}
        assert sorted(k.kernel_id for k in placement.kernels) == sorted(kernels)  # whole
        if session.cluster_mode is ClusterMode.SINGLE_NODE:
            assert len(placement.agent_ids) == 1
        for kp in placement.kernels:
            agent = agents[kp.agent_id]
            assert agent.schedulable and agent.architecture == session.architecture
            need = kernels[kp.kernel_id].requested
            taken[kp.agent_id] = vadd(taken[kp.agent_id], need)
            by_slot: dict[int, int] = {}
            for slot, pos, amount in kp.device_units:
                where = (kp.agent_id, slot, pos)
                device_taken[where] = device_taken.get(where, 0) + amount
                by_slot[slot] = by_slot.get(slot, 0) + amount
                if need[slot] <= agent.devices[slot].unit:
                    assert amount == need[slot]  # a fraction is never split
            for slot in agent.devices:
                assert by_slot.get(slot, 0) == need[slot]
        kp_sessions[session.access_key] = kp_sessions.get(session.access_key, 0) + 1
        kp_slots[session.access_key] = vadd(
            kp_slots.get(session.access_key, snapshot.slots.zero), session.requested
        )
    for agent_id, used in taken.items():
        agent = agents[agent_id]
        for i, amount in enumerate(used):
            assert agent.occupied[i] + amount <= agent.capacity[i], (agent_id, i)
    for (agent_id, slot, pos), amount in device_taken.items():
        assert amount <= agents[agent_id].devices[slot].free[pos]
    for key, limits in snapshot.limits.keypairs.items():
        if limits.max_concurrent_sessions:
            assert kp_sessions.get(key, 0) <= max(
                limits.max_concurrent_sessions, snapshot.usage.keypair_sessions.get(key, 0)
            )
        for i, most in limits.total_resource_slots.pairs:
            assert kp_slots.get(key, snapshot.slots.zero)[i] <= most

    if setup["strict"] and result.pending:
        # in strict order nothing after the first unplaced session is placed
        first = min(e.queue_position for e in result.pending.values())
        assert all(e.queue_position >= first for e in result.pending.values())
        assert len(result.placed) <= first - 1
