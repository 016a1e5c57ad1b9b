"""Scaling groups (resource groups) over the admin GraphQL endpoint: CRUD, associations with
domains, projects and keypairs, and who may see what.

The documents are the ones the official client sends (wire notes 2.6), variable types included.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from cygnet.common.clock import RealClock
from cygnet.manager.store import models as m
from cygnet.testing import builders
from cygnet.testing.cluster import LocalManager
from cygnet.testing.signing import SignedClient

LIST_FIELDS = (
    "name description is_active is_public created_at driver scheduler use_host_network "
    "wsproxy_addr wsproxy_api_token"
)
DETAIL_FIELDS = LIST_FIELDS + " driver_opts scheduler_opts"
SG_LIST = (
    f"query($is_active: Boolean) {{ scaling_groups(is_active: $is_active) {{ {LIST_FIELDS} }} }}"
)
SG_INFO = f"query($name: String) {{ scaling_group(name: $name) {{ {DETAIL_FIELDS} }} }}"
SG_ADD = (
    "mutation($name: String!, $input: CreateScalingGroupInput!) {"
    " create_scaling_group(name: $name, props: $input) { ok msg scaling_group { name } } }"
)
SG_UPDATE = (
    "mutation($name: String!, $input: ModifyScalingGroupInput!) {"
    " modify_scaling_group(name: $name, props: $input) { ok msg } }"
)
SG_DELETE = "mutation($name: String!) { delete_scaling_group(name: $name) { ok msg } }"
FOR_DOMAIN = (
    "query($domain: String!, $is_active: Boolean) {"
    " scaling_groups_for_domain(domain: $domain, is_active: $is_active) { name } }"
)
FOR_PROJECT = (
    "query($user_group: String!, $is_active: Boolean) {"
    " scaling_groups_for_user_group(user_group: $user_group, is_active: $is_active) { name } }"
)
FOR_KEYPAIR = (
    "query($access_key: String!, $is_active: Boolean) {"
    " scaling_groups_for_keypair(access_key: $access_key, is_active: $is_active) { name } }"
)
ASSOC_DOMAIN = (
    "mutation($scaling_group: String!, $domain: String!) {"
    " associate_scaling_group_with_domain(scaling_group: $scaling_group, domain: $domain)"
    " { ok msg } }"
)
DISSOC_DOMAIN = ASSOC_DOMAIN.replace("associate_", "disassociate_")
DISSOC_ALL_DOMAIN = (
    "mutation($domain: String!) {"
    " disassociate_all_scaling_groups_with_domain(domain: $domain) { ok msg } }"
)
ASSOC_PROJECT = (
    "mutation($scaling_group: String!, $user_group: UUID!) {"
    " associate_scaling_group_with_user_group("
    "scaling_group: $scaling_group, user_group: $user_group) { ok msg } }"
)
# The official client declares ``$user_group: String!`` for this one.
DISSOC_PROJECT = (
    "mutation($scaling_group: String!, $user_group: String!) {"
    " disassociate_scaling_group_with_user_group("
    "scaling_group: $scaling_group, user_group: $user_group) { ok msg } }"
)
DISSOC_ALL_PROJECT = (
    "mutation($group_id: UUID!) {"
    " disassociate_all_scaling_groups_with_group(user_group: $group_id) { ok msg } }"
)
ASSOC_KEYPAIR = (
    "mutation($scaling_group: String!, $access_key: String!) {"
    " associate_scaling_group_with_keypair("
    "scaling_group: $scaling_group, access_key: $access_key) { ok msg } }"
)
DISSOC_KEYPAIR = ASSOC_KEYPAIR.replace("associate_", "disassociate_")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def data_of(client: SignedClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    """The ``data`` of a GraphQL reply that must have no errors."""
    body = await client.gql(query, variables)
    assert body["errors"] is None, body["errors"]
    return body["data"]


async def ok_of(client: SignedClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The ``{ok, msg}`` payload of a one-mutation document."""
    (payload,) = (await data_of(client, query, variables)).values()
    assert isinstance(payload, dict)
    return payload


