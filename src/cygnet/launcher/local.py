"""A whole cluster in one process: a manager and N agents on an in-process network.

Used by ``cygnet up`` and by ``cygnet.testing``. Agents share the host: with several of them,
the cores are dealt out round-robin and the memory is split evenly, so the cluster never offers
more than the machine has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cygnet.agent.agent import Agent
from cygnet.agent.config import AgentSettings
from cygnet.agent.resources import detect_cores, detect_memory
from cygnet.agent.server import start_agent
from cygnet.common.clock import Clock
from cygnet.common.resources import BinarySize
from cygnet.common.transport import InProcNetwork
from cygnet.manager.server import INPROC_NAME, Manager

RESERVED_MEMORY = 512 * 1024 * 1024


def local_agent_settings(
    data_dir: Path, count: int, runtime: str, **overrides: Any
) -> list[AgentSettings]:
    """Settings for ``count`` agents under ``data_dir/agents`` that share this host."""
    cores = overrides.pop("cpus", None)
    memory = overrides.pop("memory", None)
    shares: list[tuple[list[int] | None, str | None]]
    if count == 1 or runtime == "simulated":
        shares = [(cores, memory)] * count
    else:
        all_cores = cores if cores is not None else detect_cores()
        if memory is None:
            detected = detect_memory()
            memory = str(max(detected - RESERVED_MEMORY, detected // 4))
        each = str(int(BinarySize.parse(memory)) // count)
        shares = []
        for i in range(count):
            mine = all_cores[i::count] or [all_cores[i % len(all_cores)]]
            shares.append((mine, each))
    names = ["local-agent"] if count == 1 else [f"local-agent-{i + 1}" for i in range(count)]
    return [
        AgentSettings.load(
            id=name,
            manager=f"inproc://{INPROC_NAME}",
            data_dir=data_dir / "agents" / name,
            runtime=runtime,
            cpus=share_cores,
            memory=share_memory,
            **overrides,
        )
        for name, (share_cores, share_memory) in zip(names, shares, strict=True)
    ]


async def start_local_agents(
    manager: Manager,
    network: InProcNetwork,
    settings: list[AgentSettings],
    clock: Clock | None = None,
) -> list[Agent]:
    """Start agents next to ``manager``; they stop (saying goodbye) before the manager does."""
    agents: list[Agent] = []

    async def stop_all() -> None:
        for agent in agents:
            await agent.stop()
        agents.clear()

    manager.before_stop.append(stop_all)
    for item in settings:
        agent = await start_agent(item, network=network, clock=clock, secret=manager.agent_secret)
        agents.append(agent)
    return agents
