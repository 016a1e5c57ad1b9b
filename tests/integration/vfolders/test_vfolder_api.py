"""The ``/folders`` API against a real manager and an in-process storage proxy: create, list,
id lookup, info, rename, options, the trash (soft delete, restore, purge, delete forever,
force), limits and duplicate names (400, nothing changed), hosts, and isolation between
users (404)."""

from __future__ import annotations

import uuid
from typing import Any

from cygnet.testing.builders import SeededUser
from cygnet.testing.cluster import LocalManager
from cygnet.testing.signing import SignedClient


def unique(prefix: str = "vf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create(api: SignedClient, name: str, **body: Any) -> dict[str, Any]:
    resp = await api.request("POST", "/folders", json={"name": name, **body})
    assert resp.status_code == 201, resp.text
    item: dict[str, Any] = resp.json()
    return item


async def test_create_info_list_and_id_lookup(
    vf_manager: LocalManager, alice_api: SignedClient, alice: SeededUser
) -> None:
    name = unique()
    item = await create(alice_api, name, host=None, usage_mode="data", cloneable=True)
    assert len(item["id"]) == 32 and "-" not in item["id"]
    assert item["host"] == "local:volume1"
    assert item["ownership_type"] == "user" and item["user"] == str(alice.uuid)
    assert item["quota_scope_id"] == f"user:{alice.uuid}"
    assert item["status"] == "ready" and item["usage_mode"] == "data" and item["cloneable"]
    assert item["creator"] == alice.email and item["is_owner"]

    # the folder exists on the volume, under its UUID
    assert vf_manager.storage is not None
    assert any(vf_manager.storage.volume_path.rglob(item["id"][4:]))

    info = (await alice_api.request("GET", f"/folders/{item['id']}")).json()
    assert info["id"] == item["id"] and info["numFiles"] == 0 and info["type"] == "user"
    by_name = (await alice_api.request("GET", f"/folders/{name}")).json()
    assert by_name["id"] == item["id"]

    looked_up = await alice_api.request("GET", "/folders/_/id", json={"name": name})
    assert looked_up.status_code == 200
    assert looked_up.json() == {"id": str(uuid.UUID(item["id"])), "name": name}

    listing = (await alice_api.request("GET", "/folders", json={"all": False})).json()
    assert [f["name"] for f in listing if f["id"] == item["id"]] == [name]


async def test_duplicate_names_and_bad_input_change_nothing(alice_api: SignedClient) -> None:
    name = unique()
    await create(alice_api, name)
    before = (await alice_api.request("GET", "/folders")).json()
    for body in (
        {"name": name},
        {"name": "a/b"},
        {"name": ""},
        {"name": unique(), "host": "nowhere:volume1"},
        {"name": unique(), "permission": "rx"},
        {"name": unique(), "usage_mode": "bogus"},
    ):
        resp = await alice_api.request("POST", "/folders", json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["type"].endswith(("invalid-api-params", "generic-bad-request"))
    dup = await alice_api.request("POST", "/folders", json={"name": name})
    assert dup.json()["type"].endswith("invalid-api-params")
    after = (await alice_api.request("GET", "/folders")).json()
    assert len(after) == len(before)


async def test_max_vfolder_count(vf_manager: LocalManager, admin_api: SignedClient) -> None:
    from cygnet.testing.builders import add_user

    user = await add_user(vf_manager)
    api = vf_manager.client(user.access_key, user.secret_key)
    policy = unique("pol")
    created = await admin_api.gql(
        "mutation($name: String!, $props: CreateUserResourcePolicyInput!) {"
        " create_user_resource_policy(name: $name, props: $props) { ok msg } }",
        {"name": policy, "props": {"max_vfolder_count": 2, "max_quota_scope_size": -1,
                                    "max_session_count_per_model_session": 10,
                                    "max_customized_image_count": 3}},
    )  # fmt: skip
    assert created["data"]["create_user_resource_policy"]["ok"], created
    from cygnet.manager.store import models as m

    async with vf_manager.manager.db.transaction() as session:
        row = await session.get(m.UserRow, user.uuid)
        assert row is not None
        row.resource_policy = policy
    await create(api, unique())
    await create(api, unique())
    third = await api.request("POST", "/folders", json={"name": unique()})
    assert third.status_code == 400 and third.json()["type"].endswith("invalid-api-params")
    assert len((await api.request("GET", "/folders")).json()) == 2


async def test_rename_and_update_options(alice_api: SignedClient) -> None:
    name, new = unique(), unique()
    item = await create(alice_api, name)
    resp = await alice_api.request("POST", f"/folders/{item['id']}/rename", json={"new_name": new})
    assert resp.status_code == 200 and resp.json() == {"msg": ""}
    assert (await alice_api.request("GET", f"/folders/{new}")).json()["id"] == item["id"]
    assert (await alice_api.request("GET", f"/folders/{name}")).status_code == 404
    other = await create(alice_api, unique())
    clash = await alice_api.request(
        "POST", f"/folders/{other['id']}/rename", json={"new_name": new}
    )
    assert clash.status_code == 400
    resp = await alice_api.request(
        "POST",
        f"/folders/{item['id']}/update-options",
        json={"cloneable": True, "permission": "ro"},
    )
    assert resp.status_code == 200
    info = (await alice_api.request("GET", f"/folders/{item['id']}")).json()
    assert info["cloneable"] is True and info["permission"] == "ro"


async def test_trash_restore_purge(
    vf_manager: LocalManager, alice_api: SignedClient, admin_api: SignedClient
) -> None:
    name = unique()
    item = await create(alice_api, name)
    fid = item["id"]
    resp = await alice_api.request("DELETE", "/folders", json={"id": fid})
    assert resp.status_code == 204
    info = (await alice_api.request("GET", f"/folders/{fid}")).json()
    assert info["status"] == "delete-pending"
    # still found by name while in the trash
    assert (await alice_api.request("GET", "/folders/_/id", json={"name": name})).status_code == 200
    # file operations are refused in the trash
    mk = await alice_api.request("POST", f"/folders/{fid}/mkdir", json={"path": "x"})
    assert mk.status_code == 400
    resp = await alice_api.request("POST", "/folders/restore-from-trash-bin", json={"id": fid})
    assert resp.status_code == 204
    assert (await alice_api.request("GET", f"/folders/{fid}")).json()["status"] == "ready"

    # purge: admins only, and only from the trash
    assert (await admin_api.request("POST", "/folders/purge", json={"id": fid})).status_code == 400
    await alice_api.request("DELETE", f"/folders/{fid}")
    denied = await alice_api.request("POST", "/folders/purge", json={"id": fid})
    assert denied.status_code == 403
    assert (await admin_api.request("POST", "/folders/purge", json={"id": fid})).status_code == 204
    assert (await alice_api.request("GET", f"/folders/{fid}")).status_code == 404
    assert (await alice_api.request("GET", "/folders/_/id", json={"name": name})).status_code == 404
    assert vf_manager.storage is not None
    assert not any(vf_manager.storage.volume_path.rglob(fid[4:]))


async def test_delete_forever_and_force(alice_api: SignedClient) -> None:
    a = await create(alice_api, unique())
    await alice_api.request("DELETE", f"/folders/{a['id']}")
    resp = await alice_api.request("POST", "/folders/delete-from-trash-bin", json={"id": a["id"]})
    assert resp.status_code == 204
    assert (await alice_api.request("GET", f"/folders/{a['id']}")).status_code == 404
    b = await create(alice_api, unique())
    assert (await alice_api.request("DELETE", f"/folders/{b['id']}/force")).status_code == 204
    assert (await alice_api.request("GET", f"/folders/{b['id']}")).status_code == 404


async def test_isolation_between_users(alice_api: SignedClient, bob_api: SignedClient) -> None:
    name = unique()
    item = await create(alice_api, name)
    fid = item["id"]
    for method, path, body in (
        ("GET", f"/folders/{fid}", None),
        ("GET", f"/folders/{name}", None),
        ("GET", f"/folders/{fid}/files?path=", None),
        ("POST", f"/folders/{fid}/mkdir", {"path": "x"}),
        ("POST", f"/folders/{fid}/rename", {"new_name": unique()}),
        ("POST", f"/folders/{fid}/request-upload", {"path": "a", "size": 1}),
        ("POST", f"/folders/{fid}/request-download", {"path": "a"}),
        ("DELETE", "/folders", {"id": fid}),
        ("POST", f"/folders/{fid}/invite", {"perm": "rw", "user_ids": ["x@example.com"]}),
    ):
        resp = await bob_api.request(method, path, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.json()["error_code"] == "vfolder_read_not-found"
    lookup = await bob_api.request("GET", "/folders/_/id", json={"name": name})
    assert lookup.status_code == 404
    assert fid not in {f["id"] for f in (await bob_api.request("GET", "/folders")).json()}


async def test_hosts_and_types(alice_api: SignedClient, admin_api: SignedClient) -> None:
    hosts = (await alice_api.request("GET", "/folders/_/hosts")).json()
    assert hosts["default"] == "local:volume1" and hosts["allowed"] == ["local:volume1"]
    assert hosts["volume_info"]["local:volume1"]["backend"] == "local"
    assert (await alice_api.request("GET", "/folders/_/all_hosts")).status_code == 403
    all_hosts = (await admin_api.request("GET", "/folders/_/all_hosts")).json()
    assert all_hosts == {"default": "local:volume1", "allowed": ["local:volume1"]}
    types = (await alice_api.request("GET", "/folders/_/allowed_types")).json()
    assert types == ["user", "group"]


async def test_project_folder(
    vf_manager: LocalManager, admin_api: SignedClient, alice_api: SignedClient
) -> None:
    projects = await admin_api.gql("query { groups { id name } }")
    default = next(g for g in projects["data"]["groups"] if g["name"] == "default")
    # regular users cannot create project folders
    denied = await alice_api.request(
        "POST", "/folders", json={"name": unique(), "group": default["id"]}
    )
    assert denied.status_code in (403, 404)
    item = await create(admin_api, unique("proj"), group="default")  # a name is accepted too
    assert item["ownership_type"] == "group" and item["group"] == default["id"]
    assert item["quota_scope_id"] == f"project:{default['id']}"
    dot = await admin_api.request(
        "POST", "/folders", json={"name": ".hidden", "group": default["id"]}
    )
    assert dot.status_code == 400


VFOLDER_LIST = (
    "query($limit: Int!, $offset: Int!, $group_id: UUID, $filter: String, $order: String) {"
    " vfolder_list(limit: $limit, offset: $offset, group_id: $group_id, filter: $filter,"
    " order: $order) { items { id host name status created_at creator group permission"
    " ownership_type } total_count } }"
)


async def test_graphql_vfolder_list_and_volumes(
    alice_api: SignedClient, bob_api: SignedClient, admin_api: SignedClient
) -> None:
    name = unique("gql")
    await create(alice_api, name)
    variables = {"limit": 100, "offset": 0, "group_id": None, "filter": None, "order": None}
    mine = await alice_api.gql(VFOLDER_LIST, variables)
    assert not mine.get("errors"), mine
    assert name in {f["name"] for f in mine["data"]["vfolder_list"]["items"]}
    filtered = await alice_api.gql(VFOLDER_LIST, {**variables, "filter": f'name == "{name}"'})
    assert filtered["data"]["vfolder_list"]["total_count"] == 1
    assert filtered["data"]["vfolder_list"]["items"][0]["host"] == "local:volume1"
    theirs = await bob_api.gql(VFOLDER_LIST, {**variables, "filter": f'name == "{name}"'})
    assert theirs["data"]["vfolder_list"]["total_count"] == 0
    everything = await admin_api.gql(VFOLDER_LIST, {**variables, "filter": f'name == "{name}"'})
    assert everything["data"]["vfolder_list"]["total_count"] == 1

    volumes = await admin_api.gql(
        "query($limit: Int!, $offset: Int!, $filter: String, $order: String) {"
        " storage_volume_list(limit: $limit, offset: $offset, filter: $filter, order: $order)"
        " { items { id backend capabilities } total_count } }",
        {"limit": 20, "offset": 0, "filter": None, "order": None},
    )
    assert volumes["data"]["storage_volume_list"]["items"][0]["id"] == "local:volume1"
    one = await admin_api.gql(
        "query($vfolder_host: String!) { storage_volume(id: $vfolder_host) {"
        " id backend path fsprefix capabilities hardware_metadata } }",
        {"vfolder_host": "local:volume1"},
    )
    assert one["data"]["storage_volume"]["backend"] == "local", one
    denied = await alice_api.gql(
        "query { storage_volume_list(limit: 10, offset: 0) { total_count } }"
    )
    assert denied.get("errors")
