"""The registry: plugins by name (entry points), profiles from scheduler and scheduler_opts,
and a custom plugin at each extension point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
from sched_world import World

from cygnet.common.registry import plugin_names
from cygnet.manager.scheduler import (
    CycleState,
    PendingSession,
    Request,
    Reservation,
    Status,
    StatusCode,
    available,
    build_profile,
    run_cycle,
)
from cygnet.manager.scheduler.framework import Rejection, unschedulable
from cygnet.manager.scheduler.registry import BUILTIN, GROUP


def test_builtins_are_registered_as_entry_points() -> None:
    assert set(BUILTIN) <= set(plugin_names(GROUP))
    assert {"fifo", "lifo", "drf", "priority", "metric", "fragmentation"} <= set(available())


def test_profile_from_resource_group_settings() -> None:
    profile = build_profile(
        "drf", {"strict": True, "agent_selection_strategy": "dispersed", "sample_size": 3}
    )
    assert profile.queue_sort.name == "drf"
    assert profile.selector.name == "dispersed"
    assert profile.selector.sample_size == 3
    assert profile.strict
    assert [p.name for p in profile.pre_filters][:3] == [
        "timing",
        "dependencies",
        "resource-group-access",
    ]
    assert [p.name for p in profile.filters] == ["agent-pool", "image", "resources"]
    assert [p.name for p in profile.permits] == ["gang"]


@pytest.mark.parametrize(
    ("scheduler", "opts", "match"),
    [
        ("nope", {}, "unknown scheduler plugin 'nope'"),
        ("resources", {}, "not a queue-sort plugin"),
        ("fifo", {"agent_selection_strategy": "fifo"}, "not an agent selector"),
        ("fifo", {"plugins": "image"}, "must be a list"),
        ("fifo", {"score_weights": {"fifo": 1}}, "not a scorer"),
    ],
)
def test_bad_settings_are_reported(scheduler: str, opts: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_profile(scheduler, opts)


def test_disabling_a_predicate(world: World) -> None:
    world.agent("a")
    world.builder.keypair("AK", sessions=5, max_concurrent_sessions=1)
    world.session("s")
    assert world.run().placed == []
    assert world.run(disabled_plugins=["keypair-quota"]).placed == ["s"]


class NoFridays:
    """A pre-filter plugin written outside the package."""

    name = "no-fridays"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def pre_filter(self, session: PendingSession, state: CycleState) -> Status:
        if state.now.weekday() == 4:
            return unschedulable(self.name, "no sessions on Fridays")
        return Status()


class OddAgentsOnly:
    name = "odd-agents"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def compile(self, request: Request, state: CycleState) -> Any:
        return lambda agent: agent % 2 == 1

    def explain(self, request: Request, agent: int, state: CycleState) -> Rejection | None:
        return None if agent % 2 else Rejection(self.name, "even", permanent=True)


class VetoAll:
    name = "veto"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def permit(self, reservation: Reservation, state: CycleState) -> Status:
        return unschedulable(self.name, "vetoed")


def test_custom_plugins_at_each_extension_point(world: World) -> None:
    for n in range(4):
        world.agent(f"a{n}")
    world.session("s")
    base = build_profile("fifo", {"agent_selection_strategy": "dispersed"})
    profile = replace(
        base,
        pre_filters=(*base.pre_filters, NoFridays()),
        filters=(*base.filters, OddAgentsOnly()),
    )
    snapshot = world.snapshot()  # 2026-01-01 is a Thursday
    result = run_cycle(snapshot, profile)
    assert result.placed[0].kernels[0].agent_id in {"a1", "a3"}
    friday = replace(snapshot, now=snapshot.now.replace(day=2))
    why = next(iter(run_cycle(friday, profile).pending.values()))
    assert why.msg == "no sessions on Fridays"
    vetoed = run_cycle(snapshot, replace(profile, permits=(*profile.permits, VetoAll())))
    assert vetoed.placed == ()
    assert next(iter(vetoed.pending.values())).code is StatusCode.UNSCHEDULABLE
