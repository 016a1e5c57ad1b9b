"""Keypairs over GraphQL: listings with owners and projects, create/modify/delete, visibility."""

from __future__ import annotations

import uuid
from typing import Any

from cygnet.testing.builders import add_user
from cygnet.testing.cluster import LocalManager
from cygnet.testing.signing import SignedClient

CLI_FIELDS = (
    "user_id projects user_info { full_name } access_key secret_key is_active is_admin "
    "created_at last_used resource_policy rate_limit concurrency_used"
)
KEYPAIR_LIST = (
    "query($limit:Int!, $offset:Int!, $is_active: Boolean, $domain_name: String, "
    "$email: String, $filter: String, $order: String) { keypair_list(limit:$limit, "
    "offset:$offset, is_active:$is_active, domain_name:$domain_name, email:$email, "
    f"filter:$filter, order:$order) {{ items {{ {CLI_FIELDS} }} total_count }} }}"
)
CREATE = (
    "mutation($user_id: String!, $input: KeyPairInput!) { create_keypair(user_id: $user_id, "
    "props: $input) { ok msg error_code keypair { access_key secret_key } } }"
)
MODIFY = (
    "mutation($access_key: String!, $input: ModifyKeyPairInput!) { modify_keypair("
    "access_key: $access_key, props: $input) { ok msg error_code } }"
)
DELETE = (
    "mutation($access_key: String!) { delete_keypair(access_key: $access_key) "
    "{ ok msg error_code } }"
)
ONE = f"query($ak: String) {{ keypair(access_key: $ak) {{ {CLI_FIELDS} }} }}"
OF_USER = "query($email: String!) { keypairs(email: $email) { access_key secret_key } }"


def page_vars(**values: Any) -> dict[str, Any]:
    base = {"is_active": None, "domain_name": None, "email": None, "filter": None, "order": None}
    return {**base, "limit": 20, "offset": 0, **values}


async def new_keypair(client: SignedClient, email: str, **props: Any) -> dict[str, Any]:
    body = await client.gql(
        CREATE,
        {
            "user_id": email,
            "input": {"is_active": True, "is_admin": False, "resource_policy": "default", **props},
        },
    )
    assert body["errors"] is None, body
    result: dict[str, Any] = body["data"]["create_keypair"]
    return result


async def test_list_shows_owner_and_projects(manager: LocalManager) -> None:
    client = manager.client()
    user = await add_user(manager)
    gid = (
        await client.gql(
            'mutation($n: String!) { create_group(name: $n, props: {domain_name: "default"}) '
            "{ group { id } } }",
            {"n": f"kp-{uuid.uuid4().hex[:8]}"},
        )
    )["data"]["create_group"]["group"]["id"]
    await client.gql(
        "mutation($e: String!, $g: [String]) { modify_user(email: $e, props: {group_ids: $g, "
        'full_name: "Key Owner"}) { ok } }',
        {"e": user.email, "g": [gid]},
    )
    body = await client.gql(KEYPAIR_LIST, page_vars(email=user.email))
    assert body["errors"] is None, body
    page = body["data"]["keypair_list"]
    assert page["total_count"] == 1
    item = page["items"][0]
    assert item["user_id"] == user.email and item["access_key"] == user.access_key
    assert item["secret_key"] == user.secret_key
    assert item["user_info"] == {"full_name": "Key Owner"}
    assert len(item["projects"]) == 1 and item["concurrency_used"] == 0

    body = await client.gql(
        KEYPAIR_LIST, page_vars(filter=f'access_key == "{user.access_key}" & is_active == true')
    )
    assert body["data"]["keypair_list"]["total_count"] == 1
    body = await client.gql(KEYPAIR_LIST, page_vars(order="-rate_limit,+access_key", limit=1))
    assert body["data"]["keypair_list"]["items"][0]["rate_limit"] >= 30000


async def test_create_modify_delete(manager: LocalManager) -> None:
    client = manager.client()
    user = await add_user(manager)
    created = await new_keypair(client, user.email, rate_limit=777)
    assert created["ok"] is True, created
    key = created["keypair"]
    extra = manager.client(key["access_key"], key["secret_key"])
    body = await extra.gql("query { keypair { user_id access_key rate_limit } }")
    assert body["data"]["keypair"] == {
        "user_id": user.email,
        "access_key": key["access_key"],
        "rate_limit": 777,
    }

    body = await client.gql(
        MODIFY, {"access_key": key["access_key"], "input": {"is_active": False, "rate_limit": 5}}
    )
    assert body["data"]["modify_keypair"]["ok"] is True
    resp = await extra.request(
        "POST", "/admin/gql", json={"query": "query { keypair { user_id } }"}
    )
    assert resp.status_code == 401
    body = await client.gql(ONE, {"ak": key["access_key"]})
    assert body["data"]["keypair"]["is_active"] is False
    assert body["data"]["keypair"]["rate_limit"] == 5

    body = await client.gql(DELETE, {"access_key": key["access_key"]})
    assert body["data"]["delete_keypair"]["ok"] is True
    body = await client.gql(ONE, {"ak": key["access_key"]})
    assert body["data"]["keypair"] is None


