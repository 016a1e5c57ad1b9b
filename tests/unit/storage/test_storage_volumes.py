"""Volume backends: local folders and quotas, the xfs backend's startup checks, the registry
and the settings."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cygnet.storage.config import StorageSettings
from cygnet.storage.errors import (
    AlreadyExistsInStorage,
    FolderNotFound,
    FolderQuotaExceeded,
    InvalidPath,
    VolumeUnsupported,
)
from cygnet.storage.volumes.local import LocalVolume
from cygnet.storage.volumes.registry import create_volume, volume_backends
from cygnet.storage.volumes.xfs import XFSVolume, find_mount


def test_storage_local_folder_lifecycle_and_quota(tmp_path: Path) -> None:
    vol = LocalVolume("v", tmp_path / "v", {"usage_cache_seconds": 0})
    vol.init()
    fid = str(uuid.uuid4())
    vol.create_folder(fid, 100)
    path = vol.mount_path(fid)
    assert path.is_dir() and path.is_relative_to(tmp_path / "v")
    with pytest.raises(AlreadyExistsInStorage):
        vol.create_folder(fid, None)
    (path / "a").write_bytes(b"x" * 60)
    assert vol.usage(fid).used_bytes == 60 and vol.usage(fid).file_count == 1
    assert vol.get_quota(fid) == 100
    vol.check_quota(fid, 40)
    with pytest.raises(FolderQuotaExceeded):
        vol.check_quota(fid, 41)
    vol.set_quota(fid, None)
    vol.check_quota(fid, 10**12)
    vol.delete_folder(fid)
    assert not path.exists()
    with pytest.raises(FolderNotFound):
        vol.delete_folder(fid)
    with pytest.raises(FolderNotFound):
        vol.usage(fid)
    with pytest.raises(InvalidPath):
        vol.mount_path("../../etc")


def test_storage_local_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalVolume("v", tmp_path, {"nonsense": 1})


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 8:2 / /mnt/xfs rw,relatime shared:2 - xfs /dev/sdb rw,attr2,inode64,prjquota
41 22 8:3 / /mnt/plain rw,relatime shared:3 - xfs /dev/sdc rw,attr2,inode64,noquota
"""


def test_storage_find_mount() -> None:
    assert find_mount(Path("/mnt/xfs/vol"), MOUNTINFO)[:2] == ("/mnt/xfs", "xfs")
    assert find_mount(Path("/mnt/xfsother"), MOUNTINFO)[:2] == ("/", "ext4")
    assert "prjquota" in find_mount(Path("/mnt/xfs"), MOUNTINFO)[2]


def test_storage_xfs_refuses_other_file_systems(tmp_path: Path) -> None:
    vol = XFSVolume("fast", tmp_path / "v", {})
    with pytest.raises(VolumeUnsupported, match="not XFS"):
        vol.init()

    class NoQuota(XFSVolume):
        def _mountinfo(self) -> str:
            return MOUNTINFO.replace("/mnt/plain", str(tmp_path))

    with pytest.raises(VolumeUnsupported, match="prjquota"):
        NoQuota("fast", tmp_path / "v", {}).init()


def test_storage_xfs_quota_commands(tmp_path: Path) -> None:
    calls: list[str] = []

    class Fake(XFSVolume):
        def _mountinfo(self) -> str:
            return MOUNTINFO.replace("/mnt/xfs", str(tmp_path))

        def _xfs_quota(self, command: str) -> str:
            calls.append(command)
            return ""

    vol = Fake("fast", tmp_path / "v", {"xfs_quota": "true", "project_id_base": 500})
    vol.init()
    fid = str(uuid.uuid4())
    vol.create_folder(fid, 4096)
    assert calls == [
        f"project -s -p {vol.mount_path(fid)} 501",
        "limit -p bhard=4096 501",
    ]
    vol.delete_folder(fid)
    assert calls[-1] == "limit -p bhard=0 501"


def test_storage_registry_and_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert {"local", "xfs"} <= set(volume_backends())
    config = tmp_path / "storage.toml"
    config.write_text(
        'client_port = 7000\nsecret = "s"\n\n[volumes.main]\nbackend = "local"\n'
        f'path = "{tmp_path / "main"}"\nusage_cache_seconds = 1\n'
    )
    monkeypatch.setenv("CYGNET_STORAGE_MANAGER_PORT", "7001")
    settings = StorageSettings.load(config)
    assert (settings.manager_port, settings.client_port) == (7001, 7000)
    assert settings.shared_secret() == "s"
    volume = create_volume("main", settings.volumes["main"])
    assert isinstance(volume, LocalVolume)
    assert volume.local_options.usage_cache_seconds == 1
    with pytest.raises(ValueError, match="unknown volume backend"):
        create_volume("x", settings.volumes["main"].model_copy(update={"backend": "nope"}))
    with pytest.raises(ValueError, match="no shared secret"):
        StorageSettings.load().shared_secret()
