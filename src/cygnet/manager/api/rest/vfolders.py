"""``/folders``: virtual folders (wire notes 2.2). Thin handlers: parse with ``vfolder_wire``,
call a vfolder service, render. Fixed paths (``/_/…``, ``/invitations/…``) come before
``/{vf}``; ``{vf}`` is a folder UUID (hex or dashed) or a name the caller can see."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from cygnet.common.errors import InvalidParameters
from cygnet.manager.api.auth import authenticated, json_body
from cygnet.manager.api.rest import vfolder_wire as wire
from cygnet.manager.entities import VFolderPermission
from cygnet.manager.services.vfolders.service import parse_permission

router = APIRouter(prefix="/folders", tags=["vfolders"])
MSG_OK: dict[str, Any] = {"msg": ""}


def _ref(body: dict[str, Any]) -> str:
    value = wire.pick(body, "id", "vfolderId", "vfolder_id", "name")
    if value is None:
        raise InvalidParameters("id is required.")
    return str(value)


def _ref_of(body: dict[str, Any], *keys: str) -> str:
    value = wire.pick(body, *keys)
    if not isinstance(value, str) or not value:
        raise InvalidParameters(f"{keys[0]} is required (a vfolder id).")
    return value


def _perm_or_none(value: Any) -> VFolderPermission | None:
    return None if value is None else parse_permission(value)


# -- collection ---------------------------------------------------------------------------------


@router.post("", status_code=201, summary="Create a vfolder")
async def create(request: Request) -> Response:
    call = await authenticated(request)
    spec = wire.parse_create(await json_body(request))
    access = await call.services.vfolders.create(call.caller, spec)
    return JSONResponse(wire.render_item(access), status_code=201)


@router.get("", summary="List the caller's vfolders")
async def list_folders(request: Request) -> Response:
    call = await authenticated(request)
    q = request.query_params
    found = await call.services.vfolders.list(
        call.caller,
        all_folders=wire.flag(dict(q), "all"),
        group_id=q.get("group_id") or q.get("groupId") or None,
        owner_email=q.get("owner_user_email") or None,
    )
    return JSONResponse([wire.render_item(a) for a in found])


@router.delete("", status_code=204, summary="Move a vfolder to the trash (body {id})")
async def trash_by_body(request: Request) -> Response:
    call = await authenticated(request)
    await call.services.vfolders.trash(call.caller, _ref(await json_body(request)))
    return Response(status_code=204)


@router.post("/purge", status_code=204, summary="Delete a trashed vfolder for good (admins)")
async def purge(request: Request) -> Response:
    call = await authenticated(request)
    await call.services.vfolders.purge(call.caller, _ref(await json_body(request)))
    return Response(status_code=204)


@router.post("/restore-from-trash-bin", status_code=204, summary="Restore from the trash")
@router.post("/recover", status_code=204, include_in_schema=False)
async def restore(request: Request) -> Response:
    call = await authenticated(request)
    await call.services.vfolders.restore(call.caller, _ref(await json_body(request)))
    return Response(status_code=204)


@router.post("/delete-from-trash-bin", status_code=204, summary="Delete a trashed vfolder")
async def delete_forever(request: Request) -> Response:
    call = await authenticated(request)
    await call.services.vfolders.delete_forever(call.caller, _ref(await json_body(request)))
    return Response(status_code=204)


# -- fixed paths ----------------------------------------------------------------------------


@router.get("/_/id", summary="A vfolder's id by name (JSON body {name})")
async def id_by_name(request: Request) -> Response:
    call = await authenticated(request)
    body = await json_body(request, required=False)
    name = wire.pick(body, "name", "vfolder_name", "vfolderName")
    name = name or request.query_params.get("name")
    if not name:
        raise InvalidParameters("name is required.")
    access = await call.services.vfolders.get(call.caller, str(name))
    return JSONResponse({"id": str(access.folder.id), "name": access.folder.name})


@router.get("/_/hosts", summary="vfolder hosts the caller may use")
async def hosts(request: Request) -> Response:
    call = await authenticated(request)
    group_id = request.query_params.get("group_id") or None
    default, allowed, volumes = await call.services.vfolders.hosts(call.caller, group_id)
    info = {
        v.host: {
            "backend": v.backend,
            "capabilities": v.capabilities,
            "usage": {
                "capacity_bytes": v.capacity_bytes,
                "used_bytes": v.used_bytes,
                "percentage": (
                    round(v.used_bytes / v.capacity_bytes * 100, 2)
                    if v.capacity_bytes and v.used_bytes is not None
                    else None
                ),
            },
            "sftp_scaling_groups": [],
        }
        for v in volumes
    }
    return JSONResponse({"default": default, "allowed": allowed, "volume_info": info})


@router.get("/_/all_hosts", summary="All vfolder hosts (superadmins)")
@router.get("/_/all-hosts", include_in_schema=False)
async def all_hosts(request: Request) -> Response:
    call = await authenticated(request)
    default, allowed = await call.services.vfolders.all_hosts(call.caller)
    return JSONResponse({"default": default, "allowed": allowed})


@router.get("/_/allowed_types", summary="Ownership types of new vfolders")
@router.get("/_/allowed-types", include_in_schema=False)
async def allowed_types(request: Request) -> Response:
    await authenticated(request)
    return JSONResponse(["user", "group"])


@router.get("/_/shared", summary="Who a vfolder is shared with (?vfolder_id=)")
async def shared(request: Request) -> Response:
    call = await authenticated(request)
    ref = request.query_params.get("vfolder_id")
    folders = (
        [await call.services.vfolders.get(call.caller, ref)]
        if ref
        else [a for a in await call.services.vfolders.list(call.caller) if a.can_manage]
    )
    result = []
    for access in folders:
        for share in await call.services.vfolder_sharing.shares(call.caller, access.folder.id.hex):
            f = access.folder
            result.append(
                {
                    "vfolder_id": str(f.id),
                    "vfolder_name": f.name,
                    "status": f.status.value,
                    "owner": str(f.user or f.group),
                    "type": f.ownership_type.value,
                    "shared_to": {"uuid": str(share.user_uuid), "email": share.user_email},
                    "perm": share.permission.value,
                }
            )
    return JSONResponse({"shared": result})


@router.post("/_/shared", summary="Change or revoke one user's permission on a shared vfolder")
async def update_shared(request: Request) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    perm = wire.pick(body, "perm", "permission")
    await call.services.vfolder_sharing.update_shares(
        call.caller,
        _ref_of(body, "vfolder", "vfolder_id", "vfolderId", "id"),
        [(wire.pick(body, "user", "user_id", "userId"), _perm_or_none(perm))],
    )
    return JSONResponse({"msg": "shared vfolder permission updated"})


@router.post("/_/sharing", status_code=201, summary="Change or revoke several users' permissions")
async def update_sharing(request: Request) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    await call.services.vfolder_sharing.update_shares(
        call.caller,
        _ref_of(body, "vfolder_id", "vfolderId", "vfolder", "id"),
        wire.parse_user_perm_list(wire.pick(body, "user_perm_list", "userPermList")),
    )
    return Response(status_code=201)


# -- quotas, usage and the hosts' mounts (wire notes 2.2 "others") -------------------------------


async def _params(request: Request) -> dict[str, Any]:
    """A GET's parameters: the JSON body the official client sends, else the query."""
    return {**request.query_params, **await json_body(request, required=False)}


