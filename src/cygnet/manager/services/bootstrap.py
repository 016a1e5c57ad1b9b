"""First start: seed the defaults and the superadmin, and write ``credentials.env`` for the CLIs."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from cygnet.common.clock import Clock
from cygnet.common.ids import new_access_key, new_secret_key
from cygnet.common.logging import get_logger
from cygnet.manager.services.passwords import hash_password, random_password
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import seed

log = get_logger(__name__)

CREDENTIALS_FILE = "credentials.env"


@dataclass(frozen=True, slots=True)
class AdminCredentials:
    email: str
    password: str
    access_key: str
    secret_key: str


async def bootstrap(db: Database, clock: Clock, admin_email: str) -> AdminCredentials | None:
    """Seed an empty store; returns the new admin's credentials, or None if already seeded."""
    async with db.transaction() as session:
        if await seed.is_seeded(session):
            return None
        creds = AdminCredentials(
            email=admin_email,
            password=random_password(),
            access_key=new_access_key(),
            secret_key=new_secret_key(),
        )
        await seed.seed_defaults(
            session,
            seed.AdminSeed(
                email=creds.email,
                username=admin_email.split("@", 1)[0],
                password_hash=hash_password(creds.password),
                access_key=creds.access_key,
                secret_key=creds.secret_key,
            ),
            clock.now(),
        )
    log.info("bootstrapped a new store with superadmin %s", admin_email)
    return creds


def write_credentials(path: Path, endpoint: str, creds: AdminCredentials) -> None:
    """Shell assignments both CLIs read (``set -a; . credentials.env``), mode 0600."""
    values = {
        "BACKEND_ENDPOINT": endpoint,
        "BACKEND_ACCESS_KEY": creds.access_key,
        "BACKEND_SECRET_KEY": creds.secret_key,
        "CYGNET_ENDPOINT": endpoint,
        "CYGNET_ACCESS_KEY": creds.access_key,
        "CYGNET_SECRET_KEY": creds.secret_key,
        "CYGNET_ADMIN_EMAIL": creds.email,
        "CYGNET_ADMIN_PASSWORD": creds.password,
    }
    text = "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def update_endpoint(path: Path, endpoint: str) -> None:
    """Point an existing credentials file at the endpoint this run listens on."""
    if not path.is_file():
        return
    lines = []
    for line in path.read_text().splitlines():
        key = line.split("=", 1)[0]
        if key in ("BACKEND_ENDPOINT", "CYGNET_ENDPOINT"):
            line = f"{key}={shlex.quote(endpoint)}"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
