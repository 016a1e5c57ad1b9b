"""``fragmentation`` agent selection: pack fractional accelerators without fragmenting them.

A fractional request (up to one device, e.g. ``cuda.shares`` 0.5) scores by the best fit it
finds on the agent: 100 when it fills a device's remaining room exactly, less the more room it
leaves on the device it takes, lowest when it would break into a whole free device. So partly
used devices are filled first and whole devices stay free for whole-device requests. A request
of several devices scores by how much of the agent's free device room it uses. Requests
without device slots score like ``concentrated``. Pools are arranged fullest first.
"""

from __future__ import annotations

from cygnet.manager.scheduler.framework import AgentScore, CycleState, Request
from cygnet.manager.scheduler.plugins._selection import Selector, arrange_by_use, fill_score


class Fragmentation(Selector):
    name = "fragmentation"
    default_sample_size = 16

    def arrange(self, pool: list[int], state: CycleState) -> None:
        arrange_by_use(pool, state, fullest_first=True)

    def compile_score(self, request: Request, state: CycleState) -> AgentScore | None:
        fill = fill_score(request, state)
        if not request.device_slots:
            return fill
        devices, units = state.devices, state.units
        wanted = [
            (s, max(k[s] for k in request.kernel_needs), request.need[s])
            for s in request.device_slots
        ]

        def score(agent: int) -> float:
            held_by_slot = devices[agent]
            unit = units[agent]
            if held_by_slot is None or unit is None:
                return fill(agent) if fill is not None else 0.0
            total = 0.0
            for slot, largest, need in wanted:
                held = held_by_slot.get(slot)
                if held is None:
                    total += 50.0
                    continue
                size = unit[slot]
                if largest <= size:
                    leftover = min((r - largest for r in held if r >= largest), default=size)
                    total += 100.0 * (1.0 - leftover / size)
                else:
                    room = sum(r for r in held if r > 0)
                    total += 100.0 * need / room if room else 0.0
            return total / len(wanted)

        return score
