"""One scheduling cycle over a snapshot: ``run_cycle(snapshot, profile) -> CycleResult``. Pure.

How a cycle finds agents fast (10,000 agents, tens of thousands of sessions per second):

* Schedulable agents are indexed once per cycle into pools by (resource group, architecture)
  and arranged by the selector (fullest first for ``concentrated`` …).
* Sessions with the same request shape (group, architecture, image, per-kernel slots) share
  one ``Request``, its compiled filter predicates and scorers, and one candidate list.
* The search stops once the selector's ``sample_size`` feasible agents were found (kube's
  percentageOfNodesToScore), starting where the selector says (the front, or a rotating
  offset). Agents found infeasible are dropped from that shape's candidate list for the rest
  of the cycle: free room only shrinks within a cycle, so they cannot become feasible again.
* When nothing is feasible, the shape is remembered as failed and explained once, by a full
  scan that asks every filter why each agent refuses; later sessions of that shape reuse it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from cygnet.common.lifecycle import ClusterMode
from cygnet.manager.scheduler.explain import (
    Explanation,
    PlacementFailure,
    blocked_explanation,
    placement_explanation,
    prefilter_explanation,
    summarize,
)
from cygnet.manager.scheduler.framework import (
    SEVERITY,
    AgentPredicate,
    AgentScore,
    CycleState,
    KernelPlacement,
    Placement,
    Profile,
    Rejection,
    Request,
    Reservation,
    Status,
    StatusCode,
)
from cygnet.manager.scheduler.snapshot import (
    KernelRequest,
    PendingSession,
    Snapshot,
    Usage,
    vadd,
    vsub,
)

PoolKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class CycleStats:
    sessions: int = 0
    placed: int = 0
    pending: int = 0
    cancelled: int = 0
    agents_checked: int = 0  # feasibility checks in the search (the hot loop)
    explained_shapes: int = 0  # full scans made to explain a failure


@dataclass(frozen=True, slots=True)
class CycleResult:
    placed: tuple[Placement, ...]
    pending: Mapping[uuid.UUID, Explanation]
    cancelled: Mapping[uuid.UUID, str]  # session id -> reason ("pending-timeout", …)
    next_state: Mapping[str, Any]  # hand back as the next snapshot's ``plugin_state``
    stats: CycleStats = field(default_factory=CycleStats)


class _Candidates:
    """The agents still worth searching for one request shape, in the selector's order."""

    __slots__ = ("failed", "head", "items")

    def __init__(self, items: list[int]) -> None:
        self.items = items
        self.head = 0  # items before it are known infeasible (searches from the front)
        self.failed: PlacementFailure | None = None

    def drop(self, positions: list[int]) -> None:
        """Remove the agents at these positions (ascending, possibly wrapped around once)."""
        items = self.items
        split = next((n for n in range(1, len(positions)) if positions[n] < positions[n - 1]), 0)
        ranges = [positions[:split], positions[split:]] if split else [positions]
        for group in ranges:  # the later range first: earlier positions stay valid
            lo, hi = group[0], group[-1] + 1
            gone = set(group)
            items[lo:hi] = [items[p] for p in range(lo, hi) if p not in gone]
            self.head -= sum(1 for p in group if p < self.head)


DROP_AT = 4  # infeasible agents met in one search before they are removed from the list


