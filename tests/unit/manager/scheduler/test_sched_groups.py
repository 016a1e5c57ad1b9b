"""One scheduling pass over several resource groups: a cycle per group, sharing quotas and
the plugins' state."""

from __future__ import annotations

from sched_world import World

from cygnet.manager.lifecycle.schedule import run_cycles
from cygnet.manager.scheduler import build_profile


def test_groups_share_quotas_and_hand_on_the_plugins_state(world: World) -> None:
    for name, group in (("a1", "ga"), ("a2", "ga"), ("b1", "gb"), ("b2", "gb")):
        world.agent(name, resource_group=group)
    world.builder.keypair("AK", max_concurrent_sessions=3)
    for name, group in (("x1", "ga"), ("x2", "ga"), ("y1", "gb"), ("y2", "gb")):
        world.session(name, resource_group=group)
    profile = build_profile("fifo", {"agent_selection_strategy": "roundrobin"})
    results, state = run_cycles(world.snapshot(), {"ga": profile, "gb": profile})
    placed = [world.names[p.session_id] for r in results for p in r.placed]
    # ga's cycle runs first and takes two of the keypair's three sessions: gb sees them
    assert placed == ["x1", "x2", "y1"]
    assert [world.names[s] for s in results[1].pending] == ["y2"]
    # each group's round-robin cursor, the second cycle's state built on the first's
    assert state == {"roundrobin": {"ga/x86_64": "a2", "gb/x86_64": "b1"}}
