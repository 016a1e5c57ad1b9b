"""vfolder helpers for tests: create a folder, upload (tus PATCH) and download through the
storage proxy's client API with tokens from the manager, list a directory."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from cygnet.testing.signing import SignedClient


def unique(prefix: str = "vf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create(api: SignedClient, name: str | None = None, **body: Any) -> str:
    resp = await api.request("POST", "/folders", json={"name": name or unique(), **body})
    assert resp.status_code == 201, resp.text
    fid: str = resp.json()["id"]
    return fid


def with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, f"token={token}", ""))


async def upload(api: SignedClient, fid: str, path: str, data: bytes, chunk: int = 1 << 20) -> None:
    resp = await api.request(
        "POST", f"/folders/{fid}/request-upload", json={"path": path, "size": len(data)}
    )
    assert resp.status_code == 200, resp.text
    url = with_token(resp.json()["url"], resp.json()["token"])
    async with httpx.AsyncClient() as http:
        offset = 0
        while offset < len(data):
            piece = data[offset : offset + chunk]
            r = await http.patch(
                url,
                content=piece,
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert r.status_code == 204, r.text
            offset = int(r.headers["Upload-Offset"])


async def download(api: SignedClient, fid: str, path: str, **headers: str) -> httpx.Response:
    resp = await api.request("POST", f"/folders/{fid}/request-download", json={"path": path})
    assert resp.status_code == 200, resp.text
    async with httpx.AsyncClient() as http:
        return await http.get(with_token(resp.json()["url"], resp.json()["token"]), headers=headers)


async def names(api: SignedClient, fid: str, path: str = "") -> dict[str, str]:
    resp = await api.request("GET", f"/folders/{fid}/files?path={path}")
    assert resp.status_code == 200, resp.text
    return {item["name"]: item["type"] for item in resp.json()["items"]}
