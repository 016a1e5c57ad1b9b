"""SessionService: create (and wait), look up, list, destroy, restart, rename, execute, files,
logs, history and events of compute sessions. The API writes intent here; the lifecycle
controller does the work and this service waits for it where the protocol blocks."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from cygnet.common import rpc
from cygnet.common.clock import Clock
from cygnet.common.errors import (
    InsufficientPrivilege,
    InvalidAPIParameters,
    KernelNotFound,
    SessionNotFound,
    SessionTerminatedWhileWaiting,
)
from cygnet.common.lifecycle import (
    DEAD_KERNEL_STATUSES,
    DEAD_SESSION_STATUSES,
    KernelStatus,
    SessionStatus,
    SessionType,
    ended_before_start,
)
from cygnet.common.memo import Memo
from cygnet.manager import entities as e
from cygnet.manager.agents.registry import AgentRegistry
from cygnet.manager.events import EventBus, Subscription
from cygnet.manager.lifecycle.context import Context
from cygnet.manager.lifecycle.controller import SessionController
from cygnet.manager.lifecycle.restart import restart as restart_session
from cygnet.manager.services.common import require_superadmin
from cygnet.manager.services.images import ImageEntry, ImageService
from cygnet.manager.services.sessions import creation, mounts
from cygnet.manager.services.sessions.enqueue import Enqueuer, Request
from cygnet.manager.services.sessions.spec import CreatedSession, SessionSpec
from cygnet.manager.services.vfolders.access import FolderAccess
from cygnet.manager.storage import StorageProxies
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import agents as agents_repo
from cygnet.manager.store.repositories import sessions as repo
from cygnet.manager.store.repositories.session_changes import SessionChange

RUNNING_LIKE = (SessionStatus.RUNNING, SessionStatus.RUNNING_DEGRADED)
SLOT_TYPES_TTL = 2.0  # the slot types agents offer, read again at most this often (or on a miss)
# Who a session is for and where it may run (keypair, policy, project, resource group), kept
# this long per caller and request; dropped at once when this manager changes identities.
IDENTITY_TTL = 2.0
ENDING = (SessionStatus.TERMINATING, *DEAD_SESSION_STATUSES)


@dataclass(frozen=True, slots=True)
class WaitSettings:
    batch_grace: float = 5.0  # a batch create waits this long after RUNNING for the job to end
    destroy_wait: float = 60.0  # destroy waits this long for TERMINATED
    poll: float = 1.0  # re-read the store this often while waiting (events may be lost)


def _parse_ref(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


class SessionService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        bus: EventBus,
        agents: AgentRegistry,
        images: ImageService,
        controller: SessionController,
        wait: WaitSettings | None = None,
        storage: StorageProxies | None = None,
    ) -> None:
        self.db = db
        self.storage = storage
        self.folders = FolderAccess(db)
        self.clock = clock
        self.bus = bus
        self.agents = agents
        self.images = images
        self.controller = controller
        self._slot_types: Memo[int, dict[str, str]] = Memo(clock, SLOT_TYPES_TTL)
        self._identities: Memo[tuple[Any, ...], creation.Target] = Memo(clock, IDENTITY_TTL)
        self._identity_generation = 0
        self._enqueuer = Enqueuer(db, clock)
        self.wait_settings = wait or WaitSettings()

    @property
    def _ctx(self) -> Context:
        return self.controller.ctx

    # -- visibility -----------------------------------------------------------------------

    @staticmethod
    def _visible(caller: e.Caller, access_key: str, domain_name: str) -> bool:
        return access_key == caller.access_key or caller.can_admin_domain(domain_name)

    def may_see(self, caller: e.Caller, event: e.SessionEvent) -> bool:
        return self._visible(caller, event.access_key, event.domain_name)

    def _owner_key(self, caller: e.Caller, owner_access_key: str | None) -> str:
        if owner_access_key and owner_access_key != caller.access_key:
            if not (caller.is_superadmin or caller.is_domain_admin):
                raise InsufficientPrivilege("Only admins may act on other keypairs' sessions.")
            return owner_access_key
        return caller.access_key

    async def get(
        self, caller: e.Caller, ref: str, *, owner_access_key: str | None = None
    ) -> e.Session:
        """The session ``ref`` (an id, with or without dashes, or a name among the owner's
        sessions) if the caller may see it; otherwise 404, whether or not it exists."""
        owner = self._owner_key(caller, owner_access_key)
        session_id = _parse_ref(ref)
        async with self.db.read() as tx:
            found = None
            if session_id is not None:
                found = await repo.get(tx, session_id)
            if found is None:
                found = await repo.find_by_name(tx, owner, ref)
        if found is None or not self._visible(caller, found.access_key, found.domain_name):
            raise SessionNotFound(f"No session {ref!r} is visible to you.")
        return found

    async def get_by_id(self, caller: e.Caller, session_id: uuid.UUID) -> e.Session:
        return await self.get(caller, str(session_id))

    async def list_sessions(
        self,
        caller: e.Caller,
        *,
        statuses: list[SessionStatus] | None = None,
        access_key: str | None = None,
        project_id: uuid.UUID | None = None,
        filter_text: str | None = None,
        order_text: str | None = None,
        limit: int | None = 20,
        offset: int = 0,
    ) -> e.Page[e.Session]:
        """Users see their own sessions; domain admins their domain's; superadmins all."""
        domain: str | None = None
        if not caller.is_superadmin:
            if caller.is_domain_admin:
                domain = caller.domain_name
            else:
                if access_key is not None and access_key != caller.access_key:
                    return e.Page(items=[], total_count=0)
                access_key = caller.access_key
        async with self.db.read() as tx:
            return await repo.page(
                tx,
                statuses=statuses,
                access_key=access_key,
                domain_name=domain,
                project_id=project_id,
                filter_text=filter_text,
                order_text=order_text,
                limit=limit,
                offset=offset,
            )

    # -- creation -------------------------------------------------------------------------

    async def _load_slot_types(self) -> dict[str, str]:
        async with self.db.read() as tx:
            return await agents_repo.slot_types(tx)

    def _build(
        self, target: creation.Target, image: ImageEntry, spec: SessionSpec, slot_types: Any
    ) -> creation.Prepared:
        return creation.build(target, image, spec, slot_types, self.images.check_resources)

    def forget_identities(self) -> None:
        """Drop the cached owners, projects and resource groups (after a change to keypairs,
        users, domains, projects, policies or resource-group links). A lookup under way
        keeps what it read to itself."""
        self._identity_generation += 1
        self._identities.forget()

    async def _target(self, caller: e.Caller, spec: SessionSpec) -> creation.Target:
        # every field of the spec that resolve_target reads, but the dependencies
        key = (
            self._identity_generation,
            caller,
            spec.owner_access_key,
            spec.group,
            spec.resource_group,
            spec.type,
        )

        async def load() -> creation.Target:
            async with self.db.read() as tx:
                return await creation.resolve_target(
                    tx, caller, dataclasses.replace(spec, dependencies=[])
                )

        target, _ = await self._identities.get(key, load)
        if spec.dependencies:
            async with self.db.read() as tx:
                dependencies = await creation.resolve_dependencies(
                    tx, target.owner, spec.dependencies
                )
            target = dataclasses.replace(target, dependencies=dependencies)
        return target

    async def create(self, caller: e.Caller, spec: SessionSpec) -> CreatedSession:
        # Everything is read and checked first; the write (one transaction for the sessions
        # of concurrent creates, see enqueue.py) opens no other connection (on SQLite, a
        # writer waiting for a second connection could starve).
        target = await self._target(caller, spec)
        image = await self.images.resolve(
            spec.image, spec.architecture, resource_group=target.resource_group
        )
        generation = self.agents.generation
        slot_types, kept = await self._slot_types.get(generation, self._load_slot_types)
        try:
            prepared = self._build(target, image, spec, slot_types)
        except InvalidAPIParameters:
            if not kept:
                raise
            self._slot_types.forget()  # a slot an agent brought since? look again
            slot_types, _ = await self._slot_types.get(generation, self._load_slot_types)
            prepared = self._build(target, image, spec, slot_types)
        if spec.mounts or spec.mount_map or spec.mount_ids or spec.mount_id_map:
            found = await self._mounts(caller, target.owner, spec)
            prepared.values["vfolder_mounts"] = [m.to_json() for m in found]
        session, created = await self._enqueuer.enqueue(
            Request(prepared, target.owner, target.dependencies, spec.reuse)
        )
        if not created:
            return CreatedSession(session=session, created=False)
        for event in (
            e.SessionEvent(
                name="session_enqueued",
                session_id=session.id,
                session_name=session.name,
                access_key=session.access_key,
                domain_name=session.domain_name,
                project_id=session.project_id,
                status=SessionStatus.PENDING,
                reason=None,
            ),
        ):
            self.bus.publish(event)
        self.controller.hint()
        if spec.enqueue_only:
            return CreatedSession(session=session, created=True)
        return await self._wait_started(session, spec.max_wait_seconds)

    async def _mounts(
        self, caller: e.Caller, owner: creation.Owner, spec: SessionSpec
    ) -> list[e.VFolderMount]:
        """The vfolders ``spec`` mounts, resolved for the session's owner."""
        wanted = mounts.plan(spec)
        storage = self.storage
        if storage is None:
            raise InvalidAPIParameters("This manager has no storage proxy: nothing to mount.")
        who = caller
        if owner.access_key != caller.access_key:  # an admin creating for another keypair
            who = e.Caller(
                access_key=owner.access_key,
                user_uuid=owner.user_uuid,
                email="",
                role=e.UserRole.USER,
                domain_name=owner.domain_name,
                is_admin_key=False,
            )

        async def access(ref: str) -> e.VFolderAccess:
            return await self.folders.resolve(who, ref, usable=True)

        async def host_path(host: str, folder_id: uuid.UUID) -> str:
            client, volume = await storage.resolve(host)
            return await client.mount_path(volume, folder_id)

        return await mounts.resolve(wanted, access, host_path)

    async def _wait_started(self, session: e.Session, max_wait: float) -> CreatedSession:
        batch = session.type == SessionType.BATCH
        running_since: float | None = None

        def done(s: e.Session) -> bool:
            nonlocal running_since
            if s.status in ENDING:
                return True
            if s.status in RUNNING_LIKE:
                if not batch:
                    return True
                now = self.clock.monotonic()
                running_since = running_since if running_since is not None else now
                return now - running_since >= self.wait_settings.batch_grace
            return False

        current, reached = await self._wait(
            session.id,
            done,
            max_wait if max_wait > 0 else None,
            wake=(*RUNNING_LIKE, *ENDING),
            max_step=0.5 if batch else None,
        )
        if not reached:
            return CreatedSession(session=current, created=True, timed_out=True)
        if current.status in DEAD_SESSION_STATUSES and not (batch and current.started_at):
            raise SessionTerminatedWhileWaiting(
                f"Session {current.name} ended before it ran "
                f"({current.status_info or 'no reason'})."
            )
        return CreatedSession(session=current, created=True)

    async def _wait(
        self,
        session_id: uuid.UUID,
        done: Callable[[e.Session], bool],
        timeout: float | None,
        *,
        wake: Collection[SessionStatus],
        max_step: float | None = None,
    ) -> tuple[e.Session, bool]:
        """Wait until ``done(session)``; returns it and whether it got there in time. The
        session is read again when it enters one of the ``wake`` statuses, and at least every
        ``poll`` seconds (an event may be lost)."""
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        step = self.wait_settings.poll if max_step is None else max_step
        with self.bus.subscribe() as sub:
            while True:
                async with self.db.read() as tx:
                    current = await repo.get(tx, session_id)
                if current is None:
                    raise SessionNotFound(f"Session {session_id} disappeared.")
                if done(current):
                    return current, True
                remaining = None if deadline is None else deadline - self.clock.monotonic()
                if remaining is not None and remaining <= 0:
                    return current, False
                wait = step if remaining is None else min(step, remaining)
                await self._next_event(sub, session_id, wake, wait)

    @staticmethod
    async def _next_event(
        sub: Subscription,
        session_id: uuid.UUID,
        wake: Collection[SessionStatus],
        timeout: float,
    ) -> SessionStatus | None:
        """The next status in ``wake`` the session reaches within ``timeout`` (None if none)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = await sub.get()
                    if (
                        isinstance(event, e.SessionEvent)
                        and event.session_id == session_id
                        and event.kernel_id is None
                        and event.status in wake
                    ):
                        return SessionStatus(event.status)
        except TimeoutError:
            return None

    # -- destroy, restart, rename ---------------------------------------------------------

    async def destroy(
        self,
        caller: e.Caller,
        ref: str,
        *,
        forced: bool = False,
        recursive: bool = False,
        owner_access_key: str | None = None,
    ) -> str:
        """End the session: "cancelled" if it had not started, "terminated" once its kernels
        are gone, "" if it had already ended. With ``recursive``, the live sessions that
        depend on it (directly or not) end first."""
        session = await self.get(caller, ref, owner_access_key=owner_access_key)
        if recursive:
            async with self.db.read() as tx:
                dependants = await repo.live_dependants(tx, session.id)
            for dependant in dependants:
                await self.destroy(
                    caller, str(dependant), forced=forced, owner_access_key=owner_access_key
                )
        reason = "force-terminated" if forced else "user-requested"
        now = self.clock.now()

        async def apply(change: SessionChange) -> str:
            status = change.status
            if status in DEAD_SESSION_STATUSES:
                return ""
            if status == SessionStatus.TERMINATING:
                return "terminating"
            if status in (
                SessionStatus.PENDING,
                SessionStatus.SCHEDULED,
                SessionStatus.DEPRIORITIZING,
                SessionStatus.RESERVED,
            ):
                for kernel in change.kernels:
                    if kernel.status not in DEAD_KERNEL_STATUSES:
                        change.kernel_to(kernel.id, KernelStatus.CANCELLED, now, reason=reason)
                change.to(SessionStatus.CANCELLED, now, reason=reason)
                return "cancelled"
            change.to(SessionStatus.TERMINATING, now, reason=reason)
            return "terminating"

        with self.bus.subscribe() as sub:  # before the change, so that no event is missed
            outcome = await self._ctx.change(session.id, apply)
            if outcome in (None, ""):
                return ""
            if outcome == "cancelled":
                return "cancelled"
            self.controller.terminate_soon(session.id)
            ended = await self._wait_ended(sub, session.id, self.wait_settings.destroy_wait)
        return "terminated" if ended == SessionStatus.TERMINATED else "terminating"

    async def _wait_ended(
        self, sub: Subscription, session_id: uuid.UUID, timeout: float
    ) -> SessionStatus | None:
        """The status a session ended in, from its event (the store is read again every
        ``poll`` seconds, in case an event was lost); None if it has not ended in time."""
        deadline = self.clock.monotonic() + timeout
        while (remaining := deadline - self.clock.monotonic()) > 0:
            step = min(self.wait_settings.poll, remaining)
            ended = await self._next_event(sub, session_id, DEAD_SESSION_STATUSES, step)
            if ended is not None:
                return ended
            async with self.db.read() as tx:
                current = await repo.get(tx, session_id)
            if current is None or current.status in DEAD_SESSION_STATUSES:
                return None if current is None else current.status
        return None

    async def restart(
        self, caller: e.Caller, ref: str, *, owner_access_key: str | None = None
    ) -> None:
        session = await self.get(caller, ref, owner_access_key=owner_access_key)
        if not await restart_session(self._ctx, session.id):
            self.controller.hint()
            raise InvalidAPIParameters("The session's kernels could not be restarted; it ends.")

    async def rename(
        self,
        caller: e.Caller,
        ref: str,
        new_name: str,
        *,
        owner_access_key: str | None = None,
    ) -> None:
        creation.check_session_name(new_name)
        session = await self.get(caller, ref, owner_access_key=owner_access_key)
        if session.status in DEAD_SESSION_STATUSES:
            raise InvalidAPIParameters("A session that has ended cannot be renamed.")

        async def apply(change: SessionChange) -> None:
            await change.rename(new_name)

        await self._ctx.change(session.id, apply)

    async def set_priority(self, caller: e.Caller, ref: str, priority: int) -> e.Session:
        if not 0 <= priority <= 100:
            raise InvalidAPIParameters("priority must be between 0 and 100")
        session = await self.get(caller, ref)

        async def apply(change: SessionChange) -> e.Session:
            change.set(priority=priority)
            return await change.entity()

        updated = await self._ctx.change(session.id, apply)
        assert updated is not None
        return updated

    # -- in-session operations ------------------------------------------------------------

    async def _running(
        self, caller: e.Caller, ref: str, owner_access_key: str | None
    ) -> tuple[e.Session, e.Kernel]:
        session = await self.get(caller, ref, owner_access_key=owner_access_key)
        if session.status not in RUNNING_LIKE:
            raise InvalidAPIParameters(
                f"Session {session.name} is {session.status}; it must be RUNNING for this."
            )
        return session, session.main_kernel

    async def _client(self, kernel: e.Kernel) -> Any:
        if kernel.agent_id is None:
            raise KernelNotFound(f"kernel {kernel.id} has no agent")
        return await self.agents.client(kernel.agent_id)

    async def _touch(self, session_id: uuid.UUID, queries: int = 0) -> None:
        async with self.db.transaction() as tx:
            await repo.touch(tx, session_id, self.clock.now(), queries=queries)

    async def execute(
        self,
        caller: e.Caller,
        ref: str,
        *,
        mode: str,
        code: str,
        run_id: str | None,
        options: dict[str, Any],
        owner_access_key: str | None = None,
    ) -> rpc.ExecutionResult:
        if mode not in ("query", "batch", "continue", "input"):
            raise InvalidAPIParameters(
                f"Unknown execution mode {mode!r} (query, batch, continue or input)."
            )
        if mode in ("continue", "input") and not run_id:
            raise InvalidAPIParameters(f"Mode {mode!r} needs the runId of the run.")
        session, kernel = await self._running(caller, ref, owner_access_key)
        client = await self._client(kernel)
        await self._touch(session.id, 1 if mode in ("query", "batch") else 0)
        result: rpc.ExecutionResult = await client.execute(
            kernel.id, mode, code, run_id=run_id, options=options
        )
        return result

    async def interrupt(
        self, caller: e.Caller, ref: str, *, owner_access_key: str | None = None
    ) -> None:
        _, kernel = await self._running(caller, ref, owner_access_key)
        await (await self._client(kernel)).interrupt(kernel.id)

    async def logs(
        self,
        caller: e.Caller,
        ref: str,
        *,
        kernel_id: uuid.UUID | None = None,
        owner_access_key: str | None = None,
    ) -> str:
        session = await self.get(caller, ref, owner_access_key=owner_access_key)
        kernel = session.main_kernel
        if kernel_id is not None:
            found = next((k for k in session.kernels if k.id == kernel_id), None)
            if found is None:
                raise KernelNotFound(f"Session {session.name} has no kernel {kernel_id}.")
            kernel = found
        if kernel.status not in DEAD_KERNEL_STATUSES and kernel.agent_id is not None:
            try:
                text: str = await (await self._client(kernel)).logs(kernel.id)
                return text
            except KernelNotFound:
                pass
        if ended_before_start(session.status) and session.status not in DEAD_SESSION_STATUSES:
            return ""
        if session.status == SessionStatus.TERMINATING:
            # The agent has let the kernel go; its logs reach the store with TERMINATED.
            await self._wait(
                session.id,
                lambda s: s.status in DEAD_SESSION_STATUSES,
                self.wait_settings.destroy_wait,
                wake=DEAD_SESSION_STATUSES,
            )
        async with self.db.read() as tx:
            return await repo.kernel_logs(tx, kernel.id) or ""

    async def upload(
        self,
        caller: e.Caller,
        ref: str,
        files: list[tuple[str, bytes]],
        *,
        owner_access_key: str | None = None,
    ) -> None:
        session, kernel = await self._running(caller, ref, owner_access_key)
        client = await self._client(kernel)
        for path, data in files:
            await client.upload_file(kernel.id, path, data)
        await self._touch(session.id)

    async def download(
        self,
        caller: e.Caller,
        ref: str,
        paths: list[str],
        *,
        owner_access_key: str | None = None,
    ) -> list[tuple[str, bytes]]:
        session, kernel = await self._running(caller, ref, owner_access_key)
        client = await self._client(kernel)
        archives = [(path, await client.download_file(kernel.id, path)) for path in paths]
        await self._touch(session.id)
        return archives

    async def list_files(
        self, caller: e.Caller, ref: str, path: str, *, owner_access_key: str | None = None
    ) -> rpc.FileList:
        session, kernel = await self._running(caller, ref, owner_access_key)
        listing: rpc.FileList = await (await self._client(kernel)).list_files(kernel.id, path)
        await self._touch(session.id)
        return listing

    async def status_history(
        self, caller: e.Caller, ref: str, *, owner_access_key: str | None = None
    ) -> dict[str, str]:
        session = await self.get(caller, ref, owner_access_key=owner_access_key)
        return dict(session.status_history)

    async def scheduling(
        self, caller: e.Caller, ref: str, *, owner_access_key: str | None = None
    ) -> dict[str, Any]:
        """Why the session is (or was last) waiting: the scheduler's latest attempt as
        recorded in its status data (queue position, each plugin's verdict, the agents'
        reasons grouped); ``scheduler`` is null when no attempt left it waiting."""
        session = await self.get(caller, ref, owner_access_key=owner_access_key)
        return {
            "session_id": str(session.id),
            "session_name": session.name,
            "status": session.status.value,
            "status_info": session.status_info,
            "resource_group": session.resource_group,
            "scheduler": session.status_data.get("scheduler"),
        }

    async def dependency_graph(
        self, caller: e.Caller, ref: str, *, owner_access_key: str | None = None
    ) -> dict[str, Any]:
        """The session and, recursively, the sessions it depends on (each visited once)."""
        root = await self.get(caller, ref, owner_access_key=owner_access_key)

        def node(s: e.Session) -> dict[str, Any]:
            return {
                "session_id": str(s.id),
                "session_name": s.name,
                "status": s.status.value,
                "status_changed": s.status_changed.isoformat(),
                "depends_on": [],
            }

        top = node(root)
        nodes = {root.id: top}
        frontier = [root.id]
        async with self.db.read() as tx:
            while frontier:
                found = await repo.dependencies_of(tx, frontier)
                frontier = []
                for parent, deps in found.items():
                    for dep in deps:
                        child = nodes.get(dep.id)
                        if child is None:
                            child = nodes[dep.id] = node(dep)
                            frontier.append(dep.id)
                        nodes[parent]["depends_on"].append(child)
        return top

    # -- the scheduler, for admins ------------------------------------------------------------

    async def scheduler_status(self, caller: e.Caller) -> dict[str, Any]:
        """This manager's reconcile loops: when each last ran, how long it took and what it
        did (``schedule``, ``start``, ``terminate``, ``sweep``), and the sessions by status."""
        require_superadmin(caller)
        async with self.db.read() as tx:
            counts = await repo.count_by_status(tx)
        return {
            "loops": {k: dict(v) for k, v in sorted(self._ctx.scheduler.last_run.items())},
            "sessions": counts,
            "busy": len(self.controller.busy),
            "sweep_interval": self._ctx.settings.sweep_interval,
        }

    async def trigger_scheduler(self, caller: e.Caller) -> dict[str, Any]:
        """Run a scheduling pass now; its outcome."""
        require_superadmin(caller)
        return await self.controller.trigger()

    async def transitions(
        self, caller: e.Caller, ref: str, *, owner_access_key: str | None = None
    ) -> list[Any]:
        """Every recorded status change of the session and its kernels, with reasons."""
        session = await self.get(caller, ref, owner_access_key=owner_access_key)
        async with self.db.read() as tx:
            return list(await repo.history(tx, session.id))

    def subscribe(self) -> Subscription:
        return self.bus.subscribe()
