"""The session lifecycle through the service and the reconcile loops, with real in-process
agents: placement and exact release of resources, batch results, time limits, failures, a
LOST agent, and sessions picked up again by a new controller (a manager restart)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cygnet.agent.server import start_agent
from cygnet.common.errors import SessionNotFound
from cygnet.common.lifecycle import SessionResult, SessionStatus, SessionType
from cygnet.manager.entities import Caller, Session, UserRole
from cygnet.manager.lifecycle.context import Context
from cygnet.manager.lifecycle.controller import SessionController
from cygnet.manager.services.sessions import SessionSpec
from cygnet.manager.store.repositories import keypairs, scheduling
from cygnet.testing.agents import ClusterFactory, LocalCluster
from cygnet.testing.builders import add_user

FAST = {
    "agent_heartbeat_interval": 0.1,
    "agent_heartbeat_timeout": 0.6,
    "session_sweep_interval": 0.1,
}
SIM = {"cpus": list(range(4)), "memory": "8g", "kernel_poll_interval": 0.05}


async def admin(cluster: LocalCluster) -> Caller:
    async with cluster.manager.manager.db.read() as tx:
        kp = await keypairs.get(tx, cluster.manager.admin.access_key)
    assert kp is not None
    return Caller(kp.access_key, kp.user, kp.user_id, UserRole.SUPERADMIN, "default", True)


async def wait_for(
    get: Callable[[], Awaitable[Session]],
    done: Callable[[Session], bool],
    timeout: float = 15.0,
) -> Session:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        session = await get()
        if done(session):
            return session
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"session stuck in {session.status} ({session.status_info})")
        await asyncio.sleep(0.05)


async def booked(cluster: LocalCluster) -> dict[str, dict[str, str]]:
    async with cluster.manager.manager.db.read() as tx:
        return {k: v.to_json() for k, v in (await scheduling.occupancy(tx)).items()}


def ended(s: Session) -> bool:
    return s.status in (SessionStatus.TERMINATED, SessionStatus.CANCELLED)


async def test_resources_are_booked_queued_and_released_exactly(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        svc = cluster.manager.manager.services.sessions
        me = await admin(cluster)
        spec = {"image": "cygnet/python:3.11", "resources": {"cpu": 2, "mem": "1g"}}
        a = await svc.create(me, SessionSpec(name="fit-a", **spec))
        b = await svc.create(me, SessionSpec(name="fit-b", **spec))
        assert a.session.status == b.session.status == SessionStatus.RUNNING
        assert await booked(cluster) == {"local-agent": {"cpu": "4", "mem": str(2 << 30)}}
        # The agent is full: the third waits, with the reason recorded, and starts as soon as
        # one of the others is destroyed.
        c = await svc.create(me, SessionSpec(name="fit-c", max_wait_seconds=0.5, **spec))
        assert c.timed_out and c.session.status == SessionStatus.PENDING
        pending = await svc.get(me, "fit-c")
        assert "not enough cpu" in pending.status_data["scheduler"]["msg"]
        assert await svc.destroy(me, "fit-a") == "terminated"
        await wait_for(lambda: svc.get(me, "fit-c"), lambda s: s.status == SessionStatus.RUNNING)
        assert await booked(cluster) == {"local-agent": {"cpu": "4", "mem": str(2 << 30)}}
        assert cluster.agent.occupied().to_json() == {"cpu": "4", "mem": str(2 << 30)}
        for name in ("fit-b", "fit-c"):
            assert await svc.destroy(me, name) == "terminated"
        assert await booked(cluster) == {}
        assert cluster.agent.occupied().is_zero()
        destroyed = await svc.get(me, str(a.session.id))
        assert destroyed.status == SessionStatus.TERMINATED
        assert destroyed.status_info == "user-requested"
        assert destroyed.terminated_at is not None
        history = [(t.entity, t.status) for t in await svc.transitions(me, "fit-a")]
        assert ("session", "TERMINATING") in history and history[-1] == ("session", "TERMINATED")


async def test_destroy_while_pending_cancels(local_cluster: ClusterFactory, tmp_path: Path) -> None:
    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        svc = cluster.manager.manager.services.sessions
        me = await admin(cluster)
        queued = await svc.create(
            me,
            SessionSpec(
                name="never-fits",
                image="cygnet/python:3.11",
                resources={"cpu": 64},
                enqueue_only=True,
            ),
        )
        assert queued.timed_out is False and queued.session.status == SessionStatus.PENDING
        assert await svc.destroy(me, "never-fits") == "cancelled"
        session = await svc.get(me, str(queued.session.id))
        assert session.status == SessionStatus.CANCELLED
        assert all(k.status == "CANCELLED" for k in session.kernels)


async def test_destroy_during_a_slow_start(local_cluster: ClusterFactory, tmp_path: Path) -> None:
    options = {"start_delay": 1.0}
    async with local_cluster(
        tmp_path, manager_settings=FAST, runtime_options=options, **SIM
    ) as cluster:
        svc = cluster.manager.manager.services.sessions
        me = await admin(cluster)
        created = await svc.create(
            me, SessionSpec(name="slow-start", image="cygnet/python:3.11", enqueue_only=True)
        )
        await wait_for(
            lambda: svc.get(me, "slow-start"), lambda s: s.status == SessionStatus.CREATING
        )
        assert await svc.destroy(me, "slow-start") == "terminated"
        session = await svc.get(me, str(created.session.id))
        assert session.status == SessionStatus.TERMINATED
        assert cluster.agent.kernels == {}
        assert await booked(cluster) == {}


async def test_failed_start_is_cancelled_with_the_error(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    options = {"fail_images": ["cygnet/busybox:latest"]}
    async with local_cluster(
        tmp_path, manager_settings=FAST, runtime_options=options, **SIM
    ) as cluster:
        svc = cluster.manager.manager.services.sessions
        me = await admin(cluster)
        created = await svc.create(
            me, SessionSpec(name="doomed", image="cygnet/busybox:latest", enqueue_only=True)
        )
        session = await wait_for(lambda: svc.get(me, str(created.session.id)), ended)
        assert session.status == SessionStatus.CANCELLED
        assert session.status_info == "failed-to-start"
        assert session.status_data["error"]["src"] == "agent"
        assert await booked(cluster) == {}


async def test_batch_results_and_timeout(local_cluster: ClusterFactory, tmp_path: Path) -> None:
    async with local_cluster(
        tmp_path, runtime="process", manager_settings=FAST, kernel_poll_interval=0.05
    ) as cluster:
        svc = cluster.manager.manager.services.sessions
        me = await admin(cluster)
        with svc.subscribe() as events:
            ok = await svc.create(
                me,
                SessionSpec(
                    name="job-ok",
                    image="python",
                    type=SessionType.BATCH,
                    startup_command="echo done",
                ),
            )
            # A short job's create answers once it has finished or is finishing.
            assert ok.session.status in (SessionStatus.TERMINATING, SessionStatus.TERMINATED)
            failing = await svc.create(
                me,
                SessionSpec(
                    name="job-bad",
                    image="python",
                    type=SessionType.BATCH,
                    startup_command="echo oops >&2; exit 3",
                ),
            )
            slow = await svc.create(
                me,
                SessionSpec(
                    name="job-slow",
                    image="python",
                    type=SessionType.BATCH,
                    startup_command="sleep 60",
                    batch_timeout=0.5,
                    enqueue_only=True,
                ),
            )
            done = await wait_for(lambda: svc.get(me, str(ok.session.id)), ended)
            bad = await wait_for(lambda: svc.get(me, str(failing.session.id)), ended)
            timed = await wait_for(lambda: svc.get(me, str(slow.session.id)), ended)
            seen: list[tuple[str, str, str | None]] = []
            while True:
                try:
                    event = await events.get(timeout=0.2)
                except TimeoutError:
                    break
                if hasattr(event, "session_name") and event.kernel_id is None:
                    seen.append((event.session_name, event.name, event.reason))
        assert (done.status, done.result) == (SessionStatus.TERMINATED, SessionResult.SUCCESS)
        assert done.status_info == "task-finished"
        assert "done" in await svc.logs(me, str(ok.session.id))
        assert (bad.result, bad.status_info) == (SessionResult.FAILURE, "task-failed")
        assert bad.status_data["kernel"]["exit_code"] == 3
        assert "oops" in await svc.logs(me, str(failing.session.id))
        assert (timed.result, timed.status_info) == (SessionResult.FAILURE, "task-timeout")
        ok_events = [name for session, name, _ in seen if session == "job-ok"]
        assert "session_success" in ok_events and "session_failure" not in ok_events
        bad_events = [name for session, name, _ in seen if session == "job-bad"]
        assert bad_events.index("session_failure") < bad_events.index("session_terminated")
        assert ("job-slow", "session_failure", "task-timeout") in seen
        assert await booked(cluster) == {}


async def test_idle_timeout_and_max_lifetime_from_the_keypair_policy(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        local = cluster.manager
        svc = local.manager.services.sessions
        me = await admin(cluster)
        client = local.client()
        policy = await client.gql(
            'mutation { modify_keypair_resource_policy(name: "default",'
            " props: {idle_timeout: 1}) { ok msg } }"
        )
        assert policy["data"]["modify_keypair_resource_policy"]["ok"], policy
        idle = await svc.create(me, SessionSpec(name="idler", image="cygnet/python:3.11"))
        busy = await svc.create(me, SessionSpec(name="busy", image="cygnet/python:3.11"))
        for _ in range(8):  # keep one session busy for longer than the idle timeout
            await svc.execute(me, "busy", mode="query", code="1", run_id=None, options={})
            await asyncio.sleep(0.25)
        gone = await wait_for(lambda: svc.get(me, str(idle.session.id)), ended)
        assert gone.status_info == "idle-timeout"
        assert (await svc.get(me, "busy")).status == SessionStatus.RUNNING
        await svc.destroy(me, "busy")
        await client.gql(
            'mutation { modify_keypair_resource_policy(name: "default",'
            " props: {idle_timeout: 0, max_session_lifetime: 1}) { ok msg } }"
        )
        old = await svc.create(me, SessionSpec(name="short-lived", image="cygnet/python:3.11"))
        gone = await wait_for(lambda: svc.get(me, str(old.session.id)), ended)
        assert gone.status_info == "max-lifetime-exceeded"
        await client.gql(
            'mutation { modify_keypair_resource_policy(name: "default",'
            " props: {max_session_lifetime: 0}) { ok msg } }"
        )
        assert busy.session.id != idle.session.id


async def test_lost_agent_ends_its_sessions_and_orphans_are_destroyed(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        svc = cluster.manager.manager.services.sessions
        registry = cluster.manager.manager.services.agents
        me = await admin(cluster)
        created = await svc.create(me, SessionSpec(name="on-lost", image="cygnet/python:3.11"))
        agent = cluster.agent
        await agent.stop(goodbye=False)  # as if it crashed; its kernel keeps running
        cluster.agents.remove(agent)
        session = await wait_for(lambda: svc.get(me, str(created.session.id)), ended)
        assert (session.status, session.status_info) == (SessionStatus.TERMINATED, "agent-lost")
        assert all(k.status_info == "agent-lost" for k in session.kernels)
        assert await booked(cluster) == {}
        # It comes back with the kernel the manager has written off: the kernel is destroyed.
        again = await start_agent(
            agent.settings, network=cluster.network, secret=registry.settings.secret
        )
        cluster.agents.append(again)
        await asyncio.wait_for(again.registered.wait(), 10)
        deadline = asyncio.get_running_loop().time() + 10
        while again.kernels:
            assert asyncio.get_running_loop().time() < deadline, "orphan kernel kept"
            await asyncio.sleep(0.05)


async def test_an_agent_that_left_and_never_came_back_ends_its_sessions(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    settings = {**FAST, "agent_return_timeout": 1.0}
    async with local_cluster(tmp_path, manager_settings=settings, **SIM) as cluster:
        svc = cluster.manager.manager.services.sessions
        me = await admin(cluster)
        created = await svc.create(me, SessionSpec(name="left-behind", image="cygnet/python:3.11"))
        agent = cluster.agent
        await agent.stop(goodbye=True)  # a clean shutdown: not LOST, so nothing ends at once
        cluster.agents.remove(agent)
        await asyncio.sleep(0.5)
        assert (await svc.get(me, "left-behind")).status == SessionStatus.RUNNING
        session = await wait_for(lambda: svc.get(me, str(created.session.id)), ended)
        assert (session.status, session.status_info) == (
            SessionStatus.TERMINATED,
            "agent-terminated",
        )
        assert all(k.status_info == "agent-terminated" for k in session.kernels)
        assert await booked(cluster) == {}


async def test_a_new_controller_picks_up_where_the_last_one_stopped(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        services = cluster.manager.manager.services
        svc = services.sessions
        me = await admin(cluster)
        # The manager "dies": its controller stops; the intent written meanwhile waits.
        await svc.controller.stop()
        queued = await svc.create(
            me, SessionSpec(name="survivor", image="cygnet/python:3.11", enqueue_only=True)
        )
        await asyncio.sleep(0.3)
        assert (await svc.get(me, "survivor")).status == SessionStatus.PENDING
        # A new one (as a restarted manager builds) reads the store and finishes the job.
        old = svc.controller.ctx
        fresh = SessionController(Context(old.db, old.clock, old.agents, old.bus, old.settings))
        svc.controller = fresh
        await fresh.start()
        try:
            running = await wait_for(
                lambda: svc.get(me, str(queued.session.id)),
                lambda s: s.status == SessionStatus.RUNNING,
            )
            history = running.status_history  # JSON: no key order on PostgreSQL
            order = ["PENDING", "SCHEDULED", "PREPARING", "CREATING", "RUNNING"]
            assert set(history) == set(order)
            times = [history[status] for status in order]
            assert times == sorted(times)
            assert await svc.destroy(me, "survivor") == "terminated"
        finally:
            await fresh.stop()
            await old_controller_restart(svc, old)


async def old_controller_restart(svc: Any, ctx: Context) -> None:
    """Give the manager a running controller again so that it shuts down as usual."""
    controller = SessionController(ctx)
    svc.controller = controller
    await controller.start()


@pytest.mark.parametrize("ref", ["by-name", "by-id"])
async def test_sessions_of_others_are_not_found(
    local_cluster: ClusterFactory, tmp_path: Path, ref: str
) -> None:

    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        svc = cluster.manager.manager.services.sessions
        me = await admin(cluster)
        other = await add_user(cluster.manager)
        stranger = Caller(
            other.access_key, other.uuid, other.email, UserRole.USER, "default", False
        )
        created = await svc.create(me, SessionSpec(name="mine-only", image="cygnet/python:3.11"))
        target = "mine-only" if ref == "by-name" else str(created.session.id)
        for attempt in (
            svc.get(stranger, target),
            svc.execute(stranger, target, mode="query", code="1", run_id=None, options={}),
            svc.logs(stranger, target),
            svc.destroy(stranger, target),
        ):
            with pytest.raises(SessionNotFound):
                await attempt
        page = await svc.list_sessions(stranger)
        assert page.total_count == 0
        assert (await svc.get(me, target)).status == SessionStatus.RUNNING
        await svc.destroy(me, target)
        assert uuid.UUID(str(created.session.id))
