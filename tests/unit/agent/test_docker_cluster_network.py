"""The docker runtime's container and network bodies for cluster sessions (pure)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from cygnet.agent.runtime.base import KernelSpec
from cygnet.agent.runtime.docker.backend import container_config
from cygnet.agent.runtime.docker.config import DockerRuntimeConfig
from cygnet.agent.runtime.docker.network import (
    NETWORK_LABEL,
    extra_network,
    joins_cluster_network,
    network_config,
)
from cygnet.common.rpc import ImageInfo

SID = uuid.UUID("11111111-2222-3333-4444-555555555555")


def spec(hostname: str = "sub1", cluster_network: str | None = None) -> KernelSpec:
    return KernelSpec(
        kernel_id=uuid.uuid4(),
        session_id=SID,
        agent_id="a",
        owner="AKTEST",
        image=ImageInfo(name="cygnet/busybox:latest"),
        scratch_dir=Path("/tmp/scratch"),
        runner_dir=Path("/tmp/runner"),
        cpus=Decimal(1),
        cpuset=(),
        memory=0,
        hostname=hostname,
        cluster_network=cluster_network,
    )


def test_a_single_kernel_keeps_the_default_network() -> None:
    body = container_config(spec("main1"), DockerRuntimeConfig())
    assert "NetworkMode" not in body["HostConfig"]
    assert "NetworkingConfig" not in body
    assert body["Hostname"] == "main1"
    configured = container_config(spec("main1"), DockerRuntimeConfig(network="mynet"))
    assert configured["HostConfig"]["NetworkMode"] == "mynet"


def test_a_cluster_kernel_joins_its_network_with_its_hostname_as_alias() -> None:
    body = container_config(spec("sub1", "cygnet-session-x"), DockerRuntimeConfig(), "net-id")
    assert body["HostConfig"]["NetworkMode"] == "net-id"
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"net-id": {"Aliases": ["sub1"]}}}
    assert body["Hostname"] == "sub1"


@pytest.mark.parametrize(
    ("configured", "joins", "extra"),
    [
        (None, True, None),
        ("bridge", True, None),
        ("default", True, None),
        ("mynet", True, "mynet"),
        ("host", False, "host"),
        ("none", False, "none"),
        ("container:abc", False, "container:abc"),
    ],
)
def test_which_kernels_join(configured: str | None, joins: bool, extra: str | None) -> None:
    assert joins_cluster_network(configured, "cygnet-session-x") is joins
    assert joins_cluster_network(configured, None) is False
    assert extra_network(configured) == extra


def test_network_body_per_driver() -> None:
    bridge = network_config("cygnet-session-x", str(SID), "bridge")
    assert bridge == {
        "Name": "cygnet-session-x",
        "Driver": "bridge",
        "CheckDuplicate": True,
        "Labels": {NETWORK_LABEL: str(SID), "cygnet.session-id": str(SID)},
    }
    overlay = network_config("cygnet-session-x", str(SID), "overlay")
    assert overlay["Driver"] == "overlay"
    assert overlay["Attachable"] is True
    assert DockerRuntimeConfig().cluster_network_driver == "bridge"
    assert DockerRuntimeConfig(cluster_network_driver="overlay").cluster_network_driver == (
        "overlay"
    )
