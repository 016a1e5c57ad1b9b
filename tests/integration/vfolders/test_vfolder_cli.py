"""``cygnet vfolder`` as a real subprocess against a manager with a real storage proxy on
127.0.0.1: create/ls/info (tables and --json), uploads (a multi-MiB file, a directory with
--recursive, an empty file) and byte-identical downloads, resumed downloads (a ``.part`` file
continued with Range) and uploads (a tus upload left at a partial offset), file operations,
invitations, clone with its progress, trash/restore/purge, and bad input."""

from __future__ import annotations

import hashlib
import uuid
import zipfile
from pathlib import Path

import pytest

from cygnet.client.sdk import vfolder_transfers
from cygnet.client.sdk.config import APIConfig
from cygnet.client.sdk.session import AsyncAPISession
from cygnet.client.sdk.vfolder_transfers import TransferJournal, part_path
from cygnet.testing.builders import SeededUser
from cygnet.testing.cli import Cygnet, cli_env
from cygnet.testing.cluster import LocalManager

MIB = 1 << 20


def unique(prefix: str = "vfcli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def pattern(size: int, seed: int = 0) -> bytes:
    """Bytes that differ at every offset (a misplaced range would show)."""
    block = b"".join(hashlib.sha256(f"{seed}-{i}".encode()).digest() for i in range(2048))
    return (block * (size // len(block) + 1))[:size]


class VFolderCLI(Cygnet):
    """``cygnet`` with one user's keypair (and an SDK session with the same keypair)."""

    @property
    def config_dir(self) -> Path:
        return Path(self.env["CYGNET_CONFIG_DIR"])

    def api(self) -> AsyncAPISession:
        return AsyncAPISession(
            APIConfig.load(
                overrides={
                    "endpoint": self.env["CYGNET_ENDPOINT"],
                    "access_key": self.env["CYGNET_ACCESS_KEY"],
                    "secret_key": self.env["CYGNET_SECRET_KEY"],
                }
            )
        )


def make_cli(local: LocalManager, user: SeededUser, home: Path) -> VFolderCLI:
    env = cli_env(
        local.env(), home, CYGNET_ACCESS_KEY=user.access_key, CYGNET_SECRET_KEY=user.secret_key
    )
    return VFolderCLI(env, home)


@pytest.fixture(scope="module")
def alice_cli(
    vf_manager: LocalManager, alice: SeededUser, tmp_path_factory: pytest.TempPathFactory
) -> VFolderCLI:
    return make_cli(vf_manager, alice, tmp_path_factory.mktemp("alice-home"))


@pytest.fixture(scope="module")
def bob_cli(
    vf_manager: LocalManager, bob: SeededUser, tmp_path_factory: pytest.TempPathFactory
) -> VFolderCLI:
    return make_cli(vf_manager, bob, tmp_path_factory.mktemp("bob-home"))


async def test_create_ls_info(alice_cli: VFolderCLI) -> None:
    name = unique()
    done = await alice_cli.ok("vfolder", "create", name, "--cloneable")
    assert f"Folder {name}" in done.out and "local:volume1" in done.out
    created = (await alice_cli.ok("vfolder", "info", name, "--json")).json()
    assert created["name"] == name and created["cloneable"] is True
    assert created["host"] == "local:volume1" and created["status"] == "ready"
    assert created["num_files"] == 0 and created["permission"] == "rw"

    table = await alice_cli.ok("vfolder", "ls")
    assert name in table.out and "Host" in table.out
    listed = (await alice_cli.ok("--json", "vfolder", "ls")).json()
    assert name in [f["name"] for f in listed["items"]]
    info = await alice_cli.ok("vfolder", "info", name)
    assert "Your permission" in info.out and created["id"] in info.out
    hosts = (await alice_cli.ok("vfolder", "hosts", "--json")).json()
    assert "local:volume1" in hosts["allowed"]

    renamed = unique("renamed")
    await alice_cli.ok("vfolder", "rename", name, renamed)
    await alice_cli.ok("vfolder", "update-options", renamed, "--permission", "ro")
    assert (await alice_cli.ok("vfolder", "info", created["id"], "--json")).json()[
        "name"
    ] == renamed


async def test_upload_download_round_trip(alice_cli: VFolderCLI, tmp_path: Path) -> None:
    name = unique()
    await alice_cli.ok("vfolder", "create", name)
    big = tmp_path / "big.bin"
    big.write_bytes(pattern(5 * MIB + 123))
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "empty-dir").mkdir()
    (tree / "a.txt").write_text("alpha\n")
    (tree / "sub" / "b.bin").write_bytes(pattern(300_000, seed=1))
    (tree / "sub" / "deeper" / "empty.txt").write_bytes(b"")

    up = await alice_cli.ok("vfolder", "upload", name, str(big), "--json")
    body = up.json()
    assert body["bytes"] == big.stat().st_size and body["files"][0]["remote"] == "big.bin"
    human = await alice_cli.ok("vfolder", "upload", name, str(tree), "-r", "--dest", "data")
    assert "Uploaded 3 files" in human.out
    top = (await alice_cli.ok("vfolder", "files", name, "--json")).json()["items"]
    assert {(f["name"], f["type"]) for f in top} == {("big.bin", "FILE"), ("data", "DIRECTORY")}
    listing = await alice_cli.ok("vfolder", "files", name, "data/tree")
    for entry in ("a.txt", "sub", "empty-dir"):
        assert entry in listing.out

    out = tmp_path / "out"
    await alice_cli.ok("vfolder", "download", name, "big.bin", "--dest", str(out))
    assert (out / "big.bin").read_bytes() == big.read_bytes()
    assert not part_path(out / "big.bin").exists()
    got = await alice_cli.ok(
        "vfolder", "download", name, "data/tree", "-r", "--dest", str(out), "--json"
    )
    assert len(got.json()["files"]) == 3
    for rel in ("a.txt", "sub/b.bin", "sub/deeper/empty.txt"):
        assert (out / "tree" / rel).read_bytes() == (tree / rel).read_bytes(), rel
    assert (out / "tree" / "empty-dir").is_dir()

    zipped = tmp_path / "all.zip"
    await alice_cli.ok("vfolder", "download", name, "data", "big.bin", "--archive", str(zipped))
    with zipfile.ZipFile(zipped) as z:
        assert z.read("big.bin") == big.read_bytes()
        assert z.read("data/tree/sub/b.bin") == (tree / "sub" / "b.bin").read_bytes()


async def test_resume_download_from_part_file(alice_cli: VFolderCLI, tmp_path: Path) -> None:
    name = unique()
    await alice_cli.ok("vfolder", "create", name)
    data = pattern(6 * MIB + 7, seed=2)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    await alice_cli.ok("vfolder", "upload", name, str(src))
    dest = tmp_path / "dl"

    # 1. a download interrupted by the SDK's own journal: resumes with Range + If-Range
    class Stop(Exception):
        pass

    def stop_midway(done: int, total: int) -> None:
        if done >= 2 * MIB:
            raise Stop

    async with alice_cli.api() as api:
        with pytest.raises(Stop):
            await api.vfolders.download(
                name,
                ["src.bin"],
                dest,
                progress=stop_midway,
                journal=TransferJournal(alice_cli.config_dir / "transfers"),
            )
    part = part_path(dest / "src.bin")
    kept = part.stat().st_size
    assert 2 * MIB <= kept < len(data) and not (dest / "src.bin").exists()
    done = (
        await alice_cli.ok("vfolder", "download", name, "src.bin", "-d", str(dest), "--json")
    ).json()
    assert done["files"][0]["resumed_from"] == kept
    assert (dest / "src.bin").read_bytes() == data and not part.exists()

    # 2. a truncated .part left by anything else is continued with Range too
    part.write_bytes(data[: 3 * MIB])
    human = await alice_cli.ok("vfolder", "download", name, "src.bin", "-d", str(dest))
    assert "resumed at 3.0 MiB" in human.out
    assert (dest / "src.bin").read_bytes() == data


async def test_resume_upload_from_partial_offset(alice_cli: VFolderCLI, tmp_path: Path) -> None:
    name = unique()
    await alice_cli.ok("vfolder", "create", name)
    data = pattern(5 * MIB + 11, seed=3)
    src = tmp_path / "up.bin"
    src.write_bytes(data)

    class Stop(Exception):
        pass

    def stop_midway(done: int, total: int) -> None:
        if done >= 2 * MIB + MIB // 2:
            raise Stop

    patch_bytes = vfolder_transfers.PATCH_BYTES
    vfolder_transfers.PATCH_BYTES = MIB  # two whole PATCHes reach the proxy, the third breaks
    try:
        async with alice_cli.api() as api:
            with pytest.raises(Stop):
                await api.vfolders.upload(
                    name,
                    [src],
                    progress=stop_midway,
                    journal=TransferJournal(alice_cli.config_dir / "transfers"),
                )
    finally:
        vfolder_transfers.PATCH_BYTES = patch_bytes
    files = (await alice_cli.ok("vfolder", "files", name, "--json")).json()["items"]
    assert files == []  # nothing lands in the folder before the upload completes

    done = (await alice_cli.ok("vfolder", "upload", name, str(src), "--json")).json()
    assert done["files"][0]["resumed_from"] >= 2 * MIB
    out = tmp_path / "back"
    await alice_cli.ok("vfolder", "download", name, "up.bin", "-d", str(out))
    assert (out / "up.bin").read_bytes() == data
    assert not list((alice_cli.config_dir / "transfers").glob("*.json"))


async def test_file_operations(alice_cli: VFolderCLI, tmp_path: Path) -> None:
    name = unique()
    await alice_cli.ok("vfolder", "create", name)
    (tmp_path / "f.txt").write_text("hello")
    await alice_cli.ok("vfolder", "upload", name, str(tmp_path / "f.txt"))
    made = await alice_cli.ok("vfolder", "mkdir", name, "x/y", "z", "--parents")
    assert "x/y" in made.out
    again = await alice_cli.fails("vfolder", "mkdir", name, "z")
    assert "z" in again.err

    await alice_cli.ok("vfolder", "mv", name, "f.txt", "x/y")
    await alice_cli.ok("vfolder", "rename-file", name, "x/y/f.txt", "g.txt")
    inner = (await alice_cli.ok("vfolder", "files", name, "x/y", "--json")).json()["items"]
    assert [f["name"] for f in inner] == ["g.txt"] and inner[0]["size"] == 5

    refused = await alice_cli.fails("vfolder", "rm-files", name, "x")
    assert "HTTP 400" in refused.err
    await alice_cli.ok("vfolder", "rm-files", name, "x", "z", "--recursive")
    assert (await alice_cli.ok("vfolder", "files", name, "--json")).json()["items"] == []


async def test_invite_accept(alice_cli: VFolderCLI, bob_cli: VFolderCLI, bob: SeededUser) -> None:
    name = unique()
    await alice_cli.ok("vfolder", "create", name)
    invited = await alice_cli.ok("vfolder", "invite", name, bob.email, "--perm", "ro", "--json")
    assert invited.json()["invited"] == [bob.email]
    sent = (await alice_cli.ok("vfolder", "invitations", "--sent", "--json")).json()["items"]
    assert name in [i["vfolder_name"] for i in sent]

    table = await bob_cli.ok("vfolder", "invitations")
    assert name in table.out
    pending = (await bob_cli.ok("vfolder", "invitations", "--json")).json()["items"]
    inv = next(i for i in pending if i["vfolder_name"] == name)
    assert inv["perm"] == "ro" and inv["state"] == "pending"
    await bob_cli.ok("vfolder", "accept", inv["id"])
    info = (await bob_cli.ok("vfolder", "info", name, "--json")).json()
    assert info["permission"] == "ro" and info["is_owner"] is False
    denied = await bob_cli.fails("vfolder", "mkdir", name, "nope")
    assert "HTTP 403" in denied.err
    await bob_cli.ok("vfolder", "leave", name)
    await bob_cli.fails("vfolder", "info", name)

    # a rejected invitation gives no access
    other = unique()
    await alice_cli.ok("vfolder", "create", other)
    await alice_cli.ok("vfolder", "invite", other, bob.email)
    pending = (await bob_cli.ok("vfolder", "invitations", "--json")).json()["items"]
    await bob_cli.ok(
        "vfolder", "reject", next(i["id"] for i in pending if i["vfolder_name"] == other)
    )
    await bob_cli.fails("vfolder", "info", other)


async def test_clone_with_progress(alice_cli: VFolderCLI, tmp_path: Path) -> None:
    name = unique()
    await alice_cli.ok("vfolder", "create", name, "--cloneable")
    (tmp_path / "c.bin").write_bytes(pattern(3 * MIB, seed=4))
    await alice_cli.ok("vfolder", "upload", name, str(tmp_path / "c.bin"))
    target = unique("clone")
    done = await alice_cli.ok("vfolder", "clone", name, target)
    assert f"cloned into {target}" in done.out
    assert f"Cloning {name}" in done.err  # the progress bar (stderr)
    info = (await alice_cli.ok("vfolder", "info", target, "--json")).json()
    assert info["status"] == "ready" and info["num_files"] == 1
    await alice_cli.ok("vfolder", "download", target, "c.bin", "-d", str(tmp_path / "copy"))
    assert (tmp_path / "copy" / "c.bin").read_bytes() == (tmp_path / "c.bin").read_bytes()

    as_json = (await alice_cli.ok("vfolder", "clone", name, unique("clone"), "--json")).json()
    assert as_json["bgtask_id"] and as_json["name"].startswith("clone-")


async def test_trash_restore_purge(alice_cli: VFolderCLI) -> None:
    name = unique()
    await alice_cli.ok("vfolder", "create", name)
    done = await alice_cli.ok("vfolder", "rm", name)
    assert "trash" in done.out
    assert (await alice_cli.ok("vfolder", "info", name, "--json")).json()["status"] == (
        "delete-pending"
    )
    await alice_cli.ok("vfolder", "restore", name)
    assert (await alice_cli.ok("vfolder", "info", name, "--json")).json()["status"] == "ready"
    await alice_cli.ok("vfolder", "rm", name)
    await alice_cli.ok("vfolder", "purge", name, "--yes")
    gone = await alice_cli.fails("vfolder", "info", name)
    assert "No such vfolder" in gone.err and "cygnet vfolder ls" in gone.err

    forever = unique()
    await alice_cli.ok("vfolder", "create", forever)
    aborted = await alice_cli.fails("vfolder", "rm", forever, "--forever")  # no --yes, no tty
    assert "Aborted" in aborted.err
    await alice_cli.ok("vfolder", "rm", forever, "--forever", "--yes")
    await alice_cli.fails("vfolder", "info", forever)


async def test_bad_input(alice_cli: VFolderCLI, tmp_path: Path) -> None:
    name = unique()
    await alice_cli.ok("vfolder", "create", name)
    dup = await alice_cli.fails("vfolder", "create", name)
    assert "already exists" in dup.err and "HTTP 400" in dup.err
    bad = await alice_cli.fails("vfolder", "create", "bad/name")
    assert "Invalid vfolder name" in bad.err
    as_json = await alice_cli.fails("vfolder", "info", unique("missing"), "--json")
    assert as_json.json()["ok"] is False and as_json.json()["status"] == 404

    (tmp_path / "d").mkdir()
    no_r = await alice_cli.fails("vfolder", "upload", name, str(tmp_path / "d"), code=2)
    assert "--recursive" in no_r.err
    missing = await alice_cli.fails("vfolder", "upload", name, str(tmp_path / "nope"), code=2)
    assert "does not exist" in missing.err
    escape = await alice_cli.fails("vfolder", "mv", name, "../x", "y")
    assert "HTTP 400" in escape.err
    no_file = await alice_cli.fails("vfolder", "download", name, "nothing.bin", "-d", str(tmp_path))
    assert "nothing.bin" in no_file.err
    await alice_cli.ok("vfolder", "mkdir", name, "dir")
    dir_no_r = await alice_cli.fails("vfolder", "download", name, "dir", "-d", str(tmp_path))
    assert "--recursive" in dir_no_r.err
    nothing = await alice_cli.fails("vfolder", "update-options", name, code=2)
    assert "Nothing to update" in nothing.err
