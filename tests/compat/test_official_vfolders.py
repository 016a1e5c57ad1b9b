"""vfolders through the official ``backend.ai`` CLI (wire notes 2.2 and 5(b)) against a
manager with an in-process storage proxy: create / list / info / upload (recursive) / ls /
mkdir / mv / rename-file / rm / download / invite / invitations (accept) / clone (background
task events) / delete / purge."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from official import OfficialClient

from cygnet.testing.builders import SeededUser, add_user
from cygnet.testing.cluster import LocalManager, run_manager
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

pytestmark = pytest.mark.compat

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)


def unique(prefix: str = "bai") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def storage_manager(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[LocalManager]:
    data_dir = tmp_path_factory.mktemp("bai-vfolders")
    async with (
        fresh_database(DB_KIND, data_dir, PG_ADMIN_URL) as url,
        run_manager(data_dir=data_dir, db_url=url, storage=True) as local,
    ):
        yield local


def _client(exe: Path, home: Path, env: dict[str, str]) -> OfficialClient:
    return OfficialClient(
        exe,
        {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "BACKEND_ENDPOINT_TYPE": "api",
            **env,
        },
        home,
    )


@pytest.fixture(scope="module")
def bai(
    official_client_exe: Path,
    storage_manager: LocalManager,
    tmp_path_factory: pytest.TempPathFactory,
) -> OfficialClient:
    return _client(official_client_exe, tmp_path_factory.mktemp("bai-vf"), storage_manager.env())


async def ok(bai: OfficialClient, *args: str, stdin: str | None = None) -> str:
    result = await bai.run(*args, output_json=False, stdin=stdin)
    assert result.code == 0, f"backend.ai {' '.join(args)} failed ({result.code}):\n{result.out}"
    assert "Traceback" not in result.out and "✗" not in result.out, result.out
    return result.out


async def test_folder_lifecycle_and_files(bai: OfficialClient) -> None:
    name = unique("vf")
    await ok(bai, "vfolder", "create", name, "local:volume1")
    listed = await bai.ok("vfolder", "list")
    assert name in {item["name"] for item in listed["items"]}
    info = await ok(bai, "vfolder", "info", name)
    assert f'Virtual folder "{name}"' in info and "Number of files: 0" in info
    hosts = await ok(bai, "vfolder", "list-hosts")
    assert "local:volume1" in hosts

    src = bai.cwd / "src"
    (src / "nested").mkdir(parents=True)
    (src / "top.txt").write_text("top level\n")
    (src / "nested" / "test_1.txt").write_text("nested file\n")
    (src / "empty.txt").write_text("")
    await ok(bai, "vfolder", "upload", name, "src", "--recursive")
    listing = await ok(bai, "vfolder", "ls", name, "src")
    assert "top.txt" in listing and "nested" in listing and "empty.txt" in listing

    await ok(bai, "vfolder", "mkdir", name, "made")
    await ok(bai, "vfolder", "mv", name, "src/top.txt", "made")
    await ok(bai, "vfolder", "rename-file", name, "made/top.txt", "renamed.txt")
    assert "renamed.txt" in await ok(bai, "vfolder", "ls", name, "made")
    await ok(bai, "vfolder", "rm", name, "src/empty.txt", stdin="y\n")
    assert "empty.txt" not in await ok(bai, "vfolder", "ls", name, "src")

    out = bai.cwd / "out"
    (out / "made").mkdir(parents=True)  # the client does not create local directories
    await ok(bai, "vfolder", "download", name, "made/renamed.txt", "--base-dir", str(out))
    assert (out / "made" / "renamed.txt").read_text() == "top level\n"

    await ok(bai, "vfolder", "delete", name)
    assert "delete-pending" in await ok(bai, "vfolder", "info", name)
    await ok(bai, "vfolder", "purge", name)
    gone = await bai.run("vfolder", "info", name, output_json=False)
    assert gone.code != 0 or "No such" in gone.out or "not found" in gone.out.lower()


async def test_invite_accept_and_clone(
    bai: OfficialClient,
    storage_manager: LocalManager,
    official_client_exe: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    user: SeededUser = await add_user(storage_manager)
    env = storage_manager.env()
    env.update(
        BACKEND_ACCESS_KEY=user.access_key,
        BACKEND_SECRET_KEY=user.secret_key,
    )
    them = _client(official_client_exe, tmp_path_factory.mktemp("bai-vf-user"), env)

    name = unique("shared")
    await ok(bai, "vfolder", "create", name, "local:volume1", "--cloneable")
    (bai.cwd / "share.txt").write_text("shared\n")
    await ok(bai, "vfolder", "upload", name, "share.txt")
    invited = await ok(bai, "vfolder", "invite", name, user.email, "--perm", "ro")
    assert user.email in invited
    listing = await ok(them, "vfolder", "invitations", stdin="1\na\n")
    assert name in listing and "You can now access" in listing
    info = await ok(them, "vfolder", "info", name)
    assert "Permission: ro" in info

    clone = unique("clone")
    out = await ok(bai, "vfolder", "clone", name, clone, "local:volume1")
    assert "complete" in out.lower()
    cloned = await ok(bai, "vfolder", "info", clone)
    assert "Status: ready" in cloned and "Number of files: 1" in cloned
