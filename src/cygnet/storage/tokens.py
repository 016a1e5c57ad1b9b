"""Short-lived signed tokens that authorise one client-facing operation.

Format: ``<base64url(JSON claims)>.<base64url(HMAC-SHA256(secret, first part))>``. The client
treats it as opaque. Claims: ``op`` (``upload`` | ``download`` | ``archive``), ``volume``,
``folder`` (dashed uuid), ``relpath``, ``exp`` (unix time), and per operation ``size`` and
``upload_id`` (upload) or ``paths`` and ``filename`` (archive)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from cygnet.storage.errors import TokenExpired, TokenInvalid, TokenWrongOperation

Operation = Literal["upload", "download", "archive"]


class TokenClaims(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    op: Operation
    volume: str
    folder: str
    relpath: str = ""
    exp: float
    size: int | None = None
    upload_id: str | None = None
    paths: list[str] | None = None
    filename: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"cygnet-storage-token\x00" + secret.encode()).digest()

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, claims: TokenClaims) -> str:
        payload = _b64(claims.model_dump_json(exclude_none=True).encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(
        self,
        token: str | None,
        op: Operation | tuple[Operation, ...],
        now: float | None = None,
    ) -> TokenClaims:
        """The claims of a genuine, unexpired token for ``op`` (or one of them);
        ``TokenInvalid`` (401), ``TokenExpired`` (401) or ``TokenWrongOperation`` (403)."""
        if not token:
            raise TokenInvalid("no token given (the ?token= query parameter)")
        payload, _, mac = token.partition(".")
        if not payload or not mac or not hmac.compare_digest(self._mac(payload), mac):
            raise TokenInvalid("the token is malformed or its signature does not match")
        try:
            claims = TokenClaims.model_validate(json.loads(_unb64(payload)))
        except (ValueError, binascii.Error, ValidationError):
            raise TokenInvalid("the token's claims are unreadable") from None
        if (time.time() if now is None else now) > claims.exp:
            raise TokenExpired()
        allowed = (op,) if isinstance(op, str) else op
        if claims.op not in allowed:
            wanted = " or ".join(allowed)
            raise TokenWrongOperation(f"this is a {claims.op} token, not a {wanted} token")
        return claims
