"""Compute sessions over GraphQL (wire notes 2.6): ``compute_session_list`` (paginated),
``compute_session(id: UUID!)`` (what ``backend.ai session info`` sends), the Relay-style
``compute_session_node(id: GlobalIDField!)`` and ``modify_compute_session``.

Two shapes, as in Backend.AI:

* ``ComputeSession`` (list items and the legacy ``compute_session`` field): ``type``, ``status``
  and ``result`` are upper-case enum names; the kernels are ``containers``.
* ``ComputeSessionNode``: ``id`` is the global id ``base64("compute_session_node:<uuid>")`` and
  ``row_id`` the UUID; ``type`` is the lower-case value (``interactive``); the kernels are a
  connection, ``kernel_nodes { edges { node { … } } }``.

Visibility is the session service's: users see their own sessions, domain admins their domain's,
superadmins all. A session the caller may not see answers null, as a missing one does.
Slot maps, options and status data are JSONString fields (JSON-encoded strings). Mounted
vfolders: ``compute_session_node.vfolder_mounts`` lists their ids (dashed), the legacy
``compute_session.mounts`` / ``vfolder_mounts`` their names. Service ports, idle checks and
abuse reports are not tracked yet: empty values.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from cygnet.common.errors import InvalidAPIParameters
from cygnet.common.lifecycle import SessionStatus
from cygnet.manager import entities as e
from cygnet.manager.api.graphql.common import found_or_none, page_args
from cygnet.manager.api.graphql.context import Info
from cygnet.manager.api.graphql.scalars import BigInt, JSONString

FilterArg = Annotated[str | None, strawberry.argument(name="filter")]

GlobalIDField = NewType("GlobalIDField", str)
SESSION_SCALARS: dict[object, ScalarDefinition] = {
    GlobalIDField: strawberry.scalar(
        name="GlobalIDField",
        description="A Relay global id: base64 of '<node type>:<id>'.",
        serialize=str,
        parse_value=str,
    ),
}

NODE_TYPE = "compute_session_node"
KERNEL_NODE_TYPE = "kernel_node"
_NODE_TYPES = frozenset({NODE_TYPE, "ComputeSessionNode"})


def to_global_id(node_type: str, row_id: uuid.UUID) -> str:
    return base64.b64encode(f"{node_type}:{row_id}".encode()).decode("ascii")


def session_id_of(value: str) -> uuid.UUID:
    """The session UUID in a global id (``compute_session_node:<uuid>`` in base64); a plain
    UUID is accepted too (``modify_compute_session`` of the official SDK sends one)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    try:
        node_type, _, raw = base64.b64decode(value, validate=True).decode().partition(":")
        if node_type in _NODE_TYPES:
            return uuid.UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidAPIParameters(f"Not a compute session id: {value!r}.")


def parse_statuses(text: str | None) -> list[SessionStatus] | None:
    """A comma list of session status names (any case); None or empty means every status."""
    if not text:
        return None
    statuses: list[SessionStatus] = []
    for part in text.split(","):
        name = part.strip().upper()
        if not name:
            continue
        try:
            statuses.append(SessionStatus[name])
        except KeyError:
            raise InvalidAPIParameters(f"Unknown session status {part.strip()!r}.") from None
    return statuses or None


def _scoped_filter(filter_text: str | None, domain_name: str | None) -> str | None:
    if domain_name is None:
        return filter_text
    clause = f"domain_name == {json.dumps(domain_name, ensure_ascii=False)}"
    return clause if not filter_text else f"({filter_text}) & {clause}"


def _registry_of(image: str) -> str:
    first, sep, _rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return ""


def _reached(session: e.Session, status: SessionStatus) -> datetime | None:
    stamp = session.status_history.get(status.name)
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


def _status_fields(session: e.Session) -> dict[str, Any]:
    """The status and lifecycle fields both session shapes (list item and node) carry."""
    return {
        "status": session.status.name,
        "status_info": session.status_info,
        "status_data": JSONString(session.status_data),
        "status_history": JSONString(session.status_history),
        "status_changed": session.status_changed,
        "created_at": session.created_at,
        "terminated_at": session.terminated_at,
        "starts_at": session.starts_at,
        "scheduled_at": _reached(session, SessionStatus.SCHEDULED),
        "startup_command": session.startup_command,
        "result": session.result.name,
        "commit_status": None,
        "abusing_reports": [],
        "idle_checks": JSONString({}),
    }


def _ordered_kernels(session: e.Session) -> list[e.Kernel]:
    """Main kernel first, then by cluster index (the position is the kernel's local rank)."""
    return sorted(session.kernels, key=lambda k: (not k.is_main, k.cluster_idx, str(k.id)))


