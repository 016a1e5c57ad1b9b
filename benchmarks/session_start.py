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
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from cygnet.testing.agents import run_cluster
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


def docker_round(docker: str, image: str) -> float:
    started = time.perf_counter()
    out = subprocess.run(
        [docker, "run", "--rm", image, "python3", "-c", CODE],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    elapsed = time.perf_counter() - started
    if out != "42\n":
        raise SystemExit(f"unexpected output from docker run: {out!r}")
    return elapsed


async def main(rounds: int, image: str) -> dict[str, object]:
    docker = shutil.which("docker")
    if docker is None:
        raise SystemExit("the docker CLI is not installed")
    data_dir = Path(tempfile.mkdtemp(prefix="cygnet-bench-"))
    cygnet_times: list[float] = []
    docker_times: list[float] = []
    try:
        async with run_cluster(data_dir, runtime="docker", memory="4g") as cluster:
            client = cluster.manager.client()
            await cygnet_round(client, image, 0)  # warm-up: image layers, runner, caches
            await asyncio.to_thread(docker_round, docker, image)
            for i in range(1, rounds + 1):
                if i % 2:
                    cygnet_times.append(await cygnet_round(client, image, i))
                    docker_times.append(await asyncio.to_thread(docker_round, docker, image))
                else:
                    docker_times.append(await asyncio.to_thread(docker_round, docker, image))
                    cygnet_times.append(await cygnet_round(client, image, i))
                print(
                    f"round {i:2d}: cygnet {cygnet_times[-1]:.3f} s, "
                    f"docker run {docker_times[-1]:.3f} s",
                    flush=True,
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
