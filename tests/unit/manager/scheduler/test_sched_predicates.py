"""Predicates: quotas, resource-group access, architecture, image, designated agents,
dependencies, start time and pending timeout. Counting includes this cycle's placements."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sched_world import PROJECT, USER, World

from cygnet.manager.scheduler import DependencyOutcome, StatusCode


@pytest.mark.parametrize(
    ("policy", "live", "placed", "msg"),
    [
        ({"max_concurrent_sessions": 2}, 0, 2, "quota: max_concurrent_sessions 2 of 2 used"),
        ({"max_concurrent_sessions": 2}, 1, 1, "quota: max_concurrent_sessions 2 of 2 used"),
        ({"max_concurrent_sessions": 0}, 5, 3, None),  # 0: no limit
        ({"max_concurrent_sessions": None}, 5, 3, None),
        (
            {"total_resource_slots": {"cpu": "5"}},
            0,
            2,
            "quota: keypair total_resource_slots cpu 4 of 5 used, need 2",
        ),
        ({"total_resource_slots": {"cpu": "Infinity"}}, 0, 3, None),
        (
            {"total_resource_slots": {"cpu": "100"}, "default_for_unspecified": "LIMITED"},
            0,
            0,
            "quota: keypair total_resource_slots mem 0 is less than the request (1g)",
        ),
    ],
)
def test_keypair_policy(
    world: World, policy: dict[str, Any], live: int, placed: int, msg: str | None
) -> None:
    world.agent("a1", cpu="64", mem="64g")
    world.builder.keypair("AK", sessions=live, **policy)
    for n in range(3):
        world.session(f"s{n}", cpu="2")
    out = world.run()
    assert len(out.placed) == placed
    if msg is not None:
        assert out.why("s2").msg == msg


def test_max_containers_per_session_is_unresolvable(world: World) -> None:
    world.agent("a1", cpu="64", mem="64g")
    world.builder.keypair("AK", max_containers_per_session=2)
    world.session("c3", cluster_size=3)
    why = world.run().why("c3")
    assert why.code is StatusCode.UNRESOLVABLE
    assert "max_containers_per_session 2" in why.msg


@pytest.mark.parametrize("scope", ["user", "project", "domain"])
def test_owner_scope_quotas_count_this_cycle(world: World, scope: str) -> None:
    world.agent("a1", cpu="64", mem="64g")
    key: Any = {"user": USER, "project": PROJECT, "domain": "default"}[scope]
    getattr(world.builder, scope)(key, occupied={"cpu": "1"}, total_resource_slots={"cpu": "6"})
    for n in range(4):
        world.session(f"s{n}", cpu="2")
    out = world.run()
    assert out.placed == ["s0", "s1"]  # 1 + 2 + 2 = 5; a third would make 7 > 6
    assert out.why("s2").msg == f"quota: {scope} total_resource_slots cpu 5 of 6 used, need 2"
    assert out.why("s2").code is StatusCode.UNSCHEDULABLE


def test_resource_group_must_be_allowed_for_domain_or_project(world: World) -> None:
    world.agent("a1", resource_group="gpu").agent("a2", resource_group="default")
    world.builder.domain("default", resource_groups=["default"])
    world.builder.project(PROJECT, resource_groups=["gpu"])
    other = uuid.UUID(int=99)
    world.builder.project(other, resource_groups=[])
    world.session("ok-by-project", resource_group="gpu")
    world.session("ok-by-domain", resource_group="default", project=other)
    world.session("denied", resource_group="gpu", project=other)
    out = world.run()
    assert sorted(out.placed) == ["ok-by-domain", "ok-by-project"]
    why = out.why("denied")
    assert why.code is StatusCode.UNRESOLVABLE
    assert "resource group 'gpu' is not allowed" in why.msg


def test_architecture_and_image(world: World) -> None:
    world.agent("arm", architecture="aarch64", images=["py"])
    world.agent("x86", images=["other"])
    world.session("arm-py", architecture="aarch64", image="py")
    world.session("x86-py", image="py")
    out = world.run()
    assert out.agent_of("arm-py") == "arm"
    why = out.why("x86-py")
    texts = {g.reason for g in why.agents}
    assert texts == {"architecture aarch64, not x86_64", "image py not present"}
    assert why.code is StatusCode.UNRESOLVABLE


def test_designated_agents(world: World) -> None:
    world.agent("a1").agent("a2").agent("a3")
    world.session("pinned", designated_agents=["a3"])
    world.session("pinned-full", cpu="16", designated_agents=["a2"])
    world.session("nowhere", designated_agents=["missing"])
    out = world.run()
    assert out.agent_of("pinned") == "a3"
    why = out.why("pinned-full")
    assert why.agents_considered == 1
    assert why.agents[0].text == "1 agent: not enough cpu (need 16, largest free 8)"
    assert out.why("nowhere").code is StatusCode.UNRESOLVABLE


def test_dependencies_wait_then_run_or_cancel(world: World) -> None:
    world.agent("a1")
    done, running, failed = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
    world.builder.dependency(done, DependencyOutcome.SUCCESS, "prep")
    world.builder.dependency(running, "running", "train")
    world.builder.dependency(failed, "failure", "fetch")
    world.session("after-done", dependencies=[done])
    world.session("after-running", dependencies=[done, running])
    world.session("after-failed", dependencies=[running, failed])
    world.session("after-unknown", dependencies=[uuid.UUID(int=4)])
    out = world.run()
    assert out.placed == ["after-done"]
    assert out.why("after-running").code is StatusCode.WAIT
    assert "train" in out.why("after-running").msg
    assert out.why("after-unknown").code is StatusCode.WAIT
    assert out.cancelled == {"after-failed": f"dependency-failed: fetch ({failed})"}


def test_starts_at_and_wait_deadline(world: World) -> None:
    world.agent("a1")
    now = world.clock.now()
    world.session("later", starts_at=now + timedelta(minutes=5))
    world.session("due", starts_at=now - timedelta(seconds=1))
    world.session("expired", wait_deadline=now)
    world.session("in-time", wait_deadline=now + timedelta(seconds=1))
    out = world.run()
    assert sorted(out.placed) == ["due", "in-time"]
    assert out.why("later").code is StatusCode.WAIT
    assert out.cancelled == {"expired": "pending-timeout"}


def test_pending_timeout_option_of_the_resource_group(world: World) -> None:
    world.agent("a1", cpu="1")
    world.session("old", cpu="4")  # created an hour ago, never fits
    out = world.run(pending_timeout=600)
    assert out.cancelled == {"old": "pending-timeout"}
    assert world.run(pending_timeout=0).pending == ["old"]


def test_cancel_wins_over_other_verdicts(world: World) -> None:
    world.agent("a1")
    world.builder.keypair("AK", sessions=9, max_concurrent_sessions=1)
    world.session("both", wait_deadline=world.clock.now())
    assert world.run().cancelled == {"both": "pending-timeout"}


def test_all_verdicts_are_reported(world: World) -> None:
    world.agent("a1")
    world.builder.keypair("AK", sessions=1, max_concurrent_sessions=1)
    world.session("late", starts_at=world.clock.now() + timedelta(hours=1))
    why = world.run().why("late")
    codes = {v.plugin: v.code for v in why.verdicts}
    assert codes["timing"] is StatusCode.WAIT
    assert codes["keypair-quota"] is StatusCode.UNSCHEDULABLE
    assert codes["dependencies"] is StatusCode.SUCCESS
    assert why.code is StatusCode.UNSCHEDULABLE  # the more severe of the two
    assert "starts at" in why.msg and "max_concurrent_sessions 1 of 1" in why.msg
