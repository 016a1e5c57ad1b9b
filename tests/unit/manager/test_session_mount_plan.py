"""Mount requests of a new session (pure): which folders, where, with what permission."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from cygnet.common.errors import InvalidAPIParameters
from cygnet.manager.entities import (
    VFolder,
    VFolderAccess,
    VFolderOwnership,
    VFolderPermission,
    VFolderStatus,
    VFolderUsageMode,
)
from cygnet.manager.services.sessions import mounts
from cygnet.manager.services.sessions.spec import SessionSpec

RO, RW, WD = VFolderPermission.READ_ONLY, VFolderPermission.READ_WRITE, VFolderPermission.RW_DELETE
A = uuid.UUID("11111111-2222-3333-4444-555555555555")


def spec(**kwargs: object) -> SessionSpec:
    return SessionSpec(image="python", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("data", "/home/work/data"),
        ("a/b", "/home/work/a/b"),
        ("/data/x", "/data/x"),
        ("/home/work/models/", "/home/work/models"),
        ("//mnt//x", "/mnt/x"),
    ],
)
def test_destinations(given: str, expected: str) -> None:
    assert mounts.destination(given, "m") == expected


@pytest.mark.parametrize(
    "bad",
    ["", "/", "/home/work", "/home", "/etc", "/etc/passwd", "/usr/lib/x", "/proc/1", "../x",
     "a/../../etc", "/opt/cygnet", "/opt/cygnet/runner", "x\x00y", "/" + "a" * 2000, "/tmp/x"],
)  # fmt: skip
def test_destinations_refused(bad: str) -> None:
    with pytest.raises(InvalidAPIParameters):
        mounts.destination(bad, "m")


def test_plan_merges_every_form_once() -> None:
    wanted = mounts.plan(
        spec(
            mounts=["data", "models", "data"],
            mount_map={"models": "m", "extra": "/mnt/extra"},
            mount_ids=[A],
            mount_id_map={A: "by-id"},
            mount_options={"data": {"permission": "ro"}},
        )
    )
    assert [(w.ref, w.destination, w.permission) for w in wanted] == [
        ("data", None, RO),
        ("models", "/home/work/m", None),
        ("extra", "/mnt/extra", None),
        (str(A), "/home/work/by-id", None),
    ]


def test_plan_refuses_sub_paths_and_bad_options() -> None:
    with pytest.raises(InvalidAPIParameters, match="sub-path"):
        mounts.plan(spec(mounts=["data/sub"]))
    with pytest.raises(InvalidAPIParameters, match="permission"):
        mounts.plan(spec(mounts=["data"], mount_options={"data": {"perm": "all"}}))
    with pytest.raises(InvalidAPIParameters, match="at most"):
        mounts.plan(spec(mounts=[f"f{i}" for i in range(mounts.MAX_MOUNTS + 1)]))


def folder(name: str, permission: VFolderPermission = RW, fid: uuid.UUID | None = None) -> VFolder:
    now = datetime.now(UTC)
    return VFolder(
        id=fid or uuid.uuid4(),
        name=name,
        host="local:volume1",
        quota_scope_id="user:x",
        usage_mode=VFolderUsageMode.GENERAL,
        permission=permission,
        ownership_type=VFolderOwnership.USER,
        user=uuid.uuid4(),
        group=None,
        domain_name="default",
        creator="a@b.c",
        cloneable=False,
        status=VFolderStatus.READY,
        created_at=now,
        status_changed=now,
        last_used=None,
        max_size=None,
    )


async def test_resolve_permissions_paths_and_overlaps() -> None:
    folders = {
        "mine": VFolderAccess(folder("mine", WD), WD, is_owner=True, can_manage=True),
        "shared": VFolderAccess(folder("shared"), RO, is_owner=False, can_manage=False),
        "other": VFolderAccess(folder("other"), RW, is_owner=False, can_manage=False),
    }
    folders[str(A)] = folders["mine"]

    async def access(ref: str) -> VFolderAccess:
        return folders[ref]

    async def host_path(host: str, fid: uuid.UUID) -> str:
        return f"/vol/{fid}"

    got = await mounts.resolve(
        mounts.plan(
            spec(
                mounts=["mine", "shared", "other"],
                mount_ids=[A],  # the same folder again, by id: mounted once
                mount_options={"other": {"permission": "ro"}, "shared": {"permission": "wd"}},
            )
        ),
        access,
        host_path,
    )
    assert [(m.name, m.kernel_path, m.permission, m.read_only) for m in got] == [
        ("mine", "/home/work/mine", WD, False),
        ("shared", "/home/work/shared", RO, True),  # an option never raises a permission
        ("other", "/home/work/other", RO, True),  # but may lower it
    ]
    assert got[0].host_path == f"/vol/{folders['mine'].folder.id}"
    with pytest.raises(InvalidAPIParameters, match="overlap"):
        await mounts.resolve(
            mounts.plan(spec(mounts=["mine", "other"], mount_map={"other": "mine/inner"})),
            access,
            host_path,
        )
