"""Session changes are buffered in memory and written by ``save`` (repositories/
session_changes.py): status transitions, their side columns, kernel values and the
recorded status changes all reach the store, through ``Context`` and directly, and a
rename is written at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cygnet.common.errors import SessionAlreadyExists
from cygnet.common.lifecycle import KernelStatus, SessionResult, SessionStatus
from cygnet.manager.entities import Caller, UserRole
from cygnet.manager.services.sessions import SessionSpec
from cygnet.manager.store.repositories import keypairs
from cygnet.manager.store.repositories import session_changes as changes_repo
from cygnet.manager.store.repositories import sessions as sessions_repo
from cygnet.manager.store.repositories.session_changes import SessionChange
from cygnet.testing.agents import ClusterFactory

SIM = {"cpus": list(range(4)), "memory": "8g"}


def spec(name: str) -> SessionSpec:
    return SessionSpec(
        name=name, image="cygnet/python:3.11", resources={"cpu": 1}, enqueue_only=True
    )


async def test_buffered_changes_are_written_by_save(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, **SIM) as cluster:
        manager = cluster.manager.manager
        svc = manager.services.sessions
        await svc.controller.stop()  # nothing but this test changes the sessions
        ctx = svc.controller.ctx
        db = manager.db
        async with db.read() as tx:
            kp = await keypairs.get(tx, cluster.manager.admin.access_key)
        assert kp is not None
        me = Caller(kp.access_key, kp.user, kp.user_id, UserRole.SUPERADMIN, "default", True)
        a = (await svc.create(me, spec("save-a"))).session
        b = (await svc.create(me, spec("save-b"))).session
        await svc.create(me, spec("save-taken"))
        now = ctx.clock.now() + timedelta(seconds=5)

        # Directly, as the scheduler does: several sessions, one save before the commit.
        async with db.transaction() as tx:
            changes = {c.id: c for c in await changes_repo.change_many(tx, [b.id, a.id])}
            assert list(changes) == sorted([a.id, b.id])
            kernel = changes[a.id].kernels[0]
            changes[a.id].kernel_to(
                kernel.id,
                KernelStatus.SCHEDULED,
                now,
                values={
                    "agent_id": "i-x",
                    "agent_addr": "tcp://x",
                    "allocation": {"cpu": {"0": "1"}},
                },
            )
            changes[a.id].to(SessionStatus.SCHEDULED, now, reason="scheduled")
            changes[a.id].set_kernel(kernel.id, occupied_slots={"cpu": "1"})
            for k in changes[b.id].kernels:
                changes[b.id].kernel_to(k.id, KernelStatus.CANCELLED, now, reason="why")
            changes[b.id].to(
                SessionStatus.CANCELLED, now, reason="why", status_data={"scheduler": {"msg": "m"}}
            )
            seen = await changes_repo.entities(list(changes.values()))  # before the save
            assert [s.status for s in seen] == [changes[i].status for i in sorted(changes)]
            await changes_repo.save(tx, changes.values())
            await changes_repo.save(tx, changes.values())  # nothing left: writes nothing more

        # Through the context (save before the commit), with a rename written at once.
        async def apply(change: SessionChange) -> None:
            change.set(result=SessionResult.SUCCESS, priority=42)
            await change.rename("save-a2")
            with pytest.raises(SessionAlreadyExists):
                await change.rename("save-taken")
            change.emit("session_success", "done")

        await ctx.change(a.id, apply)

        async with db.read() as tx:
            got_a = await sessions_repo.get(tx, a.id)
            got_b = await sessions_repo.get(tx, b.id)
            history_a = await sessions_repo.history(tx, a.id)
            history_b = await sessions_repo.history(tx, b.id)
        assert got_a is not None and got_b is not None
        assert got_a.status == SessionStatus.SCHEDULED and got_a.status_info == "scheduled"
        assert got_a.status_changed == now
        assert SessionStatus.SCHEDULED.value in got_a.status_history
        assert got_a.name == "save-a2" and got_a.priority == 42
        assert got_a.result == SessionResult.SUCCESS
        ka = got_a.kernels[0]
        assert ka.status == KernelStatus.SCHEDULED and ka.agent_id == "i-x"
        assert ka.agent_address == "tcp://x" and ka.allocation == {"cpu": {"0": "1"}}
        assert ka.occupied_slots == {"cpu": "1"}
        assert got_b.status == SessionStatus.CANCELLED and got_b.terminated_at == now
        assert got_b.status_data["scheduler"] == {"msg": "m"}
        assert all(k.status == KernelStatus.CANCELLED and k.terminated_at for k in got_b.kernels)
        assert [(t.entity, t.previous, t.status) for t in history_a] == [
            ("session", None, "PENDING"),
            ("kernel", None, "PENDING"),
            ("kernel", "PENDING", "SCHEDULED"),
            ("session", "PENDING", "SCHEDULED"),
        ]
        assert [(t.entity, t.status, t.reason) for t in history_b][2:] == [
            ("kernel", "CANCELLED", "why"),
            ("session", "CANCELLED", "why"),
        ]
