"""``DockerRuntime``: kernels as Docker containers, through the Engine API (aiodocker).

One kernel is one container named ``<prefix><kernel id>`` and labelled with
``KernelSpec.standard_labels()``. The scratch directory is bind-mounted at ``/home/work``,
the runner directory read-only at ``/opt/cygnet``. Without a main command the container runs
an idle shell that exits at once on SIGTERM, so destroying a kernel costs no stop timeout.

``start`` is two Engine calls (create, start) and ``stop`` three (stop, inspect for the exit
code, remove), so a kernel's life costs about what ``docker run --rm`` does. The state blob
is ``{"container_id", "name"}`` (plus ``"network"``, the id of a cluster session's network,
see ``network.py``); a new instance re-attaches from it alone.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import aiodocker
from aiodocker.containers import DockerContainer

from cygnet.agent.runtime.base import (
    RUNNER_DIR,
    WORKDIR,
    ExecProcess,
    KernelPoll,
    KernelSpec,
    KernelState,
    KernelStats,
    Runtime,
    RuntimeContext,
)
from cygnet.agent.runtime.docker.cgroups import read_usage
from cygnet.agent.runtime.docker.config import DEFAULT_DOCKER_URL, DockerRuntimeConfig
from cygnet.agent.runtime.docker.execproc import DockerExecProcess
from cygnet.agent.runtime.docker.network import (
    ClusterNetworks,
    endpoint_config,
    extra_network,
    joins_cluster_network,
    remove_network,
)
from cygnet.common.errors import AgentError, ImageNotFound, KernelNotFound
from cygnet.common.rpc import ImageInfo

KEEPALIVE_COMMAND: tuple[str, ...] = (
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done",
)
CREATE_ATTEMPTS = 3
_ARCHITECTURES = {"amd64": "x86_64", "arm64": "aarch64", "386": "i686"}


def docker_url(configured: str | None = None) -> str:
    return configured or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_URL


def container_config(
    spec: KernelSpec, config: DockerRuntimeConfig, network_id: str | None = None
) -> dict[str, Any]:
    """The ``POST /containers/create`` body for a kernel (pure). ``network_id``: the cluster
    session's network it joins, with its hostname as its alias there."""
    mounts = [
        {"Type": "bind", "Source": str(spec.scratch_dir), "Target": WORKDIR, "ReadOnly": False},
        {"Type": "bind", "Source": str(spec.runner_dir), "Target": RUNNER_DIR, "ReadOnly": True},
    ]
    mounts += [
        {"Type": "bind", "Source": str(m.source), "Target": m.target, "ReadOnly": m.read_only}
        for m in spec.mounts
    ]
    host: dict[str, Any] = {
        "Mounts": mounts,
        "NanoCpus": int(spec.cpus * 1_000_000_000),
        "PidsLimit": min(spec.pids_limit, config.pids_limit),
        "ShmSize": spec.shmem,
        "Init": spec.command is not None and config.init,
    }
    if spec.cpuset:
        host["CpusetCpus"] = ",".join(str(cpu) for cpu in sorted(spec.cpuset))
    if spec.memory > 0:
        host["Memory"] = spec.memory
        host["MemorySwap"] = spec.memory  # no swap beyond the memory limit
    if spec.devices:
        host["DeviceRequests"] = [
            {
                "Driver": device.driver,
                "DeviceIDs": list(device.device_ids),
                "Capabilities": [list(caps) for caps in device.capabilities],
            }
            for device in spec.devices
        ]
    if spec.device_paths:
        host["Devices"] = [
            {"PathOnHost": path, "PathInContainer": path, "CgroupPermissions": "rwm"}
            for path in spec.device_paths
        ]
    if network_id is not None:
        host["NetworkMode"] = network_id
    elif config.network is not None:
        host["NetworkMode"] = config.network
    command = list(spec.command) if spec.command is not None else list(KEEPALIVE_COMMAND)
    body: dict[str, Any] = {
        "Image": spec.image.name,
        "Cmd": command,
        "Env": [f"{key}={value}" for key, value in spec.environ.items()],
        "Labels": spec.standard_labels(),
        "WorkingDir": WORKDIR,
        "Tty": False,
        "OpenStdin": False,
        "StopTimeout": config.stop_timeout,
        "HostConfig": host,
    }
    if config.network != "host":  # the Engine refuses a hostname with the host's network
        body["Hostname"] = spec.hostname
    if network_id is not None:
        body["NetworkingConfig"] = endpoint_config(network_id, spec.hostname)
    return body


