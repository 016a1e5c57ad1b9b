"""Projects ("groups") over GraphQL, with the documents the official client sends."""

from __future__ import annotations

import uuid
from typing import Any

from cygnet.testing.builders import add_user
from cygnet.testing.cluster import LocalManager
from cygnet.testing.signing import SignedClient

DETAIL = (
    "id name description is_active created_at domain_name total_resource_slots "
    "allowed_vfolder_hosts integration_id"
)
CREATE = (
    "mutation($name: String!, $input: GroupInput!) { create_group(name: $name, props: $input) "
    "{ ok msg error_code group { id domain_name name } } }"
)
MODIFY = (
    "mutation($gid: UUID!, $input: ModifyGroupInput!) { modify_group(gid: $gid, props: $input) "
    "{ ok msg error_code } }"
)
DELETE = "mutation($gid: UUID!) { delete_group(gid: $gid) { ok msg error_code } }"
PURGE = "mutation($gid: UUID!) { purge_group(gid: $gid) { ok msg error_code } }"
LIST = "query($domain_name: String) { groups(domain_name: $domain_name) { id name is_active } }"
BY_NAME = (
    "query($name: String!, $domain_name: String) { groups_by_name(name: $name, "
    f"domain_name: $domain_name) {{ {DETAIL} }} }}"
)
INFO = f"query($gid: UUID!) {{ group(id: $gid) {{ {DETAIL} scaling_groups }} }}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create_group(client: SignedClient, name: str, **props: Any) -> dict[str, Any]:
    body = await client.gql(
        CREATE, {"name": name, "input": {"domain_name": "default", "is_active": True, **props}}
    )
    assert body["errors"] is None, body
    result: dict[str, Any] = body["data"]["create_group"]
    return result


async def group_info(client: SignedClient, gid: str) -> dict[str, Any] | None:
    body = await client.gql(INFO, {"gid": gid})
    assert body["errors"] is None, body
    found: dict[str, Any] | None = body["data"]["group"]
    return found


async def names_in(client: SignedClient, domain: str | None = "default") -> list[str]:
    body = await client.gql(LIST, {"domain_name": domain})
    assert body["errors"] is None, body
    return [g["name"] for g in body["data"]["groups"]]


async def test_group_lifecycle(manager: LocalManager) -> None:
    client = manager.client()
    name = unique("proj")
    created = await create_group(
        client,
        name,
        description="first",
        total_resource_slots='{"cpu": "4"}',
        allowed_vfolder_hosts='{"local:volume1": ["create-vfolder"]}',
    )
    assert created["ok"] is True, created
    gid = created["group"]["id"]
    assert created["group"] == {"id": gid, "domain_name": "default", "name": name}
    assert name in await names_in(client)
    assert name in await names_in(client, None)

    info = await group_info(client, gid)
    assert info is not None
    assert info["description"] == "first"
    assert info["total_resource_slots"] == '{"cpu": "4"}'
    assert info["allowed_vfolder_hosts"] == '{"local:volume1": ["create-vfolder"]}'
    assert info["scaling_groups"] == []

    body = await client.gql(BY_NAME, {"name": name, "domain_name": None})
    assert [g["id"] for g in body["data"]["groups_by_name"]] == [gid]

    new_name = unique("renamed")
    body = await client.gql(
        MODIFY, {"gid": gid, "input": {"name": new_name, "description": "second"}}
    )
    assert body["data"]["modify_group"]["ok"] is True, body
    info = await group_info(client, gid)
    assert info is not None and info["name"] == new_name and info["description"] == "second"

    body = await client.gql(DELETE, {"gid": gid})
    assert body["data"]["delete_group"]["ok"] is True
    info = await group_info(client, gid)
    assert info is not None and info["is_active"] is False

    body = await client.gql(PURGE, {"gid": gid})
    assert body["data"]["purge_group"]["ok"] is True
    assert await group_info(client, gid) is None
    assert new_name not in await names_in(client)


async def test_membership_add_remove_and_purge(manager: LocalManager) -> None:
    client = manager.client()
    user = await add_user(manager)
    gid = (await create_group(client, unique("team")))["group"]["id"]
    members = "query($gid: UUID) { users(group_id: $gid) { email } }"

    body = await client.gql(
        MODIFY, {"gid": gid, "input": {"user_update_mode": "add", "user_uuids": [str(user.uuid)]}}
    )
    assert body["data"]["modify_group"]["ok"] is True, body
    body = await client.gql(members, {"gid": gid})
    assert [u["email"] for u in body["data"]["users"]] == [user.email]

    body = await client.gql(
        MODIFY,
        {"gid": gid, "input": {"user_update_mode": "remove", "user_uuids": [str(user.uuid)]}},
    )
    assert body["data"]["modify_group"]["ok"] is True
    body = await client.gql(members, {"gid": gid})
    assert body["data"]["users"] == []

    # purge takes memberships and resource-group associations with it
    await client.gql(
        MODIFY, {"gid": gid, "input": {"user_update_mode": "add", "user_uuids": [str(user.uuid)]}}
    )
    associate = (
        "mutation($sg: String!, $g: UUID!) { associate_scaling_group_with_user_group("
        "scaling_group: $sg, user_group: $g) { ok msg } }"
    )
    body = await client.gql(associate, {"sg": "default", "g": gid})
    assert body["data"]["associate_scaling_group_with_user_group"]["ok"] is True, body
    info = await group_info(client, gid)
    assert info is not None and info["scaling_groups"] == ["default"]
    body = await client.gql(PURGE, {"gid": gid})
    assert body["data"]["purge_group"]["ok"] is True, body
    body = await client.gql(
        "query($e: String) { user(email: $e) { groups { id } } }", {"e": user.email}
    )
    assert gid not in [g["id"] for g in body["data"]["user"]["groups"]]


