"""A second manager's registry on the same store: it learns the agents registered with the first
(peers), can call them, never writes them off while their own manager hears their heartbeats,
and marks them LOST when nobody does (their manager is gone)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from cygnet.common.clock import RealClock
from cygnet.common.events import AgentLost
from cygnet.common.lifecycle import AgentStatus
from cygnet.manager.agents.registry import AgentRegistry, RegistrySettings
from cygnet.manager.events import EventBus
from cygnet.manager.store.db import Database
from cygnet.testing.agents import run_cluster
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
TIMEOUT = 0.6
FAST = {"agent_heartbeat_interval": 0.1, "agent_heartbeat_timeout": TIMEOUT}
SIM: dict[str, Any] = {"cpus": [0, 1], "memory": "4g", "kernel_poll_interval": 0.05}


async def test_a_peer_managers_agents(tmp_path: Path) -> None:
    async with (
        fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url,
        run_cluster(tmp_path, db_url=url, manager_settings=FAST, **SIM) as cluster,
    ):
        first = cluster.manager.manager.services.agents
        agent_id = cluster.agent.id
        db = Database(url)
        bus = EventBus()
        second = AgentRegistry(
            db,
            RealClock(),
            bus,
            RegistrySettings(
                secret=first.settings.secret, heartbeat_interval=0.1, heartbeat_timeout=TIMEOUT
            ),
            network=cluster.network,
        )
        try:
            with bus.subscribe() as events:
                await second.start()
                await second.refresh()
                assert second.status_of(agent_id) == AgentStatus.ALIVE
                rows = await second.list(statuses=[AgentStatus.ALIVE])
                assert [a.id for a in second.schedulable(rows)] == [agent_id]
                status = await (await second.client(agent_id)).status()
                assert status.info.agent_id == agent_id

                # Its heartbeats go to the first manager only: several timeouts later, the
                # second has not written it off (the stored heartbeat is fresh).
                await asyncio.sleep(4 * TIMEOUT)
                assert await second.sweep() == []
                assert (await second.get(agent_id)).status == AgentStatus.ALIVE
                assert second.status_of(agent_id) == AgentStatus.ALIVE
                assert events.queue.empty()

                # The first manager stops hearing (and recording) anything: nobody hears the
                # agent now, and the second manager marks it LOST, once.
                await first.stop()

                async def lost() -> bool:
                    return (await second.get(agent_id)).status == AgentStatus.LOST

                deadline = asyncio.get_running_loop().time() + 10
                while not await lost():
                    assert asyncio.get_running_loop().time() < deadline, "never marked LOST"
                    await asyncio.sleep(0.05)
                event = await events.get(timeout=5)
                assert isinstance(event, AgentLost) and event.agent_id == agent_id
                assert second.status_of(agent_id) == AgentStatus.LOST
                assert await second.sweep() == []  # already LOST: not again
        finally:
            await second.stop()
            await db.close()
