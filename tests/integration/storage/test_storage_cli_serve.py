"""``cygnet storage serve`` as a real subprocess: serves both APIs from storage.toml, stops
cleanly on SIGTERM, and refuses bad configurations with a clear message."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

CYGNET = str(Path(sys.executable).parent / "cygnet")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_storage_serve_subprocess_round_trip(tmp_path: Path) -> None:
    mport, cport = _free_port(), _free_port()
    config = tmp_path / "storage.toml"
    config.write_text(
        f'host = "127.0.0.1"\nmanager_port = {mport}\nclient_port = {cport}\n'
        f'secret_file = "{tmp_path / "secret"}"\nlog_level = "WARNING"\n\n'
        f'[volumes.main]\nbackend = "local"\npath = "{tmp_path / "main"}"\n'
    )
    (tmp_path / "secret").write_text("s3cret\n")
    proc = await asyncio.create_subprocess_exec(
        CYGNET,
        "storage",
        "serve",
        "--config",
        str(config),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        headers = {"X-Cygnet-Storage-Secret": "s3cret"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{mport}", headers=headers) as m:
            for _ in range(200):
                try:
                    r = await m.get("/volumes")
                    break
                except httpx.TransportError:
                    assert proc.returncode is None, "the proxy exited early"
                    await asyncio.sleep(0.05)
            assert r.json()["volumes"][0]["name"] == "main"
            fid = str(uuid.uuid4())
            assert (
                await m.post("/volumes/main/folders", json={"folder_id": fid})
            ).status_code == 201
            body = (
                await m.post(
                    f"/volumes/main/folders/{fid}/upload-token", json={"path": "a.txt", "size": 5}
                )
            ).json()
            assert body["url"] == f"http://127.0.0.1:{cport}/upload"
            r = await m.patch(
                body["url"],
                params={"token": body["token"]},
                content=b"hello",
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert r.status_code == 204
            body = (
                await m.post(f"/volumes/main/folders/{fid}/download-token", json={"path": "a.txt"})
            ).json()
            r = await m.get(body["url"], params={"token": body["token"]})
            assert r.content == b"hello"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode == 0, out
    assert b"manager API" in out


def test_storage_serve_refuses_bad_configs(tmp_path: Path) -> None:
    config = tmp_path / "storage.toml"
    config.write_text(
        f'secret = "s"\nmanager_port = {_free_port()}\nclient_port = {_free_port()}\n'
        f'[volumes.fast]\nbackend = "xfs"\npath = "{tmp_path / "v"}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CYGNET_STORAGE_")}
    done = subprocess.run(
        [CYGNET, "storage", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode != 0
    assert "not XFS" in done.stderr or "xfs_quota" in done.stderr or "prjquota" in done.stderr
    config.write_text(f'[volumes.v]\npath = "{tmp_path / "v"}"\n')
    done = subprocess.run(
        [CYGNET, "storage", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode != 0 and "no shared secret" in done.stderr
