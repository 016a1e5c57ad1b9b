"""Agent selection: concentrated, dispersed, roundrobin (cursor across cycles), fragmentation
(device best fit) and metric; device choices are part of the placement."""

from __future__ import annotations

from collections import Counter

import pytest
from sched_world import World

from cygnet.manager.scheduler import apply_result, build_profile, run_cycle
from cygnet.manager.scheduler.runner import allocate


def test_concentrated_fills_the_fullest_agent(world: World) -> None:
    world.agent("empty").agent("busy", occupied={"cpu": "6"}).agent("half", occupied={"cpu": "4"})
    world.session("s1")
    world.session("s2")
    world.session("s3")
    out = world.run(agent_selection_strategy="concentrated")
    assert [out.agent_of(s) for s in ("s1", "s2", "s3")] == ["busy", "busy", "half"]


def test_dispersed_spreads_to_the_emptiest(world: World) -> None:
    world.agent("empty").agent("busy", occupied={"cpu": "6"}).agent("half", occupied={"cpu": "4"})
    world.session("s1")
    world.session("s2")
    out = world.run(agent_selection_strategy="dispersed")
    assert out.agent_of("s1") == "empty"
    assert out.agent_of("s2") != "busy"


def test_dispersed_spreads_evenly_over_equal_agents(world: World) -> None:
    for n in range(4):
        world.agent(f"a{n}")
    for n in range(8):
        world.session(f"s{n}")
    out = world.run(agent_selection_strategy="dispersed")
    counts = Counter(out.agent_of(f"s{n}") for n in range(8))
    assert sorted(counts.values()) == [2, 2, 2, 2]


def test_roundrobin_cursor_carries_over_cycles(world: World) -> None:
    for name in ("c", "a", "b"):
        world.agent(name)
    for n in range(4):
        world.session(f"s{n}")
    snapshot = world.snapshot()
    profile = build_profile("fifo", {"agent_selection_strategy": "roundrobin"})
    first = run_cycle(snapshot, profile)
    assert [p.kernels[0].agent_id for p in first.placed] == ["a", "b", "c", "a"]
    assert first.next_state == {"roundrobin": {"default/x86_64": "a"}}
    world2 = World(world.clock)
    for name in ("a", "b", "c"):
        world2.agent(name)
    world2.session("t0")
    world2.builder._plugin_state = dict(first.next_state)  # as the lifecycle hands it back
    second = run_cycle(world2.snapshot(), profile)
    assert second.placed[0].kernels[0].agent_id == "b"


def test_fractional_requests_go_to_the_best_fitting_device(world: World) -> None:
    world.gpu_agent("g", ["1", "0.5", "0.25", "1"])
    world.session("quarter", extra={"cuda.shares": "0.25"})
    world.session("half", extra={"cuda.shares": "0.5"})
    world.session("whole", extra={"cuda.shares": "1"})
    world.session("three-q", extra={"cuda.shares": "0.75"})
    out = world.run()
    devices = {
        out.world.names[p.session_id]: p.kernels[0].devices["cuda.shares"]
        for p in out.result.placed
    }
    assert devices["quarter"] == (("2", "0.25"),)  # exact fit, whole devices untouched
    assert devices["half"] == (("1", "0.5"),)
    assert devices["whole"] == (("0", "1"),)
    assert devices["three-q"] == (("3", "0.75"),)


def test_multi_device_request_takes_whole_devices_first() -> None:
    free = (1_000_000, 250_000, 1_000_000, 600_000)
    new, picks = allocate(free, 1_000_000, 2_500_000) or ((), ())
    assert picks == ((0, 1_000_000), (2, 1_000_000), (3, 500_000))
    assert new == (0, 250_000, 0, 100_000)
    assert allocate(free, 1_000_000, 3_000_000) is None
    assert allocate((300_000, 300_000), 1_000_000, 500_000) is None  # never split a fraction


def test_fragmentation_prefers_the_agent_whose_device_fits_best(world: World) -> None:
    world.gpu_agent("whole", ["1", "1"])
    world.gpu_agent("half-left", ["0.5", "1"])
    world.gpu_agent("quarter-left", ["0.25", "1"])
    world.session("half", extra={"cuda.shares": "0.5"})
    world.session("quarter", extra={"cuda.shares": "0.25"})
    out = world.run(agent_selection_strategy="fragmentation")
    assert out.agent_of("half") == "half-left"
    assert out.agent_of("quarter") == "quarter-left"


def test_fractional_explanation_names_the_largest_free_device(world: World) -> None:
    world.gpu_agent("g1", ["0.3", "0.2"])
    world.gpu_agent("g2", ["0.3", "0.3"])
    world.gpu_agent("g3", ["0.25", "0.25"])
    world.session("half", extra={"cuda.shares": "0.5"})
    why = world.run().why("half")
    assert why.agents[0].text == (
        "3 agents: not enough cuda.shares on any one device (need 0.5, largest free 0.3)"
    )


@pytest.mark.parametrize(("order", "expected"), [("asc", "cool"), ("desc", "hot")])
def test_metric_selector(world: World, order: str, expected: str) -> None:
    world.agent("hot", metrics={"temperature": 80.0})
    world.agent("cool", metrics={"temperature": 35.0})
    world.agent("unknown")
    world.agent("warm", metrics={"temperature": 50.0})
    world.session("s")
    out = world.run(agent_selection_strategy="metric", metric="temperature", metric_order=order)
    assert out.agent_of("s") == expected


def test_metric_selector_needs_its_option() -> None:
    with pytest.raises(ValueError, match="metric"):
        build_profile("fifo", {"agent_selection_strategy": "metric"})


def test_sample_size_zero_scores_every_feasible_agent(world: World) -> None:
    for n in range(20):
        world.agent(f"a{n:02d}", occupied={"cpu": "1"} if n != 17 else {"cpu": "7"})
    world.session("s")
    out = world.run(agent_selection_strategy="concentrated", sample_size=0)
    assert out.agent_of("s") == "a17"


def test_apply_result_moves_room_and_usage(world: World) -> None:
    world.gpu_agent("g", ["1", "1"])
    world.session("s", cpu="2", extra={"cuda.shares": "0.5"})
    snapshot = world.snapshot()
    result = run_cycle(snapshot, build_profile())
    after = apply_result(snapshot, result)
    assert after.pending == ()
    agent = after.agents[0]
    assert after.slots.to_json(agent.occupied) == {
        "cpu": "2",
        "mem": str(1 << 30),
        "cuda.shares": "0.5",
    }
    assert sorted(agent.devices[2].free) == [500_000, 1_000_000]
    assert after.usage.keypair_sessions == {"AK": 1}
