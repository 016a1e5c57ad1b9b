"""``cygnet image bootstrap``: build the catalogue images offline into the local Docker Engine.

No registry is needed. Each image is a root filesystem packed as a tarball and imported with
``POST /images/create?fromSrc=-`` (``docker import``), whose ``changes`` set the workdir,
environment, command and labels (``catalog.import_changes``):

- ``debian-python``: ``debootstrap --variant=minbase`` of the catalogue's suite plus its
  packages, from a Debian mirror (``$CYGNET_DEBIAN_MIRROR``, default deb.debian.org). The
  downloaded ``.deb`` files stay in the cache directory (``$CYGNET_CACHE_DIR/debootstrap``,
  default ``~/.cache/cygnet/debootstrap``), so a rebuild downloads only the indices.
- ``busybox``: the host's static busybox (package ``busybox-static``) with its applet
  symlinks, ``/etc/passwd``, ``/tmp`` and ``/home/work``, written as a tarball directly.

An image whose local copy carries the current ``cygnet.build-hash`` is skipped ("up to
date") unless ``force``. Build directories are temporary and always removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import struct
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import aiodocker
import platformdirs
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from yarl import URL

from cygnet.agent.images.catalog import (
    BUILD_HASH_LABEL,
    WORKDIR,
    CatalogImage,
    build_hash,
    import_changes,
)

DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
_CHUNK = 1 << 20

StageName = Literal["debootstrap", "packing rootfs", "importing"]


class BootstrapError(Exception):
    """A build could not run; the message says what to install or start."""


@dataclass(frozen=True, slots=True)
class BuildResult:
    image: str
    image_id: str
    build_hash: str
    status: Literal["built", "up to date"]
    seconds: float


class BuildReporter(Protocol):
    """Where the builder reports progress (the CLI shows it with Rich; tests ignore it)."""

    def begin(self, image: CatalogImage) -> None: ...
    def stage(self, name: StageName, total: int | None = None) -> None: ...
    def advance(self, amount: int) -> None: ...
    def detail(self, text: str) -> None: ...
    def finish(self, result: BuildResult) -> None: ...


class NullReporter:
    def begin(self, image: CatalogImage) -> None:
        pass

    def stage(self, name: StageName, total: int | None = None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def detail(self, text: str) -> None:
        pass

    def finish(self, result: BuildResult) -> None:
        pass


class RichReporter:
    """One progress line per image: spinner, stage, bar (bytes while importing), detail."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[image]}"),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}", style="dim"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._image = ""

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def begin(self, image: CatalogImage) -> None:
        self._image = image.name
        self._task = self.progress.add_task("checking", image=image.name, detail="", total=None)

    def stage(self, name: StageName, total: int | None = None) -> None:
        if self._task is not None:
            self.progress.reset(
                self._task, description=name, total=total, image=self._image, detail=""
            )
        self.progress.console.print(f"{self._image}: {name}", highlight=False)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self.progress.advance(self._task, amount)

    def detail(self, text: str) -> None:
        if self._task is not None:
            self.progress.update(self._task, detail=text[:60])

    def finish(self, result: BuildResult) -> None:
        if self._task is None:
            return
        text = (
            "[green]up to date[/]"
            if result.status == "up to date"
            else f"[green]built[/] in {result.seconds:.1f}s"
        )
        self.progress.update(self._task, description=text, total=1, completed=1, detail="")
        self._task = None


def default_cache_dir() -> Path:
    base = os.environ.get("CYGNET_CACHE_DIR")
    root = Path(base) if base else platformdirs.user_cache_path("cygnet")
    return root / "debootstrap"


def docker_url(configured: str | None = None) -> str:
    return configured or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_URL


async def connect(url: str | None = None) -> aiodocker.Docker:
    """An Engine client that has answered once; ``BootstrapError`` when none answers."""
    address = docker_url(url)
    docker = aiodocker.Docker(url=address)
    try:
        await docker.version()
    except (aiodocker.DockerError, OSError) as exc:
        await docker.close()
        raise BootstrapError(
            f"no Docker engine answers at {address}; start dockerd "
            "(e.g. `systemctl start docker`, or `dockerd &` as root)"
        ) from exc
    return docker


