"""Options of the ``docker`` runtime (the ``[runtime.options]`` of an agent's config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"


class DockerRuntimeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        default=None,
        description="The Docker Engine API address (unix:///path or tcp://host:port); "
        f"default: $DOCKER_HOST, then {DEFAULT_DOCKER_URL}.",
    )
    api_version: str = Field(
        default="auto",
        description='Engine API version such as "v1.41"; "auto" asks the engine once.',
    )
    stop_timeout: int = Field(
        default=10,
        ge=0,
        description="Seconds between SIGTERM and SIGKILL when the engine itself stops a "
        "kernel container (docker stop, dockerd shutdown); the agent passes its own.",
    )
    network: str | None = Field(
        default=None,
        description="Docker network kernels join; default: the bridge. The kernels of a "
        "cluster session join their session's network instead (and this one as well, if it "
        'is a user-defined network); with "host" or "none" they get no session network.',
    )
    cluster_network_driver: str = Field(
        default="bridge",
        description="Driver of the per-session networks of cluster sessions. bridge joins "
        "kernels on one Docker host only; kernels of a multi-node session on different hosts "
        "need a multi-host driver such as overlay (the engines must form a swarm).",
    )
    pids_limit: int = Field(
        default=4096,
        gt=0,
        description="Upper bound on the processes of one kernel; a spec asking more gets this.",
    )
    init: bool = Field(
        default=True,
        description="Run docker-init as PID 1 for kernels with a main command, so that the "
        "command gets SIGTERM with default handling and zombies are reaped.",
    )
    name_prefix: str = Field(
        default="cygnet-", description="Container names are this prefix plus the kernel id."
    )
    log_tail: int = Field(
        default=10_000, gt=0, description="At most this many lines are returned by logs()."
    )
