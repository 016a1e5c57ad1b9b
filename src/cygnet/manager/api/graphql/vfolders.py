"""vfolders and storage volumes (wire notes 2.6): ``vfolder_list`` (paginated; with the own /
invited / project variants) and, for superadmins, ``storage_volume_list`` and
``storage_volume(id:)`` where the id is a vfolder host ``<proxy>:<volume>``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from cygnet.manager.api.graphql.common import page_args
from cygnet.manager.api.graphql.context import Info
from cygnet.manager.api.graphql.scalars import JSONString
from cygnet.manager.entities import StorageVolume, VFolderAccess

FilterArg = Annotated[str | None, strawberry.argument(name="filter")]


@strawberry.type(name="VirtualFolder")
class VFolderNode:
    id: strawberry.ID
    host: str
    quota_scope_id: str
    name: str
    user: strawberry.ID | None
    user_email: str | None
    group: strawberry.ID | None
    group_name: str | None
    creator: str
    domain_name: str
    unmanaged_path: str | None
    usage_mode: str
    permission: str
    ownership_type: str
    max_files: int
    max_size: int | None
    created_at: datetime
    last_used: datetime | None
    num_files: int
    cur_size: int
    cloneable: bool
    status: str

    @classmethod
    def of(cls, access: VFolderAccess) -> VFolderNode:
        f = access.folder
        return cls(
            id=strawberry.ID(str(f.id)),
            host=f.host,
            quota_scope_id=f.quota_scope_id,
            name=f.name,
            user=None if f.user is None else strawberry.ID(str(f.user)),
            user_email=f.user_email,
            group=None if f.group is None else strawberry.ID(str(f.group)),
            group_name=f.group_name,
            creator=f.creator,
            domain_name=f.domain_name,
            unmanaged_path=None,
            usage_mode=f.usage_mode.value,
            permission=access.permission.value,
            ownership_type=f.ownership_type.value,
            max_files=f.max_files,
            max_size=f.max_size,
            created_at=f.created_at,
            last_used=f.last_used,
            num_files=0,
            cur_size=0,
            cloneable=f.cloneable,
            status=f.status.value,
        )


@strawberry.type(name="VirtualFolderList")
class VFolderListNode:
    items: list[VFolderNode]
    total_count: int


@strawberry.type(name="StorageVolume")
class StorageVolumeNode:
    id: str
    backend: str
    path: str
    fsprefix: str
    capabilities: list[str]
    hardware_metadata: JSONString
    performance_metric: JSONString
    usage: JSONString

    @classmethod
    def of(cls, volume: StorageVolume) -> StorageVolumeNode:
        usage = {"capacity_bytes": volume.capacity_bytes, "used_bytes": volume.used_bytes}
        return cls(
            id=volume.host,
            backend=volume.backend,
            path=volume.path,
            fsprefix=".",
            capabilities=volume.capabilities,
            hardware_metadata=JSONString({"status": "healthy", "status_info": None}),
            performance_metric=JSONString({}),
            usage=JSONString(usage),
        )


@strawberry.type(name="StorageVolumeList")
class StorageVolumeListNode:
    items: list[StorageVolumeNode]
    total_count: int


async def _vfolders(
    info: Info,
    scope: str,
    limit: int,
    offset: int,
    group_id: uuid.UUID | None,
    filter_text: str | None,
    order: str | None,
) -> VFolderListNode:
    ctx = info.context
    limit, offset = page_args(limit, offset)
    found = await ctx.services.vfolders.page(
        ctx.caller,
        scope=scope,
        group_id=group_id,
        filter_text=filter_text,
        order_text=order,
        limit=limit,
        offset=offset,
    )
    return VFolderListNode(
        items=[VFolderNode.of(a) for a in found.items], total_count=found.total_count
    )


@strawberry.type
class VFolderQuery:
    @strawberry.field
    async def vfolder_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        group_id: uuid.UUID | None = None,
        filter: FilterArg = None,
        order: str | None = None,
    ) -> VFolderListNode:
        return await _vfolders(info, "all", limit, offset, group_id, filter, order)

    @strawberry.field
    async def vfolder_own_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        filter: FilterArg = None,
        order: str | None = None,
    ) -> VFolderListNode:
        return await _vfolders(info, "own", limit, offset, None, filter, order)

    @strawberry.field
    async def vfolder_invited_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        filter: FilterArg = None,
        order: str | None = None,
    ) -> VFolderListNode:
        return await _vfolders(info, "invited", limit, offset, None, filter, order)

    @strawberry.field
    async def vfolder_project_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        group_id: uuid.UUID | None = None,
        filter: FilterArg = None,
        order: str | None = None,
    ) -> VFolderListNode:
        return await _vfolders(info, "project", limit, offset, group_id, filter, order)

    @strawberry.field
    async def storage_volume_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        filter: FilterArg = None,
        order: str | None = None,
    ) -> StorageVolumeListNode:
        ctx = info.context
        limit, offset = page_args(limit, offset)
        volumes = await ctx.services.vfolders.volumes(ctx.caller)
        if order:
            volumes.sort(key=lambda v: v.host, reverse=order.strip().startswith("-"))
        return StorageVolumeListNode(
            items=[StorageVolumeNode.of(v) for v in volumes[offset : offset + limit]],
            total_count=len(volumes),
        )

    @strawberry.field
    async def storage_volume(self, info: Info, id: str) -> StorageVolumeNode | None:
        ctx = info.context
        for volume in await ctx.services.vfolders.volumes(ctx.caller):
            if volume.host == id:
                return StorageVolumeNode.of(volume)
        return None