def cli_add_input(**overrides: Any) -> dict[str, Any]:
    """What ``backend.ai admin scaling-group add NAME`` sends with its defaults."""
    return {
        "description": "",
        "is_active": True,
        "is_public": True,
        "driver": "static",
        "scheduler": "fifo",
        "use_host_network": False,
        "wsproxy_addr": None,
        "wsproxy_api_token": None,
        "driver_opts": "{}",
        "scheduler_opts": "{}",
        **overrides,
    }


def names(items: list[dict[str, Any]]) -> set[str]:
    return {item["name"] for item in items}


async def add_group(client: SignedClient, **overrides: Any) -> str:
    name = unique("sg")
    payload = await ok_of(client, SG_ADD, {"name": name, "input": cli_add_input(**overrides)})
    assert payload["ok"], payload
    return name


async def add_project(manager: LocalManager, *members: uuid.UUID) -> uuid.UUID:
    now = RealClock().now()
    project_id = uuid.uuid4()
    async with manager.manager.db.transaction() as session:
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
        session.add_all(m.ProjectMemberRow(group_id=project_id, user_id=u) for u in members)
    return project_id


async def test_default_group_is_listed(manager: LocalManager) -> None:
    listed = (await data_of(manager.client(), SG_LIST, {"is_active": None}))["scaling_groups"]
    default = next(g for g in listed if g["name"] == "default")
    assert default["driver"] == "static" and default["scheduler"] == "fifo"
    assert default["is_active"] is True and default["is_public"] is True


async def test_scaling_group_lifecycle(manager: LocalManager) -> None:
    client = manager.client()
    name = unique("sg")
    props = cli_add_input(
        description="GPU nodes",
        is_public=False,
        scheduler="drf",
        wsproxy_addr="http://127.0.0.1:5050",
        wsproxy_api_token="token-123",
        scheduler_opts=json.dumps({"allowed_session_types": ["batch"], "pending_timeout": 30}),
        driver_opts=json.dumps({"x": 1}),
    )
    payload = await ok_of(client, SG_ADD, {"name": name, "input": props})
    assert payload == {"ok": True, "msg": "success", "scaling_group": {"name": name}}
    info = (await data_of(client, SG_INFO, {"name": name}))["scaling_group"]
    assert info["description"] == "GPU nodes"
    assert info["is_public"] is False and info["is_active"] is True
    assert info["scheduler"] == "drf" and info["driver"] == "static"
    assert info["wsproxy_addr"] == "http://127.0.0.1:5050"
    assert info["wsproxy_api_token"] == "token-123"
    assert json.loads(info["scheduler_opts"]) == {
        "allowed_session_types": ["batch"],
        "pending_timeout": 30,
    }
    assert json.loads(info["driver_opts"]) == {"x": 1}

    update = {"is_active": False, "scheduler": "lifo", "description": "retired"}
    assert (await ok_of(client, SG_UPDATE, {"name": name, "input": update}))["ok"] is True
    info = (await data_of(client, SG_INFO, {"name": name}))["scaling_group"]
    assert (info["is_active"], info["scheduler"], info["description"]) == (
        False,
        "lifo",
        "retired",
    )
    assert info["wsproxy_api_token"] == "token-123"  # untouched
    active = (await data_of(client, SG_LIST, {"is_active": True}))["scaling_groups"]
    inactive = (await data_of(client, SG_LIST, {"is_active": False}))["scaling_groups"]
    assert name not in names(active) and name in names(inactive)
    by_name = await data_of(
        client, "query($n: String) { scaling_groups(name: $n) { name } }", {"n": name}
    )
    assert by_name == {"scaling_groups": [{"name": name}]}

    assert (await ok_of(client, SG_DELETE, {"name": name}))["ok"] is True
    assert name not in names(
        (await data_of(client, SG_LIST, {"is_active": None}))["scaling_groups"]
    )
    body = await client.gql(SG_INFO, {"name": name})
    assert body["errors"] is None and body["data"]["scaling_group"] is None