async def test_main_key_and_bad_input_are_refused(manager: LocalManager) -> None:
    client = manager.client()
    user = await add_user(manager)
    body = await client.gql(DELETE, {"access_key": user.access_key})
    result = body["data"]["delete_keypair"]
    assert result["ok"] is False and "main access key" in result["msg"]
    body = await client.gql(ONE, {"ak": user.access_key})
    assert body["data"]["keypair"]["access_key"] == user.access_key

    bad_policy = await new_keypair(client, user.email, resource_policy="no-such-policy")
    assert bad_policy["ok"] is False
    assert bad_policy["error_code"] == "resource-policy_read_not-found"
    unknown_user = await new_keypair(client, "nobody-" + uuid.uuid4().hex[:6] + "@example.com")
    assert unknown_user["ok"] is False and unknown_user["error_code"] == "user_read_not-found"
    body = await client.gql(MODIFY, {"access_key": user.access_key, "input": {"rate_limit": -1}})
    assert body["data"]["modify_keypair"]["ok"] is False
    body = await client.gql(DELETE, {"access_key": "AKIANOSUCHKEY0000000"})
    assert body["data"]["delete_keypair"]["error_code"] == "keypair_read_not-found"
    body = await client.gql(OF_USER, {"email": user.email})
    assert [k["access_key"] for k in body["data"]["keypairs"]] == [user.access_key]


async def test_user_sees_only_own_keypairs(manager: LocalManager) -> None:
    user = await add_user(manager)
    other = await add_user(manager)
    client = manager.client(user.access_key, user.secret_key)

    body = await client.gql("query { keypair { user_id access_key secret_key } }")
    assert body["data"]["keypair"]["secret_key"] == user.secret_key
    body = await client.gql(OF_USER, {"email": user.email})
    assert [k["access_key"] for k in body["data"]["keypairs"]] == [user.access_key]
    body = await client.gql(KEYPAIR_LIST, page_vars())
    assert [k["access_key"] for k in body["data"]["keypair_list"]["items"]] == [user.access_key]

    for query, variables in (
        (OF_USER, {"email": other.email}),
        (ONE, {"ak": other.access_key}),
        (KEYPAIR_LIST, page_vars(email=other.email)),
    ):
        body = await client.gql(query, variables)
        assert not any((body["data"] or {}).values())
        assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
        assert other.secret_key not in str(body)

    body = await client.gql(CREATE, {"user_id": user.email, "input": {"is_admin": True}})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    body = await client.gql(MODIFY, {"access_key": other.access_key, "input": {"is_active": False}})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    body = await manager.client().gql(OF_USER, {"email": user.email})
    assert len(body["data"]["keypairs"]) == 1
    other_client = manager.client(other.access_key, other.secret_key)
    assert (await other_client.gql("query { keypair { is_active } }"))["data"]["keypair"] == {
        "is_active": True
    }


async def test_domain_admin_cannot_reach_superadmin_keys(manager: LocalManager) -> None:
    dadmin = await add_user(manager, role="admin")
    member = await add_user(manager)
    client = manager.client(dadmin.access_key, dadmin.secret_key)

    body = await client.gql(KEYPAIR_LIST, page_vars(email=manager.admin.email))
    items = body["data"]["keypair_list"]["items"]
    assert items and all(k["secret_key"] is None for k in items)
    body = await client.gql(KEYPAIR_LIST, page_vars(email=member.email))
    assert body["data"]["keypair_list"]["items"][0]["secret_key"] == member.secret_key

    created = await client.gql(CREATE, {"user_id": manager.admin.email, "input": {}})
    assert created["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    body = await client.gql(
        MODIFY, {"access_key": manager.admin.access_key, "input": {"is_active": False}}
    )
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    body = await client.gql(KEYPAIR_LIST, page_vars(domain_name="elsewhere"))
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"

    body = await manager.client().gql(OF_USER, {"email": manager.admin.email})
    assert len(body["data"]["keypairs"]) == 1
    ok = await new_keypair(client, member.email)
    assert ok["ok"] is True
