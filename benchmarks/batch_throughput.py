"""Batch throughput: N batch sessions running ``true``, submitted through the API, against the
same N containers run by a plain loop of ``docker run --rm``.

* cygnet: N signed ``POST /session`` requests (``type: batch``, ``startupCommand: true``,
  ``enqueueOnly``), sent concurrently to a manager with one agent (Docker runtime); the clock
  stops when every session is TERMINATED with result SUCCESS (read from the store).
* docker: ``docker run --rm IMAGE true``, N times in a row (the Docker CLI).

Each session asks for the image's minimum resources, so the agent runs as many at once as its
cores allow and the rest queue (FIFO) — as a cluster would. The last line printed is a JSON
object with ``sessions``, ``wall_s``, ``completed_per_s``, ``docker_wall_s`` and
``docker_per_s``.

    python benchmarks/batch_throughput.py [-n 200] [--image cygnet/busybox:latest]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from cygnet.common.lifecycle import SessionResult, SessionStatus
from cygnet.manager.store.repositories import sessions as sessions_repo
from cygnet.testing.agents import LocalCluster, run_cluster

DEAD = (SessionStatus.TERMINATED, SessionStatus.CANCELLED)


async def submit(cluster: LocalCluster, image: str, index: int) -> str:
    client = cluster.manager.client()
    resp = await client.request(
        "POST",
        "/session",
        json={
            "name": f"batch-{index}",
            "image": image,
            "type": "batch",
            "startupCommand": "true",
            "enqueueOnly": True,
        },
    )
    if resp.status_code != 201:
        raise SystemExit(f"could not submit: {resp.status_code} {resp.text}")
    return str(resp.json()["sessionId"])


async def run_cygnet(cluster: LocalCluster, image: str, count: int) -> float:
    started = time.perf_counter()
    clients = 16  # concurrent submitters
    ids: list[str] = []
    for first in range(0, count, clients):
        batch = range(first, min(count, first + clients))
        ids += await asyncio.gather(*(submit(cluster, image, i) for i in batch))
    db = cluster.manager.manager.db
    while True:
        async with db.read() as tx:
            page = await sessions_repo.page(
                tx,
                statuses=None,
                access_key=None,
                domain_name=None,
                project_id=None,
                filter_text=None,
                order_text=None,
                limit=None,
                offset=0,
            )
        done = [s for s in page.items if s.status in DEAD]
        if len(done) == count:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    failed = [s.name for s in done if s.result != SessionResult.SUCCESS]
    if failed:
        raise SystemExit(f"{len(failed)} session(s) did not succeed, e.g. {failed[:3]}")
    return elapsed


def run_docker(docker: str, image: str, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        subprocess.run([docker, "run", "--rm", image, "true"], check=True, capture_output=True)
    return time.perf_counter() - started


async def main(count: int, image: str) -> dict[str, object]:
    docker = shutil.which("docker")
    if docker is None:
        raise SystemExit("the docker CLI is not installed")
    data_dir = Path(tempfile.mkdtemp(prefix="cygnet-bench-"))
    try:
        async with run_cluster(data_dir, runtime="docker", memory="8g") as cluster:
            wall = await run_cygnet(cluster, image, count)
            print(f"cygnet: {count} batch sessions in {wall:.2f} s", flush=True)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    docker_wall = await asyncio.to_thread(run_docker, docker, image, count)
    print(f"docker run loop: {count} containers in {docker_wall:.2f} s", flush=True)
    return {
        "benchmark": "batch_throughput",
        "image": image,
        "sessions": count,
        "wall_s": round(wall, 3),
        "completed_per_s": round(count / wall, 2),
        "docker_wall_s": round(docker_wall, 3),
        "docker_per_s": round(count / docker_wall, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--sessions", type=int, default=200)
    parser.add_argument("--image", default="cygnet/busybox:latest")
    args = parser.parse_args()
    summary = asyncio.run(main(args.sessions, args.image))
    print(json.dumps(summary))
