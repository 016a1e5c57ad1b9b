"""The pure scheduling cycle over a synthetic snapshot: how many placements per second.

Synthetic cluster (defaults): 10,000 agents in one resource group, each with 64 cpu, 512 GiB
mem and 8 GPUs modelled per device as ``cuda.shares`` (1.0 each); 5% of them aarch64.
20,000 pending sessions from 200 users: 45% cpu-only, 25% fractional GPU (0.25 / 0.5
shares), 15% one GPU, 7% 2-8 GPUs, 8% clusters of 2-4 kernels (half single-node, half
multi-node); 5% ask for aarch64; keypair limits are set (generous) so quota checks run.

Cycles run until a whole pass over the queue places nothing. Each cycle sees ``--batch``
sessions (default 0: the whole remaining queue, which is the fastest; the lifecycle glue
passes at most its ``limit``); the next cycle's snapshot comes from ``apply_result`` on the
previous one (as the lifecycle would re-read it). ``seconds`` is the time spent in
``run_cycle`` only; building the first snapshot from ``{slot: "str"}`` maps (``build_s``) and
applying results between cycles (``apply_s``) are printed separately. The last line printed
is a JSON object with ``placed``, ``seconds``, ``placed_per_s`` and ``p99_cycle_ms``.

    python benchmarks/scheduler_cycle.py [--agents 10000] [--sessions 20000]
        [--policy fifo|lifo|drf|priority] [--strategy concentrated|dispersed|roundrobin|
        fragmentation|metric] [--batch 0] [--sample-size N] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cygnet.common.lifecycle import ClusterMode
from cygnet.manager.scheduler import (
    CycleResult,
    Snapshot,
    SnapshotBuilder,
    apply_result,
    build_profile,
    run_cycle,
)

GIB = 1 << 30


def synthetic(agents: int, sessions: int, seed: int) -> SnapshotBuilder:
    rnd = random.Random(seed)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    b = SnapshotBuilder(now)
    images = ["python:3.11", "pytorch:2.3", "tensorflow:2.16", "cuda:12.4", "jax:0.4"]
    for n in range(agents):
        b.agent(
            f"agent-{n:05d}",
            capacity={"cpu": "64", "mem": str(512 * GIB), "cuda.shares": "8"},
            architecture="aarch64" if n % 20 == 19 else "x86_64",
            images=images,
            devices={"cuda.shares": ["1"] * 8},
            metrics={"power_w": rnd.uniform(100, 700), "temperature": rnd.uniform(30, 80)},
        )
    users = [uuid.UUID(int=rnd.getrandbits(128)) for _ in range(200)]
    projects = [uuid.UUID(int=rnd.getrandbits(128)) for _ in range(20)]
    for n, _user in enumerate(users):
        b.keypair(
            f"AK{n:05d}",
            max_concurrent_sessions=1000,
            max_containers_per_session=8,
            total_resource_slots={"cpu": "10000", "mem": str(64 * 1024 * GIB)},
        )
    start = now - timedelta(hours=1)
    for n in range(sessions):
        u = rnd.randrange(len(users))
        roll = rnd.random()
        size, mode = 1, ClusterMode.SINGLE_NODE
        if roll < 0.45:
            req = {"cpu": str(rnd.choice([1, 2, 4])), "mem": str(rnd.choice([2, 4, 8]) * GIB)}
        elif roll < 0.70:
            req = {"cpu": "2", "mem": str(8 * GIB), "cuda.shares": rnd.choice(["0.25", "0.5"])}
        elif roll < 0.85:
            req = {"cpu": "4", "mem": str(16 * GIB), "cuda.shares": "1"}
        elif roll < 0.92:
            gpus = rnd.choice([2, 4, 8])
            req = {"cpu": str(2 * gpus), "mem": str(8 * gpus * GIB), "cuda.shares": str(gpus)}
        else:
            size = rnd.choice([2, 3, 4])
            mode = rnd.choice([ClusterMode.SINGLE_NODE, ClusterMode.MULTI_NODE])
            req = {"cpu": "2", "mem": str(4 * GIB)}
            if rnd.random() < 0.5:
                req["cuda.shares"] = "1"
        b.session(
            uuid.UUID(int=rnd.getrandbits(128)),
            access_key=f"AK{u:05d}",
            user=users[u],
            project=projects[u % len(projects)],
            created_at=start + timedelta(milliseconds=n),
            requested=req,
            cluster_size=size,
            cluster_mode=mode,
            image=rnd.choice(images),
            architecture="aarch64" if rnd.random() < 0.05 else "x86_64",
            priority=rnd.randrange(0, 101),
        )
    return b


def check(snapshot: Snapshot) -> None:
    """No agent overcommitted, per slot and per device."""
    for agent in snapshot.agents:
        if any(f < 0 for f in agent.free):
            raise SystemExit(f"overcommitted agent {agent.id}: free {agent.free}")
        for devices in agent.devices.values():
            if any(f < 0 for f in devices.free):
                raise SystemExit(f"overcommitted device on {agent.id}: {devices.free}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--policy", default="fifo")
    parser.add_argument("--strategy", default="concentrated")
    parser.add_argument("--batch", type=int, default=0, help="sessions per cycle (0: all)")
    parser.add_argument("--sample-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="a small run for CI")
    args = parser.parse_args(argv)
    if args.smoke:
        args.agents, args.sessions = min(args.agents, 300), min(args.sessions, 1_000)

    opts: dict[str, Any] = {"agent_selection_strategy": args.strategy}
    if args.strategy == "metric":
        opts["metric"] = "power_w"
    if args.sample_size is not None:
        opts["sample_size"] = args.sample_size
    profile = build_profile(args.policy, opts)

    t0 = time.perf_counter()
    full = synthetic(args.agents, args.sessions, args.seed).build()
    build_s = time.perf_counter() - t0
    print(
        f"snapshot: {len(full.agents)} agents, {len(full.pending)} pending sessions, "
        f"slots {list(full.slots.names)}; built in {build_s:.2f}s"
    )

    snapshot = full
    cycle_times: list[float] = []
    placed = cancelled = checked = explained = 0
    apply_s = 0.0
    offset = 0
    placed_in_pass = 0
    while snapshot.pending:
        window = snapshot.pending[offset : offset + args.batch] if args.batch else snapshot.pending
        t0 = time.perf_counter()
        result: CycleResult = run_cycle(replace(snapshot, pending=window), profile)
        cycle_times.append(time.perf_counter() - t0)
        placed += len(result.placed)
        cancelled += len(result.cancelled)
        checked += result.stats.agents_checked
        explained += result.stats.explained_shapes
        placed_in_pass += len(result.placed)
        print(
            f"cycle {len(cycle_times)}: {len(window)} sessions, placed {len(result.placed)}, "
            f"pending {len(result.pending)}, cancelled {len(result.cancelled)}, "
            f"{cycle_times[-1] * 1000:.1f} ms, agents checked {result.stats.agents_checked}, "
            f"shapes explained {result.stats.explained_shapes}"
        )
        t0 = time.perf_counter()
        snapshot = apply_result(snapshot, result)
        apply_s += time.perf_counter() - t0
        offset += len(window) - len(result.placed) - len(result.cancelled)
        if not args.batch or offset >= len(snapshot.pending):
            if placed_in_pass == 0:
                break
            offset, placed_in_pass = 0, 0
    check(snapshot)

    seconds = sum(cycle_times)
    figures = {
        "agents": args.agents,
        "sessions": args.sessions,
        "policy": args.policy,
        "strategy": args.strategy,
        "batch": args.batch or "all",
        "cycles": len(cycle_times),
        "placed": placed,
        "left_pending": len(snapshot.pending),
        "cancelled": cancelled,
        "seconds": round(seconds, 3),
        "placed_per_s": round(placed / seconds) if seconds else 0,
        "p99_cycle_ms": round(percentile(cycle_times, 99) * 1000, 1),
        "agents_checked_per_placement": round(checked / placed, 1) if placed else None,
        "shapes_explained": explained,
        "build_s": round(build_s, 3),
        "apply_s": round(apply_s, 3),
    }
    print(
        f"placed {placed} sessions in {seconds:.3f}s of cycle time over {len(cycle_times)} "
        f"cycles: {figures['placed_per_s']} placements/s, p99 cycle {figures['p99_cycle_ms']} "
        f"ms ({len(snapshot.pending)} left pending; snapshot build {build_s:.2f}s and "
        f"result apply {apply_s:.2f}s are not in the cycle time)"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
