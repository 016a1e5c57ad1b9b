"""Why pending: grouped per-agent reasons, plugin verdicts, a one-line msg, JSON-able."""

from __future__ import annotations

import json

from sched_world import World

from cygnet.manager.scheduler import StatusCode


def test_reasons_are_grouped_per_agent(world: World) -> None:
    for n in range(3):
        world.gpu_agent(f"g{n}", ["0.3", "0.3"])
    for n in range(12):
        world.agent(f"arm{n}", architecture="aarch64")
    world.agent("off", schedulable=False)
    world.session("s", extra={"cuda.shares": "0.5"})
    why = world.run().why("s")
    assert [g.text for g in why.agents] == [
        "12 agents: architecture aarch64, not x86_64",
        "3 agents: not enough cuda.shares on any one device (need 0.5, largest free 0.3)",
        "1 agent: not schedulable",
    ]
    assert why.agents_considered == 16
    assert why.code is StatusCode.UNSCHEDULABLE
    assert why.msg.startswith("no agent can host it: 12 agents: architecture aarch64")
    verdicts = {v.plugin: (v.code, v.reasons) for v in why.verdicts}
    assert verdicts["resources"] == (StatusCode.UNSCHEDULABLE, ("rejected 3 of 16 agents",))
    assert verdicts["agent-pool"] == (StatusCode.UNSCHEDULABLE, ("rejected 13 of 16 agents",))
    assert verdicts["keypair-quota"] == (StatusCode.SUCCESS, ())


def test_explanation_is_json_able(world: World) -> None:
    world.agent("a", cpu="1")
    world.session("first")
    world.session("s", cpu="2")
    why = world.run().why("s")
    data = json.loads(json.dumps(why.to_json()))
    assert data["code"] == "unresolvable"
    assert data["queue_position"] == 2
    assert data["agents"] == [
        {"count": 1, "plugin": "resources", "reason": "not enough cpu (need 2, largest free 0)"}
    ]
    assert {"plugin": "timing", "code": "success", "reasons": []} in data["plugins"]


def test_no_agents_at_all(world: World) -> None:
    world.agent("elsewhere", resource_group="other")
    world.session("s")
    why = world.run().why("s")
    assert why.msg == "no agent can host it: 1 agent: in resource group other, not default"


def test_unresolvable_only_when_no_agent_could_ever_fit(world: World) -> None:
    world.agent("small", cpu="2").agent("busy", cpu="8", occupied={"cpu": "7"})
    world.session("s", cpu="4")
    why = world.run().why("s")
    assert why.code is StatusCode.UNSCHEDULABLE  # "busy" can hold it once it frees up


def test_same_shape_shares_one_explanation(world: World) -> None:
    world.agent("a", cpu="1")
    for n in range(50):
        world.session(f"s{n}", cpu="2")
    out = world.run()
    assert out.result.stats.explained_shapes == 1
    assert out.why("s49").msg == out.why("s0").msg
    assert out.why("s49").queue_position == 50
