"""What both storage APIs share: the volumes, the token signer and the upload table."""

from __future__ import annotations

from dataclasses import dataclass, field

from cygnet.storage.config import StorageSettings
from cygnet.storage.errors import VolumeNotFound
from cygnet.storage.tokens import TokenSigner
from cygnet.storage.uploads import Uploads
from cygnet.storage.volumes.base import Volume


@dataclass
class StorageService:
    settings: StorageSettings
    volumes: dict[str, Volume]
    secret: str
    signer: TokenSigner
    uploads: Uploads
    client_url: str = field(default="")  # public URL of the client-facing API, set at start

    def volume(self, name: str) -> Volume:
        try:
            return self.volumes[name]
        except KeyError:
            raise VolumeNotFound(
                f"no volume {name!r} (this proxy has: {', '.join(sorted(self.volumes))})"
            ) from None
