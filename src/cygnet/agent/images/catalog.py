"""The images ``cygnet image bootstrap`` builds offline, with their Backend.AI-style labels.

The manager and the agents read image metadata from these labels: ``ai.backend.kernelspec``
(label schema version), ``ai.backend.resource.min.<slot>`` (minimum resources),
``ai.backend.runtime-type`` (``python`` images run the query-mode REPL, others only batch
mode) and ``ai.backend.runtime-path`` (the interpreter inside the image).

Each built image also carries ``cygnet.build-hash``: a hash of its recipe (how it is built,
what goes in, the image settings) and its catalogue labels. The builder skips an image whose
local copy carries the current hash, so changing anything here rebuilds it on the next run.
The functions below are pure; the builder that talks to Docker is ``bootstrap.py``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

KERNELSPEC = "1"
RECIPE_VERSION = "1"  # bump when the build steps in bootstrap.py change what goes in an image
BUILD_HASH_LABEL = "cygnet.build-hash"
WORKDIR = "/home/work"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class CatalogImage:
    name: str  # repository:tag
    kind: str  # how it is built: "busybox" | "debian-python"
    labels: dict[str, str] = field(default_factory=dict)
    short: str = ""  # the name ``--only`` takes
    suite: str = ""  # Debian suite, for debootstrap-built images
    packages: tuple[str, ...] = ()  # Debian packages added to the minbase variant
    env: dict[str, str] = field(default_factory=dict)
    cmd: tuple[str, ...] = ()

    @property
    def repository(self) -> str:
        return self.name.rpartition(":")[0]

    @property
    def tag(self) -> str:
        return self.name.rpartition(":")[2]


PYTHON_IMAGE = CatalogImage(
    name="cygnet/python:3.11",
    kind="debian-python",
    short="python",
    suite="bookworm",
    packages=("python3",),
    env={"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"},
    cmd=("/usr/bin/python3",),
    labels={
        "ai.backend.kernelspec": KERNELSPEC,
        "ai.backend.features": "batch query uid-match",
        "ai.backend.base-distro": "debian12",
        "ai.backend.resource.min.cpu": "1",
        "ai.backend.resource.min.mem": "256m",
        "ai.backend.runtime-type": "python",
        "ai.backend.runtime-path": "/usr/bin/python3",
        "ai.backend.service-ports": "",
    },
)

BUSYBOX_IMAGE = CatalogImage(
    name="cygnet/busybox:latest",
    kind="busybox",
    short="busybox",
    env={"PATH": DEFAULT_PATH},
    cmd=("/bin/sh",),
    labels={
        "ai.backend.kernelspec": KERNELSPEC,
        "ai.backend.features": "batch",
        "ai.backend.base-distro": "busybox",
        "ai.backend.resource.min.cpu": "1",
        "ai.backend.resource.min.mem": "64m",
        "ai.backend.runtime-type": "shell",
        "ai.backend.runtime-path": "/bin/sh",
        "ai.backend.service-ports": "",
    },
)

BOOTSTRAP_IMAGES: tuple[CatalogImage, ...] = (PYTHON_IMAGE, BUSYBOX_IMAGE)


def select_images(only: str | None = None) -> tuple[CatalogImage, ...]:
    """The catalogue images to build: all, or the one whose short name or full name is
    ``only``. Raises ``KeyError`` for an unknown name."""
    if only is None:
        return BOOTSTRAP_IMAGES
    for image in BOOTSTRAP_IMAGES:
        if only in (image.short, image.name):
            return (image,)
    raise KeyError(only)


def build_hash(image: CatalogImage) -> str:
    """A stable hash of everything that decides an image's contents and settings."""
    recipe = {
        "recipe": RECIPE_VERSION,
        "name": image.name,
        "kind": image.kind,
        "suite": image.suite,
        "packages": sorted(image.packages),
        "env": image.env,
        "cmd": list(image.cmd),
        "workdir": WORKDIR,
        "labels": image.labels,
    }
    blob = json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _quote(value: str) -> str:
    # Dockerfile double-quoted strings take backslash escapes like JSON's for what we emit.
    return json.dumps(value)


def import_changes(image: CatalogImage) -> list[str]:
    """The Dockerfile instructions applied when the rootfs tarball is imported
    (``docker import --change``): workdir, environment, command and every label, plus the
    build hash."""
    changes = [f"WORKDIR {WORKDIR}"]
    changes += [f"ENV {key}={_quote(value)}" for key, value in sorted(image.env.items())]
    if image.cmd:
        changes.append(f"CMD {json.dumps(list(image.cmd))}")
    labels = {**image.labels, BUILD_HASH_LABEL: build_hash(image)}
    changes += [f"LABEL {key}={_quote(value)}" for key, value in sorted(labels.items())]
    return changes
