"""The "BackendAI" HMAC request-signing scheme, shared by the SDK (sign) and the manager (verify).

String to sign (seven lines, no trailing newline)::

    METHOD / rel_url / date / host:<host> / content-type:<mime>
    / x-backendai-version:<v> / body_hash

Key: ``k1 = HMAC(secret, yyyymmdd)``, ``k2 = HMAC(k1, host)``; signature ``= HMAC(k2, string)``.
The body is not hashed (every version since v4.20181215 signs the hash of the empty string).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

API_VERSION = "v9.20250722"
"""The API version this implementation speaks and advertises on ``GET /``."""

SIGN_METHOD = "HMAC-SHA256"
AUTH_SCHEMES = ("BackendAI", "Sorna")


@lru_cache(maxsize=16)
def empty_body_hash(hash_name: str) -> str:
    return hashlib.new(hash_name, b"").hexdigest()


def string_to_sign(
    method: str,
    rel_url: str,
    date: str,
    host: str,
    content_type: str,
    version: str,
    *,
    hash_name: str = "sha256",
    version_header: str = "x-backendai-version",
) -> str:
    return "\n".join(
        (
            method.upper(),
            rel_url,
            date,
            f"host:{host}",
            f"content-type:{content_type}",
            f"{version_header}:{version}",
            empty_body_hash(hash_name),
        )
    )


@lru_cache(maxsize=4096)
def _signing_key(secret_key: str, day: str, host: str, hash_name: str) -> bytes:
    k1 = hmac.digest(secret_key.encode(), day.encode(), hash_name)
    return hmac.digest(k1, host.encode(), hash_name)


def sign(
    secret_key: str,
    *,
    method: str,
    rel_url: str,
    date: str,
    day: datetime,
    host: str,
    content_type: str,
    version: str = API_VERSION,
    hash_name: str = "sha256",
    version_header: str = "x-backendai-version",
) -> str:
    """The hex signature of a request (``date``: the literal Date header; ``day``: its value)."""
    key = _signing_key(secret_key, f"{day.year:04d}{day.month:02d}{day.day:02d}", host, hash_name)
    text = string_to_sign(
        method,
        rel_url,
        date,
        host,
        content_type,
        version,
        hash_name=hash_name,
        version_header=version_header,
    )
    return hmac.digest(key, text.encode(), hash_name).hex()


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    date: str
    authorization: str


def make_auth_headers(
    access_key: str,
    secret_key: str,
    *,
    method: str,
    rel_url: str,
    host: str,
    content_type: str,
    version: str = API_VERSION,
    now: datetime | None = None,
) -> SignedHeaders:
    """The ``Date`` and ``Authorization`` headers, as the official client makes them."""
    when = now or datetime.now(UTC)
    date = when.isoformat()
    signature = sign(
        secret_key,
        method=method,
        rel_url=rel_url,
        date=date,
        day=when,
        host=host,
        content_type=content_type,
        version=version,
    )
    return SignedHeaders(
        date=date,
        authorization=f"BackendAI signMethod={SIGN_METHOD}, credential={access_key}:{signature}",
    )


@dataclass(frozen=True, slots=True)
class AuthorizationHeader:
    access_key: str
    signature: str
    hash_name: str


_CANONICAL_AUTH = re.compile(
    r"(?:BackendAI|Sorna) signMethod=HMAC-(\w+), credential=([^\s:,]+):([0-9a-fA-F]+)"
)


def parse_authorization(value: str) -> AuthorizationHeader | None:
    """Parse ``BackendAI signMethod=HMAC-SHA256, credential=AK:SIG``; None if it is not one."""
    canonical = _CANONICAL_AUTH.fullmatch(value)  # the exact form clients send: one regex
    if canonical is not None:
        hash_name = canonical.group(1).lower()
        if hash_name in hashlib.algorithms_guaranteed:
            return AuthorizationHeader(canonical.group(2), canonical.group(3), hash_name)
        return None
    scheme, _, params = value.strip().partition(" ")
    if scheme not in AUTH_SCHEMES or not params:
        return None
    fields: dict[str, str] = {}
    for part in params.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep:
            return None
        fields[key.strip()] = val.strip()
    method = fields.get("signMethod", "")
    credential = fields.get("credential", "")
    prefix, _, hash_name = method.partition("-")
    hash_name = hash_name.lower()
    if prefix.upper() != "HMAC" or hash_name not in hashlib.algorithms_guaranteed:
        return None
    access_key, sep, signature = credential.partition(":")
    if not sep or not access_key or not signature:
        return None
    return AuthorizationHeader(access_key=access_key, signature=signature, hash_name=hash_name)
