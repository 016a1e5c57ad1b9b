"""Problem+json bodies and stable error codes."""

from __future__ import annotations

import pytest

from cygnet.common import errors


def test_body_has_type_title_code_and_optional_fields() -> None:
    err = errors.AuthFailed("Unauthorized access")
    assert err.status == 401
    assert err.body() == {
        "type": "https://api.backend.ai/probs/auth-failed",
        "title": "Credential/signature mismatch.",
        "error_code": "user_auth_unauthorized",
        "msg": "Unauthorized access",
    }
    assert "msg" not in errors.URLNotFound().body()
    assert errors.URLNotFound(data="/x").body()["data"] == "/x"


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (errors.InvalidAuthParameters, 400, "user_auth_invalid-parameters"),
        (errors.InsufficientPrivilege, 403, "user_auth_forbidden"),
        (errors.MalformedBody, 400, "api_parsing_bad-request"),
        (errors.InvalidParameters, 400, "api_parsing_invalid-parameters"),
        (errors.InvalidAPIParameters, 400, "api_generic_invalid-parameters"),
        (errors.AlreadyExists, 400, "api_generic_invalid-parameters"),
        (errors.SessionNotFound, 404, "session_read_not-found"),
        (errors.QuotaExceeded, 400, "session_create_unavailable"),
        (errors.RateLimitExceeded, 429, "api_access_unavailable"),
        (errors.InternalError, 500, "backendai_generic_internal-error"),
    ],
)
def test_stable_codes(cls: type[errors.CygnetError], status: int, code: str) -> None:
    assert cls.status == status
    assert cls.error_code == code
