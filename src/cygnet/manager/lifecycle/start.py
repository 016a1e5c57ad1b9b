"""SCHEDULED -> PREPARING -> CREATING -> RUNNING: create the kernels on their agents.

Picks up: SCHEDULED, PREPARING, and CREATING once it has been so for ``RESUME_AFTER`` (a manager
that stopped mid-way, or whose outcome could not be written; creating a kernel is idempotent on
the agent). Moving a session to CREATING claims it: another manager sharing the database does
not start it a second time while the first is still at work. Success: RUNNING. Failure: the kernels
that did start are destroyed and the session is CANCELLED with reason ``failed-to-start`` and
the error in ``status_data``. Destroyed meanwhile (TERMINATING): leaves it to ``terminate``.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cygnet.common import rpc
from cygnet.common.errors import CygnetError
from cygnet.common.lifecycle import KernelStatus, SessionStatus, SessionType
from cygnet.common.logging import get_logger
from cygnet.common.resources import BinarySize
from cygnet.manager import entities as e
from cygnet.manager.lifecycle.context import Context
from cygnet.manager.lifecycle.kernel_events import kernel_ended
from cygnet.manager.store.repositories import session_changes as changes_repo
from cygnet.manager.store.repositories.session_changes import SessionChange

log = get_logger(__name__)

STARTING = (SessionStatus.SCHEDULED, SessionStatus.PREPARING, SessionStatus.CREATING)
RESUME_AFTER = timedelta(seconds=60)  # a CREATING session left this long is taken up again
DEFAULT_SHMEM = 64 * 1024 * 1024
MAX_CONCURRENT_CREATES = 256  # kernel creations in flight at once, over all agents
CLUSTER_NETWORK_PREFIX = "cygnet-session-"
DEFAULT_MASTER_PORT = 12345  # Backend.AI's documented MASTER_PORT

# A batch session's main process: the bootstrap script (if any), then the startup command.
# Both travel as environment variables, so no quoting can break them.
BATCH_COMMAND = [
    "/bin/sh",
    "-c",
    'if [ -n "$CYGNET_BOOTSTRAP_SCRIPT" ]; then /bin/sh -c "$CYGNET_BOOTSTRAP_SCRIPT"; fi; '
    'exec /bin/sh -c "$CYGNET_STARTUP_COMMAND"',
]


def shmem_of(resource_opts: dict[str, Any]) -> int:
    value = resource_opts.get("shmem")
    if value in (None, ""):
        return DEFAULT_SHMEM
    return _bytes(str(value))


@functools.lru_cache(maxsize=256)
def _bytes(text: str) -> int:
    """A size as given (``64m``), parsed once per distinct text: sessions mostly share one."""
    return int(BinarySize.parse(text))


def cluster_order(kernels: Sequence[e.Kernel]) -> list[e.Kernel]:
    """A session's kernels in cluster order: the main kernel first, then by role and index
    (``main1, sub1, sub2 …``); a kernel's position is its global rank."""
    return sorted(kernels, key=lambda k: (not k.is_main, k.cluster_role, k.cluster_idx))


def cluster_network_name(session: e.Session) -> str | None:
    """The per-session network the kernels of a cluster session join (None: a single kernel
    keeps the runtime's default network)."""
    if len(session.kernels) <= 1:
        return None
    return f"{CLUSTER_NETWORK_PREFIX}{session.id}"


def cluster_environ(session: e.Session, kernel: e.Kernel) -> tuple[dict[str, str], dict[str, str]]:
    """The environment a kernel sees about its session's cluster, as Backend.AI sets it (pure).

    Returns ``(fixed, defaults)``: ``fixed`` (``BACKENDAI_*``) overrides the session's own
    environment; ``defaults`` (the distributed-training variables, cluster sessions only) can
    be overridden by it. Names: Backend.AI's "Cluster Networking" concept page
    (docs/concepts/networking.rst) and its manager's kernel creation."""
    kernels = cluster_order(session.kernels)
    rank = next(i for i, k in enumerate(kernels) if k.id == kernel.id)
    replicas: dict[str, int] = {}
    for k in kernels:
        replicas[k.cluster_role] = replicas.get(k.cluster_role, 0) + 1
    main = kernels[0]
    fixed = {
        "BACKENDAI_SESSION_ID": str(session.id),
        "BACKENDAI_SESSION_NAME": session.name,
        "BACKENDAI_ACCESS_KEY": session.access_key,
        "BACKENDAI_KERNEL_ID": str(kernel.id),
        "BACKENDAI_CLUSTER_MODE": session.cluster_mode.value,
        "BACKENDAI_CLUSTER_SIZE": str(len(kernels)),
        "BACKENDAI_CLUSTER_HOSTS": ",".join(k.cluster_hostname for k in kernels),
        "BACKENDAI_CLUSTER_REPLICAS": ",".join(f"{r}:{n}" for r, n in replicas.items()),
        "BACKENDAI_CLUSTER_ROLE": kernel.cluster_role,
        "BACKENDAI_CLUSTER_IDX": str(kernel.cluster_idx),
        "BACKENDAI_CLUSTER_HOST": kernel.cluster_hostname,
        "BACKENDAI_CLUSTER_LOCAL_RANK": str(rank),
    }
    if len(kernels) <= 1:
        return fixed, {}
    same_node = [k for k in kernels if k.agent_id == kernel.agent_id]
    defaults = {
        "WORLD_SIZE": str(len(kernels)),
        "WORLD_RANK": str(rank),
        "LOCAL_RANK": str(next(i for i, k in enumerate(same_node) if k.id == kernel.id)),
        "MASTER_ADDR": main.cluster_hostname,
        "MASTER_PORT": str(DEFAULT_MASTER_PORT),
    }
    return fixed, defaults


