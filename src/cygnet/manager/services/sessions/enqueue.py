"""Group commit for session creation: the PENDING sessions of concurrent ``create`` calls are
written in one transaction.

The first caller starts a writer; callers arriving while it writes wait for the next batch,
so a busy manager writes few large transactions and an idle one writes at once. Each batch
checks every name in one query and every keypair's pending limits with what the batch has
already accepted counted (exact within this manager), inserts with one multi-row statement
per table, and answers each caller on its own: a refused session fails only its caller, with
the error a lone ``create`` would give. If the multi-row insert fails anyway (a session of
the same name written by another manager meanwhile), the batch is written again one session
at a time, so that only the conflicting callers fail.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.clock import Clock
from cygnet.common.errors import SessionAlreadyExists
from cygnet.common.resources import ResourceSlot
from cygnet.manager import entities as e
from cygnet.manager.services.sessions import creation
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import sessions as repo

MAX_BATCH = 256


@dataclass(slots=True)
class Request:
    prepared: creation.Prepared
    owner: creation.Owner
    dependencies: tuple[uuid.UUID, ...]
    reuse: bool
    done: asyncio.Future[tuple[e.Session, bool]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def key(self) -> tuple[uuid.UUID, str]:
        return self.owner.user_uuid, self.prepared.values["name"]

    def new(self) -> repo.NewSession:
        return repo.NewSession(self.prepared.values, self.prepared.kernels, self.dependencies)


class _Pending:
    """A keypair's pending sessions (count and slots), read once per batch and grown by
    what the batch accepts."""

    def __init__(self, count: int, slots: ResourceSlot) -> None:
        self.count = count
        self.slots = slots


class Enqueuer:
    def __init__(self, db: Database, clock: Clock, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._clock = clock
        self._max_batch = max_batch
        self._queue: list[Request] = []
        self._writer: asyncio.Task[None] | None = None

    async def enqueue(self, request: Request) -> tuple[e.Session, bool]:
        """The session written for ``request`` and True, or (with ``reuse``) the live
        session of that name and image and False; raises what a lone create would."""
        self._queue.append(request)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="session-enqueue")
        return await request.done

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_all(self) -> None:
        await asyncio.sleep(0)  # let the callers of this loop iteration join the first batch
        while self._queue:
            batch, self._queue = (
                self._queue[: self._max_batch],
                self._queue[self._max_batch :],
            )
            try:
                await self._write(batch)
            except BaseException as exc:  # the batch failed as a whole: every caller hears it
                for request in batch:
                    if not request.done.done():
                        request.done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise

    async def _write(self, batch: list[Request]) -> None:
        now = self._clock.now()
        async with self._db.transaction() as tx:
            accepted, answers = await self._admit(tx, batch)
            written: list[tuple[Request, e.Session]] = []
            if accepted:
                try:
                    async with tx.begin_nested():
                        sessions = await repo.insert_many(tx, [r.new() for r in accepted], now)
                    written = list(zip(accepted, sessions, strict=True))
                except IntegrityError:
                    for request in accepted:
                        try:
                            session = await repo.insert(
                                tx,
                                request.prepared.values,
                                request.prepared.kernels,
                                now,
                                depends_on=request.dependencies,
                            )
                        except SessionAlreadyExists as exc:
                            answers.append((request, exc))
                        else:
                            written.append((request, session))
        # committed: answer the callers
        for request, session in written:
            if not request.done.done():
                request.done.set_result((session, True))
        for request, answer in answers:
            if request.done.done():
                continue
            if isinstance(answer, Exception):
                request.done.set_exception(answer)
            else:
                request.done.set_result((answer, False))

    @staticmethod
    async def _admit(
        tx: AsyncSession, batch: list[Request]
    ) -> tuple[list[Request], list[tuple[Request, e.Session | Exception]]]:
        """The requests to write, and the answers to the others (the live session to reuse,
        or the error): names first, then pending limits, in arrival order."""
        live = await repo.find_live_by_names(tx, {r.key for r in batch})
        claimed: dict[tuple[uuid.UUID, str], Request] = {}
        pending: dict[str, _Pending] = {}
        accepted: list[Request] = []
        answers: list[tuple[Request, e.Session | Exception]] = []
        for request in batch:
            name = request.prepared.values["name"]
            image = request.prepared.image.name
            existing = live.get(request.key)
            earlier = claimed.get(request.key)
            if existing is not None or earlier is not None:
                if existing is not None:
                    held_id, held_image = existing.id, existing.image
                else:
                    assert earlier is not None
                    held_id, held_image = earlier.prepared.values["id"], earlier.prepared.image.name
                if request.reuse and held_image == image:
                    if existing is not None:
                        answers.append((request, existing))
                    else:
                        assert earlier is not None
                        _follow(earlier, request)
                    continue
                answers.append(
                    (
                        request,
                        SessionAlreadyExists(
                            f"A session named {name!r} already exists"
                            + (" with another image." if request.reuse else "."),
                            data={"existingSessionId": str(held_id)},
                        ),
                    )
                )
                continue
            policy = request.owner.keypair_policy
            if policy and (
                policy.max_pending_session_count or policy.max_pending_session_resource_slots
            ):  # read what waits only where a limit needs it
                key = request.owner.access_key
                counted = pending.get(key)
                if counted is None:
                    counted = pending[key] = _Pending(
                        await repo.count_pending(tx, key),
                        (
                            await repo.pending_slots(tx, key)
                            if policy.max_pending_session_resource_slots
                            else ResourceSlot()
                        ),
                    )
                wanted = ResourceSlot.from_json(request.prepared.values["requested_slots"])
                try:
                    creation.check_pending_limits(policy, counted.count, counted.slots, wanted)
                except Exception as exc:
                    answers.append((request, exc))
                    continue
                counted.count += 1
                counted.slots = counted.slots + wanted
            claimed[request.key] = request
            accepted.append(request)
        return accepted, answers


def _follow(first: Request, second: Request) -> None:
    """``second`` (reuse, same name and image) gets what ``first`` gets, as not created."""

    def copy(done: asyncio.Future[tuple[e.Session, bool]]) -> None:
        if second.done.done():
            return
        if done.cancelled():
            second.done.cancel()
        elif (exc := done.exception()) is not None:
            second.done.set_exception(exc)
        else:
            second.done.set_result((done.result()[0], False))

    first.done.add_done_callback(copy)
