"""``resources`` filter: the agent's free room holds the request, slot by slot, and on agents
that model an accelerator slot per device, a request of up to one device's capacity (e.g.
``cuda.shares`` 0.5) fits on a single device. Where the devices go is decided at reserve
time (best fit, see ``runner.allocate``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygnet.manager.scheduler.framework import AgentPredicate, CycleState, Rejection, Request


class Resources:
    name = "resources"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def compile(self, request: Request, state: CycleState) -> AgentPredicate | None:
        free = state.free
        pairs = request.pairs
        if request.device_slots:
            return self._with_devices(request, state)
        if not pairs:
            return None
        if len(pairs) == 1:
            ((i, a),) = pairs
            return lambda agent: free[agent][i] >= a
        if len(pairs) == 2:
            (i, a), (j, b) = pairs
            return lambda agent: (f := free[agent])[i] >= a and f[j] >= b
        if len(pairs) == 3:
            (i, a), (j, b), (k, c) = pairs
            return lambda agent: (f := free[agent])[i] >= a and f[j] >= b and f[k] >= c

        def fits(agent: int) -> bool:
            f = free[agent]
            return all(f[i] >= a for i, a in pairs)

        return fits

    @staticmethod
    def _with_devices(request: Request, state: CycleState) -> AgentPredicate:
        free, devices, units = state.free, state.devices, state.units
        pairs = request.pairs
        dev = tuple(
            (s, max(k[s] for k in request.kernel_needs), request.need[s])
            for s in request.device_slots
        )

        def fits(agent: int) -> bool:
            f = free[agent]
            for i, a in pairs:
                if f[i] < a:
                    return False
            held_by_slot = devices[agent]
            if held_by_slot is None:
                return True
            unit = units[agent]
            assert unit is not None
            for slot, largest, total in dev:
                held = held_by_slot.get(slot)
                if held is None:
                    continue
                if largest <= unit[slot]:
                    if max(held) < largest:
                        return False
                elif sum(held) < total:
                    return False
            return True

        return fits

    def explain(self, request: Request, agent: int, state: CycleState) -> Rejection | None:
        f = state.free[agent]
        info = state.agents[agent]
        names = state.schema.names
        for i, a in request.pairs:
            if f[i] < a:
                return Rejection(
                    self.name,
                    f"not enough {names[i]}",
                    i,
                    a,
                    max(f[i], 0),
                    permanent=info.capacity[i] < a,
                )
        held_by_slot = state.devices[agent]
        if held_by_slot is None:
            return None
        for slot in request.device_slots:
            held = held_by_slot.get(slot)
            if held is None:
                continue
            unit = info.devices[slot].unit
            largest = max(k[slot] for k in request.kernel_needs)
            if largest <= unit and max(held) < largest:
                return Rejection(
                    self.name,
                    f"not enough {names[slot]} on any one device",
                    slot,
                    largest,
                    max(max(held), 0),
                )
            if largest > unit and sum(held) < request.need[slot]:
                return Rejection(
                    self.name,
                    f"not enough {names[slot]} across devices",
                    slot,
                    request.need[slot],
                    max(sum(held), 0),
                )
        return None
