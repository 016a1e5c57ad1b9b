"""Signed, expiring tokens (cygnet.storage.tokens)."""

from __future__ import annotations

import time

import pytest

from cygnet.storage.errors import TokenExpired, TokenInvalid, TokenWrongOperation
from cygnet.storage.tokens import TokenClaims, TokenSigner


def _claims(**kw: object) -> TokenClaims:
    base: dict[str, object] = {
        "op": "upload",
        "volume": "v",
        "folder": "f",
        "relpath": "a.txt",
        "size": 3,
        "upload_id": "u",
        "exp": time.time() + 60,
    }
    base.update(kw)
    return TokenClaims.model_validate(base)


def test_storage_token_round_trip() -> None:
    signer = TokenSigner("s")
    claims = _claims()
    assert signer.verify(signer.issue(claims), "upload") == claims
    assert signer.verify(signer.issue(claims), ("download", "upload")) == claims


def test_storage_token_refusals() -> None:
    signer = TokenSigner("s")
    token = signer.issue(_claims())
    payload, mac = token.split(".")
    with pytest.raises(TokenInvalid):
        signer.verify(None, "upload")
    with pytest.raises(TokenInvalid):
        signer.verify("garbage", "upload")
    with pytest.raises(TokenInvalid):
        TokenSigner("other").verify(token, "upload")
    forged = signer.issue(_claims(relpath="b.txt")).split(".")[0]
    with pytest.raises(TokenInvalid):
        signer.verify(f"{forged}.{mac}", "upload")
    with pytest.raises(TokenInvalid):
        signer.verify(f"{payload}x.{mac}", "upload")
    with pytest.raises(TokenWrongOperation):
        signer.verify(token, "download")
    with pytest.raises(TokenExpired):
        signer.verify(signer.issue(_claims(exp=time.time() - 1)), "upload")
    assert TokenExpired.status == 401 and TokenWrongOperation.status == 403
