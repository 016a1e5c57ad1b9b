"""Virtual folders: create (user- or project-owned, within the resource policy's limits),
list, info, rename, options, the trash (soft delete, restore, purge, delete forever), clone
and file deletion (background tasks), hosts, volumes and mounts. Quotas: ``self.quota``.

The folder's files live on a storage proxy (``cygnet.manager.storage``); a folder row names
its host ``<proxy>:<volume>`` and the proxy keeps the data under the folder's UUID.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.clock import Clock
from cygnet.common.errors import (
    Forbidden,
    InsufficientPrivilege,
    InvalidAPIParameters,
    NotImplementedAPI,
    ProjectNotFound,
    UserNotFound,
    VFolderAlreadyExists,
    VFolderInvalidState,
)
from cygnet.common.logging import get_logger
from cygnet.manager.entities import (
    Caller,
    Page,
    Project,
    StorageVolume,
    UserResourcePolicy,
    VFolder,
    VFolderAccess,
    VFolderOwnership,
    VFolderPermission,
    VFolderStatus,
    VFolderUsageMode,
)
from cygnet.manager.services.bgtasks import BackgroundTasks, Progress
from cygnet.manager.services.common import require_admin, require_superadmin
from cygnet.manager.services.vfolders.access import (
    FolderAccess,
    access_of,
    check_paths,
    check_vfolder_name,
    parse_vfolder_id,
)
from cygnet.manager.services.vfolders.quota import VFolderQuotaService, allot
from cygnet.manager.storage import StorageProxies
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import domains as domains_repo
from cygnet.manager.store.repositories import policies as policies_repo
from cygnet.manager.store.repositories import projects as projects_repo
from cygnet.manager.store.repositories import sessions as sessions_repo
from cygnet.manager.store.repositories import users as users_repo
from cygnet.manager.store.repositories import vfolders as repo

log = get_logger(__name__)
_TRASHABLE = (VFolderStatus.READY, VFolderStatus.MOUNTED, VFolderStatus.ERROR)
_FORCE_DELETABLE = (*_TRASHABLE, VFolderStatus.DELETE_PENDING, VFolderStatus.DELETE_ERROR)


def parse_permission(value: Any, what: str = "permission") -> VFolderPermission:
    try:
        return VFolderPermission(str(value).lower())
    except ValueError:
        raise InvalidAPIParameters(f"{what} must be one of ro, rw, wd; got {value!r}.") from None


def parse_usage_mode(value: Any) -> VFolderUsageMode:
    try:
        return VFolderUsageMode(str(value).lower())
    except ValueError:
        raise InvalidAPIParameters(
            f"usage_mode must be one of general, model, data; got {value!r}."
        ) from None


@dataclass(frozen=True, slots=True)
class CreateSpec:
    name: str
    host: str | None = None
    group: str | None = None  # project UUID or name
    usage_mode: VFolderUsageMode = VFolderUsageMode.GENERAL
    permission: VFolderPermission = VFolderPermission.READ_WRITE
    cloneable: bool = False
    unmanaged_path: str | None = None
    quota: int | None = None  # bytes; None: the default (see quota.allot)


@dataclass(frozen=True, slots=True)
class CloneSpec:
    target_name: str
    target_host: str | None = None
    usage_mode: VFolderUsageMode = VFolderUsageMode.GENERAL
    permission: VFolderPermission = VFolderPermission.READ_WRITE
    cloneable: bool = False


@dataclass(frozen=True, slots=True)
class FolderUsage:
    file_count: int
    used_bytes: int


@dataclass(frozen=True, slots=True)
class _Owner:
    """Whose a new folder is: a user's, or a project's."""

    user: uuid.UUID | None
    project: Project | None
    max_count: int
    scope_limit: int  # max_quota_scope_size: the sum of the owner's folders' quotas

    @property
    def quota_scope_id(self) -> str:
        return f"project:{self.project.id}" if self.project else f"user:{self.user}"

    @property
    def group(self) -> uuid.UUID | None:
        return self.project.id if self.project else None


class VFolderService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        storage: StorageProxies,
        bgtasks: BackgroundTasks,
    ) -> None:
        self._db = db
        self._clock = clock
        self.storage = storage
        self._bgtasks = bgtasks
        self.access = FolderAccess(db)
        self.quota = VFolderQuotaService(db, storage, self.access)

    # -- hosts --------------------------------------------------------------------------------

    async def _allowed_hosts(
        self, session: AsyncSession, caller: Caller, project: Project | None
    ) -> set[str] | None:
        """Hosts the domain, project and keypair policy allow (None: no restriction, when
        none of them names any)."""
        allowed: set[str] = set()
        domain = await domains_repo.get(session, caller.domain_name)
        if domain is not None:
            allowed |= set(domain.allowed_vfolder_hosts)
        if project is not None:
            allowed |= set(project.allowed_vfolder_hosts)
        policy_name = await policies_repo.keypair_policy_of(session, caller.access_key)
        if policy_name is not None:
            policy = await policies_repo.get(session, policies_repo.KEYPAIR, policy_name)
            if policy is not None:
                allowed |= set(policy.allowed_vfolder_hosts)
        return allowed or None

    async def hosts(
        self, caller: Caller, group_id: str | None = None
    ) -> tuple[str | None, list[str], list[StorageVolume]]:
        """(default host, allowed hosts, their volumes) for ``GET /folders/_/hosts``."""
        async with self._db.read() as session:
            project = await self._project(session, caller, group_id) if group_id else None
            allowed = await self._allowed_hosts(session, caller, project)
        volumes = [v for v in await self.storage.volumes() if allowed is None or v.host in allowed]
        default = await self.storage.default_host()
        hosts = [v.host for v in volumes]
        return (default if default in hosts else None), hosts, volumes

    async def all_hosts(self, caller: Caller) -> tuple[str | None, list[str]]:
        require_superadmin(caller)
        return await self.storage.default_host(), await self.storage.hosts()

    async def volumes(self, caller: Caller) -> list[StorageVolume]:
        require_superadmin(caller)
        return await self.storage.volumes()

    async def mounts(self, caller: Caller) -> tuple[list[StorageVolume], dict[str, str]]:
        """Every volume and where its proxy keeps it, and the proxies that did not answer
        (superadmins). A manager mounts no volume itself; agents mount folders per session."""
        require_superadmin(caller)
        return await self.storage.survey()

    async def fstab(self, caller: Caller, agent_id: object = None) -> str:
        """The manager's view in fstab form: which proxy path backs each vfolder host
        (superadmins). Agents keep no fstab of vfolder volumes."""
        require_superadmin(caller)
        if agent_id is not None:
            if not isinstance(agent_id, str):
                raise InvalidAPIParameters("agent_id must be a string.")
            raise NotImplementedAPI(
                "Cygnet agents mount vfolders per session and keep no fstab; "
                "omit agent_id for the manager's view."
            )
        volumes, failed = await self.storage.survey()
        lines = [
            "# Cygnet manager: vfolder volumes are served by storage proxies, not mounted here.",
            "# <vfolder host>\t<path on the storage proxy>\t<backend>",
            *(f"{v.host}\t{v.path}\t{v.backend}" for v in volumes),
            *(f"# {proxy}: did not answer ({why})" for proxy, why in failed.items()),
        ]
        return "\n".join(lines) + "\n"

    # -- create -------------------------------------------------------------------------------

    async def _project(self, session: AsyncSession, caller: Caller, ref: str) -> Project:
        project_id = parse_vfolder_id(ref) if isinstance(ref, str) else None
        project = None
        if project_id is not None:
            project = await projects_repo.get(session, project_id)
        if project is None:
            project = await projects_repo.get_by_name(session, caller.domain_name, str(ref))
        if project is None or not (
            caller.can_admin_domain(project.domain_name)
            or await repo.is_member(session, project.id, caller.user_uuid)
        ):
            raise ProjectNotFound(f"No such project: {ref}")
        return project

    async def _owner(self, session: AsyncSession, caller: Caller, group: str | None) -> _Owner:
        if group:
            project = await self._project(session, caller, group)
            if not caller.can_admin_domain(project.domain_name):
                raise InsufficientPrivilege("Only admins may create project folders.")
            policy = await policies_repo.get(
                session, policies_repo.PROJECT, project.resource_policy
            )
            return _Owner(
                None,
                project,
                policy.max_vfolder_count if policy else 0,
                policy.max_quota_scope_size if policy else -1,
            )
        name = await policies_repo.user_policy_of(session, caller.user_uuid)
        user_policy: UserResourcePolicy | None = None
        if name:
            user_policy = await policies_repo.get(session, policies_repo.USER, name)
        return _Owner(
            caller.user_uuid,
            None,
            user_policy.max_vfolder_count if user_policy else 0,
            user_policy.max_quota_scope_size if user_policy else -1,
        )

    async def _check_room(
        self, session: AsyncSession, owner: _Owner, name: str, quota: int | None
    ) -> int | None:
        """The new folder's quota; 400 when the owner has a folder of that name, has reached
        max_vfolder_count, or the quota does not fit in the owner's quota scope. Final only
        under the owner's lock (``repo.lock_owner``), in the transaction that inserts."""
        gid = owner.group
        if await repo.name_taken(session, name, user=owner.user, group=gid):
            raise VFolderAlreadyExists(f"A vfolder named {name!r} already exists.")
        if owner.max_count > 0:
            count = await repo.count_owned(session, user=owner.user, group=gid)
            if count >= owner.max_count:
                raise InvalidAPIParameters(
                    f"You cannot create more than {owner.max_count} vfolders."
                )
        return await allot(
            session, user=owner.user, group=gid, limit=owner.scope_limit, wanted=quota
        )

    async def _host(self, session: AsyncSession, caller: Caller, host: str | None,
                    project: Project | None) -> str:  # fmt: skip
        chosen = host or await self.storage.default_host()
        if chosen is None:
            raise InvalidAPIParameters("No vfolder host is configured; give a host.")
        await self.storage.resolve(chosen)
        allowed = await self._allowed_hosts(session, caller, project)
        if allowed is not None and chosen not in allowed:
            raise InvalidAPIParameters(f"You are not allowed to use the vfolder host {chosen!r}.")
        return chosen

    def _values(
        self,
        caller: Caller,
        owner: _Owner,
        *,
        folder_id: uuid.UUID,
        name: str,
        host: str,
        usage_mode: VFolderUsageMode,
        permission: VFolderPermission,
        cloneable: bool,
        status: VFolderStatus,
        quota: int | None,
    ) -> dict[str, Any]:
        now = self._clock.now()
        return {
            "id": folder_id,
            "name": name,
            "host": host,
            "quota_scope_id": owner.quota_scope_id,
            "usage_mode": usage_mode.value,
            "permission": permission.value,
            "ownership_type": (
                VFolderOwnership.GROUP if owner.project else VFolderOwnership.USER
            ).value,
            "user": owner.user,
            "group": owner.project.id if owner.project else None,
            "domain_name": owner.project.domain_name if owner.project else caller.domain_name,
            "creator": caller.email,
            "cloneable": cloneable,
            "status": status.value,
            "created_at": now,
            "status_changed": now,
            "last_used": None,
            "max_size": quota,
            "max_files": 0,
        }

    async def create(self, caller: Caller, spec: CreateSpec) -> VFolderAccess:
        """A new folder: checked (name, host, limits) before anything is created, so a 400
        changes nothing."""
        if spec.unmanaged_path:
            require_admin(caller)
            raise InvalidAPIParameters("Unmanaged vfolders are not supported.")
        check_vfolder_name(spec.name, project=bool(spec.group))
        async with self._db.read() as session:
            owner = await self._owner(session, caller, spec.group)
            host = await self._host(session, caller, spec.host, owner.project)
            quota = await self._check_room(session, owner, spec.name, spec.quota)
        client, volume = await self.storage.resolve(host)
        values = self._values(
            caller,
            owner,
            folder_id=uuid.uuid4(),
            name=spec.name,
            host=host,
            usage_mode=spec.usage_mode,
            permission=spec.permission,
            cloneable=spec.cloneable,
            status=VFolderStatus.READY,
            quota=quota,
        )
        await client.create_folder(volume, values["id"], quota)
        try:
            async with self._db.transaction() as session:
                await repo.lock_owner(session, user=owner.user, group=owner.group)
                await self._check_room(session, owner, spec.name, quota)
                folder = await repo.create(session, values)
        except BaseException:
            await client.delete_folder(volume, values["id"])
            raise
        return VFolderAccess(folder, folder.permission, is_owner=owner.user is not None,
                             can_manage=True)  # fmt: skip

    # -- read ---------------------------------------------------------------------------------

    async def list(
        self,
        caller: Caller,
        *,
        all_folders: bool = False,
        group_id: str | None = None,
        owner_email: str | None = None,
    ) -> list[VFolderAccess]:
        """The caller's folders (own, their projects', shared with them); with ``all`` an
        admin sees every folder of their domain (a superadmin every folder)."""
        projects, shares = await self.access.context(caller)
        async with self._db.read() as session:
            if all_folders and caller.is_superadmin:
                visibility = repo.Visibility(everything=True)
            elif all_folders and caller.is_domain_admin:
                visibility = repo.Visibility(domain_name=caller.domain_name)
            else:
                visibility = repo.Visibility(user_uuid=caller.user_uuid, project_ids=projects)
            owner = None
            if owner_email:
                require_admin(caller)
                user = await users_repo.get_by_email(session, owner_email)
                if user is None or not caller.can_admin_domain(user.domain_name):
                    raise UserNotFound(f"No such user: {owner_email}")
                owner = user.uuid
                visibility = (
                    repo.Visibility(everything=True)
                    if caller.is_superadmin
                    else repo.Visibility(domain_name=caller.domain_name)
                )
            gid = None
            if group_id:
                gid = (await self._project(session, caller, group_id)).id
            folders = await repo.list_visible(session, visibility, group_id=gid, owner=owner)
        found = [access_of(caller, f, projects, shares) for f in folders]
        return [a for a in found if a is not None]

    async def page(
        self,
        caller: Caller,
        *,
        scope: str = "all",
        group_id: uuid.UUID | None = None,
        filter_text: str | None = None,
        order_text: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page[VFolderAccess]:
        """GraphQL ``vfolder_list`` and its own / invited / project variants."""
        projects, shares = await self.access.context(caller)
        if caller.is_superadmin and scope == "all":
            visibility = repo.Visibility(everything=True)
        elif caller.is_domain_admin and scope == "all":
            visibility = repo.Visibility(domain_name=caller.domain_name)
        else:
            visibility = repo.Visibility(user_uuid=caller.user_uuid, project_ids=projects)
        narrowing: dict[str, Any] = {}
        if scope == "own":
            narrowing = {"ownership": "user", "owner": caller.user_uuid}
        elif scope == "invited":
            narrowing = {"invited_user": caller.user_uuid}
        elif scope == "project":
            narrowing = {"ownership": "group"}
        async with self._db.read() as session:
            found = await repo.page(
                session,
                visibility,
                group_id=group_id,
                filter_text=filter_text,
                order_text=order_text,
                limit=limit,
                offset=offset,
                **narrowing,
            )
        items = [access_of(caller, f, projects, shares) for f in found.items]
        return Page([a for a in items if a is not None], found.total_count)

    async def get(self, caller: Caller, ref: str) -> VFolderAccess:
        return await self.access.resolve(caller, ref)

    async def info(self, caller: Caller, ref: str) -> tuple[VFolderAccess, FolderUsage]:
        access = await self.access.resolve(caller, ref)
        usage = FolderUsage(0, 0)
        if access.folder.usable or access.folder.in_trash:
            client, volume = self.storage.client_for(access.folder.host)
            found = await client.usage(volume, access.folder.id)
            usage = FolderUsage(int(found["file_count"]), int(found["used_bytes"]))
        return access, usage

    # -- change -------------------------------------------------------------------------------

    def _owner_of(self, folder: VFolder) -> dict[str, uuid.UUID | None]:
        return {"user": folder.user, "group": folder.group}

    async def rename(self, caller: Caller, ref: str, new_name: str) -> None:
        access = await self.access.resolve(caller, ref, manage=True)
        folder = access.folder
        check_vfolder_name(new_name, project=folder.ownership_type is VFolderOwnership.GROUP)
        if new_name == folder.name:
            return
        async with self._db.transaction() as session:
            if await repo.name_taken(session, new_name, **self._owner_of(folder)):
                raise VFolderAlreadyExists(f"A vfolder named {new_name!r} already exists.")
            await repo.update_one(session, folder.id, {"name": new_name})

    async def update_options(
        self,
        caller: Caller,
        ref: str,
        *,
        permission: VFolderPermission | None = None,
        cloneable: bool | None = None,
    ) -> None:
        access = await self.access.resolve(caller, ref, manage=True)
        values: dict[str, Any] = {}
        if permission is not None:
            values["permission"] = permission.value
        if cloneable is not None:
            values["cloneable"] = cloneable
        if values:
            async with self._db.transaction() as session:
                await repo.update_one(session, access.folder.id, values)

    async def _move(
        self, folder: VFolder, to: VFolderStatus, allowed: tuple[VFolderStatus, ...]
    ) -> None:
        async with self._db.transaction() as session:
            if to in (VFolderStatus.DELETE_PENDING, VFolderStatus.DELETE_ONGOING):
                users = await sessions_repo.mounting(session, folder.id)
                if users:
                    raise VFolderInvalidState(
                        f"The vfolder {folder.name} is mounted by session(s) "
                        f"{', '.join(sorted(users)[:5])}; end them first."
                    )
            moved = await repo.set_status(
                session, folder.id, to, self._clock.now(), only_from=allowed
            )
        if not moved:
            raise VFolderInvalidState(
                f"The vfolder {folder.name} is {folder.status.value}; it cannot become {to.value}."
            )

    async def trash(self, caller: Caller, ref: str) -> None:
        """Soft delete: the folder goes to the trash (``delete-pending``), files kept."""
        access = await self.access.resolve(caller, ref, manage=True)
        await self._move(access.folder, VFolderStatus.DELETE_PENDING, _TRASHABLE)

    async def restore(self, caller: Caller, ref: str) -> None:
        access = await self.access.resolve(caller, ref, manage=True)
        await self._move(access.folder, VFolderStatus.READY, (VFolderStatus.DELETE_PENDING,))

    async def purge(self, caller: Caller, ref: str) -> None:
        """Delete a trashed folder for good (admins)."""
        require_admin(caller)
        access = await self.access.resolve(caller, ref, manage=True)
        await self._destroy(access.folder, (VFolderStatus.DELETE_PENDING,))

    async def delete_forever(self, caller: Caller, ref: str) -> None:
        """Delete a trashed folder for good (its owner, or an admin)."""
        access = await self.access.resolve(caller, ref, manage=True)
        await self._destroy(access.folder, (VFolderStatus.DELETE_PENDING,))

    async def force_delete(self, caller: Caller, ref: str) -> None:
        """Delete a folder for good without going through the trash."""
        access = await self.access.resolve(caller, ref, manage=True)
        await self._destroy(access.folder, _FORCE_DELETABLE)

    async def _destroy(self, folder: VFolder, allowed: tuple[VFolderStatus, ...]) -> None:
        await self._move(folder, VFolderStatus.DELETE_ONGOING, allowed)
        try:
            await self.storage.delete_folder(folder.host, folder.id)
        except Exception:
            async with self._db.transaction() as session:
                await repo.set_status(
                    session, folder.id, VFolderStatus.DELETE_ERROR, self._clock.now()
                )
            raise
        async with self._db.transaction() as session:
            await repo.delete(session, folder.id)

    # -- background work ----------------------------------------------------------------------

    async def delete_files_async(
        self, caller: Caller, ref: str, files: object, *, recursive: bool
    ) -> uuid.UUID:
        """Delete files as a background task (checked first: a bad path, permission or state
        is a 4xx and starts nothing); its progress is counted in paths."""
        paths = check_paths(files, "files")
        access = await self.access.resolve(
            caller, ref, need=VFolderPermission.READ_WRITE, usable=True
        )
        client, volume = self.storage.client_for(access.folder.host)
        folder_id = access.folder.id

        async def run(progress: Progress) -> str:
            progress.update(0, len(paths), "deleting")
            await client.delete_files(volume, folder_id, paths, recursive=recursive)
            progress.update(len(paths), len(paths), "deleted")
            return f"deleted {len(paths)} path(s)"

        return self._bgtasks.start(caller.user_uuid, run, name="vfolder-delete-files")

    # -- clone --------------------------------------------------------------------------------

    async def clone(
        self, caller: Caller, ref: str, spec: CloneSpec
    ) -> tuple[VFolderAccess, uuid.UUID]:
        """A copy of a folder the caller may read (cloneable unless they manage it), owned by
        the caller; the copy runs as a background task (``cloning`` until it is done)."""
        source = await self.access.resolve(caller, ref, usable=True)
        if not source.folder.cloneable and not source.can_manage:
            raise Forbidden("The source vfolder is not permitted to be cloned.")
        check_vfolder_name(spec.target_name)
        async with self._db.read() as session:
            owner = await self._owner(session, caller, None)
            host = await self._host(session, caller, spec.target_host or source.folder.host, None)
            quota = await self._check_room(session, owner, spec.target_name, None)
        src_client, src_volume = self.storage.client_for(source.folder.host)
        dst_client, dst_volume = await self.storage.resolve(host)
        if dst_client is not src_client:
            raise InvalidAPIParameters("A folder can only be cloned to a volume of its own proxy.")
        values = self._values(
            caller,
            owner,
            folder_id=uuid.uuid4(),
            name=spec.target_name,
            host=host,
            usage_mode=spec.usage_mode,
            permission=spec.permission,
            cloneable=spec.cloneable,
            status=VFolderStatus.CLONING,
            quota=quota,
        )
        async with self._db.transaction() as session:
            await repo.lock_owner(session, user=owner.user, group=owner.group)
            await self._check_room(session, owner, spec.target_name, quota)
            folder = await repo.create(session, values)

        async def run(progress: Progress) -> str:
            try:
                async for line in src_client.clone(
                    src_volume,
                    source.folder.id,
                    folder.id,
                    target_volume=dst_volume,
                    quota_bytes=folder.max_size,
                ):
                    progress.update(
                        line.get("copied_bytes", 0), line.get("total_bytes", 0), "cloning"
                    )
            except BaseException:
                async with self._db.transaction() as session:
                    await repo.delete(session, folder.id)
                raise
            async with self._db.transaction() as session:
                await repo.set_status(session, folder.id, VFolderStatus.READY, self._clock.now())
            return str(folder.id)

        task_id = self._bgtasks.start(caller.user_uuid, run, name="vfolder-clone")
        return VFolderAccess(folder, folder.permission, is_owner=True, can_manage=True), task_id