def _id(params: dict[str, Any]) -> Any:
    return wire.pick(params, "id", "vfolder_id", "vfolderId")


@router.get("/_/quota", summary="A vfolder's quota and usage ({folder_host, id})")
async def get_quota(request: Request) -> Response:
    call = await authenticated(request)
    p = await _params(request)
    found = await call.services.vfolders.quota.get(call.caller, _id(p), p.get("folder_host"))
    return JSONResponse({"used_bytes": found.used_bytes, "limit_bytes": found.limit_bytes})


@router.post("/_/quota", summary="Set a vfolder's quota ({folder_host, id, input: {size_bytes}})")
async def update_quota(request: Request) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    size = wire.quota_input(body)
    quota = await call.services.vfolders.quota.set(
        call.caller, _id(body), body.get("folder_host"), size
    )
    return JSONResponse({"size_bytes": quota})


@router.get("/_/usage", summary="Files and bytes of a vfolder (superadmins)")
async def usage(request: Request) -> Response:
    call = await authenticated(request)
    p = await _params(request)
    found = await call.services.vfolders.quota.usage(call.caller, _id(p), p.get("folder_host"))
    return JSONResponse(found)


@router.get("/_/used-bytes", summary="Bytes used by a vfolder (superadmins)")
@router.get("/_/used_bytes", include_in_schema=False)
async def used_bytes(request: Request) -> Response:
    call = await authenticated(request)
    p = await _params(request)
    used = await call.services.vfolders.quota.used_bytes(call.caller, _id(p), p.get("folder_host"))
    return JSONResponse({"used_bytes": used})


@router.get("/_/fstab", summary="The manager's view of the vfolder volumes (superadmins)")
async def fstab(request: Request) -> Response:
    call = await authenticated(request)
    p = await _params(request)
    content = await call.services.vfolders.fstab(call.caller, p.get("agent_id"))
    return JSONResponse({"content": content, "node": "manager", "node_id": "manager"})


