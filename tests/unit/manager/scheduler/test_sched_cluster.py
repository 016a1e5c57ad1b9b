"""Cluster sessions: single-node on one agent, multi-node spread, all or nothing."""

from __future__ import annotations

from sched_world import World

from cygnet.common.lifecycle import ClusterMode
from cygnet.manager.scheduler import StatusCode, apply_result, build_profile, run_cycle


def test_single_node_cluster_lands_on_one_agent(world: World) -> None:
    world.agent("small", cpu="4").agent("big", cpu="16")
    world.cluster("c", 3, ClusterMode.SINGLE_NODE, cpu="3")
    out = world.run()
    assert out.agents_of("c") == ["big", "big", "big"]


def test_multi_node_cluster_prefers_distinct_agents(world: World) -> None:
    for n in range(4):
        world.agent(f"a{n}")
    world.cluster("c", 3, ClusterMode.MULTI_NODE, cpu="2")
    out = world.run()
    assert len(set(out.agents_of("c"))) == 3


def test_multi_node_cluster_may_share_an_agent_when_it_must(world: World) -> None:
    world.agent("a0", cpu="8").agent("a1", cpu="2")
    world.cluster("c", 3, ClusterMode.MULTI_NODE, cpu="2")
    out = world.run()
    assert sorted(out.agents_of("c")) == ["a0", "a0", "a1"]


def test_all_or_nothing_rolls_back_partial_reservations(world: World) -> None:
    world.agent("a0", cpu="4").agent("a1", cpu="4")
    world.cluster("c", 3, ClusterMode.MULTI_NODE, cpu="3")  # only two kernels fit
    world.session("after", cpu="4")
    out = world.run()
    assert out.placed == ["after"]  # the cluster's reservations were given back
    why = out.why("c")
    assert why.kernel == "sub2"
    assert why.msg.startswith("kernel sub2: no agent can host it")
    assert why.code is StatusCode.UNSCHEDULABLE


def test_single_node_cluster_that_fits_nowhere(world: World) -> None:
    world.agent("a0", cpu="4").agent("a1", cpu="4")
    world.cluster("c", 2, ClusterMode.SINGLE_NODE, cpu="3")
    why = world.run().why("c")
    assert why.agents[0].text == "2 agents: not enough cpu (need 6, largest free 4)"
    assert why.code is StatusCode.UNRESOLVABLE  # neither agent could ever hold 6 cpu


def test_single_node_cluster_packs_fractions_on_devices(world: World) -> None:
    world.gpu_agent("g", ["0.5", "0.5", "0.25"])
    world.cluster("c", 2, ClusterMode.SINGLE_NODE, extra={"cuda.shares": "0.5"})
    out = world.run()
    (placement,) = out.result.placed
    used = sorted(k.devices["cuda.shares"] for k in placement.kernels)
    assert used == [(("0", "0.5"),), (("1", "0.5"),)]


def test_cluster_placement_survives_the_next_cycle(world: World) -> None:
    world.agent("a0", cpu="4").agent("a1", cpu="4")
    world.cluster("c", 2, ClusterMode.MULTI_NODE, cpu="4")
    world.session("later", cpu="1")
    snapshot = world.snapshot()
    profile = build_profile()
    first = run_cycle(snapshot, profile)
    assert [world.names[p.session_id] for p in first.placed] == ["c"]
    second = run_cycle(apply_result(snapshot, first), profile)
    assert second.placed == ()
    assert "not enough cpu (need 1, largest free 0)" in second.pending[world.ids["later"]].msg
