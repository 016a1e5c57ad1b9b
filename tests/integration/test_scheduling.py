"""The scheduler in the lifecycle, through the API, with simulated agents: quotas hold and say
so, dependencies wait and cancel, the resource group's queue policy decides the order, and
``GET /session/{id}/scheduling`` / ``cygnet session why`` explain a pending session."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from cygnet.common.clock import FakeClock
from cygnet.common.lifecycle import SessionType
from cygnet.manager.entities import Caller, UserRole
from cygnet.manager.lifecycle.context import Context
from cygnet.manager.lifecycle.controller import SessionController
from cygnet.manager.lifecycle.schedule import schedule
from cygnet.manager.services.sessions import SessionSpec
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import keypairs, scheduling
from cygnet.testing.agents import ClusterFactory, LocalCluster
from cygnet.testing.builders import add_user
from cygnet.testing.signing import SignedClient

FAST = {
    "agent_heartbeat_interval": 0.1,
    "agent_heartbeat_timeout": 0.6,
    "session_sweep_interval": 0.1,
}
SIM = {"cpus": list(range(4)), "memory": "8g", "kernel_poll_interval": 0.05}
IMAGE = "cygnet/python:3.11"


async def create(client: SignedClient, name: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "image": IMAGE, "config": {"resources": {"cpu": 1}}, **extra}
    resp = await client.request("POST", "/session", json=body)
    assert resp.status_code in (200, 201), resp.text
    return dict(resp.json())


async def status(client: SignedClient, name: str) -> str:
    resp = await client.request("GET", f"/session/{name}")
    assert resp.status_code == 200, resp.text
    return str(resp.json()["status"])


async def wait_status(client: SignedClient, name: str, wanted: str, timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (current := await status(client, name)) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"{name} stuck in {current}"
        await asyncio.sleep(0.05)


async def why(client: SignedClient, name: str) -> dict[str, Any]:
    resp = await client.request("GET", f"/session/{name}/scheduling")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def gql(client: SignedClient, query: str) -> dict[str, Any]:
    resp = await client.request("POST", "/admin/gql", json={"query": query, "variables": {}})
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert not data.get("errors"), data
    return dict(data["data"])


async def destroy(client: SignedClient, name: str) -> None:
    resp = await client.request("DELETE", f"/session/{name}")
    assert resp.status_code == 200, resp.text


async def test_a_quota_keeps_a_session_pending_and_says_why(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        client = cluster.manager.client()
        await gql(
            client,
            'mutation { modify_keypair_resource_policy(name: "default",'
            " props: {max_concurrent_sessions: 1}) { ok msg } }",
        )
        try:
            first = await create(client, "quota-first")
            assert first["status"] == "RUNNING"
            second = await create(client, "quota-second", enqueueOnly=True)
            assert second["status"] == "PENDING"
            deadline = asyncio.get_running_loop().time() + 10
            while (info := await why(client, "quota-second"))["scheduler"] is None:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            sched = info["scheduler"]
            assert info["status"] == "PENDING"
            assert sched["msg"] == "quota: max_concurrent_sessions 1 of 1 used"
            assert sched["queue_position"] == 1
            verdicts = {v["plugin"]: v for v in sched["plugins"]}
            assert verdicts["keypair-quota"]["code"] == "unschedulable"
            # The CLI explains it too, to a person and to a script.
            out = await run_cli(cluster, tmp_path, "session", "why", "quota-second")
            assert "quota-second is waiting: quota: max_concurrent_sessions 1 of 1 used" in out
            assert "keypair-quota" in out
            assert '"queue_position": 1' in await run_cli(
                cluster, tmp_path, "session", "why", "quota-second", "--json"
            )
            # The policy also caps what may wait: a second pending session is refused.
            await gql(
                client,
                'mutation { modify_keypair_resource_policy(name: "default",'
                " props: {max_pending_session_count: 1}) { ok msg } }",
            )
            resp = await client.request(
                "POST",
                "/session",
                json={"name": "quota-third", "image": IMAGE, "enqueueOnly": True},
            )
            assert resp.status_code == 400, resp.text
            assert resp.json()["error_code"] == "session_create_unavailable"
            assert "max_pending_session_count is 1" in resp.json()["msg"]
            assert (await client.request("GET", "/session/quota-third")).status_code == 404
            # Room again: it starts.
            await destroy(client, "quota-first")
            await wait_status(client, "quota-second", "RUNNING")
            await destroy(client, "quota-second")
        finally:
            await gql(
                client,
                'mutation { modify_keypair_resource_policy(name: "default",'
                " props: {max_concurrent_sessions: 0, max_pending_session_count: null})"
                " { ok msg } }",
            )


async def test_dependencies_wait_for_success_and_cancel_on_failure(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        client = cluster.manager.client()
        await create(client, "dep-upstream")
        after = await create(client, "dep-after", dependencies=["dep-upstream"], enqueueOnly=True)
        await asyncio.sleep(0.5)
        assert await status(client, "dep-after") == "PENDING"
        sched = (await why(client, "dep-after"))["scheduler"]
        assert sched["msg"].startswith("waiting for dependencies to finish: dep-upstream")
        resp = await client.request("GET", f"/session/{after['sessionId']}/dependency-graph")
        assert resp.status_code == 200, resp.text
        graph = resp.json()
        assert (graph["session_name"], graph["status"]) == ("dep-after", "PENDING")
        assert [d["session_name"] for d in graph["depends_on"]] == ["dep-upstream"]
        assert graph["depends_on"][0]["depends_on"] == []
        await destroy(client, "dep-upstream")  # ended without a failure: the dependant runs
        await wait_status(client, "dep-after", "RUNNING")
        await destroy(client, "dep-after")
        # A dependency that never ran fails its dependants: cancelled, with the reason.
        await create(client, "dep-never", enqueueOnly=True, config={"resources": {"cpu": 64}})
        await create(client, "dep-doomed", dependencies=["dep-never"], enqueueOnly=True)
        await destroy(client, "dep-never")
        await wait_status(client, "dep-doomed", "CANCELLED")
        info = await why(client, "dep-doomed")
        assert info["status_info"] == "dependency-failed"
        assert info["scheduler"]["msg"].startswith("dependency-failed: dep-never (")
        # rm --recursive ends the sessions that depend on it too (furthest first).
        await create(client, "dep-base", enqueueOnly=True, config={"resources": {"cpu": 64}})
        await create(client, "dep-mid", dependencies=["dep-base"], enqueueOnly=True)
        await create(client, "dep-top", dependencies=["dep-mid"], enqueueOnly=True)
        resp = await client.request("DELETE", "/session/dep-base?recursive=true")
        assert resp.status_code == 200, resp.text
        for name in ("dep-base", "dep-mid", "dep-top"):
            assert await status(client, name) == "CANCELLED"
            info = await why(client, name)
            assert info["status_info"] == "user-requested", (name, info)
        # Depending on a session that does not exist is refused, and creates nothing.
        resp = await client.request(
            "POST",
            "/session",
            json={"name": "dep-orphan", "image": IMAGE, "dependencies": ["no-such-session"]},
        )
        assert resp.status_code == 400, resp.text
        assert "no-such-session" in resp.json()["msg"]
        assert (await client.request("GET", "/session/dep-orphan")).status_code == 404


async def test_the_priority_queue_policy_starts_the_most_urgent_first(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        client = cluster.manager.client()
        await gql(
            client,
            'mutation { modify_scaling_group(name: "default",'
            ' props: {scheduler: "priority"}) { ok msg } }',
        )
        full = await create(client, "prio-full", config={"resources": {"cpu": 4}})
        assert full["status"] == "RUNNING"
        await create(
            client, "prio-low", enqueueOnly=True, priority=10, config={"resources": {"cpu": 4}}
        )
        await create(
            client, "prio-high", enqueueOnly=True, priority=90, config={"resources": {"cpu": 4}}
        )
        await asyncio.sleep(0.3)
        high = (await why(client, "prio-high"))["scheduler"]
        low = (await why(client, "prio-low"))["scheduler"]
        assert (high["queue_position"], low["queue_position"]) == (1, 2)
        await destroy(client, "prio-full")
        await wait_status(client, "prio-high", "RUNNING")
        assert await status(client, "prio-low") == "PENDING"
        await destroy(client, "prio-high")
        await wait_status(client, "prio-low", "RUNNING")
        await destroy(client, "prio-low")


async def run_cli(cluster: LocalCluster, home: Path, *args: str) -> str:
    """The client CLI as a subprocess (the manager serves it from this event loop)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CYGNET_", "BACKEND_"))}
    env.update(cluster.manager.env())
    env.update(CYGNET_CONFIG_DIR=str(home / "config"), HOME=str(home), COLUMNS="200")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cygnet.client.cli.main",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_concurrent_schedulers_never_book_the_same_room(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    """Two managers' scheduling passes at once, each with its own database engine (as
    separate processes have), seeing the queue differently: for one of them (its clock is an
    hour ahead) ten batch jobs are due, for the other not yet, so they pick different sessions
    for the same free room. The scheduling lock lets exactly the room there is be booked."""
    async with local_cluster(tmp_path, agents=2, manager_settings=FAST, **SIM) as cluster:
        svc = cluster.manager.manager.services.sessions
        old = svc.controller.ctx
        await svc.controller.stop()  # only the passes below schedule
        me = await admin_caller(cluster)
        later = old.clock.now() + timedelta(minutes=30)
        for i in range(10):
            await svc.create(
                me,
                SessionSpec(
                    name=f"race-due-{i:02d}",
                    image=IMAGE,
                    type=SessionType.BATCH,
                    startup_command="true",
                    starts_at=later,
                    resources={"cpu": 1},
                    enqueue_only=True,
                ),
            )
        for i in range(10):
            await svc.create(
                me,
                SessionSpec(
                    name=f"race-now-{i:02d}", image=IMAGE, resources={"cpu": 1}, enqueue_only=True
                ),
            )
        ahead = FakeClock(old.clock.now() + timedelta(hours=1))
        engines = [Database(old.db.url) for _ in range(2)]
        try:
            contexts = [
                Context(engines[0], old.clock, old.agents, old.bus, old.settings),
                Context(engines[1], ahead, old.agents, old.bus, old.settings),
            ]
            placed = await asyncio.gather(*(schedule(ctx) for ctx in contexts))
        finally:
            for db in engines:
                await db.close()
        assert sum(len(p) for p in placed) == 8  # 2 agents x 4 CPUs, 1 CPU each
        async with old.db.read() as tx:
            booked = await scheduling.occupancy(tx)
        assert {agent: slots.to_json()["cpu"] for agent, slots in booked.items()} == {
            "local-agent-1": "4",
            "local-agent-2": "4",
        }
        controller = SessionController(old)
        svc.controller = controller
        await controller.start()
        for prefix in ("race-due", "race-now"):
            for i in range(10):
                await svc.destroy(me, f"{prefix}-{i:02d}")


async def admin_caller(cluster: LocalCluster) -> Caller:
    async with cluster.manager.manager.db.read() as tx:
        kp = await keypairs.get(tx, cluster.manager.admin.access_key)
    assert kp is not None
    return Caller(kp.access_key, kp.user, kp.user_id, UserRole.SUPERADMIN, "default", True)


async def test_scheduler_status_and_trigger_for_superadmins(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        client = cluster.manager.client()
        await create(client, "health-one")
        resp = await client.request("POST", "/admin/scheduler/trigger")
        assert resp.status_code == 200, resp.text
        run = resp.json()
        assert run["ok"] is True and run["pending"] == 0 and run["runs"] >= 2
        resp = await client.request("GET", "/admin/scheduler/status")
        assert resp.status_code == 200, resp.text
        info = resp.json()
        assert {"schedule", "start", "sweep"} <= set(info["loops"])
        assert info["loops"]["start"]["ok"] is True
        assert info["sessions"] == {"RUNNING": 1}
        out = await run_cli(cluster, tmp_path, "admin", "scheduler", "status")
        assert "schedule" in out and "Sessions not over: 1 RUNNING" in out
        out = await run_cli(cluster, tmp_path, "admin", "scheduler", "trigger")
        assert out.startswith("Scheduling pass done in ")
        # Only superadmins.
        user = await add_user(cluster.manager)
        other = cluster.manager.client(user.access_key, user.secret_key)
        for method, path in (("GET", "/status"), ("POST", "/trigger")):
            resp = await other.request(method, "/admin/scheduler" + path)
            assert resp.status_code == 403, resp.text
        await destroy(client, "health-one")
