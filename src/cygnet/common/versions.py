"""API version strings (``vMAJOR.YYYYMMDD``) accepted in ``X-BackendAI-Version``."""

from __future__ import annotations

import re

from cygnet.common.auth import API_VERSION

_VERSION_RE = re.compile(r"^v(\d+)\.(\d{8})$")

SUPPORTED_VERSIONS: frozenset[str] = frozenset(
    {
        "v4.20181215",
        "v4.20190115",
        "v4.20190315",
        "v4.20190615",
        "v5.20191215",
        "v6.20200815",
        "v6.20210815",
        "v6.20220315",
        "v6.20220615",
        "v6.20230315",
        "v7.20230615",
        "v8.20240315",
        "v8.20240915",
        "v9.20250722",
        API_VERSION,
    }
)


def parse_version(value: str) -> tuple[int, str] | None:
    """``"v9.20250722"`` -> ``(9, "20250722")``; None if malformed."""
    match = _VERSION_RE.match(value)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


def is_supported(value: str) -> bool:
    return value in SUPPORTED_VERSIONS