def kernel_request(session: e.Session, kernel: e.Kernel) -> rpc.CreateKernel:
    fixed, defaults = cluster_environ(session, kernel)
    environ = {**defaults, **session.environ, **fixed}
    command = None
    if session.bootstrap_script:
        environ["CYGNET_BOOTSTRAP_SCRIPT"] = session.bootstrap_script
    if session.type == SessionType.BATCH and session.startup_command and kernel.is_main:
        # The job runs in the main kernel; the others of a cluster serve it until it ends.
        environ["CYGNET_STARTUP_COMMAND"] = session.startup_command
        command = list(BATCH_COMMAND)
    return rpc.CreateKernel(
        kernel_id=kernel.id,
        session_id=session.id,
        owner_access_key=session.access_key,
        image=kernel.image,
        resources=kernel.requested_slots,
        environ=environ,
        mounts=[
            rpc.MountSpec(source=m.host_path, target=m.kernel_path, read_only=m.read_only)
            for m in session.vfolder_mounts
        ],
        command=command,
        labels={
            "ai.backend.session-id": str(session.id),
            "ai.backend.session-name": session.name,
            "ai.backend.access-key": session.access_key,
            "ai.backend.session-type": session.type.value,
        },
        shmem=shmem_of(session.resource_opts),
        cluster_role=kernel.cluster_role,
        cluster_idx=kernel.cluster_idx,
        cluster_hostname=kernel.cluster_hostname,
        cluster_network=cluster_network_name(session),
        devices=kernel.allocation or None,  # the scheduler's device booking
    )


def claim(change: SessionChange, now: datetime) -> bool:
    """SCHEDULED/PREPARING -> CREATING for the session and its kernels, which claims its
    start; False if it is no longer starting or another start holds it."""
    if change.status not in STARTING:
        return False
    if change.status == SessionStatus.CREATING and now - change.status_changed < RESUME_AFTER:
        return False  # claimed by a start under way (here or on another manager)
    for status_k, status_s in (
        (KernelStatus.PREPARING, SessionStatus.PREPARING),
        (KernelStatus.CREATING, SessionStatus.CREATING),
    ):
        for kernel_id, status in change.kernel_states:
            if status in (KernelStatus.SCHEDULED, KernelStatus.PREPARING):
                change.kernel_to(kernel_id, status_k, now)
        if change.status != SessionStatus.CREATING:
            change.to(status_s, now)
    return True


async def _create(ctx: Context, session: e.Session, kernel: e.Kernel) -> rpc.KernelCreated:
    assert kernel.agent_id is not None
    client = await ctx.agents.client(kernel.agent_id)
    return await client.create_kernel(kernel_request(session, kernel))


async def _bootstrap(ctx: Context, session: e.Session) -> None:
    """Run an interactive session's bootstrap script in its main kernel before it is RUNNING."""
    kernel = session.main_kernel
    assert kernel.agent_id is not None
    client = await ctx.agents.client(kernel.agent_id)
    result = await client.execute(
        kernel.id, "batch", options={"exec": session.bootstrap_script or "true"}
    )
    while result.status == "continued":
        result = await client.execute(kernel.id, "continue", run_id=result.run_id)
    if result.exit_code not in (0, None):
        log.warning("session %s: bootstrap script exited with %s", session.id, result.exit_code)


@dataclass(slots=True)
class _Started:
    """What creating one session's kernels gave."""

    created: dict[uuid.UUID, rpc.KernelCreated] = field(default_factory=dict)
    failures: list[tuple[e.Kernel, Exception]] = field(default_factory=list)


async def start(ctx: Context, session_id: uuid.UUID) -> None:
    await start_many(ctx, [session_id])