async def test_unknown_scheduler_or_driver_is_refused(manager: LocalManager) -> None:
    client = manager.client()
    name = unique("sg-bad")
    for bad in ({"scheduler": "round-robin"}, {"driver": "aws"}):
        payload = await ok_of(client, SG_ADD, {"name": name, "input": cli_add_input(**bad)})
        assert payload["ok"] is False and payload["scaling_group"] is None
        assert "Unknown" in payload["msg"]
    listed = (await data_of(client, SG_LIST, {"is_active": None}))["scaling_groups"]
    assert name not in names(listed)

    existing = await add_group(client)
    payload = await ok_of(client, SG_UPDATE, {"name": existing, "input": {"scheduler": "nope"}})
    assert payload["ok"] is False and "fifo" in payload["msg"]
    info = (await data_of(client, SG_INFO, {"name": existing}))["scaling_group"]
    assert info["scheduler"] == "fifo"


async def test_bad_options_are_refused(manager: LocalManager) -> None:
    client = manager.client()
    name = unique("sg-opts")
    for bad in (
        {"scheduler_opts": "[1, 2]"},
        {"scheduler_opts": json.dumps({"allowed_session_types": ["sleepy"]})},
        {"wsproxy_addr": "not a url"},
    ):
        payload = await ok_of(client, SG_ADD, {"name": name, "input": cli_add_input(**bad)})
        assert payload["ok"] is False, bad
    assert (await client.gql(SG_INFO, {"name": name}))["data"]["scaling_group"] is None


async def test_duplicate_scaling_group_is_refused(manager: LocalManager) -> None:
    client = manager.client()
    name = await add_group(client, description="first")
    payload = await ok_of(client, SG_ADD, {"name": name, "input": cli_add_input(description="x")})
    assert payload["ok"] is False and "already exists" in payload["msg"]
    info = (await data_of(client, SG_INFO, {"name": name}))["scaling_group"]
    assert info["description"] == "first"


async def test_group_with_agents_cannot_be_deleted(manager: LocalManager) -> None:
    client = manager.client()
    name = await add_group(client)
    async with manager.manager.db.transaction() as session:
        session.add(
            m.AgentRow(
                id=unique("agent"),
                status="ALIVE",
                scaling_group=name,
                addr="tcp://127.0.0.1:6001",
                version="test",
                first_contact=RealClock().now(),
            )
        )
    payload = await ok_of(client, SG_DELETE, {"name": name})
    assert payload["ok"] is False and "agents" in payload["msg"]
    assert (await data_of(client, SG_INFO, {"name": name}))["scaling_group"]["name"] == name


async def test_domain_association(manager: LocalManager) -> None:
    client = manager.client()
    name = await add_group(client)
    domain = unique("dom")
    created = await data_of(
        client,
        "mutation($n: String!) { create_domain(name: $n, props: {}) { ok } }",
        {"n": domain},
    )
    assert created["create_domain"]["ok"] is True
    link = {"scaling_group": name, "domain": domain}

    assert (await ok_of(client, ASSOC_DOMAIN, link))["ok"] is True
    assert (await data_of(client, FOR_DOMAIN, {"domain": domain})) == {
        "scaling_groups_for_domain": [{"name": name}]
    }
    again = await ok_of(client, ASSOC_DOMAIN, link)
    assert again["ok"] is False and "already associated" in again["msg"]
    assert (await ok_of(client, DISSOC_DOMAIN, link))["ok"] is True
    assert (await data_of(client, FOR_DOMAIN, {"domain": domain}))[
        "scaling_groups_for_domain"
    ] == []
    assert (await ok_of(client, DISSOC_DOMAIN, link))["ok"] is False

    await ok_of(client, ASSOC_DOMAIN, link)
    await ok_of(client, ASSOC_DOMAIN, {"scaling_group": "default", "domain": domain})
    listed = (await data_of(client, FOR_DOMAIN, {"domain": domain}))["scaling_groups_for_domain"]
    assert names(listed) == {name, "default"}
    assert (await ok_of(client, DISSOC_ALL_DOMAIN, {"domain": domain}))["ok"] is True
    assert (await data_of(client, FOR_DOMAIN, {"domain": domain}))[
        "scaling_groups_for_domain"
    ] == []
    # The default domain keeps its own association.
    default = (await data_of(client, FOR_DOMAIN, {"domain": "default"}))[
        "scaling_groups_for_domain"
    ]
    assert "default" in names(default)


