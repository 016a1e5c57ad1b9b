"""Queue policies: fifo, lifo, priority, drf, strict order, and no head-of-line blocking."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sched_world import World

from cygnet.manager.scheduler import StatusCode


def three(world: World, **kw: Any) -> World:
    world.agent("a1", cpu="4")
    world.session("s1", **kw)
    world.session("s2", priority=50)
    world.session("s3", priority=90)
    return world


def test_fifo_oldest_first(world: World) -> None:
    assert three(world).run("fifo").placed == ["s1", "s2", "s3"]


def test_lifo_newest_first(world: World) -> None:
    assert three(world).run("lifo").placed == ["s3", "s2", "s1"]


def test_priority_highest_first_then_oldest(world: World) -> None:
    three(world)
    world.session("s4", priority=50)
    assert world.run("priority").placed == ["s3", "s2", "s4", "s1"]


def test_a_session_that_does_not_fit_does_not_block_the_rest(world: World) -> None:
    world.agent("a1", cpu="4")
    world.session("big", cpu="8")
    world.session("small", cpu="2")
    out = world.run("fifo")
    assert out.placed == ["small"]
    assert out.pending == ["big"]


def test_strict_stops_at_the_first_that_cannot_be_placed(world: World) -> None:
    world.agent("a1", cpu="4")
    world.session("first", cpu="1")
    world.session("big", cpu="8")
    world.session("small", cpu="2")
    out = world.run("fifo", strict=True)
    assert out.placed == ["first"]
    assert out.pending == ["big", "small"]
    why = out.why("small")
    assert "waiting behind session big" in why.msg
    assert why.code is StatusCode.UNSCHEDULABLE


def test_drf_takes_turns_between_users(make_world: Callable[[], World]) -> None:
    world = make_world()
    world.agent("a1", cpu="100", mem="100g")
    heavy, light = uuid.UUID(int=10), uuid.UUID(int=11)
    for n in range(4):
        world.session(f"h{n}", cpu="10", user=heavy, access_key="AKH")
    for n in range(2):
        world.session(f"l{n}", cpu="10", user=light, access_key="AKL")
    # fifo would place h0..h3 first; drf alternates while shares are equal
    assert world.run("drf").placed == ["h0", "l0", "h1", "l1", "h2", "h3"]


def test_drf_counts_what_users_already_occupy(make_world: Callable[[], World]) -> None:
    world = make_world()
    world.agent("a1", cpu="100", mem="100g")
    heavy, light = uuid.UUID(int=10), uuid.UUID(int=11)
    world.builder.user(heavy, occupied={"cpu": "50"})
    world.session("h0", cpu="10", user=heavy, access_key="AKH")
    world.session("l0", cpu="10", user=light, access_key="AKL")
    world.session("l1", cpu="10", user=light, access_key="AKL")
    assert world.run("drf").placed == ["l0", "l1", "h0"]