class _Cycle:
    def __init__(self, snapshot: Snapshot, profile: Profile) -> None:
        self.snapshot = snapshot
        self.profile = profile
        self.state = CycleState(snapshot)
        self.selector = profile.selector
        self.pools: dict[PoolKey, list[int]] = {}
        for i, a in enumerate(snapshot.agents):
            if a.schedulable:
                self.pools.setdefault((a.resource_group, a.architecture), []).append(i)
        self.arranged: dict[PoolKey, list[int]] = {}
        self.device_slots = frozenset(s for a in snapshot.agents for s in a.devices)
        self.requests: dict[tuple[Any, ...], Request] = {}
        self.compiled: dict[
            tuple[Any, ...], tuple[tuple[AgentPredicate, ...], list[tuple[AgentScore, int]]]
        ] = {}
        self.candidates: dict[tuple[Any, ...], _Candidates] = {}
        self.rendered: dict[tuple[int, int], str] = {}
        self.images: dict[tuple[str, str, str], bool] = {}
        self.checked = 0
        self.explained = 0

    # --- the cycle ---------------------------------------------------------------------

    def run(self) -> CycleResult:
        profile, state = self.profile, self.state
        placed: list[Placement] = []
        pending: dict[uuid.UUID, Explanation] = {}
        cancelled: dict[uuid.UUID, str] = {}
        pre_filters = profile.pre_filters
        blocker: PendingSession | None = None
        position = 0
        for session in profile.queue_sort.order(self.snapshot.pending, state):
            position += 1
            if blocker is not None:
                pending[session.id] = blocked_explanation(position, blocker, profile)
                continue
            failed = False
            for plugin in pre_filters:
                if plugin.pre_filter(session, state).code is not StatusCode.SUCCESS:
                    failed = True
                    break
            if failed:
                verdicts = tuple(
                    self._verdict(p.name, p.pre_filter(session, state)) for p in pre_filters
                )
                worst = max(verdicts, key=lambda s: SEVERITY[s.code])
                if worst.code is StatusCode.CANCEL:
                    cancelled[session.id] = worst.reasons[0] if worst.reasons else worst.plugin
                    continue
                pending[session.id] = prefilter_explanation(position, verdicts)
            else:
                outcome = self._place(session, position)
                if isinstance(outcome, Placement):
                    placed.append(outcome)
                    continue
                pending[session.id] = outcome
            if profile.strict:
                blocker = session
        stats = CycleStats(
            sessions=len(self.snapshot.pending),
            placed=len(placed),
            pending=len(pending),
            cancelled=len(cancelled),
            agents_checked=self.checked,
            explained_shapes=self.explained,
        )
        return CycleResult(tuple(placed), pending, cancelled, state.next_state, stats)

    @staticmethod
    def _verdict(name: str, status: Status) -> Status:
        return status if status.plugin else Status(status.code, status.reasons, name)

    def _place(self, session: PendingSession, position: int) -> Placement | Explanation:
        narrowed: list[int] | None = None
        for plugin in self.profile.narrowers:
            found = plugin.candidates(session, self.state)
            if found is not None:
                keep = set(found)
                narrowed = [a for a in (narrowed if narrowed is not None else found) if a in keep]
        reservation = Reservation(session)
        kernels = session.kernels
        multi = len(kernels) > 1 and session.cluster_mode is ClusterMode.MULTI_NODE
        if not multi:
            request = self._request(session, kernels)
            failure = self._find_and_reserve(request, kernels, reservation, narrowed, None)
        else:
            failure = None
            used: set[int] = set()
            for kernel in kernels:
                request = self._request(session, (kernel,))
                failure = self._find_and_reserve(request, (kernel,), reservation, narrowed, used)
                if failure is not None:
                    break
                used.add(reservation.agents[-1])
        if failure is not None:
            unplaced = _unplaced(reservation, kernels) if multi else None
            self._undo(reservation)
            return placement_explanation(position, failure, self.profile, unplaced)
        return self._finish(reservation, position)

    def _finish(self, reservation: Reservation, position: int) -> Placement | Explanation:
        state, profile = self.state, self.profile
        done: list[Any] = []
        for plugin in profile.reservers:
            status = plugin.reserve(reservation, state)
            done.append(plugin)
            if not status.ok:
                return self._abort(reservation, done, status, position)
        for permit in profile.permits:
            status = permit.permit(reservation, state)
            if not status.ok:
                return self._abort(reservation, done, self._verdict(permit.name, status), position)
        state.account(reservation.session)
        return profile.binder.bind(reservation, state)

    def _abort(
        self, reservation: Reservation, done: list[Any], status: Status, position: int
    ) -> Explanation:
        for plugin in reversed(done):
            plugin.unreserve(reservation, self.state)
        self._undo(reservation)
        return prefilter_explanation(position, (status,))

    # --- requests and the search ---------------------------------------------------------

    def _request(self, session: PendingSession, kernels: Sequence[KernelRequest]) -> Request:
        needs = tuple(k.requested for k in kernels)
        group, arch, image = session.resource_group, session.architecture, session.image
        # an image every agent of the pool holds does not tell requests apart
        key = (group, arch, None if self._everywhere(group, arch, image) else image, needs)
        found = self.requests.get(key)
        if found is None:
            need = needs[0] if len(needs) == 1 else tuple(map(sum, zip(*needs, strict=True)))
            pairs = tuple((i, v) for i, v in enumerate(need) if v)
            found = Request(
                key=key,
                resource_group=session.resource_group,
                architecture=session.architecture,
                image=session.image,
                need=need,
                pairs=pairs,
                kernel_needs=needs,
                device_slots=tuple(i for i, _ in pairs if i in self.device_slots),
            )
            self.requests[key] = found
        return found

    def _everywhere(self, group: str, arch: str, image: str) -> bool:
        key = (group, arch, image)
        found = self.images.get(key)
        if found is None:
            agents = self.state.agents
            found = all(
                (held := agents[a].images) is None or image in held
                for a in self.pools.get((group, arch), ())
            )
            self.images[key] = found
        return found

    def _compiled(
        self, request: Request
    ) -> tuple[tuple[AgentPredicate, ...], list[tuple[AgentScore, int]]]:
        found = self.compiled.get(request.key)
        if found is None:
            preds = tuple(
                p
                for p in (f.compile(request, self.state) for f in self.profile.filters)
                if p is not None
            )
            scores = [
                (s, w)
                for s, w in (
                    (p.compile_score(request, self.state), w) for p, w in self.profile.scorers
                )
                if s is not None and w
            ]
            found = (preds, scores)
            self.compiled[request.key] = found
        return found

    def _pool(self, key: PoolKey) -> list[int]:
        found = self.arranged.get(key)
        if found is None:
            found = list(self.pools.get(key, ()))
            self.selector.arrange(found, self.state)
            self.arranged[key] = found
        return found

    def _find_and_reserve(
        self,
        request: Request,
        kernels: Sequence[KernelRequest],
        reservation: Reservation,
        narrowed: list[int] | None,
        exclude: set[int] | None,
    ) -> PlacementFailure | None:
        """Reserve the best feasible agent for the request; the failure otherwise."""
        pool_key = (request.resource_group, request.architecture)
        cands: _Candidates | None = None
        if narrowed is not None:
            pool = set(self.pools.get(pool_key, ()))
            items = [a for a in narrowed if a in pool]
            start = 0
        else:
            cands = self.candidates.get(request.key)
            if cands is None:
                cands = _Candidates(list(self._pool(pool_key)))
                self.candidates[request.key] = cands
            if cands.failed is not None:
                return cands.failed
            items = cands.items
            start = self.selector.start(pool_key, items, self.state) if items else 0
        preds, scores = self._compiled(request)
        sample = self.selector.sample_size or len(items)
        for _attempt in range(2):
            found = self._search(request, items, start, preds, sample, cands, exclude)
            if not found and exclude:
                found = self._search(request, items, start, preds, sample, None, None)
            if not found:
                break
            if len(found) > 1 and scores:
                if len(scores) == 1:
                    rate = scores[0][0]
                else:
                    rate = lambda a: sum(w * f(a) for f, w in scores)  # noqa: E731
                best = max(found, key=rate)  # the first of equals: search order breaks ties
                if self._reserve(best, request, kernels, reservation):
                    return None
                ranked = sorted(found, key=rate, reverse=True)
            else:
                ranked = found
            for agent in ranked:
                if self._reserve(agent, request, kernels, reservation):
                    return None
            # feasible by the predicates but the devices could not be packed: look further
            # (rare: several kernels on one agent); those agents are out for this shape,
            # unless they hold kernels of this session
            keep = {a for a in ranked if not exclude or a not in exclude}
            items = [a for a in items if a not in keep]
            if cands is not None:
                cands.items, cands.head = items, 0
            start = 0
        failure = self._explain(request, narrowed, reservation, exclude)
        if cands is not None and not reservation.kernels:
            cands.failed = failure
        return failure

    def _search(
        self,
        request: Request,
        items: list[int],
        start: int,
        preds: tuple[AgentPredicate, ...],
        sample: int,
        cands: _Candidates | None,
        exclude: set[int] | None,
    ) -> list[int]:
        """Up to ``sample`` feasible agents, searching ``items`` from ``start`` (from the
        candidates' head when ``start`` is 0), skipping ``exclude`` (the agents that already
        hold kernels of this session). Infeasible agents met on the way are dropped from
        ``cands``: free room only shrinks in a cycle, so they stay infeasible for this shape
        (the excluded ones are kept: their room comes back if the session is rolled back)."""
        n = len(items)
        found: list[int] = []
        if n == 0:
            return found
        start %= n  # a search before this one may have dropped agents from ``items``
        front = cands is not None and start == 0
        i = cands.head if front and cands is not None else start
        leading = front
        bad: list[int] = []
        checked = 0
        for _ in range(n - i if front else n):
            agent = items[i]
            checked += 1
            for pred in preds:
                if not pred(agent):
                    if exclude is not None and agent in exclude:
                        leading = False  # may be full only because of this session
                    elif leading and cands is not None:
                        cands.head = i + 1
                    else:
                        bad.append(i)
                    break
            else:
                leading = False
                if exclude is None or agent not in exclude:
                    found.append(agent)
                    if len(found) >= sample:
                        break
            i += 1
            if i == n:
                if front:
                    break
                i = 0
        self.checked += checked
        if cands is not None and len(bad) >= DROP_AT:
            cands.drop(bad)
        return found

    # --- reserve / unreserve -------------------------------------------------------------

    def _reserve(
        self,
        agent: int,
        request: Request,
        kernels: Sequence[KernelRequest],
        reservation: Reservation,
    ) -> bool:
        state = self.state
        old_free = state.free[agent]
        new_free = list(old_free)
        for i, amount in request.pairs:
            new_free[i] -= amount
            if new_free[i] < 0:
                return False
        old_devices = state.devices[agent]
        new_devices = old_devices
        choices: list[tuple[tuple[int, int, int], ...]] = [()] * len(kernels)
        if old_devices is not None and request.device_slots:
            units = state.units[agent]
            assert units is not None
            new_devices = dict(old_devices)
            for slot in request.device_slots:
                held = new_devices.get(slot)
                if held is None:
                    continue
                for n, kernel in enumerate(kernels):
                    amount = kernel.requested[slot]
                    if not amount:
                        continue
                    allocated = allocate(held, units[slot], amount)
                    if allocated is None:
                        return False
                    held, picks = allocated
                    choices[n] = choices[n] + tuple((slot, pos, amt) for pos, amt in picks)
                new_devices[slot] = held
        state.free[agent] = tuple(new_free)
        state.devices[agent] = new_devices
        reservation.undo.append((agent, old_free, old_devices))
        agent_id = state.agents[agent].id
        for n, kernel in enumerate(kernels):
            reservation.kernels.append(
                KernelPlacement(kernel.id, agent_id, self._render(agent, choices[n]), choices[n])
            )
            reservation.agents.append(agent)
        return True

    def _render(
        self, agent: int, picks: tuple[tuple[int, int, int], ...]
    ) -> dict[str, tuple[tuple[str, str], ...]]:
        if not picks:
            return {}
        schema = self.state.schema
        info = self.state.agents[agent]
        out: dict[str, list[tuple[str, str]]] = {}
        for slot, pos, amount in picks:
            text = self.rendered.get((slot, amount))
            if text is None:
                text = self.rendered[(slot, amount)] = schema.render(slot, amount)
            out.setdefault(schema.names[slot], []).append((info.devices[slot].ids[pos], text))
        return {k: tuple(v) for k, v in out.items()}

    def _undo(self, reservation: Reservation) -> None:
        state = self.state
        for agent, old_free, old_devices in reversed(reservation.undo):
            state.free[agent] = old_free
            state.devices[agent] = old_devices
        reservation.undo.clear()
        reservation.kernels.clear()
        reservation.agents.clear()

    # --- explaining a failure (the slow path, once per request shape) -----------------------

    def _explain(
        self,
        request: Request,
        narrowed: list[int] | None,
        reservation: Reservation,
        exclude: set[int] | None,
    ) -> PlacementFailure:
        self.explained += 1
        state, filters = self.state, self.profile.filters
        agents: Sequence[int] = range(len(state.agents)) if narrowed is None else narrowed
        rejections: list[Rejection] = []
        permanent = True
        for agent in agents:
            rejection: Rejection | None = None
            for f in filters:
                rejection = f.explain(request, agent, state)
                if rejection is not None:
                    break
            if rejection is None:
                if exclude and agent in exclude:
                    rejection = Rejection("gang", "holds another kernel of this session")
                else:
                    rejection = Rejection(
                        "resources", "fits by totals but its devices cannot be packed"
                    )
            if not rejection.permanent:
                permanent = False
            rejections.append(rejection)
        if reservation.kernels:
            permanent = False
        code = StatusCode.UNRESOLVABLE if permanent else StatusCode.UNSCHEDULABLE
        names = [f.name for f in filters]
        return summarize(code, rejections, len(agents), state.schema, names, request.resource_group)


