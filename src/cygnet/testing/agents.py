"""A manager and in-process agents in the current event loop (the cluster test fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cygnet.agent.agent import Agent
from cygnet.common.clock import Clock
from cygnet.common.transport import InProcNetwork
from cygnet.launcher.local import local_agent_settings, start_local_agents
from cygnet.testing.cluster import LocalManager, run_manager


@dataclass
class LocalCluster:
    manager: LocalManager
    agents: list[Agent]
    network: InProcNetwork

    @property
    def agent(self) -> Agent:
        return self.agents[0]


@asynccontextmanager
async def run_cluster(
    data_dir: Path,
    *,
    agents: int = 1,
    runtime: str = "simulated",
    db_url: str | None = None,
    clock: Clock | None = None,
    manager_settings: dict[str, Any] | None = None,
    storage: bool = False,
    **agent_settings: Any,
) -> AsyncIterator[LocalCluster]:
    """A manager and ``agents`` in-process agents (registered before this yields); with
    ``storage``, a storage proxy too (see ``run_manager``)."""
    network = InProcNetwork()
    async with run_manager(
        network=network,
        clock=clock,
        storage=storage,
        data_dir=data_dir,
        db_url=db_url,
        **(manager_settings or {}),
    ) as local:
        settings = local_agent_settings(data_dir, agents, runtime, **agent_settings)
        started = await start_local_agents(local.manager, network, settings, clock)
        for agent in started:
            await asyncio.wait_for(agent.registered.wait(), 30)
        cluster = LocalCluster(manager=local, agents=started, network=network)
        try:
            yield cluster
        except BaseException:
            await destroy_leftover_kernels(cluster.agents)
            raise
        leaked = await destroy_leftover_kernels(cluster.agents)
        if leaked:
            raise AssertionError(f"kernels left behind (now destroyed): {leaked}")


async def destroy_leftover_kernels(agents: list[Agent]) -> list[str]:
    """Destroy the kernels still on ``agents`` (agents leave kernels running when they stop,
    which a test must not); returns their ids."""
    leaked = []
    for agent in agents:
        for kernel_id in list(agent.kernels):
            leaked.append(str(kernel_id))
            await agent.destroy_kernel(kernel_id, "test-cleanup")
    return leaked


ClusterFactory = Callable[..., AbstractAsyncContextManager[LocalCluster]]
"""The type of the test suite's ``local_cluster`` fixture: ``async with
local_cluster(data_dir, runtime=..., **agent_settings) as cluster``."""
