"""Turning a SessionSpec into the rows of a PENDING session: owner, project, resource group,
image, resources and limits, all checked before anything is written."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.errors import (
    InsufficientPrivilege,
    InvalidAPIParameters,
    KeyPairNotFound,
    ProjectNotFound,
    QuotaExceeded,
    ResourceGroupNotFound,
)
from cygnet.common.lifecycle import ClusterMode, SessionType
from cygnet.common.resources import BinarySize, ResourceSlot, ResourceSlotError
from cygnet.manager import entities as e
from cygnet.manager.services.images import ImageEntry
from cygnet.manager.services.sessions.spec import SessionSpec
from cygnet.manager.store.repositories import keypairs as keypairs_repo
from cygnet.manager.store.repositories import policies as policies_repo
from cygnet.manager.store.repositories import resource_groups as groups_repo
from cygnet.manager.store.repositories import sessions as sessions_repo
from cygnet.manager.store.repositories import users as users_repo

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{3,63}$")
DEFAULT_SHMEM = 64 * 1024 * 1024
# Beyond these, a request is a typo, not a wish: refuse it instead of queueing it forever.
ABSURD = {"cpu": Decimal(1_000_000), "mem": Decimal(2) ** 60}
INTRINSIC_SLOTS = {"cpu": "count", "mem": "bytes"}


@dataclass(frozen=True, slots=True)
class Owner:
    access_key: str
    user_uuid: uuid.UUID
    domain_name: str
    keypair_policy: e.KeyPairResourcePolicy | None


@dataclass(frozen=True, slots=True)
class Prepared:
    values: dict[str, Any]
    kernels: list[dict[str, Any]]
    image: ImageEntry


def generate_name() -> str:
    return f"sess-{secrets.token_hex(4)}"


def check_session_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InvalidAPIParameters(
            f"Invalid session name {name!r}: use 4-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name


async def resolve_owner(tx: AsyncSession, caller: e.Caller, spec: SessionSpec) -> Owner:
    access_key = spec.owner_access_key or caller.access_key
    if access_key == caller.access_key:
        user_uuid, domain = caller.user_uuid, caller.domain_name
    else:
        keypair = await keypairs_repo.get(tx, access_key)
        if keypair is None:
            raise KeyPairNotFound(f"No keypair {access_key!r}.")
        user = await users_repo.get(tx, keypair.user)
        if user is None:
            raise KeyPairNotFound(f"No keypair {access_key!r}.")
        if not caller.can_admin_domain(user.domain_name):
            raise InsufficientPrivilege("Only admins may create sessions for other keypairs.")
        user_uuid, domain = user.uuid, user.domain_name
    keypair = await keypairs_repo.get(tx, access_key)
    policy = None
    if keypair is not None:
        policy = await policies_repo.get(tx, policies_repo.KEYPAIR, keypair.resource_policy)
    return Owner(access_key, user_uuid, domain, policy)


async def resolve_project(tx: AsyncSession, owner: Owner, group: str | None) -> e.ProjectRef:
    memberships = (await users_repo.groups_of(tx, [owner.user_uuid])).get(owner.user_uuid, [])
    if group is None:
        default = next((p for p in memberships if p.name == "default"), None)
        if default is None and memberships:
            default = memberships[0]
        if default is None:
            raise InvalidAPIParameters("The session owner belongs to no project; give `group`.")
        return default
    for project in memberships:
        if project.name == group or str(project.id) == group:
            return project
    raise ProjectNotFound(f"The owner is not a member of a project {group!r}.")


async def resolve_resource_group(
    tx: AsyncSession,
    owner: Owner,
    project: e.ProjectRef,
    wanted: str | None,
    *,
    session_type: SessionType | None = None,
) -> str:
    """The resource group a session goes to: ``wanted`` if the owner may use it, else
    ``default`` or the first the owner may use. A group whose ``scheduler_opts`` list
    ``allowed_session_types`` takes only sessions of those types (Backend.AI's scaling-group
    option; without it, every type): ``wanted`` must allow ``session_type``, and the choice
    of a group skips those that do not."""
    allowed = await groups_repo.list_allowed(
        tx,
        domain=owner.domain_name,
        user_uuid=owner.user_uuid,
        access_key=owner.access_key,
        is_active=True,
        project_id=project.id,
    )

    def takes(group: e.ResourceGroup) -> bool:
        types = group.scheduler_opts.get("allowed_session_types")
        return session_type is None or types is None or session_type.value in types

    if wanted is not None:
        group = next((g for g in allowed if g.name == wanted), None)
        if group is None:
            raise ResourceGroupNotFound(
                f"Resource group {wanted!r} does not exist or is not allowed for this session."
            )
        if not takes(group):
            raise InvalidAPIParameters(
                f"Resource group {wanted!r} does not accept {session_type} sessions "
                f"(it takes {', '.join(group.scheduler_opts['allowed_session_types']) or 'none'})."
            )
        return wanted
    if not allowed:
        raise InvalidAPIParameters("No resource group is allowed for this session's owner.")
    names = [g.name for g in allowed if takes(g)]
    if not names:
        raise InvalidAPIParameters(
            f"No resource group allowed for this session's owner accepts {session_type} sessions."
        )
    return "default" if "default" in names else names[0]


def requested_slots(
    spec: SessionSpec, image: ImageEntry, slot_types: dict[str, str]
) -> tuple[ResourceSlot, int]:
    """Per-kernel slots (image minimums fill what the request leaves out) and shmem."""
    raw = dict(spec.resources)
    if "shmem" in raw:
        raise InvalidAPIParameters("`shmem` is not a resource slot: give it in resource_opts.")
    try:
        requested = ResourceSlot.from_user_input(raw, slot_types)
    except ResourceSlotError as exc:
        raise InvalidAPIParameters(str(exc)) from None
    try:
        shmem_value = spec.resource_opts.get("shmem")
        shmem = DEFAULT_SHMEM if shmem_value in (None, "") else int(BinarySize.parse(shmem_value))
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise InvalidAPIParameters(f"Invalid resource_opts.shmem: {exc}") from None
    filled = dict(requested)
    for slot, minimum in image.min_slots.items():
        if slot not in filled:
            filled[slot] = minimum + shmem if slot == "mem" else minimum
    slots = ResourceSlot(filled)
    for slot, limit in ABSURD.items():
        if slots.get_or_zero(slot) > limit:
            raise InvalidAPIParameters(f"Requested {slot}={raw.get(slot)} is beyond any machine.")
    return slots, shmem


def check_limits(owner: Owner, spec: SessionSpec) -> None:
    policy = owner.keypair_policy
    if policy is None:
        return
    if policy.max_containers_per_session and spec.cluster_size > policy.max_containers_per_session:
        raise QuotaExceeded(
            f"cluster size {spec.cluster_size} exceeds the keypair policy's "
            f"max_containers_per_session ({policy.max_containers_per_session})"
        )


def check_pending_limits(
    policy: e.KeyPairResourcePolicy | None,
    pending: int,
    pending_slots: ResourceSlot,
    requested: ResourceSlot,
) -> None:
    """The keypair policy's ``max_pending_session_count`` and
    ``max_pending_session_resource_slots`` (a slot it leaves out, or gives as null or
    Infinity, is not limited), with the new session counted."""
    if policy is None:
        return
    most = policy.max_pending_session_count
    if most and pending + 1 > most:
        raise QuotaExceeded(
            f"You already have {pending} pending session(s); the keypair policy's "
            f"max_pending_session_count is {most}."
        )
    for slot, limit in (policy.max_pending_session_resource_slots or {}).items():
        if limit is None or str(limit).lower() in ("infinity", "inf", ""):
            continue
        try:
            cap = ResourceSlot.from_json({slot: str(limit)}).get_or_zero(slot)
        except ResourceSlotError:
            continue
        wanted = pending_slots.get_or_zero(slot) + requested.get_or_zero(slot)
        if wanted > cap:
            raise QuotaExceeded(
                f"Pending sessions would request {wanted} {slot} in all; the keypair "
                f"policy's max_pending_session_resource_slots allows {cap}."
            )


def kernel_rows(
    session_id: uuid.UUID, spec: SessionSpec, image: ImageEntry, slots: ResourceSlot
) -> list[dict[str, Any]]:
    kernels = []
    for idx in range(spec.cluster_size):
        role, role_idx = ("main", 1) if idx == 0 else ("sub", idx)
        kernels.append(
            {
                "id": uuid.uuid4(),
                "session_id": session_id,
                "cluster_role": role,
                "cluster_idx": role_idx,
                "cluster_hostname": f"{role}{role_idx}",
                "image": image.name,
                "architecture": image.architecture,
                "requested_slots": slots.to_json(),
                "occupied_slots": {},
                "status_data": {},
            }
        )
    return kernels


@dataclass(frozen=True, slots=True)
class Target:
    """Who the session is for and where it may run (read before any write)."""

    owner: Owner
    project: e.ProjectRef
    resource_group: str
    dependencies: tuple[uuid.UUID, ...] = ()


async def resolve_target(tx: AsyncSession, caller: e.Caller, spec: SessionSpec) -> Target:
    owner = await resolve_owner(tx, caller, spec)
    project = await resolve_project(tx, owner, spec.group)
    group = await resolve_resource_group(
        tx, owner, project, spec.resource_group, session_type=spec.type
    )
    dependencies = await resolve_dependencies(tx, owner, spec.dependencies)
    return Target(owner, project, group, dependencies)


async def resolve_dependencies(
    tx: AsyncSession, owner: Owner, refs: list[str]
) -> tuple[uuid.UUID, ...]:
    """The sessions ``refs`` name (ids, with or without dashes, or names), all the owner's."""
    found: list[uuid.UUID] = []
    for ref in refs:
        session: e.Session | None = None
        try:
            session_id = uuid.UUID(ref)
        except ValueError:
            session = await sessions_repo.find_by_name(tx, owner.access_key, ref)
        else:
            session = await sessions_repo.get(tx, session_id)
            if session is not None and session.access_key != owner.access_key:
                session = None
        if session is None:
            raise InvalidAPIParameters(
                f"dependencies: no session {ref!r} of this owner to depend on"
            )
        if session.id not in found:
            found.append(session.id)
    return tuple(found)


