"""Kernel start on the agent vs. ``docker run --rm`` of the same image and command.

In one run, alternately:

* agent:  an in-process manager + agent (Docker runtime) — the agent creates a kernel from
  ``cygnet/busybox:latest``, runs ``echo ok`` in it (batch mode, through the kernel's exec
  path) and waits for the result, then destroys the kernel (container stopped and removed);
* docker: ``docker run --rm cygnet/busybox:latest sh -c 'echo ok'`` (the Docker CLI).

Each round measures one of each, so a machine that speeds up or slows down hits both alike.
The last line printed is a JSON object with ``benchmark``, ``agent_median_s``,
``docker_median_s`` and ``ratio`` (agent / docker). Target: ratio <= 1.3.

Needs a Docker engine and the image (``cygnet image bootstrap --only busybox``).

    python benchmarks/kernel_start.py [--rounds 15] [--image cygnet/busybox:latest]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from cygnet.common import rpc
from cygnet.manager.agents.client import AgentClient
from cygnet.testing.agents import run_cluster
from cygnet.testing.docker import docker_run_seconds, side_by_side

COMMAND = "echo ok"


async def agent_round(client: AgentClient, image: str) -> float:
    started = time.perf_counter()
    created = await client.create_kernel(
        rpc.CreateKernel(
            kernel_id=uuid.uuid4(),
            session_id=uuid.uuid4(),
            owner_access_key="AKIABENCH",
            image=image,
            resources={"cpu": "1", "mem": "128m"},
        )
    )
    result = await client.execute(created.kernel_id, "batch", COMMAND)
    while result.status == "continued":
        result = await client.execute(created.kernel_id, "continue", run_id=result.run_id)
    await client.destroy_kernel(created.kernel_id)
    elapsed = time.perf_counter() - started
    if result.exit_code != 0 or ("stdout", "ok\n") not in result.console:
        raise SystemExit(f"unexpected result from the kernel: {result}")
    return elapsed


async def main(rounds: int, image: str) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="cygnet-bench-"))
    docker_run = functools.partial(docker_run_seconds, image, ["/bin/sh", "-c", COMMAND], "ok\n")
    try:
        async with run_cluster(data_dir, runtime="docker", memory="2g") as cluster:
            registry = cluster.manager.manager.services.agents
            client = await registry.client(cluster.agent.id)
            await agent_round(client, image)  # warm-up: image layers, runner, caches
            await asyncio.to_thread(docker_run)
            agent_times, docker_times = await side_by_side(
                rounds,
                lambda _round: agent_round(client, image),
                docker_run,
                ("agent", "docker run"),
            )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    agent_median = statistics.median(agent_times)
    docker_median = statistics.median(docker_times)
    return {
        "benchmark": "kernel_start",
        "image": image,
        "rounds": rounds,
        "agent_median_s": round(agent_median, 4),
        "docker_median_s": round(docker_median, 4),
        "ratio": round(agent_median / docker_median, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--image", default="cygnet/busybox:latest")
    args = parser.parse_args()
    summary = asyncio.run(main(args.rounds, args.image))
    print(json.dumps(summary))