async def test_duplicate_name_in_domain_is_refused(manager: LocalManager) -> None:
    client = manager.client()
    name = unique("dup")
    first = await create_group(client, name, description="original")
    assert first["ok"] is True
    second = await create_group(client, name, description="impostor")
    assert second["ok"] is False
    assert "already exists" in second["msg"]
    assert second["error_code"] == "api_generic_invalid-parameters"
    body = await client.gql(BY_NAME, {"name": name, "domain_name": "default"})
    groups = body["data"]["groups_by_name"]
    assert len(groups) == 1 and groups[0]["description"] == "original"


async def test_delete_unknown_group_changes_nothing(manager: LocalManager) -> None:
    client = manager.client()
    before = await names_in(client, None)
    body = await client.gql(DELETE, {"gid": str(uuid.uuid4())})
    assert body["errors"] is None
    result = body["data"]["delete_group"]
    assert result["ok"] is False and result["error_code"] == "group_read_not-found"
    body = await client.gql(PURGE, {"gid": str(uuid.uuid4())})
    assert body["data"]["purge_group"]["ok"] is False
    assert await names_in(client, None) == before


async def test_wrong_variable_type_is_a_validation_error(manager: LocalManager) -> None:
    client = manager.client()
    name = unique("typed")
    body = await client.gql(
        "query($gid: String!) { group(id: $gid) { id } }", {"gid": str(uuid.uuid4())}
    )
    assert body["data"] is None
    assert "UUID!" in body["errors"][0]["message"]
    body = await client.gql(
        "mutation($name: Int!, $input: GroupInput!) { create_group(name: $name, props: $input) "
        "{ ok } }",
        {"name": 5, "input": {"domain_name": "default"}},
    )
    assert body["data"] is None and body["errors"]
    body = await client.gql(CREATE, {"name": name, "input": {"is_active": "yes"}})
    assert body["data"] is None and body["errors"]
    assert name not in await names_in(client)


async def test_plain_user_sees_only_own_projects(manager: LocalManager) -> None:
    admin = manager.client()
    user = await add_user(manager)
    mine = (await create_group(admin, unique("mine")))["group"]["id"]
    other = (await create_group(admin, unique("other")))["group"]["id"]
    await admin.gql(
        MODIFY, {"gid": mine, "input": {"user_update_mode": "add", "user_uuids": [str(user.uuid)]}}
    )
    client = manager.client(user.access_key, user.secret_key)
    body = await client.gql(LIST, {"domain_name": None})
    assert {g["id"] for g in body["data"]["groups"]} == {mine}
    assert await group_info(client, mine) is not None
    assert await group_info(client, other) is None

    body = await client.gql(CREATE, {"name": unique("nope"), "input": {"domain_name": "default"}})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    body = await client.gql(PURGE, {"gid": other})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    assert await group_info(admin, other) is not None


async def test_domain_admin_stays_in_its_domain(manager: LocalManager) -> None:
    admin = manager.client()
    domain = unique("dom")
    body = await admin.gql(
        "mutation($n: String!) { create_domain(name: $n, props: {}) { ok msg } }", {"n": domain}
    )
    assert body["data"]["create_domain"]["ok"] is True, body
    foreign = await create_group(admin, unique("foreign"), domain_name=domain)
    assert foreign["ok"] is True, foreign
    foreign_id = foreign["group"]["id"]

    dadmin = await add_user(manager, role="admin")
    client = manager.client(dadmin.access_key, dadmin.secret_key)
    own = await create_group(client, unique("own"))
    assert own["ok"] is True and own["group"]["domain_name"] == "default"

    name = unique("sneaky")
    body = await client.gql(CREATE, {"name": name, "input": {"domain_name": domain}})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    body = await client.gql(LIST, {"domain_name": domain})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    assert await group_info(client, foreign_id) is None
    body = await client.gql(MODIFY, {"gid": foreign_id, "input": {"description": "mine now"}})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"

    info = await group_info(admin, foreign_id)
    assert info is not None and info["description"] is None
    assert name not in await names_in(admin, domain)