def _agent_ids(session: e.Session) -> list[str]:
    return sorted({k.agent_id for k in session.kernels if k.agent_id})


def _image_references(session: e.Session) -> list[str]:
    seen = dict.fromkeys(k.image for k in _ordered_kernels(session))
    return list(seen) or [session.image]


# -- the legacy shape: ComputeSession / ComputeContainer ----------------------------------------


@strawberry.type(name="ComputeContainer")
class ComputeContainerNode:
    id: uuid.UUID
    kernel_id: uuid.UUID
    idx: int
    role: str
    hostname: str
    cluster_idx: int
    local_rank: int
    cluster_role: str
    cluster_hostname: str
    session_id: uuid.UUID
    image: str
    architecture: str
    registry: str
    status: str
    status_changed: datetime
    status_info: str | None
    status_data: JSONString
    created_at: datetime
    terminated_at: datetime | None
    starts_at: datetime | None
    scheduled_at: datetime | None
    abusing_report: JSONString | None
    agent: str | None
    agent_addr: str | None
    container_id: str | None
    resource_opts: JSONString
    occupied_slots: JSONString
    live_stat: JSONString | None
    last_stat: JSONString | None
    preopen_ports: list[int]

    @classmethod
    def of(cls, session: e.Session, kernel: e.Kernel, rank: int) -> ComputeContainerNode:
        return cls(
            id=kernel.id,
            kernel_id=kernel.id,
            idx=kernel.cluster_idx,
            role=kernel.cluster_role,
            hostname=kernel.cluster_hostname,
            cluster_idx=kernel.cluster_idx,
            local_rank=rank,
            cluster_role=kernel.cluster_role,
            cluster_hostname=kernel.cluster_hostname,
            session_id=kernel.session_id,
            image=kernel.image,
            architecture=kernel.architecture,
            registry=_registry_of(kernel.image),
            status=kernel.status.name,
            status_changed=kernel.status_changed,
            status_info=kernel.status_info,
            status_data=JSONString(kernel.status_data),
            created_at=kernel.created_at,
            terminated_at=kernel.terminated_at,
            starts_at=session.starts_at,
            scheduled_at=_reached(session, SessionStatus.SCHEDULED),
            abusing_report=None,
            agent=kernel.agent_id,
            agent_addr=kernel.agent_address,
            container_id=kernel.container_id,
            resource_opts=JSONString(session.resource_opts),
            occupied_slots=JSONString(kernel.occupied_slots),
            live_stat=None,
            last_stat=None,
            preopen_ports=[],
        )


@strawberry.type(name="ComputeSession")
class ComputeSessionItem:
    id: uuid.UUID
    session_id: uuid.UUID
    main_kernel_id: uuid.UUID | None
    main_kernel_role: str | None
    tag: str | None
    name: str
    type: str
    priority: int
    image: str
    architecture: str
    registry: str
    cluster_template: str | None
    cluster_mode: str
    cluster_size: int
    domain_name: str
    group_name: str
    group_id: uuid.UUID
    user_email: str
    full_name: str | None
    user_id: uuid.UUID
    user_uuid: uuid.UUID
    access_key: str
    created_user_email: str | None
    created_user_id: uuid.UUID | None
    status: str
    status_changed: datetime
    status_info: str | None
    status_data: JSONString
    status_history: JSONString
    created_at: datetime
    terminated_at: datetime | None
    starts_at: datetime | None
    scheduled_at: datetime | None
    startup_command: str | None
    result: str
    commit_status: str | None
    abusing_reports: list[JSONString]
    idle_checks: JSONString
    agent_ids: list[str]
    agents: list[str]
    resource_opts: JSONString
    scaling_group: str
    service_ports: JSONString
    mounts: list[str]
    vfolder_mounts: list[str]
    occupying_slots: JSONString
    occupied_slots: JSONString
    requested_slots: JSONString
    num_queries: BigInt
    inference_metrics: JSONString | None
    containers: list[ComputeContainerNode]
    dependencies: list[ComputeSessionItem]

    @classmethod
    def of(cls, session: e.Session) -> ComputeSessionItem:
        kernels = _ordered_kernels(session)
        main = next((k for k in kernels if k.is_main), None)
        agents = _agent_ids(session)
        occupied = JSONString(session.occupied_slots)
        return cls(
            id=session.id,
            session_id=session.id,
            main_kernel_id=main.id if main else None,
            main_kernel_role=main.cluster_role.upper() if main else None,
            tag=session.tag,
            name=session.name,
            type=session.type.name,
            priority=session.priority,
            image=session.image,
            architecture=session.architecture,
            registry=_registry_of(session.image),
            cluster_template=None,
            cluster_mode=session.cluster_mode.value,
            cluster_size=session.cluster_size,
            domain_name=session.domain_name,
            group_name=session.project_name,
            group_id=session.project_id,
            user_email=session.user_email,
            full_name=None,
            user_id=session.user_uuid,
            user_uuid=session.user_uuid,
            access_key=session.access_key,
            created_user_email=None,
            created_user_id=None,
            **_status_fields(session),
            agent_ids=agents,
            agents=agents,
            resource_opts=JSONString(session.resource_opts),
            scaling_group=session.resource_group,
            service_ports=JSONString([]),
            mounts=[m.name for m in session.vfolder_mounts],
            vfolder_mounts=[m.name for m in session.vfolder_mounts],
            occupying_slots=occupied,
            occupied_slots=occupied,
            requested_slots=JSONString(session.requested_slots),
            num_queries=BigInt(session.num_queries),
            inference_metrics=None,
            containers=[
                ComputeContainerNode.of(session, k, rank) for rank, k in enumerate(kernels)
            ],
            dependencies=[],
        )


