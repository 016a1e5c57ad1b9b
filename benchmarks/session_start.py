"""A whole session through the API vs. ``docker run --rm`` of the same image doing the same.

In one run, alternately:

* cygnet: ``POST /session`` (blocking until RUNNING) on a manager with one agent (Docker
  runtime), ``POST /session/{id}`` executing ``print(6*7)`` in query mode, then
  ``DELETE /session/{id}`` (waits until the container is stopped and removed) — signed HTTP
  requests to a real server on 127.0.0.1;
* docker: ``docker run --rm cygnet/python:3.11 python3 -c 'print(6*7)'`` (the Docker CLI).

The last line printed is a JSON object with ``cygnet_median_s``, ``docker_median_s`` and
``ratio`` (cygnet / docker). Target: ratio <= 1.5.

Needs a Docker engine and the image (``cygnet image bootstrap --only python``).

    python benchmarks/session_start.py [--rounds 11] [--image cygnet/python:3.11]
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
from pathlib import Path

from cygnet.testing.agents import run_cluster
from cygnet.testing.docker import docker_run_seconds, side_by_side
from cygnet.testing.signing import SignedClient

CODE = "print(6*7)"


PHASES: dict[str, list[float]] = {"create": [], "execute": [], "destroy": []}


async def cygnet_round(client: SignedClient, image: str, index: int) -> float:
    started = time.perf_counter()
    resp = await client.request(
        "POST",
        "/session",
        json={"name": f"bench-{index}", "image": image, "config": {"resources": {"cpu": 1}}},
    )
    if resp.status_code != 201 or resp.json()["status"] != "RUNNING":
        raise SystemExit(f"could not create a session: {resp.status_code} {resp.text}")
    session_id = resp.json()["sessionId"]
    created = time.perf_counter()
    resp = await client.request(
        "POST", f"/session/{session_id}", json={"mode": "query", "code": CODE, "runId": None}
    )
    result = resp.json()["result"]
    if result["status"] != "finished" or result["console"] != [["stdout", "42\n"]]:
        raise SystemExit(f"unexpected execution result: {result}")
    executed = time.perf_counter()
    resp = await client.request("DELETE", f"/session/{session_id}")
    if resp.json() != {"stats": {"status": "terminated"}}:
        raise SystemExit(f"unexpected destroy reply: {resp.text}")
    ended = time.perf_counter()
    if index:  # not the warm-up round
        PHASES["create"].append(created - started)
        PHASES["execute"].append(executed - created)
        PHASES["destroy"].append(ended - executed)
    return ended - started


async def main(rounds: int, image: str) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="cygnet-bench-"))
    docker_run = functools.partial(docker_run_seconds, image, ["python3", "-c", CODE], "42\n")
    try:
        async with run_cluster(data_dir, runtime="docker", memory="4g") as cluster:
            client = cluster.manager.client()
            await cygnet_round(client, image, 0)  # warm-up: image layers, runner, caches
            await asyncio.to_thread(docker_run)
            cygnet_times, docker_times = await side_by_side(
                rounds,
                functools.partial(cygnet_round, client, image),
                docker_run,
                ("cygnet", "docker run"),
            )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(
        "cygnet phases (median): "
        + ", ".join(f"{name} {statistics.median(times):.3f} s" for name, times in PHASES.items()),
        flush=True,
    )
    cygnet_median = statistics.median(cygnet_times)
    docker_median = statistics.median(docker_times)
    return {
        "benchmark": "session_start",
        "image": image,
        "rounds": rounds,
        "cygnet_median_s": round(cygnet_median, 4),
        "docker_median_s": round(docker_median, 4),
        "ratio": round(cygnet_median / docker_median, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--image", default="cygnet/python:3.11")
    args = parser.parse_args()
    summary = asyncio.run(main(args.rounds, args.image))
    print(json.dumps(summary))
