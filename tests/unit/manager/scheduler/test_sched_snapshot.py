"""The snapshot builder: slot maps become fixed-point vectors once, limits follow one rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from cygnet.manager.scheduler import AgentMemo, SnapshotBuilder
from cygnet.manager.scheduler.snapshot import SCALE, SlotSchema

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_vectors_are_fixed_point_and_bytes_stay_bytes() -> None:
    b = SnapshotBuilder(NOW)
    b.agent("a", capacity={"cpu": "8", "mem": "16g", "cuda.shares": "2"}, occupied={"cpu": "0.5"})
    b.session(
        uuid.UUID(int=1),
        access_key="AK",
        user=uuid.UUID(int=2),
        project=uuid.UUID(int=3),
        created_at=NOW,
        requested={"cpu": "1.5", "mem": "4294967296", "cuda.shares": "0.25"},
        cluster_size=2,
    )
    snap = b.build()
    assert snap.slots.names == ("cpu", "mem", "cuda.shares")
    agent = snap.agents[0]
    assert agent.capacity == (8 * SCALE, 16 << 30, 2 * SCALE)
    assert agent.free == (7_500_000, 16 << 30, 2 * SCALE)
    session = snap.pending[0]
    assert [k.hostname for k in session.kernels] == ["main1", "sub1"]
    assert [k.cluster_role for k in session.kernels] == ["main", "sub"]
    assert session.requested == (3 * SCALE, 8 << 30, 500_000)
    assert snap.slots.to_json(session.requested) == {
        "cpu": "3",
        "mem": str(8 << 30),
        "cuda.shares": "0.5",
    }


def test_requests_round_up_and_capacities_round_down() -> None:
    schema = SlotSchema.of(["cpu", "x.shares"])
    assert schema.units("x.shares", "0.0000001", round_up=True) == 1
    assert schema.units("x.shares", "0.0000019", round_up=False) == 1


def test_device_maps_take_ids_and_units() -> None:
    b = SnapshotBuilder(NOW)
    b.agent(
        "a",
        capacity={"cpu": "1", "cuda.device": "4"},
        devices={"cuda.device": {"gpu0": "2", "gpu1": "1.5"}},
        device_unit={"cuda.device": "2"},
    )
    (agent,) = b.build().agents
    (devices,) = agent.devices.values()
    assert devices.ids == ("gpu0", "gpu1")
    assert devices.free == (2 * SCALE, 1_500_000)
    assert devices.unit == 2 * SCALE


@pytest.mark.parametrize(
    ("limits", "unspecified", "expected"),
    [
        ({}, "UNLIMITED", ()),
        ({"cpu": None}, "UNLIMITED", ()),
        ({"cpu": "Infinity"}, "UNLIMITED", ()),
        ({"cpu": "4"}, "UNLIMITED", ((0, 4 * SCALE),)),
        ({"cpu": "0"}, "UNLIMITED", ((0, 0),)),  # an explicit 0 is a limit (Backend.AI)
        ({"cpu": "4"}, "LIMITED", ((0, 4 * SCALE), (1, 0))),  # missing mem -> 0 when LIMITED
    ],
)
def test_keypair_slot_limits(
    limits: dict[str, str | None], unspecified: str, expected: tuple[tuple[int, int], ...]
) -> None:
    b = SnapshotBuilder(NOW)
    b.agent("a", capacity={"cpu": "1", "mem": "1g"})
    b.keypair("AK", total_resource_slots=limits, default_for_unspecified=unspecified)
    assert b.build().limits.keypairs["AK"].total_resource_slots.pairs == expected


def test_unknown_nonzero_slot_is_rejected() -> None:
    schema = SlotSchema.of(["cpu"])
    assert schema.vector({"cpu": "1", "tpu": "0"}, round_up=True) == (SCALE,)
    with pytest.raises(ValueError, match="tpu"):
        schema.vector({"tpu": "1"}, round_up=True)


def test_render_for_people() -> None:
    schema = SlotSchema.of(["cpu", "mem", "cuda.shares"])
    assert schema.render(0, 2 * SCALE) == "2"
    assert schema.render(1, 16 << 30) == "16g"
    assert schema.render(2, 300_000) == "0.3"


def _memo_build(memo: AgentMemo, occupied: str, request: dict[str, str] | None = None) -> Any:
    b = SnapshotBuilder(NOW, memo=memo)
    b.agent("a", capacity={"cpu": "8", "mem": "16g"}, occupied={"cpu": occupied})
    b.agent("b", capacity={"cpu": "8", "mem": "16g"}, occupied={"cpu": "1"})
    if request is not None:
        b.session(
            uuid.UUID(int=1),
            access_key="AK",
            user=uuid.UUID(int=2),
            project=uuid.UUID(int=3),
            created_at=NOW,
            requested=request,
        )
    return b.build()


def test_an_agent_memo_reuses_only_agents_made_from_the_same_inputs() -> None:
    memo = AgentMemo()
    first = _memo_build(memo, "0.5")
    same = _memo_build(memo, "0.5")
    assert same.agents[0] is first.agents[0] and same.agents[1] is first.agents[1]
    fuller = _memo_build(memo, "2")  # agent a took a kernel since
    assert fuller.agents[0] is not same.agents[0]
    assert fuller.agents[0].free == (6 * SCALE, 16 << 30)
    assert fuller.agents[1] is same.agents[1]
    # a slot no agent had before widens every vector: none is reused
    wider = _memo_build(memo, "2", request={"cpu": "1", "x.shares": "0"})
    assert wider.agents[1] is fuller.agents[1]  # a zero request adds no slot
    widest = _memo_build(memo, "2", request={"cpu": "1", "tpu": "1"})
    assert widest.slots.names == ("cpu", "mem", "tpu")
    assert widest.agents[1] is not wider.agents[1]
    assert widest.agents[1].capacity == (8 * SCALE, 16 << 30, 0)
    assert len(memo) == 2
