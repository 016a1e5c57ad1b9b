"""The ``/folders`` wire format (wire notes 2.2 and 6): tolerant parsing of the official
client's bodies (aliases, GET/DELETE with JSON bodies) and rendering of folders, files and
invitations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cygnet.common.errors import InvalidParameters
from cygnet.manager.api.rest.session_wire import to_bool
from cygnet.manager.entities import VFolderAccess, VFolderInvitation, VFolderPermission
from cygnet.manager.services.vfolders.quota import parse_quota
from cygnet.manager.services.vfolders.service import (
    CloneSpec,
    CreateSpec,
    FolderUsage,
    parse_permission,
    parse_usage_mode,
)


def pick(body: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in body and body[key] is not None:
            return body[key]
    return default


def text(body: Mapping[str, Any], *keys: str, required: bool = True) -> str | None:
    value = pick(body, *keys)
    if value is None:
        if required:
            raise InvalidParameters(f"{keys[0]} is required.")
        return None
    if not isinstance(value, str):
        raise InvalidParameters(f"{keys[0]} must be a string.")
    return value


def flag(body: Mapping[str, Any], *keys: str, default: bool = False) -> bool:
    value = pick(body, *keys)
    return default if value is None else to_bool(value, keys[0])


def parse_create(body: Mapping[str, Any]) -> CreateSpec:
    name = text(body, "name")
    assert name is not None
    group = pick(body, "group", "group_id", "groupId")
    return CreateSpec(
        name=name,
        host=text(body, "host", "folder_host", required=False) or None,
        group=str(group) if group else None,
        usage_mode=parse_usage_mode(pick(body, "usage_mode", "usageMode", default="general")),
        permission=parse_permission(pick(body, "permission", default="rw")),
        cloneable=flag(body, "cloneable"),
        unmanaged_path=text(body, "unmanaged_path", required=False),
        quota=parse_create_quota(body),
    )


def parse_clone(body: Mapping[str, Any]) -> CloneSpec:
    name = text(body, "target_name", "targetName")
    assert name is not None
    return CloneSpec(
        target_name=name,
        target_host=text(body, "target_host", "targetHost", "folder_host", required=False) or None,
        usage_mode=parse_usage_mode(pick(body, "usage_mode", "usageMode", default="general")),
        permission=parse_permission(pick(body, "permission", default="rw")),
        cloneable=flag(body, "cloneable"),
    )


def parse_create_quota(body: Mapping[str, Any]) -> int | None:
    return parse_quota(pick(body, "quota", "max_size"))


def quota_input(body: Mapping[str, Any]) -> Any:
    """``input.size_bytes`` of ``POST /folders/_/quota`` (also ``size_bytes`` at the top)."""
    given = body.get("input")
    if given is not None and not isinstance(given, Mapping):
        raise InvalidParameters('input must be an object like {"size_bytes": 1073741824}.')
    size = pick(given or {}, "size_bytes", "sizeBytes")
    size = size if size is not None else pick(body, "size_bytes", "sizeBytes")
    if size is None:
        raise InvalidParameters("input.size_bytes is required.")
    return size


def parse_user_perm_list(value: Any) -> list[tuple[Any, VFolderPermission | None]]:
    """``[{"user_id", "perm"}]`` of ``POST /folders/_/sharing`` (``perm`` null: revoke)."""
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise InvalidParameters("user_perm_list must be a list of {user_id, perm}.")
    changes: list[tuple[Any, VFolderPermission | None]] = []
    for item in value:
        perm = pick(item, "perm", "permission")
        changes.append(
            (
                pick(item, "user_id", "userId", "user"),
                None if perm is None else parse_permission(perm),
            )
        )
    return changes


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def render_item(access: VFolderAccess) -> dict[str, Any]:
    """A folder as create and list answer it."""
    f = access.folder
    return {
        "id": f.id.hex,
        "name": f.name,
        "quota_scope_id": f.quota_scope_id,
        "host": f.host,
        "usage_mode": f.usage_mode.value,
        "created_at": _iso(f.created_at),
        "last_used": _iso(f.last_used),
        "permission": access.permission.value,
        "max_size": f.max_size or 0,
        "max_files": f.max_files,
        "creator": f.creator,
        "ownership_type": f.ownership_type.value,
        "type": f.ownership_type.value,
        "user": None if f.user is None else str(f.user),
        "group": None if f.group is None else str(f.group),
        "user_email": f.user_email,
        "group_name": f.group_name,
        "cloneable": f.cloneable,
        "status": f.status.value,
        "is_owner": access.is_owner,
        "cur_size": 0,
        "unmanaged_path": None,
    }


def render_info(access: VFolderAccess, usage: FolderUsage) -> dict[str, Any]:
    item = render_item(access)
    item.update(numFiles=usage.file_count, num_files=usage.file_count, used_bytes=usage.used_bytes)
    item["cur_size"] = usage.used_bytes
    return item


def render_invitation(inv: VFolderInvitation) -> dict[str, Any]:
    """The union of the manager's and the test suite's key names (wire notes 6, row 5)."""
    return {
        "id": str(inv.id),
        "vfolder_id": str(inv.vfolder_id),
        "vfolder_name": inv.vfolder_name,
        "inviter": inv.inviter,
        "inviter_user_email": inv.inviter,
        "invitee": inv.invitee,
        "invitee_user_email": inv.invitee,
        "perm": inv.permission.value,
        "mount_permission": inv.permission.value,
        "state": inv.state.value,
        "status": inv.state.value,
        "created_at": _iso(inv.created_at),
        "modified_at": _iso(inv.modified_at),
    }
