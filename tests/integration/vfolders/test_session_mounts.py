"""vfolders mounted into sessions: by name, by id (with or without dashes) and with a map;
files written on either side are seen on the other; GraphQL lists the mounts; a folder shared
read-only mounts read-only (enforced by the Docker runtime); folders the owner cannot see, and
bad destinations, are refused with 4xx before anything is created."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cygnet.manager.store.repositories import sessions as sessions_repo
from cygnet.testing.agents import LocalCluster, run_cluster
from cygnet.testing.builders import SeededUser, add_user
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database
from cygnet.testing.signing import SignedClient
from cygnet.testing.vfolders import create, download, names, unique, upload

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
RESOURCES = {"cpu": 1, "mem": "512m"}
IMAGE = {"process": "python", "docker": "cygnet/python:3.11"}


async def start(api: SignedClient, image: str, name: str, config: dict[str, Any]) -> Any:
    return await api.request(
        "POST",
        "/session",
        json={"image": image, "name": name, "config": {"resources": RESOURCES, **config}},
    )


async def run(api: SignedClient, session: str, code: str) -> tuple[str, str]:
    """Run Python ``code`` in the session's main kernel; (stdout, stderr)."""
    body: dict[str, Any] = {"mode": "query", "code": code, "runId": None, "options": {}}
    out, err = "", ""
    for _ in range(300):
        resp = await api.request("POST", f"/session/{session}", json=body)
        assert resp.status_code == 200, resp.text
        result = resp.json()["result"]
        for kind, text in result["console"]:
            if kind == "stdout":
                out += text
            elif kind == "stderr":
                err += text
        if result["status"] != "continued":
            return out, err
        body = {"mode": "continue", "code": "", "runId": result["runId"], "options": {}}
    raise AssertionError("the code did not finish")


async def destroy(api: SignedClient, session: str) -> None:
    resp = await api.request("DELETE", f"/session/{session}")
    assert resp.status_code == 200, resp.text


async def node_mounts(api: SignedClient, session_id: str) -> list[str]:
    gid = base64.b64encode(f"compute_session_node:{session_id}".encode()).decode()
    body = await api.gql(
        "query($id: GlobalIDField!) { compute_session_node(id: $id) { vfolder_mounts } }",
        {"id": gid},
    )
    assert body["errors"] is None, body
    mounts: list[str] = body["data"]["compute_session_node"]["vfolder_mounts"]
    return mounts


async def exists(api: SignedClient, session: str) -> bool:
    resp = await api.request("GET", f"/session/{session}")
    assert resp.status_code in (200, 404), resp.text
    return resp.status_code == 200


@pytest.fixture(scope="module", params=["process", "docker"])
def runtime(request: pytest.FixtureRequest) -> str:
    if request.param == "docker":
        request.getfixturevalue("docker_engine")  # skips (or fails) without an engine
    name: str = request.param
    return name


@pytest.fixture(scope="module")
async def cluster(
    runtime: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalCluster]:
    data_dir = tmp_path_factory.mktemp(f"mounts-{runtime}")
    async with (
        fresh_database(DB_KIND, data_dir, PG_ADMIN_URL) as url,
        run_cluster(
            data_dir, runtime=runtime, db_url=url, storage=True, cpus=[0, 1], memory="2g"
        ) as running,
    ):
        yield running


@pytest.fixture(scope="module")
async def alice(cluster: LocalCluster) -> SeededUser:
    return await add_user(cluster.manager, project="default")


@pytest.fixture(scope="module")
async def bob(cluster: LocalCluster) -> SeededUser:
    return await add_user(cluster.manager, project="default")


@pytest.fixture(scope="module")
def alice_api(cluster: LocalCluster, alice: SeededUser) -> SignedClient:
    return cluster.manager.client(alice.access_key, alice.secret_key)


@pytest.fixture(scope="module")
def bob_api(cluster: LocalCluster, bob: SeededUser) -> SignedClient:
    return cluster.manager.client(bob.access_key, bob.secret_key)


async def test_files_cross_between_a_session_and_its_folders(
    alice_api: SignedClient, runtime: str
) -> None:
    data, models = unique("data"), unique("models")
    data_id, models_id = await create(alice_api, data), await create(alice_api, models)
    await upload(alice_api, data_id, "hello.txt", b"from the folder\n")
    name = unique("sess")
    resp = await start(
        alice_api,
        IMAGE[runtime],
        name,
        {"mounts": [data], "mount_id_map": {uuid.UUID(models_id).hex: "models-here"}},
    )
    assert resp.status_code == 201, resp.text
    try:
        out, err = await run(
            alice_api,
            name,
            f"print(open('/home/work/{data}/hello.txt').read(), end='')\n"
            if runtime == "docker"
            else f"print(open('{data}/hello.txt').read(), end='')\n",
        )
        assert (out, err) == ("from the folder\n", "")
        out, err = await run(
            alice_api,
            name,
            "open('models-here/written.txt', 'w').write('from the session')\nprint('ok')",
        )
        assert (out, err) == ("ok\n", "")
        assert "written.txt" in await names(alice_api, models_id)
        assert (await download(alice_api, models_id, "written.txt")).content == b"from the session"
        assert sorted(await node_mounts(alice_api, resp.json()["sessionId"])) == sorted(
            [str(uuid.UUID(data_id)), str(uuid.UUID(models_id))]
        )
    finally:
        await destroy(alice_api, name)
    # The folder outlives the session, files and all.
    assert set(await names(alice_api, models_id)) == {"written.txt"}


