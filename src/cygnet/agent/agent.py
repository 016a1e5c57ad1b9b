"""The agent: the kernel operations the manager asks for, and the agent's background loops.

``Agent.prepare()`` discovers resources (cores, memory, accelerators), opens the runtime, and
reloads the kernels it had before a restart, reconciling them with what the runtime reports.
Once its RPC endpoint is up (``cygnet.agent.server``), ``Agent.connect()`` registers with the
manager and starts the loops: heartbeats, watching kernels for exits, pushing events.
``Agent.stop()`` says goodbye and leaves kernels running, so a restarted agent picks them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cygnet import __version__
from cygnet.agent import files
from cygnet.agent.accelerators.base import AcceleratorPlugin, ContainerHints
from cygnet.agent.accelerators.registry import load_accelerator
from cygnet.agent.allocation import Allocation, DeviceMap, InsufficientCapacity, ResourceAllocator
from cygnet.agent.config import AgentSettings
from cygnet.agent.execution import KernelExecutor
from cygnet.agent.kernel import KernelRecord, KernelStore
from cygnet.agent.resources import HostSampler, detect_cores, detect_memory, disk_space
from cygnet.agent.runtime.base import (
    WORKDIR,
    DeviceRequest,
    KernelSpec,
    Mount,
    Runtime,
    RuntimeContext,
)
from cygnet.agent.runtime.registry import docker_answers, load_runtime
from cygnet.common import rpc
from cygnet.common.clock import Clock, RealClock
from cygnet.common.errors import (
    AgentError,
    Conflict,
    CygnetError,
    ImageNotFound,
    InsufficientResources,
    InvalidAPIParameters,
    KernelNotFound,
)
from cygnet.common.events import KernelFailed, KernelStarted, KernelTerminated
from cygnet.common.images import with_tag
from cygnet.common.lifecycle import KernelRunState
from cygnet.common.logging import get_logger
from cygnet.common.resources import ResourceSlot, SlotType
from cygnet.common.tasks import cancel_and_wait
from cygnet.common.transport import InProcNetwork, RPCClient

log = get_logger(__name__)

RUNNER_SOURCE = Path(__file__).parent / "runner"
MANAGER_RPC_PATH = "/rpc/agent"
MAX_ARCHIVE = 64 * 1024 * 1024
DEFAULT_CPU = Decimal(1)
DEFAULT_MEM = 256 * 1024 * 1024
IMAGE_REFRESH_BEATS = 6


@dataclass(slots=True)
class _Plugin:
    plugin: AcceleratorPlugin
    devices: list[rpc.DeviceInfo]
    slot: str


class Agent:
    def __init__(
        self,
        settings: AgentSettings,
        *,
        network: InProcNetwork | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.id = settings.id
        self.network = network
        self.clock = clock or RealClock()
        self.data_dir = settings.data_dir
        self.runtime: Runtime | None = None
        self.runtime_name = ""
        self.allocator: ResourceAllocator | None = None
        self.kernels: dict[uuid.UUID, KernelRecord] = {}
        self.address = ""
        self._plugins: list[_Plugin] = []
        self._images: list[rpc.ImageInfo] = []
        self._executors: dict[uuid.UUID, KernelExecutor] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        self._store = KernelStore(self.data_dir / "kernels")
        self._outbox: list[Any] = []
        self._outbox_signal = asyncio.Event()
        self._manager: RPCClient | None = None
        self._heartbeat_interval = settings.heartbeat_interval or 5.0
        self._tasks: list[asyncio.Task[None]] = []
        self._sampler: HostSampler | None = None
        self._hardware: dict[str, Any] = {}
        self.registered = asyncio.Event()
        self.on_stop: list[Callable[[], Awaitable[None]]] = []

    # -- start and stop -------------------------------------------------------------------

    async def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        runner_dir = self.data_dir / "runner"
        await asyncio.to_thread(_install_runner, runner_dir)
        self.runtime_name = await self._runtime_name()
        self.runtime = load_runtime(
            self.runtime_name,
            RuntimeContext(agent_id=self.id, data_dir=self.data_dir),
            self.settings.runtime_options,
        )
        await self._discover()
        self._images = await self.runtime.list_images()
        await self._restore()

    async def connect(self, secret: str) -> None:
        """Register with the manager (retrying until it answers) and start the loops."""
        self._manager = RPCClient(
            self.settings.manager, secret, path=MANAGER_RPC_PATH, network=self.network
        )
        self._tasks = [
            asyncio.create_task(self._heartbeat_loop(), name=f"agent-{self.id}-heartbeat"),
            asyncio.create_task(self._watch_loop(), name=f"agent-{self.id}-watch"),
            asyncio.create_task(self._event_loop(), name=f"agent-{self.id}-events"),
        ]

    async def stop(self, *, goodbye: bool = True) -> None:
        """Stop serving; kernels keep running (a restarted agent re-attaches to them)."""
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await cancel_and_wait(list(self._background))
        if self._manager is not None:
            with contextlib.suppress(CygnetError):
                await self._flush_events()
            if goodbye and self.registered.is_set():
                with contextlib.suppress(CygnetError):
                    await self._manager.call(rpc.AgentGoodbye(agent_id=self.id), rpc.Ack)
            await self._manager.aclose()
        for executor in self._executors.values():
            await executor.close()
        self._executors.clear()
        for hook in self.on_stop:
            await hook()
        if self.runtime is not None:
            await self.runtime.close()

    async def _runtime_name(self) -> str:
        name = self.settings.runtime
        if name != "auto":
            return name
        return "docker" if await docker_answers() else "process"

    async def _discover(self) -> None:
        cores = list(self.settings.cpus) if self.settings.cpus is not None else detect_cores()
        if self.settings.cpus is None and self.settings.reserved_cpus:
            cores = cores[self.settings.reserved_cpus :] or cores[:1]
        memory = self.settings.memory_bytes()
        if memory is None:
            detected = detect_memory()
            memory = max(detected - self.settings.reserved_memory_bytes(), detected // 4)
        maps: dict[str, DeviceMap] = {}
        self._plugins = []
        for name, options in self.settings.accelerators.items():
            plugin = load_accelerator(name, options)
            devices = await plugin.discover()
            if not devices:
                log.info("accelerator %s: no devices found", name)
                continue
            device_map = plugin.allocation_map(devices)
            maps[device_map.slot_name] = device_map
            self._plugins.append(_Plugin(plugin, devices, device_map.slot_name))
        self.allocator = ResourceAllocator(cores, memory, maps)
        total, _used = disk_space(self.data_dir)
        self._hardware = {
            "cpu": {"cores": len(cores), "cpuset": cores},
            "memory": {"total": memory, "reserved": self.settings.reserved_memory_bytes()},
            "disk": {"path": str(self.data_dir), "total": total},
        }
        if self.runtime_name != "simulated":
            self._sampler = HostSampler()

    def slot_types(self) -> dict[str, str]:
        types = {"cpu": str(SlotType.COUNT), "mem": str(SlotType.BYTES)}
        for entry in self._plugins:
            types.update({k: str(v) for k, v in entry.plugin.slot_types.items()})
        return types

    def info(self) -> rpc.AgentInfo:
        assert self.allocator is not None
        return rpc.AgentInfo(
            agent_id=self.id,
            address=self.address,
            resource_group=self.settings.resource_group,
            region=self.settings.region,
            architecture=self.settings.architecture,
            version=__version__,
            runtime=self.runtime_name,
            available_slots=self.allocator.capacity().to_json(),
            slot_types=self.slot_types(),
            accelerators=[
                rpc.AcceleratorInfo(
                    plugin=entry.plugin.key,
                    slot_types={k: str(v) for k, v in entry.plugin.slot_types.items()},
                    devices=entry.devices,
                    metadata=entry.plugin.metadata(),
                )
                for entry in self._plugins
            ],
            images=self._images,
            hardware=self._hardware,
        )

    # -- restart safety -------------------------------------------------------------------

    async def _restore(self) -> None:
        """Reload kernel records and reconcile them with what the runtime reports."""
        assert self.runtime is not None and self.allocator is not None
        for record in self._store.load_all():
            self.kernels[record.kernel_id] = record
            if record.state == KernelRunState.PREPARING:
                log.warning("kernel %s was being created when the agent stopped", record.kernel_id)
                if record.runtime_state:
                    await self._quiet_stop(record)
                await self._forget(record)
                self._emit(
                    KernelFailed(
                        **self._event_ids(record),
                        msg="the agent restarted while the kernel was being created",
                    )
                )
            elif record.state == KernelRunState.TERMINATING:
                reason = record.termination_reason or "user-requested"
                await self._finish_destroy(record, reason, release=False)
            elif record.state == KernelRunState.RUNNING:
                poll = await self.runtime.poll(record.runtime_state)
                if poll.status == "running":
                    try:
                        self.allocator.restore(Allocation.from_json(record.allocation))
                    except (InsufficientCapacity, ValueError) as exc:
                        # The node offers less than before (config changed): keeping the
                        # kernel would overcommit, so it ends with a recorded reason.
                        log.error("kernel %s no longer fits this agent: %s", record.kernel_id, exc)
                        await self._finish_destroy(record, "resource-mismatch", release=False)
                        continue
                    log.info("re-attached to kernel %s", record.kernel_id)
                else:
                    await self._on_exit(record, poll.exit_code, holds_allocation=False)

    # -- kernel operations (RPC handlers) -------------------------------------------------

    def _record(self, kernel_id: uuid.UUID) -> KernelRecord:
        record = self.kernels.get(kernel_id)
        if record is None:
            raise KernelNotFound(f"kernel {kernel_id} is not on agent {self.id}")
        return record

    def _lock(self, kernel_id: uuid.UUID) -> asyncio.Lock:
        return self._locks.setdefault(kernel_id, asyncio.Lock())

    async def find_image(self, name: str) -> rpc.ImageInfo:
        """The local image ``name`` refers to (``repo`` means ``repo:latest``, as in Docker)."""
        wanted = with_tag(name)
        for refresh in (False, True):
            if refresh:
                assert self.runtime is not None
                self._images = await self.runtime.list_images()
            for image in self._images:
                if with_tag(image.name) == wanted or image.id == name:
                    return image
        known = ", ".join(sorted(i.name for i in self._images)) or "none"
        raise ImageNotFound(
            f"image {name!r} is not present on agent {self.id} (images here: {known})"
        )

    async def create_kernel(self, request: rpc.CreateKernel) -> rpc.KernelCreated:
        assert self.runtime is not None and self.allocator is not None
        async with self._lock(request.kernel_id):
            existing = self.kernels.get(request.kernel_id)
            if existing is not None:
                if existing.state == KernelRunState.RUNNING:
                    return self._created(existing, Allocation.from_json(existing.allocation))
                raise Conflict(f"kernel {request.kernel_id} already exists ({existing.state})")
            image = await self.find_image(request.image)
            requested = _requested_slots(request.resources)
            try:
                allocation = self.allocator.allocate(requested, _wanted(request.devices))
            except InsufficientCapacity as exc:
                raise InsufficientResources(f"agent {self.id}: {exc}") from None
            scratch = os.path.join(self.data_dir, "scratch", str(request.kernel_id))
            record = KernelRecord(
                kernel_id=request.kernel_id,
                session_id=request.session_id,
                owner=request.owner_access_key,
                image=image.name,
                runtime_type=image.labels.get("ai.backend.runtime-type", ""),
                runtime_path=image.labels.get("ai.backend.runtime-path"),
                state=KernelRunState.PREPARING,
                allocation=allocation.to_json(),
                scratch_dir=scratch,
                created_at=self.clock.now(),
            )
            try:
                if self.runtime.runs_code:
                    # One mkdir: cheaper inline than a hop to a worker thread and back.
                    os.makedirs(scratch, exist_ok=True)
                self.kernels[record.kernel_id] = record
                self._store.save(record)
                spec = self._spec(request, image, record, allocation)
                record.runtime_state = await self.runtime.start(spec)
            except BaseException as exc:
                self.allocator.release(allocation)
                if record.runtime_state:
                    await self._quiet_stop(record)
                await self._forget(record)
                if isinstance(exc, CygnetError | asyncio.CancelledError):
                    raise
                raise AgentError(f"could not start kernel: {type(exc).__name__}: {exc}") from exc
            record.state = KernelRunState.RUNNING
            self._store.save(record)
            self._emit(KernelStarted(**self._event_ids(record), container_id=_container_id(record)))
            if request.command is not None:
                self._spawn(self._watch_closely(record))
            elif self.runtime.runs_code:
                # An interactive kernel: its first cell should not wait for the interpreter.
                self._spawn(self._executor(record).warm_up())
            return self._created(record, allocation)

    def _spec(
        self,
        request: rpc.CreateKernel,
        image: rpc.ImageInfo,
        record: KernelRecord,
        allocation: Allocation,
    ) -> KernelSpec:
        occupied = allocation.occupied()
        environ = {
            "BACKENDAI_KERNEL_ID": str(request.kernel_id),
            "BACKENDAI_SESSION_ID": str(request.session_id),
            "BACKENDAI_CLUSTER_ROLE": request.cluster_role,
            "BACKENDAI_CLUSTER_IDX": str(request.cluster_idx),
            "BACKENDAI_CLUSTER_HOST": request.cluster_hostname,
            **request.environ,
        }
        devices: list[DeviceRequest] = []
        device_paths: list[str] = []
        mounts = [
            Mount(
                Path(m.source),
                m.target if m.target.startswith("/") else f"{WORKDIR}/{m.target}",
                m.read_only,
            )
            for m in request.mounts
        ]
        for entry in self._plugins:
            hints: ContainerHints = entry.plugin.container_hints(
                entry.devices, allocation.slots.get(entry.slot, {})
            )
            environ.update(hints.environ)
            devices.extend(hints.devices)
            device_paths.extend(hints.device_paths)
            mounts.extend(hints.mounts)
        return KernelSpec(
            kernel_id=request.kernel_id,
            session_id=request.session_id,
            agent_id=self.id,
            owner=request.owner_access_key,
            image=image,
            scratch_dir=Path(record.scratch_dir),
            runner_dir=self.data_dir / "runner",
            cpus=occupied.get_or_zero("cpu"),
            cpuset=allocation.cpuset(),
            memory=int(occupied.get_or_zero("mem")),
            shmem=request.shmem,
            environ=environ,
            mounts=mounts,
            devices=devices,
            device_paths=device_paths,
            command=request.command,
            labels=request.labels,
            hostname=request.cluster_hostname,
            cluster_network=request.cluster_network,
        )

    def _created(self, record: KernelRecord, allocation: Allocation) -> rpc.KernelCreated:
        return rpc.KernelCreated(
            kernel_id=record.kernel_id,
            container_id=_container_id(record),
            occupied_slots=allocation.occupied().to_json(),
            allocation=record.allocation,
        )

    async def destroy_kernel(self, kernel_id: uuid.UUID, reason: str) -> rpc.KernelDestroyed:
        async with self._lock(kernel_id):
            record = self._record(kernel_id)
            if record.state == KernelRunState.EXITED:
                saved = await self.logs(kernel_id)
                await self._forget(record)
                return rpc.KernelDestroyed(
                    kernel_id=kernel_id, exit_code=record.exit_code, logs=saved
                )
            record.state = KernelRunState.TERMINATING
            record.termination_reason = reason
            self._store.save(record)
            # Its last output is read while its executor closes, before the container goes.
            logs, _ = await asyncio.gather(self._last_logs(record), self._close_executor(record))
            exit_code = await self._finish_destroy(record, reason)
        self._locks.pop(kernel_id, None)
        return rpc.KernelDestroyed(kernel_id=kernel_id, exit_code=exit_code, logs=logs)

    async def _last_logs(self, record: KernelRecord) -> str | None:
        assert self.runtime is not None
        try:
            return await self.runtime.logs(record.runtime_state)
        except (CygnetError, OSError) as exc:
            log.debug("no logs from kernel %s: %s", record.kernel_id, exc)
            return None

    async def _close_executor(self, record: KernelRecord) -> None:
        executor = self._executors.pop(record.kernel_id, None)
        if executor is not None:
            await executor.close()

    async def _finish_destroy(
        self, record: KernelRecord, reason: str, *, release: bool = True
    ) -> int | None:
        assert self.runtime is not None and self.allocator is not None
        await self._close_executor(record)
        exit_code = await self.runtime.stop(record.runtime_state, self.settings.stop_timeout)
        if release:
            with contextlib.suppress(ValueError):
                self.allocator.release(Allocation.from_json(record.allocation))
        await self._forget(record)
        self._emit(KernelTerminated(**self._event_ids(record), reason=reason, exit_code=exit_code))
        return exit_code

    async def _on_exit(
        self, record: KernelRecord, exit_code: int | None, *, holds_allocation: bool
    ) -> None:
        """A kernel's main process ended on its own: keep its logs, free its resources, and
        report it. The record stays (EXITED) until the manager destroys the kernel."""
        assert self.runtime is not None and self.allocator is not None
        await self._close_executor(record)
        with contextlib.suppress(CygnetError, OSError):
            logs = await self.runtime.logs(record.runtime_state)
            await asyncio.to_thread(self._log_path(record).write_text, logs)
        code = await self._quiet_stop(record)
        if exit_code is None:
            exit_code = code
        if holds_allocation:
            with contextlib.suppress(ValueError):
                self.allocator.release(Allocation.from_json(record.allocation))
        record.state = KernelRunState.EXITED
        record.exit_code = exit_code
        self._store.save(record)
        log.info("kernel %s exited with %s", record.kernel_id, exit_code)
        self._emit(
            KernelTerminated(
                **self._event_ids(record), reason="self-terminated", exit_code=exit_code
            )
        )

    async def _quiet_stop(self, record: KernelRecord) -> int | None:
        assert self.runtime is not None
        try:
            return await self.runtime.stop(record.runtime_state, self.settings.stop_timeout)
        except CygnetError:
            log.exception("could not clean up kernel %s", record.kernel_id)
            return None

    async def _forget(self, record: KernelRecord) -> None:
        self.kernels.pop(record.kernel_id, None)
        self._store.delete(record.kernel_id)
        if _made(record.scratch_dir):  # a simulated kernel's may never have been made
            await asyncio.to_thread(shutil.rmtree, record.scratch_dir, True)
        self._log_path(record).unlink(missing_ok=True)

    def _log_path(self, record: KernelRecord) -> Path:
        return self._store.directory / f"{record.kernel_id}.log"

    def _running(self, kernel_id: uuid.UUID) -> KernelRecord:
        record = self._record(kernel_id)
        if record.state != KernelRunState.RUNNING:
            raise InvalidAPIParameters(f"kernel {kernel_id} is not running ({record.state})")
        return record

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _executor(self, record: KernelRecord) -> KernelExecutor:
        assert self.runtime is not None
        executor = self._executors.get(record.kernel_id)
        if executor is None:
            executor = KernelExecutor(
                self.runtime, record.runtime_state, record.runtime_type, record.runtime_path
            )
            self._executors[record.kernel_id] = executor
        return executor

    async def execute(self, request: rpc.ExecuteCode) -> rpc.ExecutionResult:
        record = self._running(request.kernel_id)
        return await self._executor(record).execute(request)

    async def interrupt(self, kernel_id: uuid.UUID) -> None:
        self._running(kernel_id)
        executor = self._executors.get(kernel_id)
        if executor is not None:
            await executor.interrupt()

    def _scratch(self, record: KernelRecord) -> Path:
        """The kernel's scratch directory; made here, on first use, for a runtime whose
        kernels do not run code (``create_kernel`` made it for the others)."""
        assert self.runtime is not None
        if not self.runtime.runs_code:
            os.makedirs(record.scratch_dir, exist_ok=True)
        return Path(record.scratch_dir)

    async def upload_file(self, kernel_id: uuid.UUID, path: str, data: bytes) -> None:
        record = self._running(kernel_id)
        await asyncio.to_thread(files.write_file, self._scratch(record), path, data)

    async def download_file(self, kernel_id: uuid.UUID, path: str) -> bytes:
        record = self._record(kernel_id)
        return await asyncio.to_thread(files.archive, self._scratch(record), path, MAX_ARCHIVE)

    async def list_files(self, kernel_id: uuid.UUID, path: str) -> rpc.FileList:
        record = self._record(kernel_id)
        return await asyncio.to_thread(files.list_files, self._scratch(record), path)

    async def logs(self, kernel_id: uuid.UUID) -> str:
        assert self.runtime is not None
        record = self._record(kernel_id)
        if record.state == KernelRunState.EXITED:
            path = self._log_path(record)
            return await asyncio.to_thread(path.read_text) if path.exists() else ""
        return await self.runtime.logs(record.runtime_state)

    def summaries(self) -> list[rpc.KernelSummary]:
        return [
            rpc.KernelSummary(
                kernel_id=r.kernel_id,
                session_id=r.session_id,
                state=r.state,
                exit_code=r.exit_code,
                occupied_slots=(
                    Allocation.from_json(r.allocation).occupied().to_json()
                    if r.state in (KernelRunState.RUNNING, KernelRunState.TERMINATING)
                    else {}
                ),
            )
            for r in self.kernels.values()
        ]

    def occupied(self) -> ResourceSlot:
        assert self.allocator is not None
        return self.allocator.occupied()

    def live_stat(self) -> rpc.LiveStat:
        running = sum(1 for r in self.kernels.values() if r.state == KernelRunState.RUNNING)
        if self._sampler is None:
            return rpc.LiveStat(kernels=running)
        return self._sampler.sample(running, self.data_dir)

    def status(self) -> rpc.AgentStatusReply:
        return rpc.AgentStatusReply(
            info=self.info(), occupied_slots=self.occupied().to_json(), live_stat=self.live_stat()
        )

    # -- loops ----------------------------------------------------------------------------

    async def register(self) -> None:
        assert self._manager is not None
        reply = await self._manager.call(
            rpc.RegisterAgent(info=self.info(), kernels=self.summaries()), rpc.Registered
        )
        if self.settings.heartbeat_interval is None:
            self._heartbeat_interval = reply.heartbeat_interval
        self.registered.set()
        self._outbox_signal.set()

    async def _heartbeat_loop(self) -> None:
        assert self._manager is not None
        backoff = 0.2
        while not self.registered.is_set():
            try:
                await self.register()
            except CygnetError as exc:
                log.warning("agent %s could not register: %s", self.id, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        beats = 0
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            beats += 1
            try:
                if beats % IMAGE_REFRESH_BEATS == 0 and await self._images_changed():
                    await self.register()
                    continue
                ack = await self._manager.call(
                    rpc.Heartbeat(
                        agent_id=self.id,
                        occupied_slots=self.occupied().to_json(),
                        live_stat=self.live_stat(),
                        sent_at=self.clock.now(),
                    ),
                    rpc.HeartbeatAck,
                )
                if not ack.known:
                    await self.register()
            except CygnetError as exc:
                log.warning("agent %s heartbeat failed: %s", self.id, exc)

    async def _images_changed(self) -> bool:
        assert self.runtime is not None
        images = await self.runtime.list_images()
        if _images_hash(images) == _images_hash(self._images):
            return False
        self._images = images
        return True

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.kernel_poll_interval)
            for record in list(self.kernels.values()):
                await self._check_exit(record)

    async def _check_exit(self, record: KernelRecord) -> bool:
        """Poll one kernel; report it if its main process ended. Returns whether it is still
        running (or busy with another operation)."""
        assert self.runtime is not None
        if record.state != KernelRunState.RUNNING:
            return False
        lock = self._lock(record.kernel_id)
        if lock.locked():
            return True
        try:
            async with lock:
                if record.state != KernelRunState.RUNNING:
                    return False
                poll = await self.runtime.poll(record.runtime_state)
                if poll.status != "running":
                    await self._on_exit(record, poll.exit_code, holds_allocation=True)
                    return False
        except Exception:
            log.exception("watching kernel %s failed", record.kernel_id)
        return True

    async def _watch_closely(self, record: KernelRecord) -> None:
        """A kernel with a main command (a batch job) often ends soon: poll it often at
        first, backing off to the regular interval, so its end is reported promptly."""
        delay = 0.02
        while delay < self.settings.kernel_poll_interval:
            await asyncio.sleep(delay)
            if not await self._check_exit(record):
                return
            delay *= 1.5

    def _emit(self, event: Any) -> None:
        self._outbox.append(event)
        self._outbox_signal.set()

    async def _flush_events(self) -> None:
        if not self._outbox or self._manager is None or not self.registered.is_set():
            return
        batch, self._outbox = self._outbox, []
        try:
            await self._manager.call(rpc.PushEvents(agent_id=self.id, events=batch), rpc.Ack)
        except BaseException:
            self._outbox[:0] = batch
            raise

    async def _event_loop(self) -> None:
        while True:
            await self._outbox_signal.wait()
            self._outbox_signal.clear()
            try:
                await self._flush_events()
            except CygnetError as exc:
                log.warning("agent %s could not push events: %s", self.id, exc)
                await asyncio.sleep(1.0)
                self._outbox_signal.set()

    def _event_ids(self, record: KernelRecord) -> dict[str, Any]:
        return {
            "at": self.clock.now(),
            "agent_id": self.id,
            "kernel_id": record.kernel_id,
            "session_id": record.session_id,
        }


def _requested_slots(resources: dict[str, str]) -> ResourceSlot:
    try:
        requested = ResourceSlot.from_user_input(resources)
    except ValueError as exc:
        raise InvalidAPIParameters(str(exc)) from None
    defaults: dict[str, Decimal] = {}
    if requested.get_or_zero("cpu") == 0:
        defaults["cpu"] = DEFAULT_CPU
    if requested.get_or_zero("mem") == 0:
        defaults["mem"] = Decimal(DEFAULT_MEM)
    return requested + ResourceSlot(defaults) if defaults else requested


def _wanted(devices: dict[str, dict[str, str]] | None) -> dict[str, dict[str, Decimal]]:
    """The manager's device booking as amounts; a slot whose amounts do not parse is left to
    the allocator's own choice."""
    wanted: dict[str, dict[str, Decimal]] = {}
    for slot, parts in (devices or {}).items():
        try:
            wanted[slot] = {str(d): Decimal(str(n)) for d, n in parts.items()}
        except InvalidOperation:
            continue
    return wanted


def _container_id(record: KernelRecord) -> str:
    state = record.runtime_state
    return str(state.get("container_id") or state.get("pid") or state.get("id") or "")


def _images_hash(images: list[rpc.ImageInfo]) -> str:
    text = "\n".join(sorted(f"{i.name} {i.id}" for i in images))
    return hashlib.sha256(text.encode()).hexdigest()


def _install_runner(target: Path) -> None:
    """Copy the in-kernel runner where kernels mount it (read-only) from."""
    target.mkdir(parents=True, exist_ok=True)
    for source in RUNNER_SOURCE.glob("*.py"):
        data = source.read_bytes()
        dest = target / source.name
        if not dest.exists() or dest.read_bytes() != data:
            tmp = dest.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.chmod(0o644)
            tmp.replace(dest)
    target.chmod(0o755)


def _made(directory: str) -> bool:
    """Whether ``directory`` exists (one stat: cheaper inline than a worker thread)."""
    return os.path.isdir(directory)