async def test_association_with_missing_targets_is_refused(manager: LocalManager) -> None:
    client = manager.client()
    name = await add_group(client)
    missing_project = str(uuid.uuid4())
    for query, variables, hint in (
        (ASSOC_DOMAIN, {"scaling_group": name, "domain": "no-such-domain"}, "Domain"),
        (ASSOC_PROJECT, {"scaling_group": name, "user_group": missing_project}, "Project"),
        (ASSOC_KEYPAIR, {"scaling_group": name, "access_key": "AKIANOSUCHKEY0000000"}, "Keypair"),
        (ASSOC_DOMAIN, {"scaling_group": "no-such-sg", "domain": "default"}, "Scaling group"),
    ):
        payload = await ok_of(client, query, variables)
        assert payload["ok"] is False and hint in payload["msg"], payload
    assert (await client.gql(FOR_DOMAIN, {"domain": "no-such-domain"}))["errors"]
    default = (await data_of(client, FOR_DOMAIN, {"domain": "default"}))[
        "scaling_groups_for_domain"
    ]
    assert name not in names(default) and "no-such-sg" not in names(default)
    admin_key = {"access_key": manager.admin.access_key}
    assert name not in names(
        (await data_of(client, FOR_KEYPAIR, admin_key))["scaling_groups_for_keypair"]
    )
    payload = await ok_of(client, DISSOC_ALL_PROJECT, {"group_id": missing_project})
    assert payload["ok"] is False


async def test_project_and_keypair_associations(manager: LocalManager) -> None:
    client = manager.client()
    name = await add_group(client)
    project = await add_project(manager)
    link = {"scaling_group": name, "user_group": str(project)}
    assert (await ok_of(client, ASSOC_PROJECT, link))["ok"] is True
    assert (await ok_of(client, ASSOC_PROJECT, link))["ok"] is False
    listed = await data_of(client, FOR_PROJECT, {"user_group": str(project)})
    assert listed == {"scaling_groups_for_user_group": [{"name": name}]}
    assert (await ok_of(client, DISSOC_PROJECT, link))["ok"] is True
    assert (await ok_of(client, DISSOC_PROJECT, link))["ok"] is False
    bad_id = await ok_of(client, DISSOC_PROJECT, {"scaling_group": name, "user_group": "x"})
    assert bad_id["ok"] is False
    await ok_of(client, ASSOC_PROJECT, link)
    assert (await ok_of(client, DISSOC_ALL_PROJECT, {"group_id": str(project)}))["ok"] is True
    listed = await data_of(client, FOR_PROJECT, {"user_group": str(project)})
    assert listed == {"scaling_groups_for_user_group": []}

    key = {"scaling_group": name, "access_key": manager.admin.access_key}
    assert (await ok_of(client, ASSOC_KEYPAIR, key))["ok"] is True
    assert (await ok_of(client, ASSOC_KEYPAIR, key))["ok"] is False
    listed = await data_of(client, FOR_KEYPAIR, {"access_key": manager.admin.access_key})
    assert name in names(listed["scaling_groups_for_keypair"])
    inactive = await data_of(
        client, FOR_KEYPAIR, {"access_key": manager.admin.access_key, "is_active": False}
    )
    assert inactive == {"scaling_groups_for_keypair": []}
    assert (await ok_of(client, DISSOC_KEYPAIR, key))["ok"] is True
    assert (await ok_of(client, DISSOC_KEYPAIR, key))["ok"] is False


