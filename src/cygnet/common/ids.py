"""Typed identifiers. Distinct NewTypes keep a user id from being passed where a project id goes."""

from __future__ import annotations

import secrets
import string
import uuid
from typing import NewType

DomainName = NewType("DomainName", str)
ProjectId = NewType("ProjectId", uuid.UUID)
UserId = NewType("UserId", uuid.UUID)
AccessKey = NewType("AccessKey", str)
SecretKey = NewType("SecretKey", str)
ResourceGroupName = NewType("ResourceGroupName", str)
AgentId = NewType("AgentId", str)
SessionId = NewType("SessionId", uuid.UUID)
KernelId = NewType("KernelId", uuid.UUID)
VFolderId = NewType("VFolderId", uuid.UUID)

_UPPER_DIGITS = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "-_"


def new_access_key() -> AccessKey:
    """An access key in the Backend.AI shape: ``AKIA`` followed by 16 upper-case letters/digits."""
    return AccessKey("AKIA" + "".join(secrets.choice(_UPPER_DIGITS) for _ in range(16)))


def new_secret_key() -> SecretKey:
    """A 40-character random secret key."""
    return SecretKey("".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)))
