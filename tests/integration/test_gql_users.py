"""Users over GraphQL: the official client's documents, validation and who may do what."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from cygnet.testing.builders import add_user
from cygnet.testing.cluster import LocalManager
from cygnet.testing.signing import SignedClient

FIELDS = (
    "uuid username role email full_name need_password_change status status_info created_at "
    "domain_name groups { id name } allowed_client_ip sudo_session_enabled main_access_key"
)
USER_LIST = (
    "query($limit:Int!, $offset:Int!, $status: String, $group_id: UUID, $filter: String, "
    "$order: String) { user_list(limit:$limit, offset:$offset, status:$status, "
    f"group_id:$group_id, filter:$filter, order:$order) {{ items {{ {FIELDS} }} total_count }} }}"
)
CREATE = (
    "mutation($email: String!, $input: UserInput!) { create_user(email: $email, props: $input) "
    "{ ok msg error_code user { domain_name email username uuid groups { id name } } } }"
)
MODIFY = (
    "mutation($email: String!, $input: ModifyUserInput!) { modify_user(email: $email, "
    "props: $input) { ok msg error_code } }"
)
INFO = f"query($email: String) {{ user(email: $email) {{ {FIELDS} }} }}"
KEYS = (
    "query($email: String) { keypairs(email: $email) { access_key secret_key is_active is_admin } }"
)


def email_of(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def cli_input(**props: Any) -> dict[str, Any]:
    """What ``backend.ai admin user add`` sends."""
    return {
        "password": "pw-123456",
        "role": "user",
        "status": "active",
        "need_password_change": False,
        "description": "",
        "domain_name": "default",
        "totp_activated": False,
        "sudo_session_enabled": False,
        "username": "",
        "full_name": "",
        "allowed_client_ip": None,
        "container_uid": None,
        **props,
    }


async def create(client: SignedClient, email: str, **props: Any) -> dict[str, Any]:
    body = await client.gql(CREATE, {"email": email, "input": cli_input(**props)})
    assert body["errors"] is None, body
    result: dict[str, Any] = body["data"]["create_user"]
    return result


async def info(client: SignedClient, email: str) -> dict[str, Any] | None:
    body = await client.gql(INFO, {"email": email})
    assert body["errors"] is None, body
    found: dict[str, Any] | None = body["data"]["user"]
    return found


async def authorize(local: LocalManager, email: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=local.endpoint) as http:
        body = {"type": "keypair", "domain": "default", "username": email, "password": password}
        return await http.post("/auth/authorize", json=body)


async def as_user(local: LocalManager, email: str) -> SignedClient:
    body = await local.client().gql(KEYS, {"email": email})
    key = body["data"]["keypairs"][0]
    return local.client(key["access_key"], key["secret_key"])


async def test_create_user_makes_main_keypair_and_joins_default(manager: LocalManager) -> None:
    client = manager.client()
    email = email_of()
    result = await create(client, email, full_name="Ada L")
    assert result["ok"] is True, result
    user = result["user"]
    assert user["username"] == email and user["domain_name"] == "default"
    assert [g["name"] for g in user["groups"]] == ["default"]

    found = await info(client, email)
    assert found is not None and found["full_name"] == "Ada L" and found["role"] == "user"
    body = await client.gql(
        "query($ak: String) { keypair(access_key: $ak) { user_id is_admin rate_limit "
        "resource_policy is_active } }",
        {"ak": found["main_access_key"]},
    )
    assert body["data"]["keypair"] == {
        "user_id": email,
        "is_admin": False,
        "rate_limit": 30000,
        "resource_policy": "default",
        "is_active": True,
    }
    by_uuid = await client.gql(
        "query($user_id: ID) { user_from_uuid(user_id: $user_id) { email } }",
        {"user_id": user["uuid"]},
    )
    assert by_uuid["data"]["user_from_uuid"] == {"email": email}
    # the password is stored hashed and never returned, but it works for a login
    body = await client.gql(f'query {{ user(email: "{email}") {{ email }} }}')
    assert "password" not in str(body)
    resp = await authorize(manager, email, "pw-123456")
    assert resp.status_code == 200
    assert resp.json()["data"]["access_key"] == found["main_access_key"]
    # the new user sees itself with a query without an email
    own = await as_user(manager, email)
    body = await own.gql("query { user { email role } }")
    assert body["data"]["user"] == {"email": email, "role": "user"}


async def test_user_list_filter_order_and_pagination(manager: LocalManager) -> None:
    client = manager.client()
    tag = uuid.uuid4().hex[:8]
    emails = [f"list{i}-{tag}@example.com" for i in range(3)]
    for i, email in enumerate(emails):
        assert (await create(client, email, username=f"list{i}-{tag}"))["ok"]
    await client.gql(MODIFY, {"email": emails[2], "input": {"status": "INACTIVE"}})
    variables = {"status": None, "group_id": None, "order": "+username", "limit": 2, "offset": 0}
    body = await client.gql(USER_LIST, {**variables, "filter": f'email ilike "%-{tag}@%"'})
    page = body["data"]["user_list"]
    assert page["total_count"] == 3
    assert [u["email"] for u in page["items"]] == emails[:2]
    body = await client.gql(
        USER_LIST, {**variables, "offset": 2, "filter": f'email ilike "%-{tag}@%"'}
    )
    assert [u["email"] for u in body["data"]["user_list"]["items"]] == emails[2:]
    body = await client.gql(
        USER_LIST,
        {**variables, "status": "inactive", "filter": f'username == "list2-{tag}"'},
    )
    assert body["data"]["user_list"]["total_count"] == 1
    body = await client.gql(
        USER_LIST, {**variables, "filter": f'status == "ACTIVE" & email contains "-{tag}@"'}
    )
    assert body["data"]["user_list"]["total_count"] == 2
    body = await client.gql(USER_LIST, {**variables, "filter": "password == 1"})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["error_code"] == "api_generic_invalid-parameters"


async def test_modify_user(manager: LocalManager) -> None:
    client = manager.client()
    email = email_of()
    assert (await create(client, email))["ok"]
    gid = (
        await client.gql(
            'mutation($n: String!) { create_group(name: $n, props: {domain_name: "default"}) '
            "{ group { id } } }",
            {"n": f"mod-{uuid.uuid4().hex[:8]}"},
        )
    )["data"]["create_group"]["group"]["id"]
    body = await client.gql(
        MODIFY,
        {
            "email": email,
            "input": {
                "full_name": "New Name",
                "role": "admin",
                "group_ids": [gid],
                "password": "new-password",
                "allowed_client_ip": ["10.0.0.0/8", "127.0.0.1"],
            },
        },
    )
    assert body["data"]["modify_user"]["ok"] is True, body
    found = await info(client, email)
    assert found is not None
    assert found["full_name"] == "New Name" and found["role"] == "admin"
    assert [g["id"] for g in found["groups"]] == [gid]
    assert found["allowed_client_ip"] == ["10.0.0.0/8", "127.0.0.1"]
    keys = (await client.gql(KEYS, {"email": email}))["data"]["keypairs"]
    assert all(k["is_admin"] for k in keys)
    assert (await authorize(manager, email, "pw-123456")).status_code == 401
    assert (await authorize(manager, email, "new-password")).status_code == 200

    await client.gql(MODIFY, {"email": email, "input": {"role": "user"}})
    keys = (await client.gql(KEYS, {"email": email}))["data"]["keypairs"]
    assert not any(k["is_admin"] for k in keys)


async def test_delete_and_purge_user(manager: LocalManager) -> None:
    client = manager.client()
    email = email_of()
    assert (await create(client, email))["ok"]
    user_client = await as_user(manager, email)
    assert (await user_client.gql("query { user { email } }"))["errors"] is None

    body = await client.gql(
        "mutation($email: String!) { delete_user(email: $email) { ok msg } }", {"email": email}
    )
    assert body["data"]["delete_user"]["ok"] is True
    found = await info(client, email)
    assert found is not None and found["status"] == "deleted"
    keys = (await client.gql(KEYS, {"email": email}))["data"]["keypairs"]
    assert keys and not any(k["is_active"] for k in keys)
    resp = await user_client.request(
        "POST", "/admin/gql", json={"query": "query { user { email } }"}
    )
    assert resp.status_code == 401

    purge = (
        "mutation($email: String!, $input: PurgeUserInput!) { purge_user(email: $email, "
        "props: $input) { ok msg } }"
    )
    body = await client.gql(
        purge,
        {
            "email": email,
            "input": {"purge_shared_vfolders": False, "delegate_endpoint_ownership": False},
        },
    )
    assert body["data"]["purge_user"]["ok"] is True, body
    assert await info(client, email) is None
    assert (await client.gql(KEYS, {"email": email}))["data"]["keypairs"] == []


async def test_duplicate_email_is_refused(manager: LocalManager) -> None:
    client = manager.client()
    email = email_of("dup")
    assert (await create(client, email, full_name="first"))["ok"]
    again = await create(client, email, full_name="second")
    assert again["ok"] is False and "already exists" in again["msg"]
    assert again["error_code"] == "api_generic_invalid-parameters"
    found = await info(client, email)
    assert found is not None and found["full_name"] == "first"


async def test_bad_input_is_refused(manager: LocalManager) -> None:
    client = manager.client()
    cases: list[tuple[str, dict[str, Any], str]] = [
        (email_of(), {"group_ids": [str(uuid.uuid4())]}, "group_read_not-found"),
        (email_of(), {"group_ids": ["not-a-uuid"]}, "api_generic_invalid-parameters"),
        ("not-an-email", {}, "api_generic_invalid-parameters"),
        (email_of(), {"role": "emperor"}, "api_generic_invalid-parameters"),
        (email_of(), {"status": "sleeping"}, "api_generic_invalid-parameters"),
        (email_of(), {"password": ""}, "api_generic_invalid-parameters"),
        (email_of(), {"domain_name": "no-such-domain"}, "domain_read_not-found"),
        (email_of(), {"allowed_client_ip": ["300.1.1.1"]}, "api_generic_invalid-parameters"),
    ]
    for email, props, code in cases:
        result = await create(client, email, **props)
        assert result["ok"] is False, (email, props)
        assert result["error_code"] == code, (props, result)
        assert await info(client, email) is None
    # upper-case status values are accepted
    email = email_of()
    assert (await create(client, email, status="BEFORE_VERIFICATION"))["ok"]
    found = await info(client, email)
    assert found is not None and found["status"] == "before-verification"


async def test_plain_user_is_limited_to_itself(manager: LocalManager) -> None:
    admin = manager.client()
    user = await add_user(manager)
    client = manager.client(user.access_key, user.secret_key)
    body = await client.gql(
        USER_LIST,
        {"status": None, "group_id": None, "filter": None, "order": None, "limit": 20, "offset": 0},
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    body = await client.gql(INFO, {"email": manager.admin.email})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    body = await client.gql(INFO, {"email": user.email})
    assert body["data"]["user"]["email"] == user.email

    email = email_of()
    body = await client.gql(CREATE, {"email": email, "input": cli_input()})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    body = await client.gql(MODIFY, {"email": user.email, "input": {"role": "superadmin"}})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    assert await info(admin, email) is None
    found = await info(admin, user.email)
    assert found is not None and found["role"] == "user"


async def test_domain_admin_limits(manager: LocalManager) -> None:
    admin = manager.client()
    domain = f"udom-{uuid.uuid4().hex[:8]}"
    body = await admin.gql(
        "mutation($n: String!) { create_domain(name: $n, props: {}) { ok } }", {"n": domain}
    )
    assert body["data"]["create_domain"]["ok"] is True
    outsider = email_of("out")
    assert (await create(admin, outsider, domain_name=domain))["ok"]
    dadmin = await add_user(manager, role="admin")
    client = manager.client(dadmin.access_key, dadmin.secret_key)
    forbidden = "user_auth_forbidden"

    own = email_of("own")
    assert (await create(client, own))["ok"]
    body = await client.gql(CREATE, {"email": email_of(), "input": cli_input(domain_name=domain)})
    assert body["errors"][0]["extensions"]["error_code"] == forbidden
    body = await client.gql(CREATE, {"email": email_of(), "input": cli_input(role="superadmin")})
    assert body["errors"][0]["extensions"]["error_code"] == forbidden
    body = await client.gql(MODIFY, {"email": outsider, "input": {"full_name": "hacked"}})
    assert body["errors"][0]["extensions"]["error_code"] == forbidden
    body = await client.gql(MODIFY, {"email": manager.admin.email, "input": {"password": "x"}})
    assert body["errors"][0]["extensions"]["error_code"] == forbidden
    body = await client.gql(MODIFY, {"email": own, "input": {"domain_name": domain}})
    assert body["errors"][0]["extensions"]["error_code"] == forbidden
    body = await client.gql(INFO, {"email": outsider})
    assert body["errors"][0]["extensions"]["error_code"] == forbidden
    variables = {"status": None, "group_id": None, "order": None, "limit": 100, "offset": 0}
    body = await client.gql(USER_LIST, {**variables, "filter": f'domain_name == "{domain}"'})
    assert body["data"]["user_list"]["total_count"] == 0

    found = await info(admin, outsider)
    assert found is not None and found["full_name"] == "" and found["domain_name"] == domain
    found = await info(admin, own)
    assert found is not None and found["domain_name"] == "default"
    assert (await authorize(manager, manager.admin.email, "x")).status_code == 401
