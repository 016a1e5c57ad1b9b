"""``GET /scaling-groups?group=PROJECT``: which resource groups a caller may use in a project."""

from __future__ import annotations

import uuid
from typing import Any

from cygnet.testing.cluster import LocalManager
from cygnet.testing.signing import SignedClient

CREATE_USER = """mutation($email: String!, $input: UserInput!) {
  create_user(email: $email, props: $input) { ok msg user { uuid } } }"""
KEYPAIRS = "query($email: String) { keypairs(email: $email) { access_key secret_key } }"
CREATE_SG = """mutation($name: String!, $input: CreateScalingGroupInput!) {
  create_scaling_group(name: $name, props: $input) { ok msg } }"""
CREATE_GROUP = """mutation($name: String!, $input: GroupInput!) {
  create_group(name: $name, props: $input) { ok msg group { id } } }"""
TO_DOMAIN = """mutation($sg: String!, $d: String!) {
  associate_scaling_group_with_domain(scaling_group: $sg, domain: $d) { ok msg } }"""
TO_PROJECT = """mutation($sg: String!, $g: UUID!) {
  associate_scaling_group_with_user_group(scaling_group: $sg, user_group: $g) { ok msg } }"""
TO_KEYPAIR = """mutation($sg: String!, $ak: String!) {
  associate_scaling_group_with_keypair(scaling_group: $sg, access_key: $ak) { ok msg } }"""


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _ok(client: SignedClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await client.gql(query, variables)
    assert body["errors"] is None, body["errors"]
    payload: dict[str, Any] = next(iter(body["data"].values()))
    assert payload["ok"] is True, payload
    return payload


async def _user(local: LocalManager) -> SignedClient:
    """A plain user in the default project (create_user puts new users there)."""
    admin = local.client()
    email = f"{_name('rg')}@example.com"
    await _ok(
        admin,
        CREATE_USER,
        {
            "email": email,
            "input": {"password": "pw-123456", "role": "user", "domain_name": "default"},
        },
    )
    keys = (await admin.gql(KEYPAIRS, {"email": email}))["data"]["keypairs"][0]
    return local.client(keys["access_key"], keys["secret_key"])


async def _available(client: SignedClient, project: str) -> list[str]:
    resp = await client.request("GET", f"/scaling-groups?group={project}")
    assert resp.status_code == 200, resp.text
    return [item["name"] for item in resp.json()["scaling_groups"]]


async def test_domain_project_and_keypair_groups_are_available(
    fresh_manager: LocalManager,
) -> None:
    # Its own manager: linking groups to the default domain changes what everyone else sees.
    manager = fresh_manager
    admin = manager.client()
    user = await _user(manager)
    public, private, elsewhere, personal = (_name("sg") for _ in range(4))
    for name, is_public in ((public, True), (private, False), (elsewhere, True), (personal, True)):
        await _ok(admin, CREATE_SG, {"name": name, "input": {"is_public": is_public}})
    await _ok(admin, TO_DOMAIN, {"sg": public, "d": "default"})
    await _ok(admin, TO_DOMAIN, {"sg": private, "d": "default"})
    other = await _ok(
        admin, CREATE_GROUP, {"name": _name("proj"), "input": {"domain_name": "default"}}
    )
    await _ok(admin, TO_PROJECT, {"sg": elsewhere, "g": other["group"]["id"]})
    await _ok(admin, TO_KEYPAIR, {"sg": personal, "ak": user.access_key})

    seen = await _available(user, "default")
    assert "default" in seen and public in seen and personal in seen
    assert private not in seen  # not public: plain users do not get it
    assert elsewhere not in seen  # belongs to another project
    assert private in await _available(admin, "default")  # superadmins see every group


async def test_project_by_id_and_unknown_projects(manager: LocalManager) -> None:
    user = await _user(manager)
    resp = await user.request("GET", "/scaling-groups?group=no-such-project")
    assert resp.status_code == 404
    assert resp.json()["error_code"] == "group_read_not-found"
    resp = await user.request("GET", f"/scaling-groups?group={uuid.uuid4()}")
    assert resp.status_code == 404
    resp = await user.request("GET", "/scaling-groups")
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "api_parsing_invalid-parameters"


async def test_projects_the_user_is_not_in_are_hidden(manager: LocalManager) -> None:
    admin = manager.client()
    created = await _ok(
        admin, CREATE_GROUP, {"name": _name("proj"), "input": {"domain_name": "default"}}
    )
    project_id = created["group"]["id"]
    assert "default" in await _available(admin, project_id)  # the domain's group; admins may look
    user = await _user(manager)
    resp = await user.request("GET", f"/scaling-groups?group={project_id}")
    assert resp.status_code == 404
