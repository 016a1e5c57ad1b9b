"""Version discovery, problem+json on every failure path, and the announcement."""

from __future__ import annotations

import httpx

from cygnet.testing.cluster import LocalManager


async def test_version_discovery(manager: LocalManager) -> None:
    async with httpx.AsyncClient(base_url=manager.endpoint) as http:
        resp = await http.get("/")
    assert resp.status_code == 200
    assert resp.json()["version"] == "v9.20250722"
    assert "manager" in resp.json()


async def test_unknown_route_is_problem_json(manager: LocalManager) -> None:
    async with httpx.AsyncClient(base_url=manager.endpoint) as http:
        resp = await http.get("/no/such/route")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["type"] == "https://api.backend.ai/probs/url-not-found"
    assert body["error_code"] == "api_read_not-found"
    assert body["data"] == "/no/such/route"


async def test_wrong_method_is_problem_json(manager: LocalManager) -> None:
    async with httpx.AsyncClient(base_url=manager.endpoint) as http:
        resp = await http.delete("/")
    assert resp.status_code == 405
    assert resp.json()["type"] == "https://api.backend.ai/probs/method-not-allowed"
    assert "GET" in resp.headers["allow"]


async def test_announcement_round_trip(manager: LocalManager) -> None:
    client = manager.client()
    resp = await client.request("GET", "/manager/announcement")
    assert resp.status_code == 200
    assert resp.json() == {"enabled": False, "message": ""}
    assert "X-RateLimit-Remaining" in resp.headers
    resp = await client.request(
        "POST", "/manager/announcement", json={"enabled": True, "message": "maintenance at 9"}
    )
    assert resp.status_code == 200
    resp = await client.request("GET", "/manager/announcement")
    assert resp.json() == {"enabled": True, "message": "maintenance at 9"}
    await client.request("POST", "/manager/announcement", json={"enabled": False})


async def test_openapi_is_served(manager: LocalManager) -> None:
    async with httpx.AsyncClient(base_url=manager.endpoint) as http:
        resp = await http.get("/openapi.json")
    assert resp.status_code == 200
    assert "/manager/announcement" in resp.json()["paths"]
