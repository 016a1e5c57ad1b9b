"""Concurrent creates are written in one transaction (services/sessions/enqueue.py): a name
conflict fails only its caller, pending limits stay exact, and a changed keypair policy
applies to the next create although owners are cached."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cygnet.common.errors import QuotaExceeded, SessionAlreadyExists
from cygnet.manager.entities import Caller, UserRole
from cygnet.manager.services.sessions import SessionSpec
from cygnet.manager.store.repositories import keypairs
from cygnet.manager.store.repositories import sessions as sessions_repo
from cygnet.testing.agents import ClusterFactory, LocalCluster

IMAGE = "cygnet/python:3.11"
SIM = {"cpus": list(range(4)), "memory": "8g"}


async def admin_and_policy(cluster: LocalCluster) -> tuple[Caller, str]:
    async with cluster.manager.manager.db.read() as tx:
        kp = await keypairs.get(tx, cluster.manager.admin.access_key)
    assert kp is not None
    caller = Caller(kp.access_key, kp.user, kp.user_id, UserRole.SUPERADMIN, "default", True)
    return caller, kp.resource_policy


def spec(name: str, image: str = IMAGE, reuse: bool = False) -> SessionSpec:
    return SessionSpec(name=name, image=image, resources={"cpu": 1}, enqueue_only=True, reuse=reuse)


async def test_a_name_conflict_in_a_batch_fails_only_its_caller(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, **SIM) as cluster:
        svc = cluster.manager.manager.services.sessions
        await svc.controller.stop()  # the sessions stay PENDING
        me, policy = await admin_and_policy(cluster)
        await cluster.manager.manager.services.policies.modify_keypair_policy(
            me, policy, {"max_concurrent_sessions": 0}
        )
        await svc.create(me, spec("gc-taken"))
        names = [f"gc-{i:02d}" for i in range(8)] + ["gc-03", "gc-taken"]
        outcomes = await asyncio.gather(
            *(svc.create(me, spec(n)) for n in names),
            svc.create(me, spec("gc-05", reuse=True)),
            return_exceptions=True,
        )
        created = [o for o in outcomes[:8] if not isinstance(o, BaseException)]
        assert len(created) == 8 and all(c.created for c in created)
        for failed in outcomes[8:10]:
            assert isinstance(failed, SessionAlreadyExists), failed
        assert outcomes[8].data["existingSessionId"] == str(created[3].session.id)  # type: ignore[union-attr]
        reused = outcomes[10]
        assert not isinstance(reused, BaseException)
        assert not reused.created and reused.session.id == created[5].session.id
        async with cluster.manager.manager.db.read() as tx:
            assert (await sessions_repo.count_by_status(tx)).get("PENDING") == 9
            session = await sessions_repo.get(tx, created[0].session.id)
        assert session is not None and session.kernels and session == created[0].session


async def test_pending_limits_hold_under_concurrent_creates_and_policy_changes_apply_at_once(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, **SIM) as cluster:
        services = cluster.manager.manager.services
        svc = services.sessions
        await svc.controller.stop()
        me, policy = await admin_and_policy(cluster)
        await services.policies.modify_keypair_policy(
            me, policy, {"max_concurrent_sessions": 0, "max_pending_session_count": 0}
        )
        await svc.create(me, spec("pl-first"))  # the owner (and its policy) is now cached
        await services.policies.modify_keypair_policy(me, policy, {"max_pending_session_count": 4})
        outcomes = await asyncio.gather(
            *(svc.create(me, spec(f"pl-{i:02d}")) for i in range(10)), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(refused) == 7 and all(isinstance(o, QuotaExceeded) for o in refused)
        await services.policies.modify_keypair_policy(me, policy, {"max_pending_session_count": 0})
        await svc.create(me, spec("pl-after"))
        async with cluster.manager.manager.db.read() as tx:
            assert (await sessions_repo.count_by_status(tx)).get("PENDING") == 5


@pytest.mark.parametrize("size", [1, 3])
async def test_one_create_alone_writes_its_session(
    local_cluster: ClusterFactory, tmp_path: Path, size: int
) -> None:
    async with local_cluster(tmp_path, **SIM) as cluster:
        svc = cluster.manager.manager.services.sessions
        await svc.controller.stop()
        me, policy = await admin_and_policy(cluster)
        await cluster.manager.manager.services.policies.modify_keypair_policy(
            me, policy, {"max_containers_per_session": 4}
        )
        one = await svc.create(
            me,
            SessionSpec(
                name=f"alone-{size}",
                image=IMAGE,
                resources={"cpu": 1},
                cluster_size=size,
                enqueue_only=True,
            ),
        )
        assert len(one.session.kernels) == size
        async with cluster.manager.manager.db.read() as tx:
            history = await sessions_repo.history(tx, one.session.id)
        assert len(history) == 1 + size
