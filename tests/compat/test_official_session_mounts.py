"""A session created by the official ``backend.ai`` CLI with ``--mount`` reads a file uploaded
to the folder with ``backend.ai vfolder upload``, and what it writes there downloads back
(wire notes 5(b)); on the process runtime, and on Docker when it is there."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from official import OfficialClient

from cygnet.testing.agents import LocalCluster, run_cluster
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

pytestmark = pytest.mark.compat

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
PYTHON_IMAGE = {"process": "python", "docker": "cygnet/python:3.11"}


def unique(prefix: str = "bai") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module", params=["process", "docker"])
def runtime(request: pytest.FixtureRequest) -> str:
    if request.param == "docker":
        request.getfixturevalue("docker_engine")  # skips (or fails) without an engine
    name: str = request.param
    return name


@pytest.fixture(scope="module")
async def mount_cluster(
    runtime: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[LocalCluster, str]]:
    data_dir = tmp_path_factory.mktemp(f"bai-mounts-{runtime}")
    async with (
        fresh_database(DB_KIND, data_dir, PG_ADMIN_URL) as url,
        run_cluster(
            data_dir, runtime=runtime, db_url=url, storage=True, cpus=[0, 1], memory="2g"
        ) as running,
    ):
        yield running, runtime


@pytest.fixture(scope="module")
def bai(
    official_client_exe: Path,
    mount_cluster: tuple[LocalCluster, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> OfficialClient:
    cluster, runtime = mount_cluster
    home = tmp_path_factory.mktemp(f"bai-mounts-home-{runtime}")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "BACKEND_ENDPOINT_TYPE": "api",
        **cluster.manager.env(),
    }
    return OfficialClient(official_client_exe, env, home)


async def ok(bai: OfficialClient, *args: str) -> str:
    result = await bai.run(*args, output_json=False)
    assert result.code == 0, f"backend.ai {' '.join(args)} failed ({result.code}):\n{result.out}"
    assert "Traceback" not in result.out and "✗" not in result.out, result.out
    return result.out


async def test_session_with_mount_reads_and_writes_the_folder(
    bai: OfficialClient, mount_cluster: tuple[LocalCluster, str]
) -> None:
    _, runtime = mount_cluster
    image = PYTHON_IMAGE[runtime]
    folder = unique("mnt")
    await ok(bai, "vfolder", "create", folder, "local:volume1")
    (bai.cwd / "input.txt").write_text("uploaded before the session\n")
    await ok(bai, "vfolder", "upload", folder, "input.txt")

    name = unique("with-mount")
    await ok(bai, "session", "create", "--name", name, "--mount", folder, image)
    try:
        out = await ok(
            bai, "run", "--name", name, image, "-c", f"print(open('{folder}/input.txt').read())"
        )
        assert "uploaded before the session" in out, out
        await ok(
            bai, "run", "--name", name, image, "-c",
            f"open('{folder}/output.txt', 'w').write('written in the session\\n')",
        )  # fmt: skip
    finally:
        await ok(bai, "session", "rm", name)
    assert "output.txt" in await ok(bai, "vfolder", "ls", folder)
    down = bai.cwd / "down"
    down.mkdir()
    await ok(bai, "vfolder", "download", folder, "output.txt", "--base-dir", str(down))
    assert (down / "output.txt").read_text() == "written in the session\n"
