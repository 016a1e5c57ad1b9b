"""Every way a request can fail authentication: the right status and error_code, nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from cygnet.common.auth import make_auth_headers
from cygnet.testing.builders import add_user
from cygnet.testing.cluster import LocalManager

LIST_DOMAINS = "query { domains { name } }"


def _signed_headers(
    local: LocalManager,
    path: str,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    now: datetime | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    signed = make_auth_headers(
        access_key or local.admin.access_key,
        secret_key or local.admin.secret_key,
        method="POST",
        rel_url=path,
        host=local.endpoint.removeprefix("http://"),
        content_type=content_type,
        now=now,
    )
    return {
        "Date": signed.date,
        "Authorization": signed.authorization,
        "X-BackendAI-Version": "v9.20250722",
        "Content-Type": content_type,
    }


async def _post(local: LocalManager, headers: dict[str, str], body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(base_url=local.endpoint) as http:
        return await http.post("/admin/gql", content=body, headers=headers)


BODY = b'{"query": "query { domains { name } }", "variables": {}}'


async def test_signed_request_succeeds(manager: LocalManager) -> None:
    resp = await _post(manager, _signed_headers(manager, "/admin/gql"), BODY)
    assert resp.status_code == 200
    assert {"name": "default"} in resp.json()["data"]["domains"]


async def test_no_credentials_is_401(manager: LocalManager) -> None:
    async with httpx.AsyncClient(base_url=manager.endpoint) as http:
        resp = await http.post("/admin/gql", content=BODY)
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["error_code"] == "user_auth_unauthorized"
    assert resp.json()["msg"] == "Unauthorized access"


async def test_unknown_access_key_is_401(manager: LocalManager) -> None:
    headers = _signed_headers(manager, "/admin/gql", access_key="AKIAUNKNOWNUNKNOWN00")
    resp = await _post(manager, headers, BODY)
    assert resp.status_code == 401
    assert resp.json()["type"] == "https://api.backend.ai/probs/auth-failed"
    assert resp.json()["error_code"] == "user_auth_unauthorized"


async def test_bad_signature_is_401(manager: LocalManager) -> None:
    headers = _signed_headers(manager, "/admin/gql", secret_key="not-the-secret")
    resp = await _post(manager, headers, BODY)
    assert resp.status_code == 401
    assert resp.json()["error_code"] == "user_auth_unauthorized"


async def test_signature_over_another_path_is_401(manager: LocalManager) -> None:
    headers = _signed_headers(manager, "/admin/graphql")
    resp = await _post(manager, headers, BODY)
    assert resp.status_code == 401


async def test_stale_date_is_400(manager: LocalManager) -> None:
    stale = datetime.now(UTC) - timedelta(minutes=16)
    resp = await _post(manager, _signed_headers(manager, "/admin/gql", now=stale), BODY)
    assert resp.status_code == 400
    body = resp.json()
    assert body["type"] == "https://api.backend.ai/probs/invalid-auth-params"
    assert body["error_code"] == "user_auth_invalid-parameters"
    assert body["msg"] == "Date/time sync error"


async def test_date_within_skew_is_accepted(manager: LocalManager) -> None:
    early = datetime.now(UTC) - timedelta(minutes=14)
    resp = await _post(manager, _signed_headers(manager, "/admin/gql", now=early), BODY)
    assert resp.status_code == 200


async def test_unparseable_date_is_400(manager: LocalManager) -> None:
    headers = {**_signed_headers(manager, "/admin/gql"), "Date": "yesterday-ish"}
    resp = await _post(manager, headers, BODY)
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "user_auth_invalid-parameters"


async def test_missing_version_header_is_400(manager: LocalManager) -> None:
    headers = _signed_headers(manager, "/admin/gql")
    del headers["X-BackendAI-Version"]
    resp = await _post(manager, headers, BODY)
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "backendai_generic_bad-request"


async def test_unsupported_version_is_400(manager: LocalManager) -> None:
    headers = {**_signed_headers(manager, "/admin/gql"), "X-BackendAI-Version": "v99.20990101"}
    resp = await _post(manager, headers, BODY)
    assert resp.status_code == 400
    assert resp.json()["title"] == "Unsupported API version."


async def test_malformed_authorization_is_400(manager: LocalManager) -> None:
    headers = {**_signed_headers(manager, "/admin/gql"), "Authorization": "BackendAI nonsense"}
    resp = await _post(manager, headers, BODY)
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "user_auth_invalid-parameters"


async def test_malformed_json_is_400(manager: LocalManager) -> None:
    resp = await _post(manager, _signed_headers(manager, "/admin/gql"), b'{"query": ')
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "api_parsing_bad-request"
    assert resp.json()["title"] == "Malformed request body."


async def test_wrong_body_types_are_400(manager: LocalManager) -> None:
    resp = await _post(manager, _signed_headers(manager, "/admin/gql"), b'{"query": 42}')
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "api_parsing_invalid-parameters"


async def test_inactive_user_is_401(manager: LocalManager) -> None:
    user = await add_user(manager, status="inactive")
    headers = _signed_headers(
        manager, "/admin/gql", access_key=user.access_key, secret_key=user.secret_key
    )
    resp = await _post(manager, headers, BODY)
    assert resp.status_code == 401
    assert resp.json()["error_code"] == "user_auth_unauthorized"


async def test_client_ip_outside_allowed_list_is_401(manager: LocalManager) -> None:
    user = await add_user(manager, allowed_client_ip=["10.0.0.0/8"])
    headers = _signed_headers(
        manager, "/admin/gql", access_key=user.access_key, secret_key=user.secret_key
    )
    assert (await _post(manager, headers, BODY)).status_code == 401
    allowed = await add_user(manager, allowed_client_ip=["127.0.0.0/8"])
    headers = _signed_headers(
        manager, "/admin/gql", access_key=allowed.access_key, secret_key=allowed.secret_key
    )
    assert (await _post(manager, headers, BODY)).status_code == 200


async def test_rate_limit_gives_429_with_headers(manager: LocalManager) -> None:
    user = await add_user(manager, rate_limit=3)
    client = manager.client(user.access_key, user.secret_key)
    statuses = []
    for _ in range(4):
        resp = await client.request("GET", "/manager/announcement")
        statuses.append(resp.status_code)
    assert statuses == [200, 200, 200, 429]
    assert resp.json()["error_code"] == "api_access_unavailable"
    assert resp.json()["type"] == "https://api.backend.ai/probs/rate-limit-exceeded"
    assert resp.headers["X-RateLimit-Limit"] == "3"
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert int(resp.headers["X-RateLimit-Reset"]) > 0
    assert resp.headers["X-RateLimit-Window"] == "900"


async def test_non_superadmin_cannot_set_announcement(manager: LocalManager) -> None:
    user = await add_user(manager)
    client = manager.client(user.access_key, user.secret_key)
    resp = await client.request("POST", "/manager/announcement", json={"enabled": True})
    assert resp.status_code == 403
    assert resp.json()["error_code"] == "user_auth_forbidden"
    admin = manager.client()
    current = await admin.request("GET", "/manager/announcement")
    assert current.json()["enabled"] is False


async def test_json_body_is_tolerated_on_get(manager: LocalManager) -> None:
    client = manager.client()
    resp = await client.request("GET", "/manager/announcement", json={"ignored": True})
    assert resp.status_code == 200
