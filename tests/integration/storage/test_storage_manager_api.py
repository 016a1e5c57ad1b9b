"""The manager-facing API over HTTP: auth, volumes, folders, quotas, file operations, clone."""

from __future__ import annotations

import json
import os
import stat
import uuid

import httpx

from cygnet.testing.storage_harness import Storage


async def test_storage_manager_api_requires_the_secret(storage: Storage) -> None:
    async with httpx.AsyncClient(base_url=storage.proxy.manager_url) as anon:
        for headers in ({}, {"X-Cygnet-Storage-Secret": "wrong"}):
            r = await anon.get("/volumes", headers=headers)
            assert r.status_code == 401
            assert r.json()["error_code"] == "storage_auth_unauthorized"
        r = await anon.post(
            "/volumes/vol/folders",
            json={"folder_id": str(uuid.uuid4())},
            headers={"X-Cygnet-Storage-Secret": "x"},
        )
        assert r.status_code == 401
    assert list(storage.volume_path.glob("??/??/*")) == []


async def test_storage_volumes_and_folder_lifecycle(storage: Storage) -> None:
    r = await storage.manager.get("/volumes")
    (vol,) = r.json()["volumes"]
    assert vol["name"] == "vol" and vol["backend"] == "local"
    assert vol["capacity_bytes"] >= vol["used_bytes"] > 0 and "quota" in vol["capabilities"]
    assert (await storage.manager.get("/volumes/nope")).status_code == 404
    fid = await storage.new_folder(quota=1000)
    again = await storage.manager.post("/volumes/vol/folders", json={"folder_id": fid})
    assert again.status_code == 409
    bad = await storage.manager.post("/volumes/vol/folders", json={"folder_id": "../x"})
    assert bad.status_code == 400
    mount = (await storage.manager.get(storage.url(fid, "/mount"))).json()["path"]
    assert mount == str(storage.folder_path(fid)) and stat.S_ISDIR(os.stat(mount).st_mode)
    assert (await storage.manager.get(storage.url(fid, "/quota"))).json() == {"quota_bytes": 1000}
    r = await storage.manager.put(storage.url(fid, "/quota"), json={"quota_bytes": 5})
    assert r.json() == {"quota_bytes": 5}
    (storage.folder_path(fid) / "f").write_bytes(b"123")
    usage = (await storage.manager.get(storage.url(fid, "/usage"))).json()
    assert usage == {"file_count": 1, "used_bytes": 3}
    assert (await storage.upload(fid, "g", b"xyz")).status_code == 413
    assert (await storage.manager.delete(storage.url(fid))).status_code == 204
    assert (await storage.manager.delete(storage.url(fid))).status_code == 404
    assert (await storage.manager.get(storage.url(fid, "/usage"))).status_code == 404
    assert (await storage.manager.get(storage.url(str(uuid.uuid4()), "/files"))).status_code == 404


async def test_storage_file_operations(storage: Storage) -> None:
    fid = await storage.new_folder()
    root = storage.folder_path(fid)
    m = storage.manager
    r = await m.post(
        storage.url(fid, "/mkdir"), json={"path": ["a/b", "c", "c", "../x"], "parents": True}
    )
    results = r.json()["results"]
    assert [s["item"] for s in results["success"]] == ["a/b", "c"]
    assert [f["item"] for f in results["failed"]] == ["c", "../x"]
    r = await m.post(storage.url(fid, "/mkdir"), json={"path": "c", "exist_ok": True})
    assert r.json()["results"]["failed"] == []
    r = await m.post(storage.url(fid, "/mkdir"), json={"path": "p/q"})
    assert r.json()["results"]["failed"][0]["item"] == "p/q"
    (root / "a" / "f.txt").write_text("hello")
    (root / "link").symlink_to("a/f.txt")
    items = (await m.get(storage.url(fid, "/files"), params={"path": ""})).json()["items"]
    kinds = {i["name"]: i["type"] for i in items}
    assert kinds == {"a": "DIRECTORY", "c": "DIRECTORY", "link": "SYMLINK"}
    (f_item,) = [
        i
        for i in (await m.get(storage.url(fid, "/files"), params={"path": "a"})).json()["items"]
        if i["name"] == "f.txt"
    ]
    assert f_item["size"] == 5 and isinstance(f_item["mode"], int) and "T" in f_item["modified"]
    # rename
    r = await m.post(storage.url(fid, "/files/rename"), json={"path": "a/f.txt", "new_name": "g"})
    assert r.status_code == 204 and (root / "a" / "g").read_text() == "hello"
    r = await m.post(storage.url(fid, "/files/rename"), json={"path": "a/g", "new_name": "b"})
    assert r.status_code == 409
    r = await m.post(storage.url(fid, "/files/rename"), json={"path": "nope", "new_name": "z"})
    assert r.status_code == 404
    # move: to a new name, and into an existing directory
    r = await m.post(storage.url(fid, "/files/move"), json={"src": "a/g", "dst": "c"})
    assert r.status_code == 204 and (root / "c" / "g").is_file()
    r = await m.post(storage.url(fid, "/files/move"), json={"src": "c/g", "dst": "h.txt"})
    assert r.status_code == 204 and (root / "h.txt").is_file()
    r = await m.post(storage.url(fid, "/files/move"), json={"src": "a", "dst": "a/b"})
    assert r.status_code == 400
    r = await m.post(storage.url(fid, "/files/move"), json={"src": "h.txt", "dst": "link"})
    assert r.status_code == 409
    # delete: files, links (never their targets), directories (recursive only when non-empty)
    d = storage.url(fid, "/files/delete")
    assert (await m.post(d, json={"paths": ["link"]})).status_code == 204
    assert (root / "h.txt").exists()
    assert (await m.post(d, json={"paths": ["a"]})).status_code == 400
    assert (await m.post(d, json={"paths": ["a"], "recursive": True})).status_code == 204
    assert (await m.post(d, json={"paths": ["h.txt", "missing"]})).status_code == 404
    assert (await m.post(d, json={"paths": ["c", "../../x"]})).status_code == 400
    assert (root / "c").exists()  # a bad path refuses the whole request first
    assert sorted(os.listdir(root)) == ["c"]


async def test_storage_clone_streams_progress(storage: Storage) -> None:
    fid = await storage.new_folder()
    root = storage.folder_path(fid)
    (root / "d").mkdir()
    (root / "d" / "big").write_bytes(os.urandom(3 * 1024 * 1024))
    (root / "small").write_text("s")
    (root / "link").symlink_to("/etc/passwd")
    target = str(uuid.uuid4())
    async with storage.manager.stream(
        "POST", storage.url(fid, "/clone"), json={"target_folder_id": target}
    ) as r:
        assert r.status_code == 200
        lines = [json.loads(line) async for line in r.aiter_lines() if line]
    assert lines[0] == {"copied_bytes": 0, "total_bytes": 3 * 1024 * 1024 + 1 + len("/etc/passwd")}
    assert lines[-1]["done"] is True and lines[-1]["copied_bytes"] == 3 * 1024 * 1024 + 1
    copy = storage.folder_path(target)
    assert (copy / "d" / "big").read_bytes() == (root / "d" / "big").read_bytes()
    assert os.readlink(copy / "link") == "/etc/passwd"  # copied as a link, never followed
    again = await storage.manager.post(
        storage.url(fid, "/clone"), json={"target_folder_id": target}
    )
    assert again.status_code == 409
    small = await storage.manager.post(
        storage.url(fid, "/clone"), json={"target_folder_id": str(uuid.uuid4()), "quota_bytes": 5}
    )
    assert small.status_code == 413
