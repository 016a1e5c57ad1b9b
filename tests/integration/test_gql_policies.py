"""Keypair, user and project resource policies over the admin GraphQL endpoint.

The documents are the ones the official client sends (wire notes 2.6), variable types included.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from cygnet.common.clock import RealClock
from cygnet.manager.store import models as m
from cygnet.testing import builders
from cygnet.testing.cluster import LocalManager
from cygnet.testing.signing import SignedClient

KRP_FIELDS = (
    "name created_at default_for_unspecified total_resource_slots max_session_lifetime "
    "max_concurrent_sessions max_concurrent_sftp_sessions max_containers_per_session "
    "idle_timeout allowed_vfolder_hosts max_pending_session_count "
    "max_pending_session_resource_slots"
)
KRP_LIST = f"query {{ keypair_resource_policies {{ {KRP_FIELDS} }} }}"
KRP_INFO = f"query($name: String) {{ keypair_resource_policy(name: $name) {{ {KRP_FIELDS} }} }}"
KRP_ADD = (
    "mutation($name: String!, $input: CreateKeyPairResourcePolicyInput!) {"
    " create_keypair_resource_policy(name: $name, props: $input) {"
    " ok msg resource_policy { name } } }"
)
KRP_UPDATE = (
    "mutation($name: String!, $input: ModifyKeyPairResourcePolicyInput!) {"
    " modify_keypair_resource_policy(name: $name, props: $input) { ok msg } }"
)
KRP_DELETE = "mutation($name: String!) { delete_keypair_resource_policy(name: $name) { ok msg } }"

URP_FIELDS = (
    "name created_at max_vfolder_count max_quota_scope_size "
    "max_session_count_per_model_session max_customized_image_count"
)
URP_LIST = f"query {{ user_resource_policies {{ {URP_FIELDS} }} }}"
URP_INFO = f"query($name: String!) {{ user_resource_policy(name: $name) {{ {URP_FIELDS} }} }}"
URP_ADD = (
    "mutation($name: String!, $input: CreateUserResourcePolicyInput!) {"
    " create_user_resource_policy(name: $name, props: $input) { ok msg } }"
)
URP_UPDATE = (
    "mutation($name: String!, $input: ModifyUserResourcePolicyInput!) {"
    " modify_user_resource_policy(name: $name, props: $input) { ok } }"
)
URP_DELETE = "mutation($name: String!) { delete_user_resource_policy(name: $name) { ok msg } }"

PRP_FIELDS = "name created_at max_vfolder_count max_quota_scope_size max_network_count"
PRP_LIST = f"query {{ project_resource_policies {{ {PRP_FIELDS} }} }}"
PRP_INFO = f"query($name: String!) {{ project_resource_policy(name: $name) {{ {PRP_FIELDS} }} }}"
PRP_ADD = (
    "mutation($name: String!, $input: CreateProjectResourcePolicyInput!) {"
    " create_project_resource_policy(name: $name, props: $input) {"
    " ok msg resource_policy { name max_network_count } } }"
)
PRP_UPDATE = (
    "mutation($name: String!, $input: ModifyProjectResourcePolicyInput!) {"
    " modify_project_resource_policy(name: $name, props: $input) { ok msg } }"
)
PRP_DELETE = "mutation($name: String!) { delete_project_resource_policy(name: $name) { ok msg } }"

VFOLDER_PERMS = json.dumps({"local:volume1": ["create-vfolder", "mount-in-session"]})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def data_of(client: SignedClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    """The ``data`` of a GraphQL reply that must have no errors."""
    body = await client.gql(query, variables)
    assert body["errors"] is None, body["errors"]
    return body["data"]


def cli_add_input(**overrides: Any) -> dict[str, Any]:
    """What ``backend.ai admin keypair-resource-policy add`` sends with its defaults."""
    return {
        "default_for_unspecified": "UNLIMITED",
        "total_resource_slots": "{}",
        "max_session_lifetime": 0,
        "max_concurrent_sessions": 30,
        "max_concurrent_sftp_sessions": 30,
        "max_containers_per_session": 1,
        "idle_timeout": 1800,
        "allowed_vfolder_hosts": VFOLDER_PERMS,
        "max_pending_session_count": None,
        "max_pending_session_resource_slots": None,
        **overrides,
    }


async def plain_user(
    manager: LocalManager, *, keypair_policy: str = "default"
) -> builders.SeededUser:
    """A user-role user whose keypair uses ``keypair_policy``, in a new project of its own."""
    user = await builders.add_user(manager)
    now = RealClock().now()
    async with manager.manager.db.transaction() as session:
        key = await session.get(m.KeyPairRow, user.access_key)
        assert key is not None
        key.resource_policy = keypair_policy
        project_id = uuid.uuid4()
        session.add(
            m.ProjectRow(
                id=project_id,
                name=unique("proj"),
                created_at=now,
                modified_at=now,
                domain_name="default",
                resource_policy="default",
            )
        )
        await session.flush()
        session.add(m.ProjectMemberRow(group_id=project_id, user_id=user.uuid))
    manager.manager.services.auth.invalidate()
    return user


def names(items: list[dict[str, Any]]) -> set[str]:
    return {item["name"] for item in items}


# Keypair resource policies.


async def test_keypair_policy_lifecycle_as_the_cli_sends_it(manager: LocalManager) -> None:
    client = manager.client()
    name = unique("krp")
    slots = json.dumps({"cpu": 4, "mem": "4g", "cuda.shares": "0.5", "rocm.device": 0})
    result = await data_of(
        client,
        KRP_ADD,
        {"name": name, "input": cli_add_input(total_resource_slots=slots, idle_timeout=3600)},
    )
    assert result["create_keypair_resource_policy"] == {
        "ok": True,
        "msg": "success",
        "resource_policy": {"name": name},
    }

    listed = (await data_of(client, KRP_LIST))["keypair_resource_policies"]
    assert {"default", name} <= names(listed)
    info = (await data_of(client, KRP_INFO, {"name": name}))["keypair_resource_policy"]
    assert json.loads(info["total_resource_slots"]) == {
        "cpu": "4",
        "mem": "4294967296",
        "cuda.shares": "0.5",
    }
    assert json.loads(info["allowed_vfolder_hosts"]) == json.loads(VFOLDER_PERMS)
    assert info["idle_timeout"] == 3600
    assert info["default_for_unspecified"] == "UNLIMITED"
    assert info["max_pending_session_count"] is None
    assert info["max_pending_session_resource_slots"] is None
    assert info["max_containers_per_session"] == 1

    update = {
        "max_containers_per_session": 4,
        "max_pending_session_count": 2,
        "max_pending_session_resource_slots": json.dumps({"cpu": "2"}),
        "default_for_unspecified": "LIMITED",
    }
    result = await data_of(client, KRP_UPDATE, {"name": name, "input": update})
    assert result["modify_keypair_resource_policy"] == {"ok": True, "msg": "success"}
    info = (await data_of(client, KRP_INFO, {"name": name}))["keypair_resource_policy"]
    assert info["max_containers_per_session"] == 4
    assert info["max_pending_session_count"] == 2
    assert json.loads(info["max_pending_session_resource_slots"]) == {"cpu": "2"}
    assert info["default_for_unspecified"] == "LIMITED"
    assert info["idle_timeout"] == 3600  # untouched

    result = await data_of(client, KRP_DELETE, {"name": name})
    assert result["delete_keypair_resource_policy"]["ok"] is True
    assert name not in names((await data_of(client, KRP_LIST))["keypair_resource_policies"])
    body = await client.gql(KRP_INFO, {"name": name})
    assert body["errors"] is None and body["data"]["keypair_resource_policy"] is None


async def test_keypair_policy_without_name_is_the_callers(manager: LocalManager) -> None:
    info = await data_of(manager.client(), "query { keypair_resource_policy { name } }")
    assert info["keypair_resource_policy"] == {"name": "default"}


async def test_duplicate_keypair_policy_is_refused(manager: LocalManager) -> None:
    client = manager.client()
    name = unique("krp-dup")
    await data_of(client, KRP_ADD, {"name": name, "input": cli_add_input(idle_timeout=10)})
    result = await data_of(client, KRP_ADD, {"name": name, "input": cli_add_input(idle_timeout=99)})
    assert result["create_keypair_resource_policy"]["ok"] is False
    assert "already exists" in result["create_keypair_resource_policy"]["msg"]
    info = (await data_of(client, KRP_INFO, {"name": name}))["keypair_resource_policy"]
    assert info["idle_timeout"] == 10


async def test_invalid_slot_maps_are_refused(manager: LocalManager) -> None:
    client = manager.client()
    name = unique("krp-bad")
    for slots, hint in (({"cpu": -1}, "negative"), ({"gpu": 1}, "unknown resource slot")):
        result = await data_of(
            client,
            KRP_ADD,
            {"name": name, "input": cli_add_input(total_resource_slots=json.dumps(slots))},
        )
        payload = result["create_keypair_resource_policy"]
        assert payload["ok"] is False and hint in payload["msg"], payload
        assert payload["resource_policy"] is None
    assert name not in names((await data_of(client, KRP_LIST))["keypair_resource_policies"])

    # A bad modification leaves the policy as it was.
    await data_of(client, KRP_ADD, {"name": name, "input": cli_add_input()})
    bad = {"max_pending_session_resource_slots": json.dumps({"mem": "-4g"}), "idle_timeout": 5}
    result = await data_of(client, KRP_UPDATE, {"name": name, "input": bad})
    assert result["modify_keypair_resource_policy"]["ok"] is False
    info = (await data_of(client, KRP_INFO, {"name": name}))["keypair_resource_policy"]
    assert info["max_pending_session_resource_slots"] is None
    assert info["idle_timeout"] == 1800


async def test_in_use_keypair_policy_cannot_be_deleted(manager: LocalManager) -> None:
    client = manager.client()
    result = await data_of(client, KRP_DELETE, {"name": "default"})
    payload = result["delete_keypair_resource_policy"]
    assert payload["ok"] is False and "still used" in payload["msg"]
    assert "default" in names((await data_of(client, KRP_LIST))["keypair_resource_policies"])


async def test_missing_keypair_policy_modify_and_delete(manager: LocalManager) -> None:
    client = manager.client()
    result = await data_of(client, KRP_UPDATE, {"name": "no-such", "input": {"idle_timeout": 1}})
    assert result["modify_keypair_resource_policy"]["ok"] is False
    result = await data_of(client, KRP_DELETE, {"name": "no-such"})
    assert result["delete_keypair_resource_policy"]["ok"] is False


async def test_non_admin_sees_own_keypair_policy_and_cannot_mutate(
    manager: LocalManager,
) -> None:
    admin = manager.client()
    own, other = unique("krp-own"), unique("krp-other")
    for name in (own, other):
        await data_of(admin, KRP_ADD, {"name": name, "input": cli_add_input()})
    user = await plain_user(manager, keypair_policy=own)
    client = manager.client(user.access_key, user.secret_key)

    listed = (await data_of(client, KRP_LIST))["keypair_resource_policies"]
    assert names(listed) == {own}
    assert (await data_of(client, "query { keypair_resource_policy { name } }")) == {
        "keypair_resource_policy": {"name": own}
    }
    body = await client.gql(KRP_INFO, {"name": other})
    assert body["errors"] is None and body["data"]["keypair_resource_policy"] is None

    for query, variables in (
        (KRP_ADD, {"name": unique("krp-user"), "input": cli_add_input()}),
        (KRP_UPDATE, {"name": own, "input": {"idle_timeout": 1}}),
        (KRP_DELETE, {"name": other}),
    ):
        body = await client.gql(query, variables)
        assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    after = {p["name"]: p for p in (await data_of(admin, KRP_LIST))["keypair_resource_policies"]}
    assert own in after and other in after
    assert after[own]["idle_timeout"] == 1800
    assert not any(n.startswith("krp-user") for n in after)


# User resource policies.


async def test_user_policy_lifecycle(manager: LocalManager) -> None:
    client = manager.client()
    name = unique("urp")
    props = {
        "max_vfolder_count": 5,
        "max_quota_scope_size": 10 * 2**40,
        "max_session_count_per_model_session": 3,
        "max_customized_image_count": 2,
    }
    result = await data_of(client, URP_ADD, {"name": name, "input": props})
    assert result["create_user_resource_policy"] == {"ok": True, "msg": "success"}
    info = (await data_of(client, URP_INFO, {"name": name}))["user_resource_policy"]
    assert {k: info[k] for k in props} == props
    assert {"default", name} <= names((await data_of(client, URP_LIST))["user_resource_policies"])

    result = await data_of(client, URP_UPDATE, {"name": name, "input": {"max_vfolder_count": 9}})
    assert result["modify_user_resource_policy"] == {"ok": True}
    info = (await data_of(client, URP_INFO, {"name": name}))["user_resource_policy"]
    assert info["max_vfolder_count"] == 9
    assert info["max_quota_scope_size"] == 10 * 2**40

    result = await data_of(client, URP_DELETE, {"name": name})
    assert result["delete_user_resource_policy"]["ok"] is True
    assert name not in names((await data_of(client, URP_LIST))["user_resource_policies"])


async def test_user_policy_bad_input(manager: LocalManager) -> None:
    client = manager.client()
    result = await data_of(client, URP_ADD, {"name": "default", "input": {"max_vfolder_count": 1}})
    assert result["create_user_resource_policy"]["ok"] is False
    result = await data_of(client, URP_DELETE, {"name": "default"})
    assert result["delete_user_resource_policy"]["ok"] is False
    assert "still used" in result["delete_user_resource_policy"]["msg"]
    name = unique("urp-neg")
    result = await data_of(client, URP_ADD, {"name": name, "input": {"max_vfolder_count": -3}})
    assert result["create_user_resource_policy"]["ok"] is False
    listed = (await data_of(client, URP_LIST))["user_resource_policies"]
    assert name not in names(listed)
    default = next(p for p in listed if p["name"] == "default")
    assert default["max_vfolder_count"] == 0


async def test_non_admin_user_policy_access(manager: LocalManager) -> None:
    admin = manager.client()
    other = unique("urp-other")
    await data_of(admin, URP_ADD, {"name": other, "input": {}})
    user = await plain_user(manager)
    client = manager.client(user.access_key, user.secret_key)
    assert names((await data_of(client, URP_LIST))["user_resource_policies"]) == {"default"}
    own = await data_of(client, "query { user_resource_policy { name } }")
    assert own == {"user_resource_policy": {"name": "default"}}
    assert (await client.gql(URP_INFO, {"name": other}))["data"]["user_resource_policy"] is None
    body = await client.gql(URP_UPDATE, {"name": "default", "input": {"max_vfolder_count": 7}})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    info = (await data_of(admin, URP_INFO, {"name": "default"}))["user_resource_policy"]
    assert info["max_vfolder_count"] == 0


# Project resource policies.


async def test_project_policy_lifecycle(manager: LocalManager) -> None:
    client = manager.client()
    name = unique("prp")
    props = {"max_vfolder_count": 4, "max_quota_scope_size": -1, "max_network_count": 1}
    result = await data_of(client, PRP_ADD, {"name": name, "input": props})
    assert result["create_project_resource_policy"] == {
        "ok": True,
        "msg": "success",
        "resource_policy": {"name": name, "max_network_count": 1},
    }
    info = (await data_of(client, PRP_INFO, {"name": name}))["project_resource_policy"]
    assert {k: info[k] for k in props} == props
    result = await data_of(client, PRP_UPDATE, {"name": name, "input": {"max_network_count": 8}})
    assert result["modify_project_resource_policy"]["ok"] is True
    info = (await data_of(client, PRP_INFO, {"name": name}))["project_resource_policy"]
    assert info["max_network_count"] == 8
    result = await data_of(client, PRP_DELETE, {"name": name})
    assert result["delete_project_resource_policy"]["ok"] is True
    assert name not in names((await data_of(client, PRP_LIST))["project_resource_policies"])


async def test_in_use_project_policy_cannot_be_deleted(manager: LocalManager) -> None:
    client = manager.client()
    result = await data_of(client, PRP_DELETE, {"name": "default"})
    assert result["delete_project_resource_policy"]["ok"] is False
    assert "default" in names((await data_of(client, PRP_LIST))["project_resource_policies"])
    async with manager.manager.db.read() as session:
        used = await session.execute(
            select(m.ProjectRow.name).where(m.ProjectRow.resource_policy == "default")
        )
        assert "default" in used.scalars().all()


async def test_non_admin_project_policy_access(manager: LocalManager) -> None:
    admin = manager.client()
    other = unique("prp-other")
    await data_of(admin, PRP_ADD, {"name": other, "input": {}})
    user = await plain_user(manager)
    client = manager.client(user.access_key, user.secret_key)
    assert names((await data_of(client, PRP_LIST))["project_resource_policies"]) == {"default"}
    assert (await client.gql(PRP_INFO, {"name": other}))["data"]["project_resource_policy"] is None
    body = await client.gql(PRP_DELETE, {"name": other})
    assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    assert other in names((await data_of(admin, PRP_LIST))["project_resource_policies"])