def build(
    target: Target,
    image: ImageEntry,
    spec: SessionSpec,
    slot_types: dict[str, str],
    check_image: Any,
) -> Prepared:
    """The rows of the new session (pure, apart from ``check_image`` raising on a request
    below the image's minimums)."""
    if spec.type == SessionType.BATCH and not spec.startup_command:
        raise InvalidAPIParameters("A batch session needs a startup command.")
    if spec.cluster_mode not in (ClusterMode.SINGLE_NODE, ClusterMode.MULTI_NODE):
        raise InvalidAPIParameters(f"Unknown cluster mode {spec.cluster_mode!r}.")
    owner = target.owner
    slots, shmem = requested_slots(spec, image, {**INTRINSIC_SLOTS, **slot_types})
    check_image(image, slots, shmem)
    check_limits(owner, spec)
    session_id = uuid.uuid4()
    total = ResourceSlot()
    for _ in range(spec.cluster_size):
        total = total + slots
    values = {
        "id": session_id,
        "name": check_session_name(spec.name) if spec.name else generate_name(),
        "type": spec.type.value,
        "access_key": owner.access_key,
        "user_uuid": owner.user_uuid,
        "domain_name": owner.domain_name,
        "group_id": target.project.id,
        "scaling_group": target.resource_group,
        "image": image.name,
        "architecture": image.architecture,
        "tag": spec.tag,
        "status_data": {},
        "result": "UNDEFINED",
        "priority": spec.priority,
        "cluster_mode": spec.cluster_mode.value,
        "cluster_size": spec.cluster_size,
        "requested_slots": total.to_json(),
        "resource_opts": {**spec.resource_opts, "shmem": shmem},
        "environ": dict(spec.environ),
        "startup_command": spec.startup_command,
        "bootstrap_script": spec.bootstrap_script,
        "batch_timeout": spec.batch_timeout,
        "callback_url": spec.callback_url,
        "designated_agents": list(spec.agent_list),
        "starts_at": spec.starts_at,
        "num_queries": 0,
    }
    return Prepared(values, kernel_rows(session_id, spec, image, slots), image)
