"""``backend.ai admin session list`` (``compute_session_list``) and ``backend.ai session info``
(the legacy ``compute_session(id: UUID!)`` field) of the official client against a Cygnet manager
with a simulated agent (wire notes 2.6)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from official import OfficialClient

from cygnet.testing.agents import ClusterFactory, LocalCluster
from cygnet.testing.builders import add_user

pytestmark = pytest.mark.compat

IMAGE = "cygnet/python:3.11"
NAMES = ("compat-alpha", "compat-beta", "compat-gone")


@pytest.fixture(scope="module")
async def cluster(
    local_cluster: ClusterFactory, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[LocalCluster, dict[str, str]]]:
    """A cluster with two running sessions and a terminated one (name -> id)."""
    data_dir = tmp_path_factory.mktemp("sessions-cluster")
    async with local_cluster(
        data_dir, runtime="simulated", cpus=[0, 1, 2, 3], memory="8g"
    ) as running:
        client = running.manager.client()
        ids: dict[str, str] = {}
        for name in NAMES:
            resp = await client.request("POST", "/session", json={"name": name, "image": IMAGE})
            assert resp.status_code == 201, resp.text
            ids[name] = resp.json()["sessionId"]
        try:
            resp = await client.request("DELETE", f"/session/{ids['compat-gone']}")
            assert resp.status_code == 200, resp.text
            yield running, ids
        finally:
            for name in NAMES[:2]:
                await client.request("DELETE", f"/session/{ids[name]}")


def _client(exe: Path, cluster: LocalCluster, home: Path, **keys: str) -> OfficialClient:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "BACKEND_ENDPOINT_TYPE": "api",
        **cluster.manager.env(),
        **keys,
    }
    return OfficialClient(exe, env, home)


@pytest.fixture(scope="module")
def bai_sessions(
    official_client_exe: Path,
    cluster: tuple[LocalCluster, dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> OfficialClient:
    return _client(official_client_exe, cluster[0], tmp_path_factory.mktemp("bai-sessions-home"))


def _names(listing: dict[str, Any]) -> list[str]:
    return [item["name"] for item in listing["items"]]


async def test_admin_session_list(
    bai_sessions: OfficialClient, cluster: tuple[LocalCluster, dict[str, str]]
) -> None:
    local, ids = cluster
    active, dead, every, page, filtered, detail = await asyncio.gather(
        bai_sessions.ok("admin", "session", "list"),
        bai_sessions.ok("admin", "session", "list", "--dead"),
        bai_sessions.ok("admin", "session", "list", "--all", "--order", "+name"),
        bai_sessions.ok("admin", "session", "list", "--limit", "1", "--offset", "1"),
        bai_sessions.ok("admin", "session", "list", "--filter", 'name == "compat-alpha"'),
        bai_sessions.ok("admin", "session", "list", "--detail", "-s", "RUNNING"),
    )
    assert active["count"] == 2 and active["total_count"] == 2, active
    assert _names(active) == ["compat-beta", "compat-alpha"]
    item = active["items"][1]
    assert item["session_id"] == ids["compat-alpha"]
    assert item["access_key"] == local.manager.admin.access_key
    assert item["type"] == "INTERACTIVE" and item["status"] == "RUNNING"
    assert item["image"] == IMAGE and item["group_name"] == "default"
    assert item["result"] == "UNDEFINED" and item["status_changed"]
    assert isinstance(item["priority"], int)

    assert _names(dead) == ["compat-gone"] and dead["items"][0]["status"] == "TERMINATED"
    assert _names(every) == ["compat-alpha", "compat-beta", "compat-gone"]
    assert page["count"] == 1 and page["total_count"] == 2 and _names(page) == ["compat-alpha"]
    assert _names(filtered) == ["compat-alpha"] and filtered["total_count"] == 1
    assert detail["total_count"] == 2
    slots = detail["items"][0]["occupying_slots"]
    assert isinstance(slots, dict) and set(slots) >= {"cpu", "mem"}, slots


async def test_session_info(
    bai_sessions: OfficialClient, cluster: tuple[LocalCluster, dict[str, str]]
) -> None:
    _, ids = cluster
    session_id = ids["compat-alpha"]
    info, admin_info, gone = await asyncio.gather(
        bai_sessions.ok("session", "info", session_id),
        bai_sessions.ok("admin", "session", "info", session_id),
        bai_sessions.ok("session", "info", ids["compat-gone"]),
    )
    assert info == admin_info
    assert info["count"] == 1, info
    (item,) = info["items"]
    assert item["name"] == "compat-alpha" and item["session_id"] == session_id
    assert item["status"] == "RUNNING" and item["image"] == IMAGE
    assert item["terminated_at"] is None and isinstance(item["status_data"], dict)
    assert isinstance(item["occupying_slots"], dict) and "cpu" in item["occupying_slots"]
    assert item["dependencies"] == []
    (container,) = item["containers"]
    assert container["kernel_id"] == item["main_kernel_id"]
    assert container["session_id"] == session_id and container["cluster_role"] == "main"
    assert container["status"] == "RUNNING" and container["agent"]
    assert isinstance(container["occupied_slots"], dict)
    assert isinstance(container["resource_opts"], dict)
    assert gone["items"][0]["status"] == "TERMINATED"

    missing = await bai_sessions.run("session", "info", str(uuid.uuid4()))
    assert missing.code != 0 and "no such compute session" in missing.out.lower(), missing.out


async def test_other_users_do_not_see_the_sessions(
    official_client_exe: Path,
    cluster: tuple[LocalCluster, dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    local, ids = cluster
    user = await add_user(local.manager, role="user")
    bai = _client(
        official_client_exe,
        local,
        tmp_path_factory.mktemp("bai-sessions-user"),
        BACKEND_ACCESS_KEY=user.access_key,
        BACKEND_SECRET_KEY=user.secret_key,
    )
    listed, shown = await asyncio.gather(
        bai.ok("session", "list", "--all"), bai.run("session", "info", ids["compat-alpha"])
    )
    assert listed == {"count": 0, "total_count": 0, "items": []}, listed
    assert shown.code != 0 and "no such compute session" in shown.out.lower(), shown.out