@router.get("/_/mounts", summary="Volumes and their paths as the storage proxies report them")
async def mounts(request: Request) -> Response:
    call = await authenticated(request)
    volumes, failed = await call.services.vfolders.mounts(call.caller)
    return JSONResponse(
        {
            "manager": {
                "success": True,
                "mounts": [],
                "message": "Cygnet managers mount no vfolder volumes; storage proxies serve them.",
            },
            "storage_proxy": {
                "success": not failed,
                "mounts": [[v.host, v.path] for v in volumes],
                "message": "; ".join(f"{name}: {why}" for name, why in failed.items()),
            },
            "agents": {},
        }
    )


# -- invitations --------------------------------------------------------------------------------


@router.get("/invitations/list", summary="The caller's pending invitations")
async def invitations(request: Request) -> Response:
    call = await authenticated(request)
    found = await call.services.vfolder_sharing.invitations(call.caller)
    return JSONResponse({"invitations": [wire.render_invitation(i) for i in found]})


@router.get("/invitations/list-sent", summary="Invitations the caller sent (pending)")
@router.get("/invitations/list_sent", include_in_schema=False)
async def sent_invitations(request: Request) -> Response:
    call = await authenticated(request)
    found = await call.services.vfolder_sharing.sent_invitations(call.caller)
    return JSONResponse({"invitations": [wire.render_invitation(i) for i in found]})


def _inv_id(body: dict[str, Any]) -> Any:
    value = wire.pick(body, "inv_id", "invitation_id", "invitationId", "id")
    if value is None:
        raise InvalidParameters("inv_id is required.")
    return value


@router.post("/invitations/accept", summary="Accept an invitation")
async def accept(request: Request) -> Response:
    call = await authenticated(request)
    await call.services.vfolder_sharing.accept(call.caller, _inv_id(await json_body(request)))
    return JSONResponse(MSG_OK)


@router.delete("/invitations/delete", summary="Reject (or cancel) an invitation")
@router.post("/invitations/delete", include_in_schema=False)
async def reject(request: Request) -> Response:
    call = await authenticated(request)
    await call.services.vfolder_sharing.reject(call.caller, _inv_id(await json_body(request)))
    return JSONResponse(MSG_OK)


