"""Domains over the admin GraphQL API: lifecycle, authorisation, and bad input changing nothing."""

from __future__ import annotations

import json
import uuid

from cygnet.testing.builders import add_user
from cygnet.testing.cluster import LocalManager

CREATE = """mutation($name: String!, $input: DomainInput!) {
  create_domain(name: $name, props: $input) { ok msg error_code domain { name } } }"""
MODIFY = """mutation($name: String!, $input: ModifyDomainInput!) {
  modify_domain(name: $name, props: $input) { ok msg error_code } }"""
DELETE = "mutation($name: String!) { delete_domain(name: $name) { ok msg error_code } }"
PURGE = "mutation($name: String!) { purge_domain(name: $name) { ok msg error_code } }"
INFO = """query($name: String) { domain(name: $name) {
  name description is_active total_resource_slots allowed_vfolder_hosts
  allowed_docker_registries integration_id } }"""
LIST = "query { domains { name is_active } }"


def _name() -> str:
    return f"dom-{uuid.uuid4().hex[:8]}"


async def test_domain_lifecycle(manager: LocalManager) -> None:
    gql = manager.client().gql
    name = _name()
    created = await gql(
        CREATE,
        {
            "name": name,
            "input": {
                "description": "research",
                "total_resource_slots": json.dumps({"cpu": "8"}),
                "allowed_vfolder_hosts": json.dumps({"local:volume1": ["create-vfolder"]}),
                "allowed_docker_registries": ["local"],
            },
        },
    )
    assert created["data"]["create_domain"] == {
        "ok": True,
        "msg": "success",
        "error_code": None,
        "domain": {"name": name},
    }
    info = (await gql(INFO, {"name": name}))["data"]["domain"]
    assert info["description"] == "research"
    assert json.loads(info["total_resource_slots"]) == {"cpu": "8"}
    assert json.loads(info["allowed_vfolder_hosts"]) == {"local:volume1": ["create-vfolder"]}
    assert info["allowed_docker_registries"] == ["local"]

    renamed = _name()
    result = await gql(MODIFY, {"name": name, "input": {"name": renamed, "is_active": False}})
    assert result["data"]["modify_domain"]["ok"] is True
    assert (await gql(INFO, {"name": renamed}))["data"]["domain"]["is_active"] is False
    assert {"name": renamed, "is_active": False} in (await gql(LIST))["data"]["domains"]

    assert (await gql(DELETE, {"name": renamed}))["data"]["delete_domain"]["ok"] is True
    assert (await gql(PURGE, {"name": renamed}))["data"]["purge_domain"]["ok"] is True
    names = [d["name"] for d in (await gql(LIST))["data"]["domains"]]
    assert renamed not in names and name not in names


async def test_duplicate_domain_is_refused_and_changes_nothing(manager: LocalManager) -> None:
    gql = manager.client().gql
    name = _name()
    await gql(CREATE, {"name": name, "input": {"description": "first"}})
    again = await gql(CREATE, {"name": name, "input": {"description": "second"}})
    assert again["data"]["create_domain"]["ok"] is False
    assert again["data"]["create_domain"]["error_code"] == "api_generic_invalid-parameters"
    assert (await gql(INFO, {"name": name}))["data"]["domain"]["description"] == "first"


async def test_renaming_onto_an_existing_domain_is_refused(manager: LocalManager) -> None:
    gql = manager.client().gql
    a, b = _name(), _name()
    for n in (a, b):
        await gql(CREATE, {"name": n, "input": {}})
    result = await gql(MODIFY, {"name": a, "input": {"name": b}})
    assert result["data"]["modify_domain"]["ok"] is False
    assert (await gql(INFO, {"name": a}))["data"]["domain"]["name"] == a


async def test_invalid_domain_name_is_refused(manager: LocalManager) -> None:
    gql = manager.client().gql
    for bad in ("", "has space", "x" * 65, "../etc", "-leading"):
        result = await gql(CREATE, {"name": bad, "input": {}})
        assert result["data"]["create_domain"]["ok"] is False, bad
        assert result["data"]["create_domain"]["error_code"] == "api_generic_invalid-parameters"


async def test_deleting_a_domain_that_still_has_users_is_refused(manager: LocalManager) -> None:
    gql = manager.client().gql
    name = _name()
    await gql(CREATE, {"name": name, "input": {}})
    await add_user(manager, domain=name)
    for mutation, field in ((DELETE, "delete_domain"), (PURGE, "purge_domain")):
        result = (await gql(mutation, {"name": name}))["data"][field]
        assert result["ok"] is False
        assert result["error_code"] == "api_generic_conflict"
        assert "users" in result["msg"]
    info = (await gql(INFO, {"name": name}))["data"]["domain"]
    assert info is not None and info["is_active"] is True


async def test_bad_json_string_is_a_graphql_error(manager: LocalManager) -> None:
    gql = manager.client().gql
    name = _name()
    result = await gql(CREATE, {"name": name, "input": {"total_resource_slots": "{not json"}})
    assert result["errors"]
    assert result["data"] is None
    assert name not in [d["name"] for d in (await gql(LIST))["data"]["domains"]]


async def test_wrong_variable_types_are_a_graphql_error(manager: LocalManager) -> None:
    result = await manager.client().gql(CREATE, {"name": 42, "input": {"is_active": "yes"}})
    assert result["errors"] and result["data"] is None


async def test_only_superadmins_change_domains(manager: LocalManager) -> None:
    admin = await add_user(manager, role="admin")
    client = manager.client(admin.access_key, admin.secret_key)
    name = _name()
    result = await client.gql(CREATE, {"name": name, "input": {}})
    assert result["data"] is None
    assert result["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    assert result["errors"][0]["extensions"]["status"] == 403
    listed = (await manager.client().gql(LIST))["data"]["domains"]
    assert name not in [d["name"] for d in listed]


async def test_non_superadmins_see_only_their_domain(manager: LocalManager) -> None:
    gql = manager.client().gql
    other = _name()
    await gql(CREATE, {"name": other, "input": {}})
    user = await add_user(manager)
    client = manager.client(user.access_key, user.secret_key)
    assert (await client.gql(LIST))["data"]["domains"] == [{"name": "default", "is_active": True}]
    assert (await client.gql(INFO, {"name": None}))["data"]["domain"]["name"] == "default"
    hidden = await client.gql(INFO, {"name": other})
    assert hidden["data"]["domain"] is None  # as if it did not exist
    missing = await manager.client().gql(INFO, {"name": "no-such-domain"})
    assert missing["data"]["domain"] is None and not missing["errors"]
