"""What a scheduling pass reads of what is held is aggregated in the database (kernels grouped
by agent, request and devices; by owner and request): the totals must be those of the kernels
one by one, and a cluster session counts once towards its keypair's sessions."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from cygnet.common.lifecycle import SessionStatus
from cygnet.common.resources import ResourceSlot
from cygnet.manager.entities import Caller, UserRole
from cygnet.manager.services.sessions import SessionSpec
from cygnet.manager.store.models import AgentRow
from cygnet.manager.store.repositories import agents as agents_repo
from cygnet.manager.store.repositories import keypairs, scheduling
from cygnet.testing.agents import ClusterFactory

FAST = {"agent_heartbeat_interval": 0.1, "session_sweep_interval": 0.1}
SIM = {"cpus": list(range(8)), "memory": "16g", "kernel_poll_interval": 0.05}


async def test_grouped_reads_equal_the_kernels_one_by_one(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, agents=2, manager_settings=FAST, **SIM) as cluster:
        manager = cluster.manager.manager
        async with manager.db.read() as tx:
            kp = await keypairs.get(tx, cluster.manager.admin.access_key)
        assert kp is not None
        me = Caller(kp.access_key, kp.user, kp.user_id, UserRole.SUPERADMIN, "default", True)
        await manager.services.policies.modify_keypair_policy(
            me, kp.resource_policy, {"max_containers_per_session": 4}
        )
        svc = manager.services.sessions
        specs = [
            SessionSpec(
                image="cygnet/python:3.11",
                name="clus",
                cluster_size=3,
                resources={"cpu": 1, "mem": "1g"},
            ),
            SessionSpec(image="cygnet/python:3.11", name="one1", resources={"cpu": 1, "mem": "1g"}),
            SessionSpec(image="cygnet/python:3.11", name="two2", resources={"cpu": 2, "mem": "2g"}),
            SessionSpec(
                image="cygnet/python:3.11", name="three", resources={"cpu": 2, "mem": "2g"}
            ),
        ]
        for spec in specs:
            created = await svc.create(me, spec)
            assert created.session.status == SessionStatus.RUNNING
        try:
            expected: dict[str, ResourceSlot] = {}
            total = ResourceSlot()
            for spec in specs:
                session = await svc.get(me, spec.name or "")
                for kernel in session.kernels:
                    assert kernel.agent_id is not None
                    slots = ResourceSlot.from_json(kernel.requested_slots)
                    expected[kernel.agent_id] = (
                        expected.get(kernel.agent_id, ResourceSlot()) + slots
                    )
                    total = total + slots
            async with manager.db.read() as tx:
                booked = await scheduling.bookings(tx)
                usage, sessions = await scheduling.live_usage(tx)
            assert booked.slots == expected
            assert sum(h.count for hs in booked.holdings.values() for h in hs) == 6
            assert sessions == {kp.access_key: 4}  # the cluster session once
            assert len(usage) == 1 and usage[0].access_key == kp.access_key
            assert usage[0].slots == total
            assert total.get_or_zero("cpu") == 8
        finally:
            for spec in specs:
                await svc.destroy(me, spec.name or "")


async def test_slot_types_are_those_of_every_agent(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, agents=2, manager_settings=FAST, **SIM) as cluster:
        manager = cluster.manager.manager
        async with manager.db.transaction() as tx:
            # a third agent of another kind, gone since: what it offered stays known
            gone = await agents_repo.list_all(tx)
            assert len(gone) == 2
            await tx.execute(
                update(AgentRow)
                .where(AgentRow.id == gone[1].id)
                .values(slot_types={**gone[1].slot_types, "cuda.shares": "count"}, status="LOST")
            )
        async with manager.db.read() as tx:
            expected: dict[str, str] = {}
            for agent in await agents_repo.list_all(tx):
                expected.update(agent.slot_types)
            assert await agents_repo.slot_types(tx) == expected
        assert expected["cuda.shares"] == "count" and "cpu" in expected


async def test_alive_agents_are_made_again_only_when_their_row_changed(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    # no heartbeat changes a row during the test
    quiet = {**SIM, "heartbeat_interval": 3600.0}
    async with local_cluster(tmp_path, agents=2, **quiet) as cluster:
        manager = cluster.manager.manager
        async with manager.db.read() as tx:
            first = await agents_repo.alive(tx)
            again = await agents_repo.alive(tx)
        assert [a.id for a in first] == [a.id for a in again]
        assert all(a is b for a, b in zip(first, again, strict=True))
        async with manager.db.transaction() as tx:
            await tx.execute(
                update(AgentRow)
                .where(AgentRow.id == first[1].id)
                .values(live_stat={"node": {"temperature": 71.5}})
            )
        async with manager.db.read() as tx:
            third = await agents_repo.alive(tx)
        assert third[0] is first[0]
        assert third[1] is not first[1]
        assert third[1].live_stat == {"node": {"temperature": 71.5}}
