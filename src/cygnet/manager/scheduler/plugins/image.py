"""``image`` filter: the agent has the session's image (agents that report no image list can
pull any image). Skipped in the search when every agent of the pool has the image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygnet.manager.scheduler.framework import AgentPredicate, CycleState, Rejection, Request


class Image:
    name = "image"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def compile(self, request: Request, state: CycleState) -> AgentPredicate | None:
        image = request.image
        cache: dict[tuple[str, str, str], bool] = state.data.setdefault(self.name, {})
        key = (request.resource_group, request.architecture, image)
        everywhere = cache.get(key)
        if everywhere is None:
            everywhere = all(
                a.images is None or image in a.images
                for a in state.agents
                if a.resource_group == request.resource_group
                and a.architecture == request.architecture
            )
            cache[key] = everywhere
        if everywhere:
            return None
        images = [a.images for a in state.agents]
        return lambda agent: (held := images[agent]) is None or image in held

    def explain(self, request: Request, agent: int, state: CycleState) -> Rejection | None:
        held = state.agents[agent].images
        if held is None or request.image in held:
            return None
        return Rejection(self.name, f"image {request.image} not present", permanent=True)
