"""Compute sessions over GraphQL (wire notes 2.6): ``compute_session_list``, the Relay node
``compute_session_node`` (global ids), the legacy ``compute_session(id)``, and
``modify_compute_session``; who sees what; and the keypair / project rules that depend on live
sessions (``concurrency_used``, ``delete_keypair``, ``purge_group``)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cygnet.testing.agents import ClusterFactory, LocalCluster
from cygnet.testing.builders import add_user
from cygnet.testing.signing import SignedClient

SIM = {"cpus": list(range(4)), "memory": "8g"}
IMAGE = "cygnet/python:3.11"
AGENT = "local-agent"  # the only agent of a one-agent cluster
ACTIVE = (  # the CLI's default status list
    "PENDING,SCHEDULED,PULLING,PREPARED,PREPARING,CREATING,RUNNING,RUNNING_DEGRADED,TERMINATING,ERROR"
)

# What `admin session list --detail` asks for (plus a few more), and `session info`.
LIST_FIELDS = (
    "name access_key priority id session_id group_name type image status status_info "
    "status_changed result tag created_at occupying_slots abusing_reports domain_name group_id "
    "user_email user_id user_uuid scaling_group cluster_mode cluster_size agent_ids "
    "requested_slots resource_opts status_data status_history num_queries architecture"
)
INFO_FIELDS = (
    "name priority id main_kernel_id image tag created_at terminated_at status status_info "
    "status_data occupying_slots idle_checks containers { id cluster_role cluster_idx "
    "cluster_hostname session_id image registry status status_info status_data status_changed "
    "agent container_id resource_opts occupied_slots preopen_ports live_stat last_stat } "
    "dependencies { name id }"
)
NODE_FIELDS = (
    "id row_id tag name type priority cluster_mode domain_name user_id status created_at "
    "terminated_at resource_opts scaling_group vfolder_mounts image_references "
    "occupied_slots requested_slots status_history agent_ids "
    "kernel_nodes { count edges { node { row_id image_reference status created_at agent_id "
    "cluster_role } } }"
)
SESSION_LIST = (
    "query($limit:Int!, $offset:Int!, $status: String, $access_key: String, $group_id: UUID, "
    "$domain_name: String, $filter: String, $order: String) { compute_session_list("
    "limit:$limit, offset:$offset, status:$status, access_key:$access_key, group_id:$group_id, "
    "domain_name:$domain_name, filter:$filter, order:$order) "
    f"{{ items {{ {LIST_FIELDS} }} total_count }} }}"
)
LEGACY = f"query($id: UUID!) {{ compute_session(id: $id) {{ {INFO_FIELDS} }} }}"
NODE = f"query($id: GlobalIDField!) {{ compute_session_node(id: $id) {{ {NODE_FIELDS} }} }}"
MODIFY = (
    "mutation($input: ModifyComputeSessionInput!) { modify_compute_session(input: $input) "
    "{ item { name priority } clientMutationId } }"
)
KEYPAIR_LIST = (
    "query($limit:Int!, $offset:Int!, $email: String) { keypair_list(limit:$limit, "
    "offset:$offset, email:$email) { items { access_key concurrency_used } total_count } }"
)
OWN_KEYPAIR = "query { keypair { access_key concurrency_used } }"
CREATE_KEYPAIR = (
    "mutation($user_id: String!, $input: KeyPairInput!) { create_keypair(user_id: $user_id, "
    "props: $input) { ok msg keypair { access_key secret_key } } }"
)
DELETE_KEYPAIR = (
    "mutation($access_key: String!) { delete_keypair(access_key: $access_key) { ok msg } }"
)
CREATE_GROUP = (
    "mutation($name: String!, $input: GroupInput!) { create_group(name: $name, props: $input) "
    "{ ok msg group { id } } }"
)
MODIFY_GROUP = (
    "mutation($gid: UUID!, $input: ModifyGroupInput!) { modify_group(gid: $gid, props: $input) "
    "{ ok msg } }"
)
PURGE_GROUP = "mutation($gid: UUID!) { purge_group(gid: $gid) { ok msg } }"
GROUP = "query($gid: UUID!) { group(id: $gid) { id name } }"
SELF = "query { user { uuid email } }"


@pytest.fixture
async def cluster(local_cluster: ClusterFactory, tmp_path: Path) -> AsyncIterator[LocalCluster]:
    async with local_cluster(tmp_path, runtime="simulated", **SIM) as running:
        yield running


def global_id(session_id: str) -> str:
    return base64.b64encode(f"compute_session_node:{session_id}".encode()).decode()


async def create(client: SignedClient, name: str, **extra: Any) -> str:
    resp = await client.request("POST", "/session", json={"name": name, "image": IMAGE, **extra})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] in ("RUNNING", "PENDING"), body
    session_id: str = body["sessionId"]
    return session_id


async def destroy(client: SignedClient, *session_ids: str) -> None:
    for session_id in session_ids:
        resp = await client.request("DELETE", f"/session/{session_id}")
        assert resp.status_code == 200, resp.text


async def gql_ok(client: SignedClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await client.gql(query, variables)
    assert body["errors"] is None, body
    data: dict[str, Any] = body["data"]
    return data


def list_vars(**values: Any) -> dict[str, Any]:
    base = {"status": ACTIVE, "access_key": None, "group_id": None, "domain_name": None}
    return {**base, "filter": None, "order": None, "limit": 20, "offset": 0, **values}


async def listing(client: SignedClient, **values: Any) -> dict[str, Any]:
    page: dict[str, Any] = (await gql_ok(client, SESSION_LIST, list_vars(**values)))[
        "compute_session_list"
    ]
    return page


def names(page: dict[str, Any]) -> list[str]:
    return [item["name"] for item in page["items"]]


async def test_list_filters_pages_and_orders(cluster: LocalCluster) -> None:
    client = cluster.manager.client()
    first = await create(client, "gql-first")
    second = await create(client, "gql-second", tag="nightly")
    gone = await create(client, "gql-gone")
    try:
        await destroy(client, gone)
        page = await listing(client)
        assert names(page) == ["gql-second", "gql-first"] and page["total_count"] == 2
        item = next(i for i in page["items"] if i["name"] == "gql-second")
        assert item["id"] == item["session_id"] == second
        assert item["type"] == "INTERACTIVE" and item["status"] == "RUNNING"
        assert item["result"] == "UNDEFINED" and item["tag"] == "nightly"
        assert item["group_name"] == "default" and item["domain_name"] == "default"
        assert item["access_key"] == cluster.manager.admin.access_key
        assert item["user_email"] == cluster.manager.admin.email
        assert item["user_id"] == item["user_uuid"]
        assert item["image"] == IMAGE and item["scaling_group"] == "default"
        assert item["cluster_mode"] == "single-node" and item["cluster_size"] == 1
        assert item["agent_ids"] == [AGENT] and item["priority"] == 10  # the default
        assert item["abusing_reports"] == [] and item["num_queries"] == 0
        occupying = json.loads(item["occupying_slots"])
        assert set(occupying) >= {"cpu", "mem"}, occupying
        assert json.loads(item["requested_slots"]) == occupying
        assert isinstance(json.loads(item["resource_opts"]), dict)
        assert isinstance(json.loads(item["status_data"]), dict)
        assert "RUNNING" in json.loads(item["status_history"])

        # Statuses: a comma list, any case; none means every status.
        assert names(await listing(client, status="TERMINATED,CANCELLED")) == ["gql-gone"]
        assert names(await listing(client, status="running")) == ["gql-second", "gql-first"]
        assert (await listing(client, status=None))["total_count"] == 3
        bad = await client.gql(SESSION_LIST, list_vars(status="RUNNING,DOZING"))
        assert bad["data"] is None and "DOZING" in bad["errors"][0]["message"], bad

        # Owner, project and domain.
        own = await listing(client, access_key=cluster.manager.admin.access_key)
        assert own["total_count"] == 2
        assert await listing(client, access_key="AKNOSUCHKEY") == {"items": [], "total_count": 0}
        project_id = item["group_id"]
        assert (await listing(client, group_id=project_id))["total_count"] == 2
        assert (await listing(client, group_id=str(uuid.uuid4())))["total_count"] == 0
        assert (await listing(client, domain_name="default"))["total_count"] == 2
        assert (await listing(client, domain_name="elsewhere"))["total_count"] == 0

        # Pages, filter and order.
        one = await listing(client, limit=1, offset=1)
        assert names(one) == ["gql-first"] and one["total_count"] == 2
        assert names(await listing(client, order="+name")) == ["gql-first", "gql-second"]
        found = await listing(client, filter='name == "gql-first"')
        assert names(found) == ["gql-first"] and found["total_count"] == 1
        both = await listing(client, filter='name like "gql-%"', order="-created_at")
        assert names(both) == ["gql-second", "gql-first"]
        assert names(await listing(client, filter='tag == "nightly"', domain_name="default")) == [
            "gql-second"
        ]
        for variables in ({"filter": "secret == 1"}, {"order": "+secret"}, {"limit": 101}):
            body = await client.gql(SESSION_LIST, list_vars(**variables))
            assert body["data"] is None and body["errors"], (variables, body)
    finally:
        await destroy(client, first, second)


async def test_node_and_legacy_detail(cluster: LocalCluster) -> None:
    client = cluster.manager.client()
    session_id = await create(client, "gql-detail")
    try:
        node = (await gql_ok(client, NODE, {"id": global_id(session_id)}))["compute_session_node"]
        assert node["id"] == global_id(session_id) and node["row_id"] == session_id
        assert node["name"] == "gql-detail" and node["type"] == "interactive"
        assert node["status"] == "RUNNING" and node["cluster_mode"] == "single-node"
        assert node["domain_name"] == "default" and node["scaling_group"] == "default"
        assert node["vfolder_mounts"] == [] and node["image_references"] == [IMAGE]
        assert node["agent_ids"] == [AGENT] and node["terminated_at"] is None
        assert isinstance(json.loads(node["resource_opts"]), dict)
        assert "PENDING" in json.loads(node["status_history"])
        kernels = node["kernel_nodes"]
        assert kernels["count"] == 1
        (kernel,) = (edge["node"] for edge in kernels["edges"])
        assert kernel["image_reference"] == IMAGE and kernel["status"] == "RUNNING"
        assert kernel["agent_id"] == AGENT and kernel["cluster_role"] == "main"
        uuid.UUID(kernel["row_id"])

        # The official SDK's legacy-named type prefix and a bare UUID work too.
        other = base64.b64encode(f"ComputeSessionNode:{session_id}".encode()).decode()
        for ref in (other, session_id):
            again = await gql_ok(client, NODE, {"id": ref})
            assert again["compute_session_node"]["row_id"] == session_id
        missing = await gql_ok(client, NODE, {"id": global_id(str(uuid.uuid4()))})
        assert missing == {"compute_session_node": None}
        bad = await client.gql(NODE, {"id": "not-a-global-id"})
        assert bad["data"] == {"compute_session_node": None} and bad["errors"], bad

        legacy = (await gql_ok(client, LEGACY, {"id": session_id}))["compute_session"]
        assert legacy["id"] == session_id and legacy["status"] == "RUNNING"
        assert legacy["main_kernel_id"] == kernel["row_id"]
        assert legacy["dependencies"] == [] and json.loads(legacy["idle_checks"]) == {}
        (container,) = legacy["containers"]
        assert container["id"] == kernel["row_id"] and container["session_id"] == session_id
        assert container["agent"] == AGENT and container["image"] == IMAGE
        assert container["cluster_role"] == "main" and container["status"] == "RUNNING"
        assert container["registry"] == "" and container["live_stat"] is None
        assert json.loads(container["occupied_slots"]) == json.loads(legacy["occupying_slots"])
        gone = await gql_ok(client, LEGACY, {"id": str(uuid.uuid4())})
        assert gone == {"compute_session": None}
    finally:
        await destroy(client, session_id)
    ended = (await gql_ok(client, NODE, {"id": global_id(session_id)}))["compute_session_node"]
    assert ended["status"] == "TERMINATED" and ended["terminated_at"]


async def test_modify_compute_session(cluster: LocalCluster) -> None:
    client = cluster.manager.client()
    session_id = await create(client, "gql-before")
    try:
        # The official SDK sends the plain UUID as the id.
        sent = {"id": session_id, "clientMutationId": "m-1", "name": "gql-after", "priority": 7}
        done = await gql_ok(client, MODIFY, {"input": sent})
        assert done["modify_compute_session"] == {
            "item": {"name": "gql-after", "priority": 7},
            "clientMutationId": "m-1",
        }
        only_priority = {"id": global_id(session_id), "priority": 42}
        again = await gql_ok(client, MODIFY, {"input": only_priority})
        assert again["modify_compute_session"] == {
            "item": {"name": "gql-after", "priority": 42},
            "clientMutationId": None,
        }
        node = (await gql_ok(client, NODE, {"id": global_id(session_id)}))["compute_session_node"]
        assert node["name"] == "gql-after" and node["priority"] == 42
        for bad_input in (
            {"id": session_id, "priority": 101},
            {"id": session_id, "name": "bad name!"},
            {"id": str(uuid.uuid4()), "name": "whatever"},
        ):
            body = await client.gql(MODIFY, {"input": bad_input})
            assert body["data"] is None and body["errors"], (bad_input, body)
    finally:
        await destroy(client, session_id)


async def test_users_see_only_their_own_sessions(cluster: LocalCluster) -> None:
    admin = cluster.manager.client()
    session_id = await create(admin, "gql-private")
    try:
        user = await add_user(cluster.manager, role="user")
        other = cluster.manager.client(user.access_key, user.secret_key)
        assert await listing(other) == {"items": [], "total_count": 0}
        assert await listing(other, status=None, access_key=cluster.manager.admin.access_key) == {
            "items": [],
            "total_count": 0,
        }
        node = await gql_ok(other, NODE, {"id": global_id(session_id)})
        assert node == {"compute_session_node": None}
        assert await gql_ok(other, LEGACY, {"id": session_id}) == {"compute_session": None}
        body = await other.gql(MODIFY, {"input": {"id": session_id, "name": "gql-stolen"}})
        assert body["data"] is None and body["errors"], body
        # The admin still sees it, unchanged.
        page = await listing(admin)
        assert names(page) == ["gql-private"]
    finally:
        await destroy(admin, session_id)


async def test_keypair_concurrency_and_delete(cluster: LocalCluster) -> None:
    admin = cluster.manager.client()
    email = cluster.manager.admin.email
    made = await gql_ok(
        admin,
        CREATE_KEYPAIR,
        {"user_id": email, "input": {"is_active": True, "resource_policy": "default"}},
    )
    keypair = made["create_keypair"]["keypair"]
    access_key = keypair["access_key"]
    second = cluster.manager.client(access_key, keypair["secret_key"])

    async def used() -> dict[str, int]:
        data = await gql_ok(admin, KEYPAIR_LIST, {"limit": 20, "offset": 0, "email": email})
        return {k["access_key"]: k["concurrency_used"] for k in data["keypair_list"]["items"]}

    first = await create(second, "gql-kp-1")
    pending = await create(second, "gql-kp-2", enqueueOnly=True)
    try:
        counts = await used()
        assert counts[access_key] == 2 and counts[cluster.manager.admin.access_key] == 0
        own = await gql_ok(second, OWN_KEYPAIR, {})
        assert own["keypair"] == {"access_key": access_key, "concurrency_used": 2}
        refused = await gql_ok(admin, DELETE_KEYPAIR, {"access_key": access_key})
        assert refused["delete_keypair"]["ok"] is False
        assert "live session" in refused["delete_keypair"]["msg"]
    finally:
        await destroy(second, first, pending)
    assert (await used())[access_key] == 0
    deleted = await gql_ok(admin, DELETE_KEYPAIR, {"access_key": access_key})
    assert deleted["delete_keypair"]["ok"] is True, deleted
    assert access_key not in await used()


async def test_purge_group_refused_while_sessions_live(cluster: LocalCluster) -> None:
    admin = cluster.manager.client()
    me = (await gql_ok(admin, SELF, {}))["user"]
    made = await gql_ok(
        admin, CREATE_GROUP, {"name": "gql-team", "input": {"domain_name": "default"}}
    )
    gid = made["create_group"]["group"]["id"]
    added = await gql_ok(
        admin,
        MODIFY_GROUP,
        {"gid": gid, "input": {"user_update_mode": "add", "user_uuids": [me["uuid"]]}},
    )
    assert added["modify_group"]["ok"] is True, added
    session_id = await create(admin, "gql-team-session", group="gql-team")
    try:
        assert names(await listing(admin, group_id=gid)) == ["gql-team-session"]
        body = await admin.gql(PURGE_GROUP, {"gid": gid})
        # Refused with a GraphQL error (the official client reports it as HTTP 400).
        assert body["errors"], body
        assert body["errors"][0]["extensions"]["error_code"] == "api_generic_still-in-use"
        assert "live session" in json.dumps(body), body
        assert (await gql_ok(admin, GROUP, {"gid": gid}))["group"] is not None
    finally:
        await destroy(admin, session_id)
    purged = await gql_ok(admin, PURGE_GROUP, {"gid": gid})
    assert purged["purge_group"]["ok"] is True, purged
    assert (await gql_ok(admin, GROUP, {"gid": gid}))["group"] is None
