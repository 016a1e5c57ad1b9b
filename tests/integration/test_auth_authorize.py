"""``POST /auth/authorize``: email + password -> the user's main keypair."""

from __future__ import annotations

from typing import Any

import httpx

from cygnet.testing.builders import add_user
from cygnet.testing.cluster import LocalManager


async def post(
    local: LocalManager, *, json: Any = None, content: bytes | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=local.endpoint) as http:
        if json is not None:
            return await http.post("/auth/authorize", json=json)
        return await http.post(
            "/auth/authorize", content=content or b"", headers={"Content-Type": "application/json"}
        )


def login(email: str, password: str, domain: str = "default") -> dict[str, str]:
    return {"type": "keypair", "domain": domain, "username": email, "password": password}


async def test_authorize_returns_the_main_keypair(manager: LocalManager) -> None:
    user = await add_user(manager, password="s3cret-pw")
    resp = await post(manager, json=login(user.email, "s3cret-pw"))
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["access_key"] == user.access_key
    assert data["secret_key"] == user.secret_key
    assert data["role"] == "user" and data["status"] == "active"
    # the keys it hands out work for signed requests
    client = manager.client(data["access_key"], data["secret_key"])
    body = await client.gql("query { user { email } }")
    assert body["data"]["user"]["email"] == user.email


async def test_superadmin_can_log_in(manager: LocalManager) -> None:
    resp = await post(manager, json=login(manager.admin.email, manager.admin.password))
    assert resp.status_code == 200
    assert resp.json()["data"]["role"] == "superadmin"
    assert resp.json()["data"]["access_key"] == manager.admin.access_key


async def test_wrong_password_or_unknown_user_is_401(manager: LocalManager) -> None:
    user = await add_user(manager, password="right-pw")
    for body in (
        login(user.email, "wrong-pw"),
        login("nobody@example.com", "right-pw"),
        login(user.email, "right-pw", domain="other-domain"),
    ):
        resp = await post(manager, json=body)
        assert resp.status_code == 401, body
        assert resp.headers["content-type"].startswith("application/problem+json")
        problem = resp.json()
        assert problem["error_code"] == "user_auth_unauthorized"
        assert user.secret_key not in resp.text


async def test_inactive_user_is_401(manager: LocalManager) -> None:
    for status in ("inactive", "deleted", "before-verification"):
        user = await add_user(manager, password="pw-pw-pw", status=status)
        resp = await post(manager, json=login(user.email, "pw-pw-pw"))
        assert resp.status_code == 401
        assert status in resp.json()["msg"]


async def test_deactivated_main_key_is_not_handed_out(manager: LocalManager) -> None:
    user = await add_user(manager, password="pw-pw-pw")
    admin = manager.client()
    await admin.gql(
        "mutation($ak: String!) { modify_keypair(access_key: $ak, props: {is_active: false}) "
        "{ ok } }",
        {"ak": user.access_key},
    )
    resp = await post(manager, json=login(user.email, "pw-pw-pw"))
    assert resp.status_code == 401


async def test_malformed_body_is_400(manager: LocalManager) -> None:
    cases: list[tuple[dict[str, Any] | None, bytes | None, str]] = [
        (None, b"", "api_parsing_bad-request"),
        (None, b"{not json", "api_parsing_bad-request"),
        (None, b"[1, 2]", "api_parsing_bad-request"),
        ({"type": "keypair", "domain": "default"}, None, "api_parsing_invalid-parameters"),
        (
            {"type": "jwt", "username": "a@b.c", "password": "x"},
            None,
            "api_parsing_invalid-parameters",
        ),
        ({"username": 5, "password": ["x"]}, None, "api_parsing_invalid-parameters"),
    ]
    for json_body, raw, code in cases:
        resp = await post(manager, json=json_body, content=raw)
        assert resp.status_code == 400, (json_body, raw, resp.text)
        assert resp.json()["error_code"] == code


async def test_repeated_failures_lock_the_account_out(manager: LocalManager) -> None:
    user = await add_user(manager, password="right-password")
    for _ in range(10):
        resp = await post(manager, json=login(user.email, "wrong-password"))
        assert resp.status_code == 401
    locked = await post(manager, json=login(user.email, "right-password"))
    assert locked.status_code == 429
    assert locked.json()["error_code"] == "api_access_unavailable"
    assert int(locked.headers["Retry-After"]) > 0
    # another account from the same address is not affected
    other = await add_user(manager, password="right-password")
    assert (await post(manager, json=login(other.email, "right-password"))).status_code == 200