async def start_many(ctx: Context, session_ids: Sequence[uuid.UUID]) -> None:
    """Start several sessions: one transaction claims them (CREATING), then
    ``start_claimed``."""

    async def prepare(changes: list[SessionChange]) -> list[e.Session]:
        now = ctx.clock.now()
        starting = [c for c in changes if claim(c, now)]
        return await changes_repo.entities(starting)

    await start_claimed(ctx, await ctx.change_many(session_ids, prepare))


async def start_claimed(ctx: Context, sessions: Sequence[e.Session]) -> None:
    """Start sessions this manager has claimed (CREATING, as they were claimed): their
    kernels are created on their agents concurrently (at most ``MAX_CONCURRENT_CREATES`` at
    once), and one transaction records every outcome."""
    if not sessions:
        return
    limit = asyncio.Semaphore(MAX_CONCURRENT_CREATES)
    outcomes = await asyncio.gather(*(_start_one(ctx, s, limit) for s in sessions))
    by_id = {s.id: o for s, o in zip(sessions, outcomes, strict=True)}

    async def finish(changes: list[SessionChange]) -> None:
        now = ctx.clock.now()
        for change in changes:
            _record(change, by_id[change.id], now)

    await ctx.change_many(by_id, finish)


async def _start_one(ctx: Context, session: e.Session, limit: asyncio.Semaphore) -> _Started:
    pending = [k for k in session.kernels if k.status == KernelStatus.CREATING]

    async def create(kernel: e.Kernel) -> rpc.KernelCreated:
        async with limit:
            return await _create(ctx, session, kernel)

    results: list[rpc.KernelCreated | BaseException]
    if len(pending) == 1:  # most sessions: no task of its own for the one kernel
        try:
            results = [await create(pending[0])]
        except Exception as exc:
            results = [exc]
    else:
        results = await asyncio.gather(*(create(k) for k in pending), return_exceptions=True)
    outcome = _Started()
    for kernel, result in zip(pending, results, strict=True):
        if isinstance(result, rpc.KernelCreated):
            outcome.created[kernel.id] = result
        elif isinstance(result, Exception):
            outcome.failures.append((kernel, result))
        else:
            raise result
    if not outcome.failures and session.type != SessionType.BATCH and session.bootstrap_script:
        try:
            await _bootstrap(ctx, session)
        except CygnetError as exc:
            log.warning("session %s: bootstrap script failed: %s", session.id, exc)
    if outcome.failures:
        await _undo(ctx, session, outcome.created)
    return outcome


def _record(change: SessionChange, outcome: _Started, now: datetime) -> None:
    """Write what starting one session gave: RUNNING, or CANCELLED (``failed-to-start``)."""
    for kernel_id, reply in outcome.created.items():
        values: dict[str, Any] = {
            "container_id": reply.container_id,
            "occupied_slots": reply.occupied_slots,
        }
        if reply.allocation:  # what the agent took replaces the booking
            values["allocation"] = reply.allocation
        change.set_kernel(kernel_id, **values)
    if change.status != SessionStatus.CREATING:
        return  # destroyed meanwhile: terminate takes over
    if outcome.failures:
        kernel, exc = outcome.failures[0]
        error = {
            "src": "agent",
            "name": type(exc).__name__,
            "repr": str(exc),
            "agent_id": kernel.agent_id,
        }
        for k in change.kernels:
            if k.status not in (KernelStatus.CANCELLED, KernelStatus.TERMINATED):
                change.kernel_to(k.id, KernelStatus.CANCELLED, now, reason="failed-to-start")
        change.to(
            SessionStatus.CANCELLED,
            now,
            reason="failed-to-start",
            status_data={"error": error},
        )
        return
    for kernel_id in outcome.created:
        change.kernel_to(kernel_id, KernelStatus.RUNNING, now)
    if all(status == KernelStatus.RUNNING for _, status in change.kernel_states):
        change.to(SessionStatus.RUNNING, now, values={"last_activity": now})
        for kernel_id, _ in change.kernel_states:
            early = change.kernel_status_data(kernel_id).get("early_exit")
            if early is not None:
                kernel = next(k for k in change.kernels if k.id == kernel_id)
                kernel_ended(change, kernel, early.get("exit_code"), early["reason"], now)
                break


async def _undo(ctx: Context, session: e.Session, created: dict[uuid.UUID, Any]) -> None:
    """Destroy the kernels of a session that could not start completely."""
    for kernel in session.kernels:
        if kernel.id not in created or kernel.agent_id is None:
            continue
        try:
            client = await ctx.agents.client(kernel.agent_id)
            await client.destroy_kernel(kernel.id, "failed-to-start")
        except CygnetError as exc:
            log.warning("could not destroy kernel %s of a failed start: %s", kernel.id, exc)
