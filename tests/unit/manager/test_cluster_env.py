"""The cluster environment and network the manager sends with each kernel of a session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from cygnet.common.lifecycle import (
    ClusterMode,
    KernelStatus,
    SessionResult,
    SessionStatus,
    SessionType,
)
from cygnet.manager.entities import Kernel, Session
from cygnet.manager.lifecycle.start import (
    cluster_environ,
    cluster_network_name,
    cluster_order,
    kernel_request,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SID = uuid.UUID("11111111-2222-3333-4444-555555555555")


def kernel(role: str, idx: int, agent: str | None = "agent-a") -> Kernel:
    return Kernel(
        id=uuid.uuid4(),
        session_id=SID,
        cluster_role=role,
        cluster_idx=idx,
        cluster_hostname=f"{role}{idx}",
        status=KernelStatus.SCHEDULED,
        status_info=None,
        status_data={},
        status_changed=NOW,
        agent_id=agent,
        agent_address=None,
        container_id=None,
        image="cygnet/python:3.11",
        architecture="x86_64",
        requested_slots={"cpu": "1", "mem": "268435456"},
        occupied_slots={},
        created_at=NOW,
        started_at=None,
        terminated_at=None,
        exit_code=None,
    )


def session(kernels: list[Kernel], **changes: Any) -> Session:
    values: dict[str, Any] = {
        "id": SID,
        "name": "train",
        "type": SessionType.INTERACTIVE,
        "access_key": "AKTEST",
        "user_uuid": uuid.uuid4(),
        "user_email": "user@example.com",
        "domain_name": "default",
        "project_id": uuid.uuid4(),
        "project_name": "default",
        "resource_group": "default",
        "image": "cygnet/python:3.11",
        "architecture": "x86_64",
        "tag": None,
        "status": SessionStatus.SCHEDULED,
        "status_info": None,
        "status_data": {},
        "status_changed": NOW,
        "status_history": {},
        "result": SessionResult.UNDEFINED,
        "priority": 10,
        "cluster_mode": ClusterMode.SINGLE_NODE,
        "cluster_size": len(kernels),
        "requested_slots": {},
        "resource_opts": {},
        "environ": {},
        "startup_command": None,
        "bootstrap_script": None,
        "batch_timeout": None,
        "callback_url": None,
        "created_at": NOW,
        "started_at": None,
        "terminated_at": None,
        "last_activity": None,
        "num_queries": 0,
        "kernels": kernels,
    }
    values.update(changes)
    return Session(**values)


def test_single_kernel_session() -> None:
    main = kernel("main", 1)
    fixed, defaults = cluster_environ(session([main]), main)
    assert fixed == {
        "BACKENDAI_SESSION_ID": str(SID),
        "BACKENDAI_SESSION_NAME": "train",
        "BACKENDAI_ACCESS_KEY": "AKTEST",
        "BACKENDAI_KERNEL_ID": str(main.id),
        "BACKENDAI_CLUSTER_MODE": "single-node",
        "BACKENDAI_CLUSTER_SIZE": "1",
        "BACKENDAI_CLUSTER_HOSTS": "main1",
        "BACKENDAI_CLUSTER_REPLICAS": "main:1",
        "BACKENDAI_CLUSTER_ROLE": "main",
        "BACKENDAI_CLUSTER_IDX": "1",
        "BACKENDAI_CLUSTER_HOST": "main1",
        "BACKENDAI_CLUSTER_LOCAL_RANK": "0",
    }
    assert defaults == {}  # no distributed-training variables for one container
    assert cluster_network_name(session([main])) is None


def test_cluster_session_variables_per_kernel() -> None:
    # Stored order need not be cluster order: main first, then the subs by index.
    sub2, main, sub1 = kernel("sub", 2, "b"), kernel("main", 1, "a"), kernel("sub", 1, "a")
    s = session([sub2, main, sub1], cluster_mode=ClusterMode.MULTI_NODE)
    assert [k.cluster_hostname for k in cluster_order(s.kernels)] == ["main1", "sub1", "sub2"]
    expected = {
        # kernel: (ROLE, IDX, HOST, global rank, rank on its agent)
        main.id: ("main", "1", "main1", "0", "0"),
        sub1.id: ("sub", "1", "sub1", "1", "1"),
        sub2.id: ("sub", "2", "sub2", "2", "0"),
    }
    for k in (main, sub1, sub2):
        fixed, defaults = cluster_environ(s, k)
        role, idx, host, rank, local = expected[k.id]
        assert fixed["BACKENDAI_CLUSTER_MODE"] == "multi-node"
        assert fixed["BACKENDAI_CLUSTER_SIZE"] == "3"
        assert fixed["BACKENDAI_CLUSTER_HOSTS"] == "main1,sub1,sub2"
        assert fixed["BACKENDAI_CLUSTER_REPLICAS"] == "main:1,sub:2"
        assert fixed["BACKENDAI_CLUSTER_ROLE"] == role
        assert fixed["BACKENDAI_CLUSTER_IDX"] == idx
        assert fixed["BACKENDAI_CLUSTER_HOST"] == host
        assert fixed["BACKENDAI_CLUSTER_LOCAL_RANK"] == rank
        assert defaults == {
            "WORLD_SIZE": "3",
            "WORLD_RANK": rank,
            "LOCAL_RANK": local,
            "MASTER_ADDR": "main1",
            "MASTER_PORT": "12345",
        }


def test_kernel_request_carries_env_and_network() -> None:
    main, sub = kernel("main", 1), kernel("sub", 1)
    s = session(
        [main, sub],
        environ={"MASTER_PORT": "29500", "BACKENDAI_CLUSTER_SIZE": "99", "MINE": "x"},
    )
    request = kernel_request(s, sub)
    assert request.cluster_network == f"cygnet-session-{SID}"
    assert request.cluster_hostname == "sub1"
    assert request.environ["MINE"] == "x"
    assert request.environ["MASTER_PORT"] == "29500"  # the user's choice wins over a default
    assert request.environ["BACKENDAI_CLUSTER_SIZE"] == "2"  # but not over the cluster's facts
    assert request.environ["BACKENDAI_CLUSTER_HOST"] == "sub1"
    assert cluster_network_name(s) == request.cluster_network
    single = kernel_request(session([main]), main)
    assert single.cluster_network is None
    assert "MASTER_ADDR" not in single.environ


def test_a_batch_job_runs_in_the_main_kernel_only() -> None:
    main, sub = kernel("main", 1), kernel("sub", 1)
    s = session([main, sub], type=SessionType.BATCH, startup_command="python train.py")
    on_main, on_sub = kernel_request(s, main), kernel_request(s, sub)
    assert on_main.command is not None
    assert on_main.environ["CYGNET_STARTUP_COMMAND"] == "python train.py"
    assert on_sub.command is None  # an idle kernel serving the job until it ends
    assert "CYGNET_STARTUP_COMMAND" not in on_sub.environ
