"""Agent settings: ``CYGNET_AGENT_*`` environment variables over an optional TOML file.

Example ``agent.toml``::

    id = "gpu-node-1"
    manager = "http://10.0.0.1:8081"        # the manager's endpoint (RPC path /rpc/agent)
    secret_file = "/etc/cygnet/agent-secret" # the manager's <data_dir>/agent-secret
    rpc_host = "0.0.0.0"
    rpc_port = 6001
    advertised_address = "http://10.0.0.7:6001"
    resource_group = "default"
    runtime = "docker"                       # docker | process | simulated | auto

    [accelerators.mock]
    devices = 2
"""

from __future__ import annotations

import platform
import socket
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from cygnet.common.config import CygnetSettings
from cygnet.common.resources import BinarySize


def default_agent_dir() -> Path:
    return Path(platformdirs.user_data_dir("cygnet", appauthor=False)) / "agent"


class AgentSettings(CygnetSettings):
    model_config = SettingsConfigDict(env_prefix="CYGNET_AGENT_", extra="forbid", frozen=True)

    id: str = Field(default_factory=socket.gethostname, min_length=1, max_length=64)
    manager: str = Field(
        default="http://127.0.0.1:8081",
        description="the manager: http(s)://host:port, or inproc://manager in one process",
    )
    secret: str | None = Field(default=None, description="the manager's agent RPC secret")
    secret_file: Path | None = Field(default=None, description="file holding the secret")
    rpc_host: str = "127.0.0.1"
    rpc_port: int = Field(default=6001, ge=0, le=65535)
    advertised_address: str | None = Field(
        default=None, description="how the manager reaches this agent (default: from rpc_*)"
    )
    resource_group: str = "default"
    region: str = "local"
    architecture: str = Field(default_factory=platform.machine)
    data_dir: Path = Field(default_factory=default_agent_dir)
    runtime: str = Field(default="auto", description="docker | process | simulated | auto")
    runtime_options: dict[str, Any] = Field(default_factory=dict)
    accelerators: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="plugin name -> options, e.g. {mock = {devices = 2}}"
    )
    cpus: list[int] | None = Field(
        default=None, description="cores to offer (default: the cpuset the agent runs in)"
    )
    memory: str | None = Field(default=None, description="memory to offer (default: detected)")
    reserved_memory: str = Field(
        default="512m", description="kept back for the host (subtracted from detected memory)"
    )
    reserved_cpus: int = Field(default=0, ge=0, description="cores kept back for the host")
    heartbeat_interval: float | None = Field(
        default=None, gt=0, description="seconds; default: what the manager asks for"
    )
    kernel_poll_interval: float = Field(default=1.0, gt=0)
    stop_timeout: float = Field(default=10.0, ge=0)
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _check(self) -> AgentSettings:
        BinarySize.parse(self.reserved_memory)
        if self.memory is not None:
            BinarySize.parse(self.memory)
        return self

    def rpc_secret(self) -> str:
        if self.secret:
            return self.secret
        if self.secret_file is not None:
            return self.secret_file.read_text().strip()
        raise ValueError(
            "the agent needs the manager's RPC secret: set `secret` or `secret_file` (the "
            "manager writes it to <manager data_dir>/agent-secret)"
        )

    def address(self) -> str:
        if self.advertised_address:
            return self.advertised_address
        host = self.rpc_host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.rpc_port}"

    def memory_bytes(self) -> int | None:
        return None if self.memory is None else int(BinarySize.parse(self.memory))

    def reserved_memory_bytes(self) -> int:
        return int(BinarySize.parse(self.reserved_memory))