def _is_static_elf(path: Path) -> bool:
    """True for a 64-bit little-endian ELF without a program interpreter (PT_INTERP)."""
    try:
        with path.open("rb") as f:
            header = f.read(64)
            if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
                return False
            (phoff,) = struct.unpack_from("<Q", header, 32)
            phentsize, phnum = struct.unpack_from("<HH", header, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    kinds = (struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum))
    return 3 not in kinds


def find_static_busybox() -> Path:
    override = os.environ.get("CYGNET_BUSYBOX")
    for candidate in ([override] if override else []) + list(BUSYBOX_CANDIDATES):
        path = Path(candidate)
        if path.is_file() and _is_static_elf(path):
            return path
    raise BootstrapError(
        "a statically linked busybox is needed for cygnet/busybox: "
        "install it with `apt-get install busybox-static`"
    )


def _busybox_tarball(busybox: Path, applets: Sequence[str], out: Path) -> None:
    now = int(time.time())

    def entry(name: str, kind: bytes, mode: int, link: str = "") -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.linkname = kind, mode, now, link
        return info

    def text(tf: tarfile.TarFile, name: str, content: str, mode: int = 0o644) -> None:
        data = content.encode()
        info = entry(name, tarfile.REGTYPE, mode)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))

    dirs = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "home", "home/work"]
    dirs += ["var", "opt", "dev", "proc", "sys"]
    with tarfile.open(out, "w") as tf:
        for name in dirs:
            tf.addfile(entry(name, tarfile.DIRTYPE, 0o700 if name == "root" else 0o755))
        tf.addfile(entry("tmp", tarfile.DIRTYPE, 0o1777))
        info = tf.gettarinfo(str(busybox), "bin/busybox")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        with busybox.open("rb") as f:
            tf.addfile(info, f)
        for applet in applets:
            if "/" in applet and applet != "bin/busybox":
                tf.addfile(entry(applet, tarfile.SYMTYPE, 0o777, "/bin/busybox"))
        text(
            tf,
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        text(tf, "etc/group", "root:x:0:\nnogroup:x:65534:\n")


def _tidy_rootfs(rootfs: Path) -> None:
    """Drop the package downloads and indices debootstrap leaves; add the workdir."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*"):
        for leftover in rootfs.glob(pattern):
            leftover.unlink()
    (rootfs / WORKDIR.lstrip("/")).mkdir(parents=True, exist_ok=True)


def _log_tail(log: Path, lines: int = 20) -> list[str]:
    try:
        return log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


class ImageBuilder:
    def __init__(
        self,
        docker: aiodocker.Docker,
        *,
        cache_dir: Path | None = None,
        mirror: str | None = None,
        reporter: BuildReporter | None = None,
    ) -> None:
        self.docker = docker
        self.cache_dir = cache_dir or default_cache_dir()
        self.mirror = mirror or os.environ.get("CYGNET_DEBIAN_MIRROR") or DEFAULT_MIRROR
        self.reporter: BuildReporter = reporter or NullReporter()

    async def local_image(self, name: str) -> tuple[str, str | None] | None:
        """(id, build hash) of the local image called ``name``, or None."""
        try:
            info = await self.docker.images.inspect(name)
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                return None
            raise
        labels = (info.get("Config") or {}).get("Labels") or {}
        return str(info["Id"]), labels.get(BUILD_HASH_LABEL)

    async def build(self, image: CatalogImage, *, force: bool = False) -> BuildResult:
        started = time.monotonic()
        wanted = build_hash(image)
        self.reporter.begin(image)
        existing = await self.local_image(image.name)
        if existing is not None and existing[1] == wanted and not force:
            result = BuildResult(image.name, existing[0], wanted, "up to date", 0.0)
            self.reporter.finish(result)
            return result
        with tempfile.TemporaryDirectory(prefix="cygnet-image-") as tmp:
            tarball = Path(tmp) / "rootfs.tar"
            if image.kind == "busybox":
                await self._busybox(tarball)
            elif image.kind == "debian-python":
                await self._debian(image, Path(tmp) / "rootfs", tarball)
            else:
                raise BootstrapError(f"unknown image kind {image.kind!r} for {image.name}")
            image_id = await self._import(image, tarball)
        if existing is not None and existing[0] != image_id:
            # The previous build is now untagged; drop it unless a container still uses it.
            with contextlib.suppress(aiodocker.DockerError):
                await self.docker.images.delete(existing[0])
        result = BuildResult(image.name, image_id, wanted, "built", time.monotonic() - started)
        self.reporter.finish(result)
        return result

    async def _busybox(self, tarball: Path) -> None:
        busybox = find_static_busybox()
        self.reporter.stage("packing rootfs")
        process = await asyncio.create_subprocess_exec(
            str(busybox), "--list-full", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        if process.returncode != 0:
            raise BootstrapError(f"{busybox} --list-full failed (exit {process.returncode})")
        await asyncio.to_thread(_busybox_tarball, busybox, out.decode().split(), tarball)

    async def _debian(self, image: CatalogImage, rootfs: Path, tarball: Path) -> None:
        if shutil.which("debootstrap") is None:
            raise BootstrapError(
                f"debootstrap is needed for {image.name}: install it with "
                "`apt-get install debootstrap`"
            )
        if os.geteuid() != 0:
            raise BootstrapError(f"debootstrap needs root to build {image.name}")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.reporter.stage("debootstrap")
        argv = ["debootstrap", "--variant=minbase", f"--cache-dir={self.cache_dir.resolve()}"]
        if image.packages:
            argv.append("--include=" + ",".join(image.packages))
        argv += [image.suite, str(rootfs), self.mirror]
        await self._run(argv, what="debootstrap", log=rootfs / "debootstrap" / "debootstrap.log")
        await asyncio.to_thread(_tidy_rootfs, rootfs)
        self.reporter.stage("packing rootfs")
        await self._run(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."],
            what="tar",
        )

    async def _run(self, argv: list[str], *, what: str, log: Path | None = None) -> None:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"},
        )
        assert process.stdout is not None
        tail: list[str] = []
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line:
                tail = [*tail[-19:], line]
                self.reporter.detail(line.removeprefix("I: "))
        code = await process.wait()
        if code != 0:
            if log is not None:
                tail = await asyncio.to_thread(_log_tail, log) or tail
            raise BootstrapError(f"{what} failed (exit {code}):\n" + "\n".join(tail))

    async def _chunks(self, tarball: Path) -> AsyncIterator[bytes]:
        with tarball.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, _CHUNK):
                self.reporter.advance(len(chunk))
                yield chunk

    async def _import(self, image: CatalogImage, tarball: Path) -> str:
        size = await asyncio.to_thread(os.path.getsize, tarball)
        self.reporter.stage("importing", total=size)
        self.reporter.detail(f"{size / 1e6:.1f} MB")
        query = [("fromSrc", "-"), ("repo", image.repository), ("tag", image.tag)]
        query += [("changes", change) for change in import_changes(image)]
        try:
            async with self.docker._query(
                URL("images/create").with_query(query),
                "POST",
                data=self._chunks(tarball),
                headers={"Content-Type": "application/x-tar"},
                chunked=True,
                timeout=None,
            ) as response:
                body = await response.text()
        except aiodocker.DockerError as exc:
            raise BootstrapError(f"importing {image.name} failed: {exc.message}") from exc
        for message in _json_lines(body):
            if "error" in message:
                raise BootstrapError(f"importing {image.name} failed: {message['error']}")
        found = await self.local_image(image.name)
        if found is None:
            raise BootstrapError(f"importing {image.name} did not create it")
        return found[0]


def _json_lines(body: str) -> Iterator[dict[str, object]]:
    decoder = json.JSONDecoder()
    position = 0
    while position < len(body):
        while position < len(body) and body[position].isspace():
            position += 1
        if position >= len(body):
            break
        value, position = decoder.raw_decode(body, position)
        if isinstance(value, dict):
            yield value


async def bootstrap_images(
    images: Sequence[CatalogImage],
    *,
    force: bool = False,
    url: str | None = None,
    cache_dir: Path | None = None,
    mirror: str | None = None,
    reporter: BuildReporter | None = None,
) -> list[BuildResult]:
    """Build ``images`` (skipping up-to-date ones unless ``force``) one after the other."""
    docker = await connect(url)
    try:
        builder = ImageBuilder(docker, cache_dir=cache_dir, mirror=mirror, reporter=reporter)
        return [await builder.build(image, force=force) for image in images]
    finally:
        await docker.close()
