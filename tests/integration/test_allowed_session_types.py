"""A resource group's ``scheduler_opts.allowed_session_types`` (Backend.AI's scaling-group
option): a session of another type is refused at creation when it names the group, and the
group is passed over when the manager chooses one."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from cygnet.agent.config import AgentSettings
from cygnet.launcher.local import start_local_agents
from cygnet.manager.server import INPROC_NAME
from cygnet.manager.store.repositories import sessions as sessions_repo
from cygnet.testing.agents import ClusterFactory
from cygnet.testing.signing import SignedClient

IMAGE = "cygnet/python:3.11"
CREATE_SG = """mutation($name: String!, $input: CreateScalingGroupInput!) {
  create_scaling_group(name: $name, props: $input) { ok msg } }"""
MODIFY_SG = """mutation($name: String!, $input: ModifyScalingGroupInput!) {
  modify_scaling_group(name: $name, props: $input) { ok msg } }"""
TO_DOMAIN = """mutation($sg: String!, $d: String!) {
  associate_scaling_group_with_domain(scaling_group: $sg, domain: $d) { ok msg } }"""


async def _ok(client: SignedClient, query: str, variables: dict[str, Any]) -> None:
    body = await client.gql(query, variables)
    assert body["errors"] is None, body["errors"]
    payload = next(iter(body["data"].values()))
    assert payload["ok"] is True, payload


def _only(*types: str) -> dict[str, Any]:
    return {"scheduler_opts": json.dumps({"allowed_session_types": list(types)})}


async def _create(client: SignedClient, name: str, **body: Any) -> Any:
    return await client.request(
        "POST", "/session", json={"name": name, "image": IMAGE, "enqueueOnly": True, **body}
    )


async def test_a_group_takes_only_the_session_types_it_allows(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, cpus=[0, 1], memory="4g") as cluster:
        admin = cluster.manager.client()
        batch_only = f"batch-only-{uuid.uuid4().hex[:6]}"
        await _ok(admin, CREATE_SG, {"name": batch_only, "input": _only("batch")})
        await _ok(admin, TO_DOMAIN, {"sg": batch_only, "d": "default"})
        # An agent of its own, so that its sessions find their image.
        settings = AgentSettings.load(
            id="st-agent",
            manager=f"inproc://{INPROC_NAME}",
            data_dir=tmp_path / "st-agent",
            runtime="simulated",
            cpus=[0, 1],
            memory="4g",
            resource_group=batch_only,
        )
        started = await start_local_agents(cluster.manager.manager, cluster.network, [settings])
        cluster.agents += started
        await asyncio.wait_for(started[0].registered.wait(), 30)

        # Named: an interactive session is refused, a batch one accepted.
        resp = await _create(admin, "st-refused", config={"scalingGroup": batch_only})
        assert resp.status_code == 400, resp.text
        assert resp.json()["type"].endswith("/invalid-api-params")
        assert "does not accept interactive sessions" in resp.json()["msg"]
        resp = await _create(
            admin,
            "st-batch",
            type="batch",
            startupCommand="true",
            config={"scalingGroup": batch_only},
        )
        assert resp.status_code == 201, resp.text

        # Chosen by the manager: a group that refuses the type is passed over ...
        await _ok(admin, MODIFY_SG, {"name": "default", "input": _only("batch", "inference")})
        await _ok(admin, MODIFY_SG, {"name": batch_only, "input": _only("interactive")})
        resp = await _create(admin, "st-elsewhere")
        assert resp.status_code == 201, resp.text
        async with cluster.manager.manager.db.read() as tx:
            session = await sessions_repo.find_by_name(tx, admin.access_key, "st-elsewhere")
        assert session is not None and session.resource_group == batch_only
        # ... and when none takes it, the request is refused.
        await _ok(admin, MODIFY_SG, {"name": batch_only, "input": _only("batch")})
        resp = await _create(admin, "st-nowhere")
        assert resp.status_code == 400, resp.text
        assert resp.json()["type"].endswith("/invalid-api-params")
        assert "accepts interactive sessions" in resp.json()["msg"]

        # A bad option value is refused when the group is written.
        body = await admin.gql(MODIFY_SG, {"name": batch_only, "input": _only("notebook")})
        payload = next(iter(body["data"].values())) if body["data"] else None
        assert body["errors"] or (payload and payload["ok"] is False)

        await _ok(admin, MODIFY_SG, {"name": "default", "input": {"scheduler_opts": "{}"}})
        for name in ("st-batch", "st-elsewhere"):
            resp = await admin.request("DELETE", f"/session/{name}")
            assert resp.status_code == 200, resp.text