def _unplaced(reservation: Reservation, kernels: Sequence[KernelRequest]) -> str | None:
    """The hostname of the first kernel of a cluster session that found no agent."""
    if len(reservation.kernels) >= len(kernels):
        return None
    return kernels[len(reservation.kernels)].hostname


def allocate(
    free: tuple[int, ...], unit: int, amount: int
) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]] | None:
    """Take ``amount`` from per-device ``free`` room: ``(new free, ((device, amount), …))``.

    Up to one device's capacity (``unit``) goes on a single device, the best fit (the one with
    the least room that holds it), so fully free devices stay whole. More than one device's
    worth takes the devices with the most room first and puts the remainder on a best fit.
    """
    if amount <= unit:
        best = -1
        best_free = 0
        for pos, room in enumerate(free):
            if room >= amount and (best < 0 or room < best_free):
                best, best_free = pos, room
        if best < 0:
            return None
        new = list(free)
        new[best] -= amount
        return tuple(new), ((best, amount),)
    if sum(r for r in free if r > 0) < amount:
        return None
    new = list(free)
    picks: list[tuple[int, int]] = []
    remaining = amount
    order = sorted(range(len(free)), key=lambda p: -free[p])
    for n, pos in enumerate(order):
        room = new[pos]
        if room <= 0 or remaining <= 0:
            break
        if room <= remaining:
            picks.append((pos, room))
            new[pos] = 0
            remaining -= room
            continue
        rest = [p for p in order[n:] if new[p] >= remaining]
        fit = min(rest, key=lambda p: (new[p], p))
        picks.append((fit, remaining))
        new[fit] -= remaining
        remaining = 0
    return tuple(new), tuple(picks)


