"""``cygnet image …``: local image management on an agent host (no manager involved)."""

from __future__ import annotations

import asyncio

import click
from rich.console import Console

from cygnet.agent.images.bootstrap import BootstrapError, RichReporter, bootstrap_images
from cygnet.agent.images.catalog import BOOTSTRAP_IMAGES, select_images

console = Console(stderr=True)


@click.group("image")
def image_group() -> None:
    """Build the container images kernels run in, on this host."""


@image_group.command("bootstrap")
@click.option(
    "--only",
    type=click.Choice([image.short for image in BOOTSTRAP_IMAGES]),
    default=None,
    help="Build only this image (default: all of them).",
)
@click.option("--force", is_flag=True, help="Rebuild even images that are up to date.")
def bootstrap(only: str | None, force: bool) -> None:
    """Build the bundled images (cygnet/python:3.11, cygnet/busybox:latest) offline.

    Needs a running Docker engine ($DOCKER_HOST or /var/run/docker.sock), debootstrap and
    busybox-static. Images whose cygnet.build-hash label matches are skipped; downloaded
    Debian packages are cached in $CYGNET_CACHE_DIR/debootstrap (default
    ~/.cache/cygnet/debootstrap); $CYGNET_DEBIAN_MIRROR picks the mirror.
    """
    images = select_images(only)
    try:
        with RichReporter(console) as reporter:
            results = asyncio.run(bootstrap_images(images, force=force, reporter=reporter))
    except BootstrapError as exc:
        raise click.ClickException(str(exc)) from exc
    for result in results:
        console.print(f"{result.image}  {result.image_id[7:19]}  {result.status}", highlight=False)