async def test_plain_user_sees_only_available_groups(manager: LocalManager) -> None:
    admin = manager.client()
    user = await builders.add_user(manager)
    project = await add_project(manager, user.uuid)
    other_project = await add_project(manager)
    via_project = await add_group(admin, wsproxy_api_token="secret-token")
    via_key = await add_group(admin)
    private = await add_group(admin, is_public=False)
    hidden = await add_group(admin)
    await ok_of(admin, ASSOC_PROJECT, {"scaling_group": via_project, "user_group": str(project)})
    await ok_of(admin, ASSOC_PROJECT, {"scaling_group": private, "user_group": str(project)})
    await ok_of(admin, ASSOC_KEYPAIR, {"scaling_group": via_key, "access_key": user.access_key})
    await ok_of(admin, ASSOC_PROJECT, {"scaling_group": hidden, "user_group": str(other_project)})
    client = manager.client(user.access_key, user.secret_key)

    listed = (await data_of(client, SG_LIST, {"is_active": None}))["scaling_groups"]
    assert names(listed) == {"default", via_project, via_key}
    assert all(g["wsproxy_api_token"] is None for g in listed)
    assert (await client.gql(SG_INFO, {"name": hidden}))["data"]["scaling_group"] is None

    own_domain = await data_of(client, FOR_DOMAIN, {"domain": "default"})
    assert names(own_domain["scaling_groups_for_domain"]) == {"default"}
    own_project = await data_of(client, FOR_PROJECT, {"user_group": str(project)})
    assert names(own_project["scaling_groups_for_user_group"]) == {via_project}
    own_key = await data_of(client, FOR_KEYPAIR, {"access_key": user.access_key})
    assert names(own_key["scaling_groups_for_keypair"]) == {via_key}

    for query, variables in (
        (FOR_PROJECT, {"user_group": str(other_project)}),
        (FOR_KEYPAIR, {"access_key": manager.admin.access_key}),
        (FOR_DOMAIN, {"domain": unique("elsewhere")}),
    ):
        body = await client.gql(query, variables)
        assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"


async def test_plain_user_cannot_mutate(manager: LocalManager) -> None:
    admin = manager.client()
    name = await add_group(admin, description="keep")
    user = await builders.add_user(manager)
    client = manager.client(user.access_key, user.secret_key)
    new_name = unique("sg-user")
    for query, variables in (
        (SG_ADD, {"name": new_name, "input": cli_add_input()}),
        (SG_UPDATE, {"name": name, "input": {"description": "changed"}}),
        (SG_DELETE, {"name": name}),
        (ASSOC_KEYPAIR, {"scaling_group": name, "access_key": user.access_key}),
        (DISSOC_ALL_DOMAIN, {"domain": "default"}),
    ):
        body = await client.gql(query, variables)
        assert body["errors"][0]["extensions"]["error_code"] == "user_auth_forbidden"
    everything = (await data_of(admin, SG_LIST, {"is_active": None}))["scaling_groups"]
    assert new_name not in names(everything)
    info = (await data_of(admin, SG_INFO, {"name": name}))["scaling_group"]
    assert info["description"] == "keep"
    default = (await data_of(admin, FOR_DOMAIN, {"domain": "default"}))["scaling_groups_for_domain"]
    assert "default" in names(default)
    own_key = await data_of(admin, FOR_KEYPAIR, {"access_key": user.access_key})
    assert own_key == {"scaling_groups_for_keypair": []}
