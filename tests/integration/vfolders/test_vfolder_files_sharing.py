"""vfolder files through the manager and the storage proxy: mkdir (200/207/422), listing,
rename/move/delete, uploads (tus PATCH, an empty file, a resumed upload) and downloads (whole
and ranged), archives; sharing: invitations (accept, a second accept, reject), permissions of
invitees (ro cannot write), project shares, leave; clone as a background task with its SSE."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from typing import Any

import httpx

from cygnet.testing.builders import SeededUser
from cygnet.testing.cluster import LocalManager
from cygnet.testing.signing import SignedClient
from cygnet.testing.vfolders import create, download, names, unique, upload, with_token


async def test_mkdir_results(alice_api: SignedClient) -> None:
    fid = await create(alice_api)
    ok = await alice_api.request("POST", f"/folders/{fid}/mkdir", json={"path": "a"})
    assert ok.status_code == 200 and ok.json()["results"]["success"]
    partial = await alice_api.request(
        "POST", f"/folders/{fid}/mkdir", json={"path": ["a", "b"], "exist_ok": False}
    )
    assert partial.status_code == 207
    failed = await alice_api.request("POST", f"/folders/{fid}/mkdir", json={"path": ["a"]})
    assert failed.status_code == 422 and failed.json()["results"]["failed"]
    deep = await alice_api.request(
        "POST", f"/folders/{fid}/mkdir", json={"path": "x/y/z", "parents": True}
    )
    assert deep.status_code == 200
    assert await names(alice_api, fid) == {"a": "DIRECTORY", "b": "DIRECTORY", "x": "DIRECTORY"}
    bad = await alice_api.request("POST", f"/folders/{fid}/mkdir", json={"path": "a\x00b"})
    assert bad.status_code == 400


async def test_upload_download_and_file_ops(alice_api: SignedClient) -> None:
    fid = await create(alice_api)
    data = bytes(range(256)) * 9000  # ~2.3 MB, several chunks
    await upload(alice_api, fid, "dir/data.bin", data)
    await upload(alice_api, fid, "empty.txt", b"")
    assert await names(alice_api, fid) == {"dir": "DIRECTORY", "empty.txt": "FILE"}
    got = await download(alice_api, fid, "dir/data.bin")
    assert got.status_code == 200 and got.content == data
    assert int(got.headers["Content-Length"]) == len(data)
    ranged = await download(
        alice_api,
        fid,
        "dir/data.bin",
        Range="bytes=1000-",
        **{"If-Range": got.headers["Last-Modified"]},
    )
    assert ranged.status_code == 206 and ranged.content == data[1000:]
    empty = await download(alice_api, fid, "empty.txt")
    assert empty.status_code == 200 and empty.content == b""

    info = (await alice_api.request("GET", f"/folders/{fid}")).json()
    assert info["numFiles"] >= 2 and info["used_bytes"] >= len(data)

    r = await alice_api.request(
        "POST",
        f"/folders/{fid}/rename-file",
        json={"target_path": "empty.txt", "new_name": "e.txt"},
    )
    assert r.status_code == 200
    r = await alice_api.request(
        "POST", f"/folders/{fid}/move-file", json={"src": "e.txt", "dst": "dir"}
    )
    assert r.status_code == 200
    assert await names(alice_api, fid, "dir") == {"data.bin": "FILE", "e.txt": "FILE"}

    archive = await alice_api.request(
        "POST", f"/folders/{fid}/request-download-archive", json={"files": ["dir"]}
    )
    assert archive.status_code == 200
    async with httpx.AsyncClient() as http:
        z = await http.get(with_token(archive.json()["url"], archive.json()["token"]))
    assert z.status_code == 200
    listed = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    assert sorted(n for n in listed if not n.endswith("/")) == ["dir/data.bin", "dir/e.txt"]

    non_recursive = await alice_api.request(
        "DELETE", f"/folders/{fid}/delete-files", json={"files": ["dir"], "recursive": False}
    )
    assert non_recursive.status_code == 400
    r = await alice_api.request(
        "DELETE", f"/folders/{fid}/delete-files", json={"files": ["dir"], "recursive": True}
    )
    assert r.status_code == 200
    assert await names(alice_api, fid) == {}
    missing = await alice_api.request(
        "POST", f"/folders/{fid}/request-download", json={"path": "nope"}
    )
    assert missing.status_code == 404
    escape = await alice_api.request(
        "POST", f"/folders/{fid}/request-upload", json={"path": "../x", "size": 1}
    )
    assert escape.status_code == 400


async def test_resumed_upload(alice_api: SignedClient) -> None:
    fid = await create(alice_api)
    data = b"0123456789" * 100_000
    resp = await alice_api.request(
        "POST", f"/folders/{fid}/request-upload", json={"path": "big", "size": len(data)}
    )
    url = with_token(resp.json()["url"], resp.json()["token"])
    headers = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}
    async with httpx.AsyncClient() as http:
        r = await http.patch(url, content=data[:300_000], headers={**headers, "Upload-Offset": "0"})
        assert r.status_code == 204
        head = await http.head(url, headers={"Tus-Resumable": "1.0.0"})
        offset = int(head.headers["Upload-Offset"])
        assert offset == 300_000
        r = await http.patch(
            url, content=data[offset:], headers={**headers, "Upload-Offset": str(offset)}
        )
        assert r.status_code == 204
    assert (await download(alice_api, fid, "big")).content == data


async def test_invitations(
    alice_api: SignedClient, bob_api: SignedClient, alice: SeededUser, bob: SeededUser
) -> None:
    name = unique()
    fid = await create(alice_api, name)
    await upload(alice_api, fid, "hello.txt", b"hi")
    resp = await alice_api.request(
        "POST", f"/folders/{fid}/invite", json={"perm": "ro", "user_ids": [bob.email, "nobody@x.y"]}
    )
    assert resp.status_code == 201 and resp.json() == {"invited_ids": [bob.email]}
    again = await alice_api.request(
        "POST", f"/folders/{fid}/invite", json={"perm": "ro", "user_ids": [bob.email]}
    )
    assert again.status_code == 400
    assert (await bob_api.request("GET", f"/folders/{fid}")).status_code == 404

    invs = (await bob_api.request("GET", "/folders/invitations/list")).json()["invitations"]
    inv = next(i for i in invs if i["vfolder_id"] == str(uuid.UUID(fid)))
    assert inv["perm"] == inv["mount_permission"] == "ro"
    assert inv["status"] == inv["state"] == "pending"
    assert inv["inviter"] == inv["inviter_user_email"] == alice.email
    assert inv["invitee_user_email"] == bob.email and inv["vfolder_name"] == name

    # only the invitee accepts; twice is 404
    denied = await alice_api.request(
        "POST", "/folders/invitations/accept", json={"inv_id": inv["id"]}
    )
    assert denied.status_code == 404
    ok = await bob_api.request("POST", "/folders/invitations/accept", json={"inv_id": inv["id"]})
    assert ok.status_code == 200
    twice = await bob_api.request("POST", "/folders/invitations/accept", json={"inv_id": inv["id"]})
    assert twice.status_code == 404

    info = (await bob_api.request("GET", f"/folders/{fid}")).json()
    assert info["permission"] == "ro" and info["is_owner"] is False
    assert (await download(bob_api, fid, "hello.txt")).content == b"hi"
    write = await bob_api.request("POST", f"/folders/{fid}/mkdir", json={"path": "nope"})
    assert write.status_code == 403
    rename = await bob_api.request("POST", f"/folders/{fid}/rename", json={"new_name": unique()})
    assert rename.status_code == 403

    # leaving takes the access away again
    assert (await bob_api.request("POST", f"/folders/{fid}/leave", json={})).status_code == 200
    assert (await bob_api.request("GET", f"/folders/{fid}")).status_code == 404


async def test_reject_invitation(
    alice_api: SignedClient, bob_api: SignedClient, bob: SeededUser
) -> None:
    fid = await create(alice_api)
    await alice_api.request(
        "POST", f"/folders/{fid}/invite", json={"perm": "rw", "user_ids": [bob.email]}
    )
    invs = (await bob_api.request("GET", "/folders/invitations/list")).json()["invitations"]
    inv = next(i for i in invs if i["vfolder_id"] == str(uuid.UUID(fid)))
    r = await bob_api.request("DELETE", "/folders/invitations/delete", json={"inv_id": inv["id"]})
    assert r.status_code == 200
    assert (await bob_api.request("GET", f"/folders/{fid}")).status_code == 404
    again = await bob_api.request("POST", "/folders/invitations/accept", json={"inv_id": inv["id"]})
    assert again.status_code == 404


async def test_project_share(
    vf_manager: LocalManager, admin_api: SignedClient, bob_api: SignedClient, bob: SeededUser
) -> None:
    groups = (await admin_api.gql("query { groups { id name } }"))["data"]["groups"]
    default = next(g for g in groups if g["name"] == "default")
    fid = await create(admin_api, unique("proj"), group=default["id"], permission="ro")
    not_member = await admin_api.request(
        "POST", f"/folders/{fid}/share", json={"permission": "rw", "emails": [bob.email]}
    )
    assert not_member.status_code == 400
    added = await admin_api.gql(
        "mutation($gid: UUID!, $input: ModifyGroupInput!) {"
        " modify_group(gid: $gid, props: $input) { ok msg } }",
        {"gid": default["id"], "input": {"user_update_mode": "add", "user_uuids": [str(bob.uuid)]}},
    )
    assert added["data"]["modify_group"]["ok"], added
    assert (await bob_api.request("GET", f"/folders/{fid}")).json()["permission"] == "ro"
    shared = await admin_api.request(
        "POST", f"/folders/{fid}/share", json={"permission": "rw", "emails": [bob.email]}
    )
    assert shared.status_code == 201 and shared.json() == {"shared_emails": [bob.email]}
    assert (await bob_api.request("GET", f"/folders/{fid}")).json()["permission"] == "rw"
    assert (
        await bob_api.request("POST", f"/folders/{fid}/mkdir", json={"path": "d"})
    ).status_code == 200
    unshared = await admin_api.request(
        "DELETE", f"/folders/{fid}/unshare", json={"emails": [bob.email]}
    )
    assert unshared.json() == {"unshared_emails": [bob.email]}
    assert (await bob_api.request("GET", f"/folders/{fid}")).json()["permission"] == "ro"


async def test_clone_with_bgtask_events(alice_api: SignedClient) -> None:
    src = await create(alice_api, cloneable=True)
    await upload(alice_api, src, "a/b.txt", b"x" * 5000)
    target = unique("clone")
    resp = await alice_api.request(
        "POST", f"/folders/{src}/clone", json={"target_name": target, "permission": "rw"}
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["name"] == target and body["bgtask_id"] and len(body["id"]) == 32
    events = await bgtask_events(alice_api, body["bgtask_id"])
    assert events[-1][0] == "server_close"
    assert events[-2][0] == "bgtask_done", events
    info = (await alice_api.request("GET", f"/folders/{target}")).json()
    assert info["status"] == "ready" and info["numFiles"] >= 1
    assert (await download(alice_api, body["id"], "a/b.txt")).content == b"x" * 5000
    # a late subscriber still learns the outcome
    late = await bgtask_events(alice_api, body["bgtask_id"])
    assert [name for name, _ in late] == ["bgtask_done", "server_close"]


async def bgtask_events(api: SignedClient, task_id: str) -> list[tuple[str, Any]]:
    resp = await asyncio.wait_for(
        api.request("GET", f"/events/background-task?task_id={task_id}"), 30
    )
    assert resp.status_code == 200, resp.text
    events: list[tuple[str, Any]] = []
    for block in resp.text.split("\n\n"):
        name = data = None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if name:
            events.append((name, data))
    return events
