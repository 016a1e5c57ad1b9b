"""``cygnet storage serve``: run a storage proxy on its own (imported when the command runs)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import click

from cygnet.common.logging import setup_logging
from cygnet.launcher.servers import config_option


@click.group("storage")
def storage_group() -> None:
    """Run a storage proxy: the volumes that hold folders (vfolders)."""


@storage_group.command("serve")
@config_option("CYGNET_STORAGE_")
def storage_serve(config_file: Path | None) -> None:
    """Serve the volumes of a storage proxy config (storage.toml): the manager-facing API
    (shared secret) and the client-facing API (uploads and downloads with signed tokens)."""
    from cygnet.storage.config import StorageSettings
    from cygnet.storage.errors import VolumeUnsupported
    from cygnet.storage.server import create_storage, serve

    try:
        settings = StorageSettings.load(config_file)
        create_storage(settings)
    except (ValueError, TypeError, OSError) as exc:
        raise click.ClickException(f"invalid storage settings: {exc}") from exc
    setup_logging(settings.log_level)
    try:
        _run(serve(settings))
    except KeyboardInterrupt:
        pass
    except VolumeUnsupported as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"the storage proxy could not start: {exc}") from exc


def _run(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop where installed (it comes with ``uvicorn[standard]``), else plain asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