@strawberry.type(name="ComputeSessionList")
class ComputeSessionListNode:
    items: list[ComputeSessionItem]
    total_count: int


# -- the Relay shape: ComputeSessionNode / KernelNode --------------------------------------------


@strawberry.type(name="KernelNode")
class KernelNode:
    id: strawberry.ID
    row_id: uuid.UUID
    cluster_idx: int
    local_rank: int
    cluster_role: str
    cluster_hostname: str
    session_id: uuid.UUID
    image_reference: str
    architecture: str
    status: str
    status_changed: datetime
    status_info: str | None
    status_data: JSONString
    created_at: datetime
    terminated_at: datetime | None
    starts_at: datetime | None
    scheduled_at: datetime | None
    agent_id: str | None
    agent_addr: str | None
    container_id: str | None
    resource_opts: JSONString
    occupied_slots: JSONString
    requested_slots: JSONString
    live_stat: JSONString | None
    abusing_report: JSONString | None
    preopen_ports: list[int]

    @classmethod
    def of(cls, session: e.Session, kernel: e.Kernel, rank: int) -> KernelNode:
        return cls(
            id=strawberry.ID(to_global_id(KERNEL_NODE_TYPE, kernel.id)),
            row_id=kernel.id,
            cluster_idx=kernel.cluster_idx,
            local_rank=rank,
            cluster_role=kernel.cluster_role,
            cluster_hostname=kernel.cluster_hostname,
            session_id=kernel.session_id,
            image_reference=kernel.image,
            architecture=kernel.architecture,
            status=kernel.status.name,
            status_changed=kernel.status_changed,
            status_info=kernel.status_info,
            status_data=JSONString(kernel.status_data),
            created_at=kernel.created_at,
            terminated_at=kernel.terminated_at,
            starts_at=session.starts_at,
            scheduled_at=_reached(session, SessionStatus.SCHEDULED),
            agent_id=kernel.agent_id,
            agent_addr=kernel.agent_address,
            container_id=kernel.container_id,
            resource_opts=JSONString(session.resource_opts),
            occupied_slots=JSONString(kernel.occupied_slots),
            requested_slots=JSONString(kernel.requested_slots),
            live_stat=None,
            abusing_report=None,
            preopen_ports=[],
        )


@strawberry.type(name="KernelEdge")
class KernelEdge:
    node: KernelNode
    cursor: str


@strawberry.type(name="KernelConnection")
class KernelConnection:
    count: int
    edges: list[KernelEdge]


