"""Volume backends by name (entry-point group ``cygnet.volumes``), imported when first used."""

from __future__ import annotations

from cygnet.common.registry import load_plugin, plugin_names
from cygnet.storage.config import VolumeSettings
from cygnet.storage.volumes.base import Volume

GROUP = "cygnet.volumes"


def volume_backends() -> list[str]:
    return plugin_names(GROUP)


def load_volume_class(backend: str) -> type[Volume]:
    cls: type[Volume] = load_plugin(GROUP, backend, Volume, "volume backend")
    return cls


def create_volume(name: str, settings: VolumeSettings) -> Volume:
    """An (uninitialised) volume of the configured backend."""
    return load_volume_class(settings.backend)(name, settings.path, settings.options)
