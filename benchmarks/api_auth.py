"""Signed, authenticated requests vs. unauthenticated ones on one manager process.

Starts a real manager (what ``cygnet manager serve`` runs) in a subprocess on SQLite and then
on a fresh PostgreSQL database, and drives it from this process over keep-alive HTTP/1.1:

* plain: ``GET /`` (no auth)
* auth:  ``GET /manager/announcement`` with the full BackendAI HMAC headers (every request is
  verified by the server: version, Date skew, signature, keypair state, rate limit).

Phases alternate in rounds (plain, auth, plain, auth, ...), so a machine that speeds up or
slows down hits both alike. Two ratios are measured: ``rps_ratio`` (median over the rounds of
signed/plain requests per second) and ``cpu_ratio`` (the server's CPU time per plain request
over that per signed request, read from /proc: the capacity ratio, whatever the load generator
can drive). ``ratio`` is the smaller of the two. The last line printed is a JSON object with
``benchmark``, ``auth_rps``, ``plain_rps``, ``ratio``, ``p99_ms`` (the worst database) and the
per-database figures. Target: ratio >= 0.5 and >= 1,500 signed requests/s.

    python benchmarks/api_auth.py [--seconds 5] [--connections 32] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_manager(data_dir: Path, port: int, db_url: str | None) -> subprocess.Popen[bytes]:
    env = dict(os.environ, CYGNET_DATA_DIR=str(data_dir), CYGNET_PORT=str(port))
    env["CYGNET_LOG_LEVEL"] = "WARNING"
    if db_url:
        env["CYGNET_DB_URL"] = db_url
    code = (
        "from cygnet.manager.config import ManagerSettings;"
        "from cygnet.manager.server import run_event_loop, serve;"
        "run_event_loop(serve(ManagerSettings.load()))"
    )
    cmd = [sys.executable, "-c", code]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"manager exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("manager did not start in 60 s")


def read_credentials(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        values[key] = shlex.split(value)[0] if value else ""
    return values


def signed_request(port: int, path: str, creds: dict[str, str]) -> bytes:
    """One signed GET, as bytes. The Date stays valid for 15 minutes, so it can be resent; the
    server still verifies the whole signature on every request."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from cygnet.common.auth import API_VERSION, make_auth_headers

    host = f"127.0.0.1:{port}"
    signed = make_auth_headers(
        creds["CYGNET_ACCESS_KEY"],
        creds["CYGNET_SECRET_KEY"],
        method="GET",
        rel_url=path,
        host=host,
        content_type="text/plain",
    )
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        f"Date: {signed.date}",
        f"Authorization: {signed.authorization}",
        f"X-BackendAI-Version: {API_VERSION}",
        "Content-Type: text/plain",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plain_request(port: int) -> bytes:
    return f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


async def _one_connection(
    port: int, request: bytes, stop_at: float, latencies: list[float], statuses: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def load(
    port: int, request: bytes, seconds: float, connections: int, server_pid: int | None = None
) -> dict[str, float]:
    latencies: list[float] = []
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(_one_connection(port, request, stop_at, latencies, statuses) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    cpu_used = cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
    bad = {s: n for s, n in statuses.items() if s != 200}
    if bad:
        raise RuntimeError(f"non-200 answers during the run: {bad}")
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "requests": float(len(latencies)),
        "server_cpu_us": cpu_used / max(len(latencies), 1) * 1e6,
        "server_cpu_share": cpu_used / elapsed,
    }


def run_one(db: str, seconds: float, connections: int, rounds: int) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="cygnet-bench-"))
    db_url = None
    pg_name = None
    if db == "postgresql":
        pg_name = f"cygnet_bench_{uuid.uuid4().hex[:10]}"
        subprocess.run(["psql", PG_ADMIN, "-qc", f'CREATE DATABASE "{pg_name}"'], check=True)
        db_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg_name}"
    port = free_port()
    proc = start_manager(data_dir, port, db_url)
    try:
        creds = read_credentials(data_dir / "credentials.env")
        auth_req = signed_request(port, "/manager/announcement", creds)
        plain_req = plain_request(port)
        asyncio.run(load(port, auth_req, 1.0, connections))  # warm-up (caches, JIT-less paths)
        asyncio.run(load(port, plain_req, 1.0, connections))
        plain, auth = [], []
        for _ in range(rounds):
            phase = seconds / rounds
            plain.append(asyncio.run(load(port, plain_req, phase, connections, proc.pid)))
            auth.append(asyncio.run(load(port, auth_req, phase, connections, proc.pid)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
        if pg_name:
            subprocess.run(
                ["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'],
                check=False,
            )
    plain_rps = statistics.median(r["rps"] for r in plain)
    auth_rps = statistics.median(r["rps"] for r in auth)
    # Each round measures plain and auth back to back; the median of the per-round ratios
    # is robust to the machine speeding up or slowing down between rounds.
    rps_ratio = statistics.median(a["rps"] / p["rps"] for a, p in zip(auth, plain, strict=True))
    auth_cpu = statistics.median(r["server_cpu_us"] for r in auth)
    plain_cpu = statistics.median(r["server_cpu_us"] for r in plain)
    cpu_ratio = plain_cpu / auth_cpu
    return {
        "auth_rps": round(auth_rps, 1),
        "plain_rps": round(plain_rps, 1),
        "ratio": round(min(rps_ratio, cpu_ratio), 3),
        "rps_ratio": round(rps_ratio, 3),
        "cpu_ratio": round(cpu_ratio, 3),
        "p50_ms": round(max(r["p50_ms"] for r in auth), 2),
        "p99_ms": round(max(r["p99_ms"] for r in auth), 2),
        "plain_p99_ms": round(max(r["p99_ms"] for r in plain), 2),
        "auth_cpu_us": round(auth_cpu, 1),
        "plain_cpu_us": round(plain_cpu, 1),
        "server_busy_plain": round(statistics.median(r["server_cpu_share"] for r in plain), 2),
        "server_busy_auth": round(statistics.median(r["server_cpu_share"] for r in auth), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per kind of request")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=8, help="plain/auth pairs per database")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for db in args.databases.split(","):
        results[db] = run_one(db, args.seconds, args.connections, args.rounds)
        print(f"{db:11s} {json.dumps(results[db])}", flush=True)
    worst = min(results.values(), key=lambda r: r["ratio"])
    summary = {
        "benchmark": "api_auth",
        "auth_rps": min(r["auth_rps"] for r in results.values()),
        "plain_rps": worst["plain_rps"],
        "ratio": worst["ratio"],
        "p99_ms": max(r["p99_ms"] for r in results.values()),
        "connections": args.connections,
        "databases": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