@strawberry.type(name="ComputeSessionNode")
class ComputeSessionNode:
    id: strawberry.ID
    row_id: uuid.UUID
    session_id: uuid.UUID
    tag: str | None
    name: str
    type: str
    priority: int
    cluster_template: str | None
    cluster_mode: str
    cluster_size: int
    domain_name: str
    project_id: uuid.UUID
    group_name: str
    user_id: uuid.UUID
    user_email: str
    access_key: str
    permissions: list[str]
    image: str
    architecture: str
    image_references: list[str]
    vfolder_mounts: list[str]
    status: str
    status_info: str | None
    status_data: JSONString
    status_history: JSONString
    status_changed: datetime
    created_at: datetime
    terminated_at: datetime | None
    starts_at: datetime | None
    scheduled_at: datetime | None
    startup_command: str | None
    result: str
    commit_status: str | None
    abusing_reports: list[JSONString]
    idle_checks: JSONString
    agent_ids: list[str]
    resource_opts: JSONString
    scaling_group: str
    service_ports: JSONString
    occupied_slots: JSONString
    requested_slots: JSONString
    num_queries: BigInt
    inference_metrics: JSONString | None
    kernel_nodes: KernelConnection

    @classmethod
    def of(cls, session: e.Session) -> ComputeSessionNode:
        kernels = [KernelNode.of(session, k, r) for r, k in enumerate(_ordered_kernels(session))]
        return cls(
            id=strawberry.ID(to_global_id(NODE_TYPE, session.id)),
            row_id=session.id,
            session_id=session.id,
            tag=session.tag,
            name=session.name,
            type=session.type.value,
            priority=session.priority,
            cluster_template=None,
            cluster_mode=session.cluster_mode.value,
            cluster_size=session.cluster_size,
            domain_name=session.domain_name,
            project_id=session.project_id,
            group_name=session.project_name,
            user_id=session.user_uuid,
            user_email=session.user_email,
            access_key=session.access_key,
            permissions=[],
            image=session.image,
            architecture=session.architecture,
            image_references=_image_references(session),
            vfolder_mounts=[str(m.vfid) for m in session.vfolder_mounts],
            **_status_fields(session),
            agent_ids=_agent_ids(session),
            resource_opts=JSONString(session.resource_opts),
            scaling_group=session.resource_group,
            service_ports=JSONString([]),
            occupied_slots=JSONString(session.occupied_slots),
            requested_slots=JSONString(session.requested_slots),
            num_queries=BigInt(session.num_queries),
            inference_metrics=None,
            kernel_nodes=KernelConnection(
                count=len(kernels),
                edges=[KernelEdge(node=k, cursor=str(k.id)) for k in kernels],
            ),
        )


@strawberry.input(name="ModifyComputeSessionInput")
class ModifyComputeSessionInput:
    id: GlobalIDField
    name: str | None = strawberry.UNSET
    priority: int | None = strawberry.UNSET
    client_mutation_id: str | None = strawberry.field(name="clientMutationId", default=None)


@strawberry.type(name="ModifyComputeSessionPayload")
class ModifyComputeSessionPayload:
    item: ComputeSessionNode | None
    client_mutation_id: str | None = strawberry.field(name="clientMutationId")


@strawberry.type
class SessionQuery:
    @strawberry.field
    async def compute_session_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        status: str | None = None,
        access_key: str | None = None,
        group_id: uuid.UUID | None = None,
        domain_name: str | None = None,
        filter: FilterArg = None,
        order: str | None = None,
    ) -> ComputeSessionListNode:
        ctx = info.context
        limit, offset = page_args(limit, offset)
        found = await ctx.services.sessions.list_sessions(
            ctx.caller,
            statuses=parse_statuses(status),
            access_key=access_key,
            project_id=group_id,
            filter_text=_scoped_filter(filter, domain_name),
            order_text=order,
            limit=limit,
            offset=offset,
        )
        return ComputeSessionListNode(
            items=[ComputeSessionItem.of(s) for s in found.items], total_count=found.total_count
        )

    @strawberry.field
    async def compute_session(self, info: Info, id: uuid.UUID) -> ComputeSessionItem | None:
        ctx = info.context
        found = await found_or_none(ctx.services.sessions.get_by_id(ctx.caller, id))
        return ComputeSessionItem.of(found) if found else None

    @strawberry.field
    async def compute_session_node(
        self, info: Info, id: GlobalIDField
    ) -> ComputeSessionNode | None:
        ctx = info.context
        session_id = session_id_of(id)
        found = await found_or_none(ctx.services.sessions.get_by_id(ctx.caller, session_id))
        return ComputeSessionNode.of(found) if found else None


@strawberry.type
class SessionMutation:
    @strawberry.mutation
    async def modify_compute_session(
        self, info: Info, input: ModifyComputeSessionInput
    ) -> ModifyComputeSessionPayload:
        """Rename and/or reprioritise a session; failures are GraphQL errors (the payload has
        no ``ok`` field), and a session the caller may not see is not found."""
        ctx = info.context
        sessions = ctx.services.sessions
        ref = str(session_id_of(input.id))
        changes: dict[str, Any] = {
            key: value
            for key, value in (("name", input.name), ("priority", input.priority))
            if value is not strawberry.UNSET and value is not None
        }
        if "priority" in changes:
            await sessions.set_priority(ctx.caller, ref, changes["priority"])
        if "name" in changes:
            await sessions.rename(ctx.caller, ref, changes["name"])
        updated = await sessions.get(ctx.caller, ref)
        return ModifyComputeSessionPayload(
            item=ComputeSessionNode.of(updated), client_mutation_id=input.client_mutation_id
        )
