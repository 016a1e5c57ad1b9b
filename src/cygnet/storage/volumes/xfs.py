"""``xfs``: like ``local``, plus XFS project quotas enforced by the kernel.

Each folder is an XFS project (ids from ``project_id_base``, option, default 100000, recorded
in ``<path>/.cygnet/xfs-projects.json``); its quota is the project's hard block limit, so writes
from inside sessions are limited too. The proxy's own usage accounting (``local``) still
refuses uploads beyond the quota early. At startup the volume refuses to start unless its path
is on an XFS file system mounted with project quotas (``prjquota``/``pquota``) and the
``xfs_quota`` tool is installed; it needs the privileges ``xfs_quota -x`` needs (root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from cygnet.storage.errors import VolumeUnsupported
from cygnet.storage.volumes.base import folder_hex
from cygnet.storage.volumes.local import LocalVolume

QUOTA_MOUNT_OPTIONS = ("prjquota", "pquota", "pqnoenforce")


def find_mount(path: Path, mountinfo: str) -> tuple[str, str, set[str]]:
    """(mount point, file system type, mount+super options) of the mount holding ``path``."""
    target = str(path)
    best: tuple[str, str, set[str]] = ("", "", set())
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        rest = right.split()
        if len(fields) < 6 or len(rest) < 3:
            continue
        point = fields[4].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            options = set(fields[5].split(",")) | set(rest[2].split(","))
            best = (point, rest[0], options)
    return best


class XFSVolume(LocalVolume):
    backend = "xfs"
    capabilities = ("vfolder", "quota", "hard-quota")

    def __init__(self, name: str, path: Path, options: dict[str, Any]) -> None:
        super().__init__(name, path, options)
        self.project_id_base = int(options.get("project_id_base", 100000))
        self.xfs_quota_bin = str(options.get("xfs_quota", "xfs_quota"))
        self.mount_point = ""

    def _local_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in options.items() if k not in ("project_id_base", "xfs_quota")}

    def _mountinfo(self) -> str:
        return Path("/proc/self/mountinfo").read_text()

    def init(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        point, fstype, options = find_mount(self.path.resolve(), self._mountinfo())
        if fstype != "xfs":
            raise VolumeUnsupported(
                f"volume {self.name!r}: {self.path} is on {fstype or 'an unknown'} file system "
                f'(mounted at {point or "?"}), not XFS; use backend = "local" there'
            )
        if not options & set(QUOTA_MOUNT_OPTIONS):
            raise VolumeUnsupported(
                f"volume {self.name!r}: {point} is not mounted with project quotas; "
                "remount it with -o prjquota"
            )
        if shutil.which(self.xfs_quota_bin) is None:
            raise VolumeUnsupported(
                f"volume {self.name!r}: {self.xfs_quota_bin} not found; install xfsprogs"
            )
        self.mount_point = point
        super().init()

    def _xfs_quota(self, command: str) -> str:
        done = subprocess.run(
            [self.xfs_quota_bin, "-x", "-c", command, self.mount_point],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise OSError(f"xfs_quota -c {command!r} failed: {done.stderr.strip()}")
        return done.stdout

    def _projects_file(self) -> Path:
        return self.meta_path / "xfs-projects.json"

    def _projects(self) -> dict[str, int]:
        try:
            data: dict[str, int] = json.loads(self._projects_file().read_text())
        except FileNotFoundError:
            return {}
        return data

    def _project_id(self, folder_id: str) -> int:
        with self._lock:
            projects = self._projects()
            key = folder_hex(folder_id)
            if key not in projects:
                projects[key] = max(projects.values(), default=self.project_id_base) + 1
                tmp = self._projects_file().with_suffix(".tmp")
                tmp.write_text(json.dumps(projects))
                os.replace(tmp, self._projects_file())
            return projects[key]

    def create_folder(self, folder_id: str, quota_bytes: int | None) -> None:
        self._make_folder_dir(folder_id)
        project = self._project_id(folder_id)
        self._xfs_quota(f"project -s -p {self.mount_path(folder_id)} {project}")
        self.set_quota(folder_id, quota_bytes)

    def set_quota(self, folder_id: str, quota_bytes: int | None) -> None:
        super().set_quota(folder_id, quota_bytes)
        project = self._project_id(folder_id)
        self._xfs_quota(f"limit -p bhard={int(quota_bytes or 0)} {project}")

    def delete_folder(self, folder_id: str) -> None:
        project = self._projects().get(folder_hex(folder_id))
        super().delete_folder(folder_id)
        if project is not None:
            self._xfs_quota(f"limit -p bhard=0 {project}")
