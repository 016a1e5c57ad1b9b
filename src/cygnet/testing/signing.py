"""A tiny signed HTTP client for tests: every request carries the BackendAI HMAC headers."""

from __future__ import annotations

import json as jsonlib
from typing import Any

import httpx

from cygnet.common.auth import API_VERSION, make_auth_headers


class SignedClient:
    """Signs each request exactly as the official client does (see ``cygnet.common.auth``)."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.access_key = access_key
        self.secret_key = secret_key
        self.http = httpx.AsyncClient(base_url=self.endpoint, timeout=30)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        version: str = API_VERSION,
    ) -> httpx.Response:
        if json is not None:
            content = jsonlib.dumps(json).encode()
            content_type = content_type or "application/json"
        content_type = content_type or "text/plain"
        url = httpx.URL(self.endpoint + path)
        rel_url = url.raw_path.decode()
        signed = make_auth_headers(
            self.access_key,
            self.secret_key,
            method=method,
            rel_url=rel_url,
            host=url.netloc.decode(),
            content_type=content_type.split(";", 1)[0].strip(),  # the mime type only
            version=version,
        )
        all_headers = {
            "Date": signed.date,
            "Authorization": signed.authorization,
            "X-BackendAI-Version": version,
            "Content-Type": content_type,
            **(headers or {}),
        }
        return await self.http.request(method, path, content=content or b"", headers=all_headers)

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST /admin/gql; returns the whole ``{data, errors}`` body (asserting HTTP 200)."""
        resp = await self.request(
            "POST", "/admin/gql", json={"query": query, "variables": variables or {}}
        )
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    async def aclose(self) -> None:
        await self.http.aclose()