def run_cycle(snapshot: Snapshot, profile: Profile) -> CycleResult:
    """Run one scheduling cycle: decide placements, leave the rest pending with an explanation
    and name the sessions to cancel. Reads only ``snapshot``; changes nothing."""
    return _Cycle(snapshot, profile).run()


def apply_result(snapshot: Snapshot, result: CycleResult, now: datetime | None = None) -> Snapshot:
    """The snapshot after a cycle's decisions were carried out (used by tests and benchmarks;
    the lifecycle re-reads the database instead): placed kernels occupy their agents and
    devices, count towards usage, and leave the queue with the ``removed`` (cancelled) ones."""
    agents = list(snapshot.agents)
    index = {a.id: i for i, a in enumerate(agents)}
    by_id = {s.id: s for s in snapshot.pending}
    kp_sessions = dict(snapshot.usage.keypair_sessions)
    kp_slots = dict(snapshot.usage.keypair_slots)
    user_slots = dict(snapshot.usage.user_slots)
    project_slots = dict(snapshot.usage.project_slots)
    domain_slots = dict(snapshot.usage.domain_slots)
    zero = snapshot.slots.zero
    gone = set(result.cancelled)
    for placement in result.placed:
        session = by_id[placement.session_id]
        gone.add(session.id)
        kernels = {k.id: k for k in session.kernels}
        for kp in placement.kernels:
            i = index[kp.agent_id]
            agent = agents[i]
            need = kernels[kp.kernel_id].requested
            devices = dict(agent.devices)
            for slot, pos, amount in kp.device_units:
                ds = devices[slot]
                free = list(ds.free)
                free[pos] -= amount
                devices[slot] = replace(ds, free=tuple(free))
            agents[i] = replace(
                agent,
                occupied=vadd(agent.occupied, need),
                free=vsub(agent.free, need),
                devices=devices,
            )
        need = session.requested
        kp_sessions[session.access_key] = kp_sessions.get(session.access_key, 0) + 1
        kp_slots[session.access_key] = vadd(kp_slots.get(session.access_key, zero), need)
        user_slots[session.user] = vadd(user_slots.get(session.user, zero), need)
        project_slots[session.project] = vadd(project_slots.get(session.project, zero), need)
        domain_slots[session.domain] = vadd(domain_slots.get(session.domain, zero), need)
    return replace(
        snapshot,
        now=now or snapshot.now,
        agents=tuple(agents),
        pending=tuple(s for s in snapshot.pending if s.id not in gone),
        usage=Usage(kp_sessions, kp_slots, user_slots, project_slots, domain_slots),
        plugin_state=dict(result.next_state),
    )
