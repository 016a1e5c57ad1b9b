"""The HMAC signing scheme against the wire notes' test vector (section 1.4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cygnet.common.auth import make_auth_headers, parse_authorization, sign

VECTOR_DATE = "2025-01-02T03:04:05.123456+00:00"


def test_signature_matches_the_reference_vector() -> None:
    signature = sign(
        "SECRETEXAMPLE",
        method="GET",
        rel_url="/session/mysess?owner_access_key=AKIAEXAMPLE",
        date=VECTOR_DATE,
        day=datetime.fromisoformat(VECTOR_DATE),
        host="127.0.0.1:8091",
        content_type="text/plain",
        version="v9.20250722",
    )
    assert signature == "88ad14e19331b813af22fc4e68be0ebbf08ea4a705daea57f9064150eac03345"


def test_signature_changes_with_every_signed_part() -> None:
    base = dict(
        method="GET",
        rel_url="/x",
        date=VECTOR_DATE,
        day=datetime.fromisoformat(VECTOR_DATE),
        host="h:1",
        content_type="text/plain",
        version="v9.20250722",
    )
    reference = sign("S", **base)  # type: ignore[arg-type]
    for key, other in [
        ("method", "POST"),
        ("rel_url", "/y"),
        ("host", "h:2"),
        ("content_type", "application/json"),
        ("version", "v8.20240915"),
    ]:
        assert sign("S", **{**base, key: other}) != reference  # type: ignore[arg-type]
    assert sign("T", **base) != reference  # type: ignore[arg-type]


def test_auth_headers_round_trip_through_the_parser() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    headers = make_auth_headers(
        "AKIAAAAAAAAAAAAAAAAA",
        "secret",
        method="GET",
        rel_url="/",
        host="h",
        content_type="text/plain",
        now=now,
    )
    assert headers.date == now.isoformat()
    parsed = parse_authorization(headers.authorization)
    assert parsed is not None
    assert parsed.access_key == "AKIAAAAAAAAAAAAAAAAA"
    assert parsed.hash_name == "sha256"
    assert len(parsed.signature) == 64


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Bearer abc",
        "BackendAI",
        "BackendAI signMethod=HMAC-SHA256",
        "BackendAI signMethod=HMAC-NOPE, credential=AK:sig",
        "BackendAI signMethod=RSA-SHA256, credential=AK:sig",
        "BackendAI signMethod=HMAC-SHA256, credential=AKsig",
        "BackendAI signMethod=HMAC-SHA256, credential=:sig",
        "BackendAI signMethod=HMAC-SHA256 credential=AK:sig",
    ],
)
def test_malformed_authorization_headers_are_rejected(value: str) -> None:
    assert parse_authorization(value) is None


def test_legacy_scheme_and_other_hashes_are_accepted() -> None:
    parsed = parse_authorization("Sorna signMethod=HMAC-SHA1, credential=AK:sig")
    assert parsed is not None and parsed.hash_name == "sha1"
