"""The whole path at scale: a manager with many simulated agents (in one process), many
sessions submitted through the service layer, until every one is RUNNING.

Each session is created with ``enqueueOnly`` by ``SessionService.create`` (as ``POST
/session`` does, minus HTTP), so what is timed is creation, scheduling, the start of every
kernel on its agent (an RPC each) and the status changes in the store. The clock starts at
the first submission and stops when the store counts them all RUNNING.

``--concurrency`` callers submit at once, each sending its next session when the last one is
written. The default (256) offers more than the manager takes, so that the rate is the
manager's: with few callers, each waits for its own group commit between two sessions and the
rate is theirs (32 callers leave the process idle a fifth of the time). ``cpu_busy`` tells
which: the share of the run the process spent on the CPU.

The process runs as a manager does: on uvloop where it is installed, with the manager's
collector settings (``Manager.start``). The agents' own tables (in a real cluster, each agent
has a process of its own) are frozen out of its collections once they are up.

The simulated agents keep their kernel records under ``--state-dir``, by default on tmpfs
(``/dev/shm``) where there is one: on the database's disk, their two small file writes per
kernel wait on its fsyncs (the ext4 journal) and cost ten times as much, a contention that
agents on their own hosts do not have. The database (SQLite's file) stays on disk.

The last line printed is a JSON object with ``sessions``, ``agents``, ``concurrency``,
``seconds``, ``sessions_per_s``, ``db`` (sqlite or postgresql), ``agent_state`` (where the
agents kept their records), ``cpu_ms_per_session`` (the CPU time this process, manager and
agents, spent per session, which moves less than the rate with the machine's load) and
``cpu_busy``. Target (issue 5): >= 1,000 sessions/s on PostgreSQL with 1,000 agents and 10,000
sessions. Each agent offers 16 cores and each session takes one, so ``--sessions`` must not
exceed 16 x ``--agents``.

    python benchmarks/scheduler_e2e.py [--agents 1000] [--sessions 10000] [--db sqlite|postgresql]
                                       [--concurrency 256]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from cygnet.common.lifecycle import SessionStatus
from cygnet.manager.entities import Caller, UserRole
from cygnet.manager.server import run_event_loop
from cygnet.manager.services.sessions import SessionSpec
from cygnet.manager.store.repositories import keypairs, policies
from cygnet.manager.store.repositories import sessions as sessions_repo
from cygnet.testing.agents import run_cluster
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

IMAGE = "cygnet/python:3.11"


async def submit(svc: Any, caller: Caller, count: int, concurrency: int) -> None:
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            spec = SessionSpec(
                name=f"e2e-{i:06d}", image=IMAGE, resources={"cpu": 1}, enqueue_only=True
            )
            await svc.create(caller, spec)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def running(db: Any) -> int:
    async with db.read() as tx:
        counts = await sessions_repo.count_by_status(tx, [SessionStatus.RUNNING])
        return counts.get(SessionStatus.RUNNING.value, 0)


CORES_PER_AGENT = 16


async def main(
    agents: int, sessions: int, db_kind: str, concurrency: int, state_dir: str | None
) -> dict[str, Any]:
    if sessions > CORES_PER_AGENT * agents:
        raise SystemExit(f"{agents} agents hold at most {CORES_PER_AGENT * agents} sessions")
    data_dir = Path(tempfile.mkdtemp(prefix="cygnet-e2e-"))
    cluster_dir = Path(tempfile.mkdtemp(prefix="cygnet-e2e-agents-", dir=state_dir))
    try:
        async with fresh_database(
            db_kind, data_dir, os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
        ) as url:
            started = time.perf_counter()
            async with run_cluster(
                cluster_dir,
                agents=agents,
                runtime="simulated",
                db_url=url,
                cpus=list(range(CORES_PER_AGENT)),
                memory="64g",
                manager_settings={"session_sweep_interval": 1.0},
            ) as cluster:
                print(f"{agents} agents up in {time.perf_counter() - started:.1f} s", flush=True)
                # The agents live in this process only for the benchmark (each has a process
                # of its own in a real cluster): keep their tables out of the manager's
                # collections, as the manager's start does with its own (``Manager.start``).
                gc.collect()
                gc.freeze()
                manager = cluster.manager.manager
                svc = manager.services.sessions
                async with manager.db.transaction() as tx:
                    kp = await keypairs.get(tx, cluster.manager.admin.access_key)
                    assert kp is not None
                    # the default policy allows 30 sessions at once: lift it for the run
                    await policies.update(
                        tx, policies.KEYPAIR, kp.resource_policy, {"max_concurrent_sessions": 0}
                    )
                caller = Caller(
                    kp.access_key, kp.user, kp.user_id, UserRole.SUPERADMIN, "default", True
                )
                t0, cpu0 = time.perf_counter(), time.process_time()
                submitting = asyncio.create_task(submit(svc, caller, sessions, concurrency))
                last_print = t0
                while True:
                    done = await running(manager.db)
                    now = time.perf_counter()
                    if done >= sessions:
                        break
                    if now - last_print >= 2:
                        print(f"  {now - t0:6.1f} s: {done} RUNNING", flush=True)
                        last_print = now
                    if submitting.done() and submitting.exception():
                        raise submitting.exception()  # type: ignore[misc]
                    await asyncio.sleep(0.1)
                seconds = time.perf_counter() - t0
                cpu = time.process_time() - cpu0
                await submitting
                submitted_in = seconds
                print(f"all {sessions} RUNNING after {seconds:.2f} s", flush=True)
                for loop, run in sorted(svc.controller.ctx.scheduler.last_run.items()):
                    print(f"  last {loop}: {run}", flush=True)
                await svc.controller.stop()  # the kernels go without the manager's help
                for agent in cluster.agents:
                    for kernel_id in list(agent.kernels):
                        await agent.destroy_kernel(kernel_id, "benchmark-done")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(cluster_dir, ignore_errors=True)
    return {
        "benchmark": "scheduler_e2e",
        "db": db_kind,
        "agents": agents,
        "sessions": sessions,
        "concurrency": concurrency,
        "seconds": round(submitted_in, 3),
        "sessions_per_s": round(sessions / submitted_in, 1),
        "cpu_ms_per_session": round(cpu * 1000 / sessions, 3),
        "cpu_busy": round(cpu / submitted_in, 2),
        "agent_state": str(cluster_dir.parent),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument(
        "--concurrency", type=int, default=256, help="callers submitting at once (default 256)"
    )
    parser.add_argument(
        "--state-dir",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the simulated agents keep their kernel records (default: /dev/shm)",
    )
    args = parser.parse_args()
    result: dict[str, Any] = {}

    async def run() -> None:
        result.update(
            await main(args.agents, args.sessions, args.db, args.concurrency, args.state_dir)
        )

    run_event_loop(run())  # as a manager runs: on uvloop where it is installed
    print(json.dumps(result))