@router.post("/invitations/update/{inv_id}", summary="Change a pending invitation's permission")
async def update_invitation(request: Request, inv_id: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    perm = wire.pick(body, "perm", "permission")
    if perm is None:
        raise InvalidParameters("perm is required.")
    await call.services.vfolder_sharing.update_invitation(
        call.caller, inv_id, parse_permission(perm)
    )
    return JSONResponse({"msg": f"vfolder invitation updated: {inv_id}."})


# -- one folder ---------------------------------------------------------------------------------


@router.get("/{vf}", summary="vfolder information")
async def info(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    access, usage = await call.services.vfolders.info(call.caller, vf)
    return JSONResponse(wire.render_info(access, usage))


@router.delete("/{vf}", status_code=204, summary="Move a vfolder to the trash")
async def trash(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    await call.services.vfolders.trash(call.caller, vf)
    return Response(status_code=204)


@router.delete("/{vf}/force", status_code=204, summary="Delete a vfolder for good")
async def force_delete(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    await call.services.vfolders.force_delete(call.caller, vf)
    return Response(status_code=204)


@router.post("/{vf}/rename", summary="Rename a vfolder")
async def rename(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    new_name = wire.text(await json_body(request), "new_name", "newName")
    assert new_name is not None
    await call.services.vfolders.rename(call.caller, vf, new_name)
    return JSONResponse(MSG_OK)


@router.post("/{vf}/update-options", summary="Change permission / cloneable")
async def update_options(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    perm = wire.pick(body, "permission")
    cloneable = wire.pick(body, "cloneable")
    await call.services.vfolders.update_options(
        call.caller,
        vf,
        permission=None if perm is None else parse_permission(perm),
        cloneable=None if cloneable is None else wire.flag(body, "cloneable"),
    )
    return JSONResponse(MSG_OK)


@router.post("/{vf}/clone", status_code=201, summary="Clone a vfolder (background task)")
async def clone(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    spec = wire.parse_clone(await json_body(request))
    access, task_id = await call.services.vfolders.clone(call.caller, vf, spec)
    item = wire.render_item(access)
    item["bgtask_id"] = str(task_id)
    return JSONResponse(item, status_code=201)


@router.post("/{vf}/mkdir", summary="Create directories")
async def mkdir(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    results = await call.services.vfolder_files.mkdir(
        call.caller,
        vf,
        wire.pick(body, "path"),
        parents=wire.flag(body, "parents"),
        exist_ok=wire.flag(body, "exist_ok", "existOk"),
    )
    status = 200
    if results.get("failed"):
        status = 207 if results.get("success") else 422
    return JSONResponse({"results": results}, status_code=status)


@router.get("/{vf}/files", summary="List files in a directory")
async def list_files(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request, required=False)
    path = request.query_params.get("path", wire.pick(body, "path", default=""))
    items = await call.services.vfolder_files.list_files(call.caller, vf, str(path))
    return JSONResponse({"items": items})


@router.post("/{vf}/rename-file", summary="Rename a file or directory")
@router.post("/{vf}/rename_file", include_in_schema=False)
async def rename_file(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    target = wire.text(body, "target_path", "targetPath")
    new_name = wire.text(body, "new_name", "newName")
    assert target is not None and new_name is not None
    await call.services.vfolder_files.rename_file(call.caller, vf, target, new_name)
    return JSONResponse(MSG_OK)


@router.post("/{vf}/move-file", summary="Move a file or directory")
@router.post("/{vf}/move_file", include_in_schema=False)
async def move_file(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    src, dst = wire.text(body, "src"), wire.text(body, "dst")
    assert src is not None and dst is not None
    await call.services.vfolder_files.move_file(call.caller, vf, src, dst)
    return JSONResponse(MSG_OK)


@router.delete("/{vf}/delete-files", summary="Delete files (recursive for directories)")
@router.post("/{vf}/delete-files", include_in_schema=False)
@router.delete("/{vf}/delete_files", include_in_schema=False)
async def delete_files(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    await call.services.vfolder_files.delete_files(
        call.caller, vf, wire.pick(body, "files"), recursive=wire.flag(body, "recursive")
    )
    return JSONResponse(MSG_OK)


@router.post("/{vf}/delete-files-async", status_code=202, summary="Delete files in the background")
async def delete_files_async(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    task_id = await call.services.vfolders.delete_files_async(
        call.caller, vf, wire.pick(body, "files"), recursive=wire.flag(body, "recursive")
    )
    return JSONResponse({"bgtask_id": str(task_id)}, status_code=202)


@router.post("/{vf}/request-upload", summary="A token to upload one file (tus)")
async def request_upload(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    path = wire.text(body, "path")
    assert path is not None
    transfer = await call.services.vfolder_files.request_upload(
        call.caller, vf, path, wire.pick(body, "size", default=0)
    )
    return JSONResponse({"token": transfer.token, "url": transfer.url})


@router.post("/{vf}/request-download", summary="A token to download one file")
async def request_download(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    files = wire.pick(body, "files")
    if wire.flag(body, "archive") and files:
        transfer = await call.services.vfolder_files.request_download_archive(
            call.caller, vf, files, None
        )
    else:
        path = wire.text(body, "path", "file")
        assert path is not None
        transfer = await call.services.vfolder_files.request_download(call.caller, vf, path)
    return JSONResponse({"token": transfer.token, "url": transfer.url})


@router.post("/{vf}/request-download-archive", summary="A token to download files as a ZIP")
async def request_download_archive(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    transfer = await call.services.vfolder_files.request_download_archive(
        call.caller, vf, wire.pick(body, "files"), wire.text(body, "filename", required=False)
    )
    return JSONResponse({"token": transfer.token, "url": transfer.url})


@router.post("/{vf}/invite", status_code=201, summary="Invite users to a user vfolder")
async def invite(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    invited = await call.services.vfolder_sharing.invite(
        call.caller,
        vf,
        parse_permission(wire.pick(body, "perm", "permission", default="rw")),
        wire.pick(body, "user_ids", "emails", "userIDs", default=[]),
    )
    return JSONResponse({"invited_ids": invited}, status_code=201)


@router.post("/{vf}/share", status_code=201, summary="Share a project vfolder with members")
async def share(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    shared_emails = await call.services.vfolder_sharing.share(
        call.caller,
        vf,
        parse_permission(wire.pick(body, "permission", "perm", default="rw")),
        wire.pick(body, "emails", "user_ids", default=[]),
    )
    return JSONResponse({"shared_emails": shared_emails}, status_code=201)


@router.delete("/{vf}/unshare", summary="Stop sharing a project vfolder with users")
@router.post("/{vf}/unshare", include_in_schema=False)
async def unshare(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request)
    removed = await call.services.vfolder_sharing.unshare(
        call.caller, vf, wire.pick(body, "emails", "user_ids", default=[])
    )
    return JSONResponse({"unshared_emails": removed})


@router.post("/{vf}/leave", summary="Leave a vfolder shared with the caller")
async def leave(request: Request, vf: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request, required=False)
    await call.services.vfolder_sharing.leave(
        call.caller, vf, wire.pick(body, "shared_user_uuid", "sharedUserUuid")
    )
    return JSONResponse({"msg": "left the shared vfolder"})
