"""Who may see and do what with a vfolder, and how a ``{vf}`` reference (a UUID with or without
dashes, or a name) resolves for one caller. A folder the caller may not see is "not found"."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping

from cygnet.common.errors import (
    InvalidAPIParameters,
    VFolderForbidden,
    VFolderInvalidState,
    VFolderNotFound,
)
from cygnet.manager.entities import (
    Caller,
    VFolder,
    VFolderAccess,
    VFolderOwnership,
    VFolderPermission,
)
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import vfolders as repo

_HEX_ID = re.compile(r"^[0-9a-fA-F]{32}$|^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")
RESERVED_NAMES = frozenset(
    {".", "..", ".terminfo", ".jupyter", ".ssh", ".bashrc", ".bash_profile", ".zshrc",
     ".vimrc", ".tmux.conf", ".config", ".local", ".linuxbrew"}
)  # fmt: skip
MAX_PATH = 4096
MAX_PATHS = 1000


def parse_vfolder_id(ref: str) -> uuid.UUID | None:
    return uuid.UUID(ref) if _HEX_ID.match(ref) else None


def check_vfolder_name(name: object, *, project: bool = False) -> str:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise InvalidAPIParameters("A vfolder name must be 1-64 characters.")
    if name != name.strip() or _BAD_NAME.search(name):
        raise InvalidAPIParameters(
            f"Invalid vfolder name {name!r}: no slashes, control characters or surrounding spaces."
        )
    if name in RESERVED_NAMES:
        raise InvalidAPIParameters(f"{name!r} is a reserved name.")
    if project and name.startswith("."):
        raise InvalidAPIParameters("A project folder's name cannot start with a dot.")
    return name


def check_path(path: object, what: str = "path", *, allow_root: bool = False) -> str:
    """Refuse obviously bad paths early (400); the storage proxy checks the rest."""
    if not isinstance(path, str):
        raise InvalidAPIParameters(f"{what} must be a string.")
    if (not path and not allow_root) or len(path.encode(errors="surrogatepass")) > MAX_PATH:
        raise InvalidAPIParameters(f"{what}: give a path of 1-{MAX_PATH} bytes.")
    if "\x00" in path:
        raise InvalidAPIParameters(f"{what} contains a NUL byte.")
    return path


def check_paths(values: object, what: str) -> list[str]:
    """One path or a list of 1-MAX_PATHS paths, each checked with ``check_path``."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not values or len(values) > MAX_PATHS:
        raise InvalidAPIParameters(f"{what}: give 1-{MAX_PATHS} paths.")
    return [check_path(v, what) for v in values]


def access_of(
    caller: Caller,
    folder: VFolder,
    projects: frozenset[uuid.UUID],
    shares: Mapping[uuid.UUID, VFolderPermission],
) -> VFolderAccess | None:
    """The caller's view of ``folder``, or None when they may not see it."""
    admin = caller.can_admin_domain(folder.domain_name)
    if folder.ownership_type is VFolderOwnership.USER and folder.user == caller.user_uuid:
        return VFolderAccess(folder, folder.permission, is_owner=True, can_manage=True)
    shared = shares.get(folder.id)
    if shared is not None:
        return VFolderAccess(folder, shared, is_owner=False, can_manage=admin)
    if folder.ownership_type is VFolderOwnership.GROUP and folder.group in projects:
        return VFolderAccess(folder, folder.permission, is_owner=False, can_manage=admin)
    if admin:
        return VFolderAccess(folder, folder.permission, is_owner=False, can_manage=True)
    return None


def _rank(access: VFolderAccess) -> int:
    if access.is_owner:
        return 0
    if access.folder.ownership_type is VFolderOwnership.GROUP:
        return 1
    return 2


def best(accesses: Iterable[VFolderAccess | None]) -> VFolderAccess | None:
    found = sorted((a for a in accesses if a is not None), key=_rank)
    return found[0] if found else None


class FolderAccess:
    """Resolves ``{vf}`` references for a caller (shared by the vfolder services)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def context(
        self, caller: Caller
    ) -> tuple[frozenset[uuid.UUID], dict[uuid.UUID, VFolderPermission]]:
        async with self._db.read() as session:
            return (
                await repo.member_projects(session, caller.user_uuid),
                await repo.shares_of_user(session, caller.user_uuid),
            )

    async def resolve(
        self,
        caller: Caller,
        ref: str,
        *,
        need: VFolderPermission = VFolderPermission.READ_ONLY,
        usable: bool = False,
        manage: bool = False,
    ) -> VFolderAccess:
        """The folder ``ref`` names for ``caller``: 404 when they cannot see it, 403 when they
        see it but their permission falls short of ``need`` (or ``manage``), 400 when
        ``usable`` is asked and the folder is in the trash or busy."""
        projects, shares = await self.context(caller)
        folder_id = parse_vfolder_id(ref)
        async with self._db.read() as session:
            candidates: list[VFolder] = []
            if folder_id is not None:
                found = await repo.get(session, folder_id)
                candidates = [found] if found is not None else []
            if not candidates:
                visibility = repo.Visibility(user_uuid=caller.user_uuid, project_ids=projects)
                candidates = await repo.list_visible(session, visibility, name=ref)
        access = best(access_of(caller, f, projects, shares) for f in candidates)
        if access is None:
            raise VFolderNotFound(f"No such vfolder: {ref}")
        if manage and not access.can_manage:
            raise VFolderForbidden(f"Only the owner or an admin may do this to {ref}.")
        if not access.allows(need):
            raise VFolderForbidden(
                f"Your permission on {ref} ({access.permission.value}) does not allow this."
            )
        if usable and not access.folder.usable:
            raise VFolderInvalidState(
                f"The vfolder {access.folder.name} is {access.folder.status.value}."
            )
        return access
