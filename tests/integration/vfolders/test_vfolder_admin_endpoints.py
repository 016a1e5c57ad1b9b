"""The rest of the ``/folders`` API against a real manager and storage proxy: quotas
(``/_/quota``), usage (``/_/usage``, ``/_/used-bytes``), the hosts' view (``/_/fstab``,
``/_/mounts``), invitation and share permission updates (``/invitations/update/{id}``,
``/_/shared``, ``/_/sharing``) and ``delete-files-async``; for each, success, the caller who
may not (404 for a stranger, 403 for an invitee or a non-superadmin), bad input (400 with the
API's error body) and nothing changed after a failure. Then the policies: the sum of an
owner's quotas within ``max_quota_scope_size``, and ``max_vfolder_count`` under concurrent
creates."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from cygnet.manager.store import models as m
from cygnet.manager.store.repositories import vfolders as vfolders_repo
from cygnet.testing.builders import SeededUser, add_user
from cygnet.testing.cluster import LocalManager
from cygnet.testing.signing import SignedClient

HOST = "local:volume1"


def unique(prefix: str = "vf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create(api: SignedClient, **body: Any) -> dict[str, Any]:
    resp = await api.request("POST", "/folders", json={"name": unique(), **body})
    assert resp.status_code == 201, resp.text
    item: dict[str, Any] = resp.json()
    return item


async def upload(api: SignedClient, fid: str, path: str, data: bytes) -> None:
    resp = await api.request(
        "POST", f"/folders/{fid}/request-upload", json={"path": path, "size": len(data)}
    )
    assert resp.status_code == 200, resp.text
    url = httpx.URL(resp.json()["url"]).copy_with(query=f"token={resp.json()['token']}".encode())
    headers = {
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream",
    }
    async with httpx.AsyncClient() as http:
        assert (await http.patch(url, content=data, headers=headers)).status_code == 204


def assert_error(resp: httpx.Response, status: int, *slugs: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["title"] and body["error_code"]
    if slugs:
        assert body["type"].endswith(slugs), body


async def invite_accepted(
    owner: SignedClient, guest: SignedClient, guest_user: SeededUser, fid: str, perm: str
) -> None:
    resp = await owner.request(
        "POST", f"/folders/{fid}/invite", json={"perm": perm, "user_ids": [guest_user.email]}
    )
    assert resp.status_code == 201, resp.text
    invs = (await guest.request("GET", "/folders/invitations/list")).json()["invitations"]
    inv = next(i for i in invs if i["vfolder_id"] == str(uuid.UUID(fid)))
    ok = await guest.request("POST", "/folders/invitations/accept", json={"inv_id": inv["id"]})
    assert ok.status_code == 200, ok.text


async def quota_of(api: SignedClient, fid: str) -> dict[str, Any]:
    resp = await api.request("GET", "/folders/_/quota", json={"folder_host": HOST, "id": fid})
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = resp.json()
    return found


async def user_with_policy(
    local: LocalManager, admin_api: SignedClient, **props: int
) -> tuple[SeededUser, SignedClient]:
    user = await add_user(local)
    policy = unique("pol")
    values = {"max_vfolder_count": 0, "max_quota_scope_size": -1,
              "max_session_count_per_model_session": 10, "max_customized_image_count": 3,
              **props}  # fmt: skip
    created = await admin_api.gql(
        "mutation($name: String!, $props: CreateUserResourcePolicyInput!) {"
        " create_user_resource_policy(name: $name, props: $props) { ok msg } }",
        {"name": policy, "props": values},
    )
    assert created["data"]["create_user_resource_policy"]["ok"], created
    async with local.manager.db.transaction() as session:
        row = await session.get(m.UserRow, user.uuid)
        assert row is not None
        row.resource_policy = policy
    return user, local.client(user.access_key, user.secret_key)


# -- quota ------------------------------------------------------------------------------------


async def test_quota_read_and_set(
    vf_manager: LocalManager,
    admin_api: SignedClient,
    alice_api: SignedClient,
    bob_api: SignedClient,
    bob: SeededUser,
) -> None:
    item = await create(alice_api)
    fid = item["id"]
    assert await quota_of(alice_api, fid) == {"used_bytes": 0, "limit_bytes": 0}
    await upload(alice_api, fid, "a.bin", b"x" * 100)
    by_query = await alice_api.request("GET", f"/folders/_/quota?folder_host={HOST}&id={fid}")
    assert by_query.json() == {"used_bytes": 100, "limit_bytes": 0}

    resp = await alice_api.request(
        "POST", "/folders/_/quota", json={"folder_host": HOST, "id": fid,
                                         "input": {"size_bytes": 1000}},
    )  # fmt: skip
    assert resp.status_code == 200 and resp.json() == {"size_bytes": 1000}
    assert await quota_of(alice_api, fid) == {"used_bytes": 100, "limit_bytes": 1000}
    info = (await alice_api.request("GET", f"/folders/{fid}")).json()
    assert info["max_size"] == 1000
    # the proxy enforces it
    too_big = await alice_api.request(
        "POST", f"/folders/{fid}/request-upload", json={"path": "b.bin", "size": 901}
    )
    assert_error(too_big, 400, "quota-exceeded")
    # a size like "2k", and an admin may set it too
    resp = await admin_api.request(
        "POST", "/folders/_/quota", json={"id": fid, "input": {"size_bytes": "2k"}}
    )
    assert resp.status_code == 200 and resp.json() == {"size_bytes": 2048}

    # a stranger does not see the folder; an invitee sees it but may not change the quota
    for method, body in (("GET", {"id": fid}), ("POST", {"id": fid, "input": {"size_bytes": 5}})):
        assert_error(await bob_api.request(method, "/folders/_/quota", json=body), 404)
    await invite_accepted(alice_api, bob_api, bob, fid, "rw")
    assert (await quota_of(bob_api, fid))["limit_bytes"] == 2048
    forbidden = await bob_api.request(
        "POST", "/folders/_/quota", json={"id": fid, "input": {"size_bytes": 5}}
    )
    assert_error(forbidden, 403)

    bad_bodies: list[dict[str, Any]] = [
        {"id": "not-a-uuid", "input": {"size_bytes": 5}},
        {"input": {"size_bytes": 5}},
        {"id": fid},
        {"id": fid, "input": "5"},
        {"id": fid, "input": {"size_bytes": "lots"}},
        {"id": fid, "input": {"size_bytes": -1}},
        {"id": fid, "input": {"size_bytes": True}},
        {"id": fid, "folder_host": "local:other", "input": {"size_bytes": 5}},
    ]
    for body in bad_bodies:
        assert_error(await alice_api.request("POST", "/folders/_/quota", json=body), 400)
    assert_error(await alice_api.request("GET", "/folders/_/quota", json={}), 400)
    assert_error(
        await alice_api.request("GET", "/folders/_/quota", json={"id": uuid.uuid4().hex}), 404
    )
    assert await quota_of(alice_api, fid) == {"used_bytes": 100, "limit_bytes": 2048}

    # 0 takes the quota away (no quota scope limit here)
    resp = await alice_api.request(
        "POST", "/folders/_/quota", json={"id": fid, "input": {"size_bytes": 0}}
    )
    assert resp.json() == {"size_bytes": 0}
    assert (await quota_of(alice_api, fid))["limit_bytes"] == 0


async def test_usage_and_used_bytes(
    vf_manager: LocalManager, admin_api: SignedClient, alice_api: SignedClient
) -> None:
    fid = (await create(alice_api))["id"]
    await upload(alice_api, fid, "a.txt", b"hello")
    await upload(alice_api, fid, "b.txt", b"world!")
    usage = await admin_api.request("GET", "/folders/_/usage", json={"folder_host": HOST,
                                                                      "id": fid})  # fmt: skip
    assert usage.status_code == 200 and usage.json() == {"file_count": 2, "used_bytes": 11}
    used = await admin_api.request("GET", f"/folders/_/used-bytes?id={fid}")
    assert used.status_code == 200 and used.json() == {"used_bytes": 11}

    domain_admin = await add_user(vf_manager, role="admin")
    dadmin_api = vf_manager.client(domain_admin.access_key, domain_admin.secret_key)
    for api in (alice_api, dadmin_api):  # the owner and a domain admin are not superadmins
        for path in ("/folders/_/usage", "/folders/_/used-bytes"):
            assert_error(await api.request("GET", path, json={"id": fid}), 403)
    for path in ("/folders/_/usage", "/folders/_/used-bytes"):
        assert_error(await admin_api.request("GET", path, json={"id": "x"}), 400)
        elsewhere = {"id": fid, "folder_host": "a:b"}
        assert_error(await admin_api.request("GET", path, json=elsewhere), 400)
        assert_error(await admin_api.request("GET", path, json={"id": uuid.uuid4().hex}), 404)


async def test_fstab_and_mounts(
    vf_manager: LocalManager, admin_api: SignedClient, alice_api: SignedClient
) -> None:
    assert vf_manager.storage is not None
    path = str(vf_manager.storage.volume_path)
    resp = await admin_api.request("GET", "/folders/_/fstab", json={"agent_id": None})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["node"] == "manager" and body["node_id"] == "manager"
    assert f"{HOST}\t{path}\tlocal" in body["content"].splitlines()

    mounts = await admin_api.request("GET", "/folders/_/mounts")
    assert mounts.status_code == 200, mounts.text
    found = mounts.json()
    assert found["storage_proxy"]["success"] is True
    assert [HOST, path] in found["storage_proxy"]["mounts"]
    assert found["manager"]["success"] is True and found["agents"] == {}

    domain_admin = await add_user(vf_manager, role="admin")
    dadmin_api = vf_manager.client(domain_admin.access_key, domain_admin.secret_key)
    for api in (alice_api, dadmin_api):
        assert_error(await api.request("GET", "/folders/_/fstab"), 403)
        assert_error(await api.request("GET", "/folders/_/mounts"), 403)
    bad = await admin_api.request("GET", "/folders/_/fstab", json={"agent_id": 12})
    assert_error(bad, 400)
    agent = await admin_api.request("GET", "/folders/_/fstab", json={"agent_id": "i-agent"})
    assert_error(agent, 501, "not-implemented")


# -- permission updates -------------------------------------------------------------------------


async def test_update_pending_invitation(
    alice_api: SignedClient, bob_api: SignedClient, bob: SeededUser
) -> None:
    fid = (await create(alice_api))["id"]
    resp = await alice_api.request(
        "POST", f"/folders/{fid}/invite", json={"perm": "ro", "user_ids": [bob.email]}
    )
    assert resp.status_code == 201

    async def invitation() -> dict[str, Any]:
        invs = (await bob_api.request("GET", "/folders/invitations/list")).json()["invitations"]
        found: dict[str, Any] = next(i for i in invs if i["vfolder_id"] == str(uuid.UUID(fid)))
        return found

    inv_id = (await invitation())["id"]
    ok = await alice_api.request(
        "POST", f"/folders/invitations/update/{inv_id}", json={"perm": "rw"}
    )
    assert ok.status_code == 200 and ok.json() == {"msg": f"vfolder invitation updated: {inv_id}."}
    assert (await invitation())["perm"] == "rw"

    # only the inviter may; bad input is 400; nothing changes
    path = f"/folders/invitations/update/{inv_id}"
    assert_error(await bob_api.request("POST", path, json={"perm": "wd"}), 404)
    assert_error(await alice_api.request("POST", path, json={"perm": "rx"}), 400)
    assert_error(await alice_api.request("POST", path, json={}), 400)
    assert_error(
        await alice_api.request(
            "POST", f"/folders/invitations/update/{uuid.uuid4()}", json={"perm": "ro"}
        ),
        404,
    )
    assert_error(
        await alice_api.request("POST", "/folders/invitations/update/nope", json={"perm": "ro"}),
        404,
    )
    assert (await invitation())["perm"] == "rw"

    # an accepted invitation is not pending any more
    accepted = await bob_api.request("POST", "/folders/invitations/accept", json={"inv_id": inv_id})
    assert accepted.status_code == 200
    assert_error(await alice_api.request("POST", path, json={"perm": "ro"}), 404)
    assert (await bob_api.request("GET", f"/folders/{fid}")).json()["permission"] == "rw"


async def test_update_and_revoke_shared_permissions(
    vf_manager: LocalManager,
    alice_api: SignedClient,
    bob_api: SignedClient,
    bob: SeededUser,
) -> None:
    fid = (await create(alice_api))["id"]
    await invite_accepted(alice_api, bob_api, bob, fid, "ro")
    carol = await add_user(vf_manager)
    carol_api = vf_manager.client(carol.access_key, carol.secret_key)

    async def bobs_permission() -> str:
        perm: str = (await bob_api.request("GET", f"/folders/{fid}")).json()["permission"]
        return perm

    resp = await alice_api.request(
        "POST", "/folders/_/shared", json={"vfolder": fid, "user": str(bob.uuid), "perm": "rw"}
    )
    assert resp.status_code == 200 and resp.json() == {"msg": "shared vfolder permission updated"}
    assert await bobs_permission() == "rw"

    body = {"vfolder": fid, "user": str(bob.uuid), "perm": "wd"}
    assert_error(await carol_api.request("POST", "/folders/_/shared", json=body), 404)
    assert_error(await bob_api.request("POST", "/folders/_/shared", json=body), 403)
    for bad in (
        {**body, "perm": "rx"},
        {**body, "user": "bob"},
        {**body, "user": str(carol.uuid)},  # carol does not share the folder
        {"user": str(bob.uuid), "perm": "wd"},
    ):
        assert_error(await alice_api.request("POST", "/folders/_/shared", json=bad), 400)
    # several at once, all or nothing
    changes = [
        {"user_id": str(bob.uuid), "perm": "wd"},
        {"user_id": str(carol.uuid), "perm": "ro"},
    ]
    sharing: dict[str, Any] = {"vfolder_id": fid, "user_perm_list": changes}
    assert_error(await alice_api.request("POST", "/folders/_/sharing", json=sharing), 400)
    assert_error(
        await alice_api.request("POST", "/folders/_/sharing", json={"vfolder_id": fid,
                                                                    "user_perm_list": "x"}),
        400,
    )  # fmt: skip
    assert await bobs_permission() == "rw"
    sharing["user_perm_list"] = changes[:1]
    assert (await alice_api.request("POST", "/folders/_/sharing", json=sharing)).status_code == 201
    assert await bobs_permission() == "wd"

    # perm null revokes
    revoke = await alice_api.request(
        "POST", "/folders/_/shared", json={"vfolder": fid, "user": str(bob.uuid), "perm": None}
    )
    assert revoke.status_code == 200
    assert_error(await bob_api.request("GET", f"/folders/{fid}"), 404)


# -- delete-files-async --------------------------------------------------------------------------


async def test_delete_files_async(
    vf_manager: LocalManager,
    alice_api: SignedClient,
    bob_api: SignedClient,
    bob: SeededUser,
) -> None:
    fid = (await create(alice_api))["id"]
    await upload(alice_api, fid, "keep.txt", b"k")
    mk = await alice_api.request("POST", f"/folders/{fid}/mkdir", json={"path": "dir"})
    assert mk.status_code == 200
    await upload(alice_api, fid, "dir/gone.txt", b"g")
    tasks = vf_manager.manager.services.bgtasks

    async def names() -> list[str]:
        items = (await alice_api.request("GET", f"/folders/{fid}/files?path=")).json()["items"]
        return sorted(i["name"] for i in items)

    # checked before anything starts: a stranger, an ro invitee, bad input
    body = {"files": ["dir"], "recursive": True}
    path = f"/folders/{fid}/delete-files-async"
    assert_error(await bob_api.request("POST", path, json=body), 404)
    await invite_accepted(alice_api, bob_api, bob, fid, "ro")
    assert_error(await bob_api.request("POST", path, json=body), 403)
    bad_bodies: list[dict[str, Any]] = [
        {"files": []}, {"files": [""]}, {"files": "a\x00b"}, {"files": [1]}, {}
    ]  # fmt: skip
    for bad in bad_bodies:
        assert_error(await alice_api.request("POST", path, json=bad), 400)
    assert_error(await alice_api.request("POST", path, json={**body, "recursive": "maybe"}), 400)
    assert await names() == ["dir", "keep.txt"]

    resp = await alice_api.request("POST", path, json=body)
    assert resp.status_code == 202, resp.text
    last = await tasks.wait(uuid.UUID(resp.json()["bgtask_id"]))
    assert last is not None and last.name == "bgtask_done", last
    assert await names() == ["keep.txt"]

    # a failure on the proxy (the file is gone) fails the task, not the request
    resp = await alice_api.request("POST", path, json={"files": ["missing.txt"]})
    assert resp.status_code == 202
    last = await tasks.wait(uuid.UUID(resp.json()["bgtask_id"]))
    assert last is not None and last.name == "bgtask_failed", last
    assert await names() == ["keep.txt"]


# -- policies ---------------------------------------------------------------------------------


async def test_quota_scope_bounds_the_sum_of_quotas(
    vf_manager: LocalManager, admin_api: SignedClient
) -> None:
    _user, api = await user_with_policy(vf_manager, admin_api, max_quota_scope_size=1000)
    a = await create(api, quota=600)
    assert a["max_size"] == 600
    b = await create(api)  # no quota asked: all the room left
    assert b["max_size"] == 400
    assert (await quota_of(api, b["id"]))["limit_bytes"] == 400
    before = len((await api.request("GET", "/folders")).json())
    for body in ({}, {"quota": 1}, {"quota": "1k"}, {"quota": "abc"}, {"quota": [1]}):
        resp = await api.request("POST", "/folders", json={"name": unique(), **body})
        assert_error(resp, 400, "invalid-api-params")
    assert len((await api.request("GET", "/folders")).json()) == before

    # a quota change must fit in what the other folders leave
    for size in (601, 0, "inf"):
        resp = await api.request(
            "POST", "/folders/_/quota", json={"id": a["id"], "input": {"size_bytes": size}}
        )
        assert_error(resp, 400, "invalid-api-params")
    assert (await quota_of(api, a["id"]))["limit_bytes"] == 600
    resp = await api.request(
        "POST", "/folders/_/quota", json={"id": a["id"], "input": {"size_bytes": 500}}
    )
    assert resp.json() == {"size_bytes": 500}
    c = await create(api, quota=100)
    assert c["max_size"] == 100

    # trashed folders keep their quota (and their bytes)
    assert (await api.request("DELETE", "/folders", json={"id": c["id"]})).status_code == 204
    assert_error(await api.request("POST", "/folders", json={"name": unique()}), 400)
    # the clone of a folder takes the room left too, and fails cleanly without any
    clone = await api.request("POST", f"/folders/{a['id']}/clone", json={"target_name": unique()})
    assert_error(clone, 400, "invalid-api-params")


async def test_concurrent_creates_respect_max_vfolder_count(
    vf_manager: LocalManager, admin_api: SignedClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _user, api = await user_with_policy(vf_manager, admin_api, max_vfolder_count=3)
    await create(api)
    await create(api)
    counted = vfolders_repo.count_owned

    async def slow_count(*args: Any, **kwargs: Any) -> int:
        found = await counted(*args, **kwargs)
        await asyncio.sleep(0.05)  # widen the window between the count and the insert
        return found

    monkeypatch.setattr(vfolders_repo, "count_owned", slow_count)
    results = await asyncio.gather(
        *(api.request("POST", "/folders", json={"name": unique()}) for _ in range(8))
    )
    assert sorted(r.status_code for r in results) == [201] + [400] * 7
    assert len((await api.request("GET", "/folders")).json()) == 3


async def test_concurrent_creates_respect_the_quota_scope(
    vf_manager: LocalManager, admin_api: SignedClient
) -> None:
    _user, api = await user_with_policy(vf_manager, admin_api, max_quota_scope_size=1000)
    results = await asyncio.gather(
        *(api.request("POST", "/folders", json={"name": unique(), "quota": 300}) for _ in range(8))
    )
    assert sorted(r.status_code for r in results) == [201] * 3 + [400] * 5
    folders = (await api.request("GET", "/folders")).json()
    assert sum(f["max_size"] for f in folders) == 900
