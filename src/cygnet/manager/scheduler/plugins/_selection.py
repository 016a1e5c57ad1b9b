"""Shared pieces of the agent-selection strategies (selectors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cygnet.manager.scheduler.framework import AgentScore, CycleState, Request
from cygnet.manager.scheduler.snapshot import Vec

DEFAULT_SAMPLE_SIZE = 8


class Selector:
    """A selector that searches from the front of the pool and scores nothing; strategies
    override what they need. ``sample_size`` (option ``sample_size``, 0 = every feasible
    agent) is how many feasible agents are scored before choosing."""

    name = "selector"
    default_sample_size = DEFAULT_SAMPLE_SIZE

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        opts = opts or {}
        self.sample_size = int(opts.get("sample_size", self.default_sample_size))
        if self.sample_size < 0:
            raise ValueError("scheduler_opts sample_size must be >= 0")

    def arrange(self, pool: list[int], state: CycleState) -> None:
        return None

    def start(self, pool_key: tuple[str, str], items: Sequence[int], state: CycleState) -> int:
        return 0

    def compile_score(self, request: Request, state: CycleState) -> AgentScore | None:
        return None


def capacities(state: CycleState) -> list[Vec]:
    found: list[Vec] | None = state.data.get("capacities")
    if found is None:
        found = state.data["capacities"] = [a.capacity for a in state.agents]
    return found


def used_fraction(state: CycleState) -> Any:
    """``agent -> mean used fraction over the slots it has``, for arranging pools."""
    free, caps = state.free, capacities(state)

    def used(agent: int) -> float:
        f, c = free[agent], caps[agent]
        if f == c:
            return 0.0
        parts = [(ci - fi) / ci for ci, fi in zip(c, f, strict=True) if ci > 0]
        return sum(parts) / len(parts) if parts else 1.0

    return used


def arrange_by_use(pool: list[int], state: CycleState, *, fullest_first: bool) -> None:
    """Sort a pool by how used its agents are. Where every agent of the pool has the same
    capacity, free room itself (cpu, then mem, …) orders them, compared in C; otherwise the
    mean used fraction does."""
    caps = capacities(state)
    if len({caps[a] for a in pool}) <= 1:
        pool.sort(key=state.free.__getitem__, reverse=not fullest_first)
        return
    used = used_fraction(state)
    pool.sort(key=used, reverse=fullest_first)


def fill_score(request: Request, state: CycleState) -> AgentScore | None:
    """``agent -> 0-100``: how full the requested slots are once the request is placed."""
    pairs = [(i, a) for i, a in request.pairs]
    if not pairs:
        return None
    free, caps = state.free, capacities(state)
    count = len(pairs)

    def score(agent: int) -> float:
        f, c = free[agent], caps[agent]
        total = 0.0
        for i, a in pairs:
            if c[i] > 0:
                total += (c[i] - f[i] + a) / c[i]
        return 100.0 * total / count

    return score