async def test_read_only_share_mounts_read_only(
    alice_api: SignedClient, bob_api: SignedClient, bob: SeededUser, runtime: str
) -> None:
    folder = unique("shared")
    fid = await create(alice_api, folder)
    await upload(alice_api, fid, "data.txt", b"42")
    invited = await alice_api.request(
        "POST", f"/folders/{fid}/invite", json={"perm": "ro", "user_ids": [bob.email]}
    )
    assert invited.status_code in (200, 201), invited.text
    listing = await bob_api.request("GET", "/folders/invitations/list")
    assert listing.status_code == 200, listing.text
    [invitation] = [i for i in listing.json()["invitations"] if i["vfolder_name"] == folder]
    accepted = await bob_api.request(
        "POST", "/folders/invitations/accept", json={"inv_id": invitation["id"]}
    )
    assert accepted.status_code == 200, accepted.text
    name = unique("ro")
    resp = await start(bob_api, IMAGE[runtime], name, {"mount_ids": [fid]})
    assert resp.status_code == 201, resp.text
    try:
        out, _ = await run(bob_api, name, f"print(open('{folder}/data.txt').read())")
        assert out == "42\n"
        if runtime == "docker":  # a process kernel shares the host's filesystem: not enforced
            out, err = await run(
                bob_api,
                name,
                "import errno\n"
                "try:\n"
                f"    open('/home/work/{folder}/new.txt', 'w')\n"
                "except OSError as exc:\n"
                "    print(errno.errorcode[exc.errno])\n",
            )
            assert out == "EROFS\n", (out, err)
            assert "new.txt" not in await names(alice_api, fid)
    finally:
        await destroy(bob_api, name)


async def test_bad_mounts_are_refused_and_create_nothing(
    alice_api: SignedClient, bob_api: SignedClient, runtime: str
) -> None:
    mine = unique("mine")
    mine_id = await create(alice_api, mine)
    other = unique("other")
    other_id = await create(alice_api, other)
    cases: list[tuple[dict[str, Any], int, SignedClient]] = [
        ({"mounts": [unique("missing")]}, 404, alice_api),
        ({"mount_ids": [mine_id]}, 404, bob_api),  # never learns it exists
        ({"mounts": [mine]}, 404, bob_api),
        ({"mounts": [mine], "mount_map": {mine: "/etc"}}, 400, alice_api),
        ({"mounts": [mine], "mount_map": {mine: "../../escape"}}, 400, alice_api),
        ({"mounts": [f"{mine}/sub"]}, 400, alice_api),
        ({"mounts": [mine, other], "mount_map": {mine: "same", other: "same"}}, 400, alice_api),
        ({"mounts": [mine], "mount_options": {mine: {"permission": "everything"}}}, 400, alice_api),
    ]
    trashed = unique("trashed")
    trashed_id = await create(alice_api, trashed)
    gone = await alice_api.request("DELETE", "/folders", json={"id": trashed_id})
    assert gone.status_code in (200, 204), gone.text
    cases.append(({"mounts": [trashed_id]}, 400, alice_api))
    for config, status, api in cases:
        name = unique("bad")
        resp = await start(api, IMAGE[runtime], name, config)
        assert resp.status_code == status, (config, resp.status_code, resp.text)
        assert not await exists(api, name), config
    assert other_id  # both folders still there, untouched
    assert await names(alice_api, mine_id) == {}


async def test_read_only_option_lowers_the_owners_permission(
    alice_api: SignedClient, runtime: str, cluster: LocalCluster
) -> None:
    folder = unique("lowered")
    fid = await create(alice_api, folder)
    name = unique("opt")
    resp = await start(
        alice_api,
        IMAGE[runtime],
        name,
        {"mounts": [folder], "mount_options": {folder: {"permission": "ro"}}},
    )
    assert resp.status_code == 201, resp.text
    try:
        services = cluster.manager.manager.services
        async with services.sessions.db.read() as tx:
            session = await sessions_repo.get(tx, uuid.UUID(resp.json()["sessionId"]))
        assert session is not None
        [mount] = session.vfolder_mounts
        assert (mount.vfid, mount.read_only, mount.kernel_path) == (
            uuid.UUID(fid),
            True,
            f"/home/work/{folder}",
        )
    finally:
        await destroy(alice_api, name)


async def test_a_mounted_folder_cannot_be_deleted_until_the_session_ends(
    alice_api: SignedClient, runtime: str
) -> None:
    folder = unique("busy")
    fid = await create(alice_api, folder)
    name = unique("holder")
    resp = await start(alice_api, IMAGE[runtime], name, {"mounts": [folder]})
    assert resp.status_code == 201, resp.text
    try:
        for method, path, body in (
            ("DELETE", "/folders", {"id": fid}),
            ("DELETE", f"/folders/{fid}/force", {}),
        ):
            refused = await alice_api.request(method, path, json=body)
            assert refused.status_code == 400, (path, refused.text)
            assert name in refused.json()["msg"]
        info = await alice_api.request("GET", f"/folders/{fid}")
        assert info.json()["status"] == "ready"
    finally:
        await destroy(alice_api, name)
    gone = await alice_api.request("DELETE", "/folders", json={"id": fid})
    assert gone.status_code in (200, 204), gone.text
