"""Which vfolders a new session mounts, where, and with what permission.

A session names folders in ``mounts`` / ``mount_map`` (by name or id) and ``mount_ids`` /
``mount_id_map`` (by id, with or without dashes); ``mount_options`` may lower the permission
or give the destination. A folder appears at ``/home/work/<name>`` unless told otherwise; a
relative destination lives under ``/home/work``. The owner's permission on the folder decides
the mount: read-only for ``ro``, writable otherwise; an option can only lower it.

``plan`` (pure) turns the request into ``Wanted`` entries and checks destinations; ``resolve``
looks the folders up for the session's owner (404 for a folder they cannot see) and asks the
storage proxy where each lives.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cygnet.common.errors import InvalidAPIParameters
from cygnet.manager.entities import VFolderAccess, VFolderMount, VFolderPermission
from cygnet.manager.services.sessions.spec import SessionSpec

WORKDIR = "/home/work"
# Destinations a folder may never cover: the system, and what the runtime mounts itself.
FORBIDDEN = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt/cygnet",
    "/opt/kernel", "/proc", "/root", "/run", "/sbin", "/sys", "/tmp", "/usr", "/var",
)  # fmt: skip
MAX_MOUNTS = 64


@dataclass(frozen=True, slots=True)
class Wanted:
    ref: str  # a name or an id, as given
    destination: str | None  # None: /home/work/<the folder's name>
    permission: VFolderPermission | None  # None: the caller's own


def destination(path: str, what: str) -> str:
    """An absolute, normalised mount point inside the kernel (400 when it cannot be one)."""
    if not path or "\x00" in path or len(path) > 1024:
        raise InvalidAPIParameters(f"{what}: give a mount path of 1-1024 characters.")
    if any(part == ".." for part in path.split("/")):
        raise InvalidAPIParameters(f"{what}: {path!r} may not contain '..'.")
    full = path if path.startswith("/") else f"{WORKDIR}/{path}"
    full = posixpath.normpath(full)
    if full.startswith("//"):
        full = "/" + full.lstrip("/")
    if full in ("/", WORKDIR, "/home") or any(
        full == bad or full.startswith(bad + "/") for bad in FORBIDDEN
    ):
        raise InvalidAPIParameters(f"{what}: a vfolder cannot be mounted at {full}.")
    return full


def _option(options: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        if key in options:
            value = options[key]
            return value if isinstance(value, dict) else {}
    return {}


def _permission(value: Any, what: str) -> VFolderPermission | None:
    if value in (None, ""):
        return None
    try:
        return VFolderPermission(str(value).lower())
    except ValueError:
        raise InvalidAPIParameters(f"{what}: permission must be ro, rw or wd.") from None


def plan(spec: SessionSpec) -> list[Wanted]:
    """The folders ``spec`` asks to mount, in order, each once (pure)."""
    entries: list[tuple[str, str | None]] = []
    for ref in spec.mounts:
        entries.append((ref, spec.mount_map.get(ref)))
    for ref, path in spec.mount_map.items():
        if ref not in spec.mounts:
            entries.append((ref, path))
    for folder_id in spec.mount_ids:
        entries.append((str(folder_id), spec.mount_id_map.get(folder_id)))
    for folder_id, path in spec.mount_id_map.items():
        if folder_id not in spec.mount_ids:
            entries.append((str(folder_id), path))
    if len(entries) > MAX_MOUNTS:
        raise InvalidAPIParameters(f"A session may mount at most {MAX_MOUNTS} vfolders.")
    wanted: list[Wanted] = []
    seen: set[str] = set()
    for ref, given in entries:
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidAPIParameters("mounts: give vfolder names or ids.")
        if "/" in ref:
            raise InvalidAPIParameters(
                f"mounts: {ref!r}: mounting a sub-path of a vfolder is not supported; "
                "mount the folder and use the path inside it."
            )
        key = _key(ref)
        if key in seen:
            continue
        seen.add(key)
        option = _option(spec.mount_options, ref, key)
        dst = given or option.get("mount_destination") or None
        wanted.append(
            Wanted(
                ref=ref,
                destination=destination(dst, f"mount of {ref}") if dst else None,
                permission=_permission(
                    option.get("permission", option.get("perm")), f"mount_options.{ref}"
                ),
            )
        )
    return wanted


def _key(ref: str) -> str:
    try:
        return str(uuid.UUID(ref))
    except ValueError:
        return ref


Resolve = Callable[[str], Awaitable[VFolderAccess]]
HostPath = Callable[[str, uuid.UUID], Awaitable[str]]


async def resolve(wanted: list[Wanted], access: Resolve, host_path: HostPath) -> list[VFolderMount]:
    """The mounts of ``wanted``: ``access`` resolves a reference for the session's owner (and
    raises 404/400 for a folder they cannot see or use), ``host_path`` asks the storage proxy
    where a folder lives. Two folders at one destination are refused."""
    mounts: list[VFolderMount] = []
    taken: dict[str, str] = {}
    for item in wanted:
        found = await access(item.ref)
        folder = found.folder
        if any(m.vfid == folder.id for m in mounts):
            continue  # the same folder named twice (by name and by id)
        permission = found.permission
        if item.permission is not None and item.permission.level < permission.level:
            permission = item.permission
        target = item.destination or destination(folder.name, f"mount of {item.ref}")
        for path, other in taken.items():
            if target == path or target.startswith(path + "/") or path.startswith(target + "/"):
                raise InvalidAPIParameters(
                    f"mounts: {folder.name} at {target} would overlap {other} at {path}."
                )
        taken[target] = folder.name
        mounts.append(
            VFolderMount(
                name=folder.name,
                vfid=folder.id,
                host=folder.host,
                host_path=await host_path(folder.host, folder.id),
                kernel_path=target,
                permission=permission,
                usage_mode=folder.usage_mode,
            )
        )
    return mounts