def _container_id(state: KernelState) -> str:
    try:
        return str(state["container_id"])
    except KeyError:
        raise AgentError("not a docker kernel state (no container_id)") from None


class DockerRuntime(Runtime):
    name: ClassVar[str] = "docker"

    def __init__(self, context: RuntimeContext, options: Mapping[str, Any]) -> None:
        self.context = context
        self.config = DockerRuntimeConfig.model_validate(dict(options))
        self.url = docker_url(self.config.url)
        self._docker: aiodocker.Docker | None = None
        self._networks = ClusterNetworks(self.config.cluster_network_driver)

    def _client(self) -> aiodocker.Docker:
        # Created on first use: aiohttp wants a running event loop.
        if self._docker is None:
            self._docker = aiodocker.Docker(url=self.url, api_version=self.config.api_version)
        return self._docker

    @asynccontextmanager
    async def _engine(self, operation: str) -> AsyncIterator[aiodocker.Docker]:
        """Turn Engine failures into ``AgentError`` carrying the Engine's message."""
        try:
            yield self._client()
        except aiodocker.DockerError as exc:
            if exc.status == 900:
                raise AgentError(
                    f"no Docker engine answers at {self.url} (start dockerd): {exc.message}"
                ) from exc
            raise AgentError(f"docker {operation} failed: {exc.message}") from exc

    def _container(self, state: KernelState) -> DockerContainer:
        return self._client().containers.container(_container_id(state))

    async def close(self) -> None:
        if self._docker is not None:
            docker, self._docker = self._docker, None
            await docker.close()

    async def list_images(self) -> list[ImageInfo]:
        async with self._engine("image list") as docker:
            summaries = await docker.images.list()
            tagged = [s for s in summaries if _tags(s)]
            details = await asyncio.gather(*(_inspect_image(docker, s["Id"]) for s in tagged))
        images = []
        for summary, detail in zip(tagged, details, strict=True):
            if detail is None:  # removed since it was listed
                continue
            labels = (detail.get("Config") or {}).get("Labels") or {}
            arch = str(detail.get("Architecture") or "")
            for tag in _tags(summary):
                images.append(
                    ImageInfo(
                        name=tag,
                        id=str(summary["Id"]),
                        size=int(summary.get("Size") or 0),
                        labels=dict(labels),
                        architecture=_ARCHITECTURES.get(arch, arch),
                    )
                )
        return sorted(images, key=lambda image: image.name)

    async def start(self, spec: KernelSpec) -> KernelState:
        name = f"{self.config.name_prefix}{spec.kernel_id}"
        async with self._engine("create") as docker:
            for attempt in range(1, CREATE_ATTEMPTS + 1):
                network_id = await self._join(docker, spec)
                container: DockerContainer | None = None
                try:
                    container = await self._create(docker, spec, name, network_id)
                    extra = extra_network(self.config.network) if network_id else None
                    if extra is not None:
                        joined = {"Container": container.id}
                        await (await docker.networks.get(extra)).connect(joined)
                    await container.start()
                except (aiodocker.DockerError, ImageNotFound) as exc:
                    if container is not None:
                        await _remove_quietly(container)
                    if network_id is not None:
                        if _network_gone(exc) and attempt < CREATE_ATTEMPTS:
                            continue
                        await remove_network(docker, network_id)
                    raise
                break
        assert container is not None
        state: KernelState = {"container_id": container.id, "name": name}
        if network_id is not None:
            state["network"] = network_id
        return state

    async def _join(self, docker: aiodocker.Docker, spec: KernelSpec) -> str | None:
        """The id of the session network the kernel joins (created if absent), if any."""
        if spec.cluster_network is None:
            return None
        if not joins_cluster_network(self.config.network, spec.cluster_network):
            return None
        return await self._networks.ensure(docker, spec.cluster_network, str(spec.session_id))

    async def _create(
        self, docker: aiodocker.Docker, spec: KernelSpec, name: str, network_id: str | None
    ) -> DockerContainer:
        try:
            return await docker.containers.create(
                container_config(spec, self.config, network_id), name=name
            )
        except aiodocker.DockerError as exc:
            if exc.status == 404 and "image" in exc.message.lower():
                raise ImageNotFound(
                    f"image {spec.image.name} is not present on this agent; build it with "
                    "`cygnet image bootstrap` or `docker pull`"
                ) from exc
            raise

    async def poll(self, state: KernelState) -> KernelPoll:
        async with self._engine("inspect"):
            try:
                info = await self._container(state).show()
            except aiodocker.DockerError as exc:
                if exc.status == 404:
                    return KernelPoll("missing")
                raise
        status = info["State"]
        if status.get("Running") or status.get("Status") in ("running", "paused", "restarting"):
            return KernelPoll("running")
        if status.get("Status") == "created":  # never started
            return KernelPoll("exited")
        return KernelPoll("exited", int(status.get("ExitCode", 0)))

    async def stop(self, state: KernelState, timeout: float = 10.0) -> int | None:
        container = self._container(state)
        exit_code: int | None = None
        async with self._engine("stop") as docker:
            try:
                await container.stop(t=max(0, math.ceil(timeout)))
                info = await container.show()
                exit_code = int(info["State"]["ExitCode"])
                await container.delete(force=True, v=True)
            except aiodocker.DockerError as exc:
                # 404: already removed; 409: being removed by another call
                if not (
                    exc.status == 404
                    or (exc.status == 409 and "already in progress" in exc.message)
                ):
                    raise
            network_id = state.get("network")
            if network_id:  # gone with the session's last kernel on this engine
                await self._networks.remove(docker, str(network_id))
        return exit_code

    async def exec(
        self,
        state: KernelState,
        argv: Sequence[str],
        environ: Mapping[str, str] | None = None,
        workdir: str = WORKDIR,
    ) -> ExecProcess:
        container = self._container(state)
        async with self._engine("exec"):
            try:
                execution = await container.exec(
                    list(argv),
                    stdin=True,
                    stdout=True,
                    stderr=True,
                    environment=dict(environ) if environ else None,
                    workdir=workdir,
                )
            except aiodocker.DockerError as exc:
                if exc.status == 404:
                    raise KernelNotFound(f"kernel container {container.id} is gone") from exc
                raise
            return await DockerExecProcess.open(execution)

    async def logs(self, state: KernelState) -> str:
        container = self._container(state)
        async with self._engine("logs"):
            try:
                lines = await container.log(stdout=True, stderr=True, tail=self.config.log_tail)
            except aiodocker.DockerError as exc:
                if exc.status == 404:
                    raise KernelNotFound(f"kernel container {container.id} is gone") from exc
                raise
        return "".join(lines)

    async def stats(self, state: KernelState) -> KernelStats:
        container = self._container(state)
        async with self._engine("stats") as docker:
            try:
                info = await container.show()
            except aiodocker.DockerError as exc:
                if exc.status == 404:
                    raise KernelNotFound(f"kernel container {container.id} is gone") from exc
                raise
            pid = int(info["State"].get("Pid") or 0)
            if pid <= 0:
                return KernelStats()  # not running: its cgroup is gone
            usage = read_usage(pid)
            if usage is not None:
                return KernelStats(cpu_seconds=usage.cpu_seconds, memory=usage.memory)
            # Engine on another host: its one-shot stats (waits for the collector's tick).
            async with docker._query(
                f"containers/{container.id}/stats", params={"stream": "0", "one-shot": "1"}
            ) as response:
                data = await response.json()
        cpu = data.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage", 0)
        memory = data.get("memory_stats", {})
        extra = memory.get("stats", {})
        inactive = extra.get("total_inactive_file", extra.get("inactive_file", 0))
        return KernelStats(
            cpu_seconds=cpu / 1e9, memory=max(int(memory.get("usage", 0)) - inactive, 0)
        )


def _network_gone(exc: Exception) -> bool:
    """Whether joining the session's network failed because it went away (the session's last
    kernel on this engine removed it meanwhile; a created container does not hold it) or a
    twin appeared (another agent's creation on an old engine): settle on it again."""
    if not isinstance(exc, aiodocker.DockerError):
        return False
    message = exc.message.lower()
    return "network" in message and (
        exc.status == 404 or "not found" in message or "ambiguous" in message
    )


def _tags(summary: Mapping[str, Any]) -> list[str]:
    return [tag for tag in summary.get("RepoTags") or [] if tag != "<none>:<none>"]


async def _inspect_image(docker: aiodocker.Docker, image_id: str) -> dict[str, Any] | None:
    try:
        return await docker.images.inspect(image_id)
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return None
        raise


async def _remove_quietly(container: DockerContainer) -> None:
    try:
        await container.delete(force=True, v=True)
    except aiodocker.DockerError:
        pass
