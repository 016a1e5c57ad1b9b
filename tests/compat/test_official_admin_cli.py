"""``backend.ai admin …`` commands of the official client against Cygnet (wire notes 5(c))."""

from __future__ import annotations

import uuid

import pytest
from official import OfficialClient

pytestmark = pytest.mark.compat


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _by(items: list[dict], key: str, value: object) -> dict:
    found = [item for item in items if item.get(key) == value]
    assert found, f"no item with {key}={value!r} in {items}"
    return found[0]


async def test_domain_commands(bai: OfficialClient) -> None:
    listed = await bai.ok("admin", "domain", "list")
    _by(listed["items"], "name", "default")
    name = _unique("cdom")
    added = await bai.ok("admin", "domain", "add", name, "-d", "compat domain")
    assert added["ok"] is True
    info = await bai.ok("admin", "domain", "info", name)
    assert info["items"][0]["description"] == "compat domain"
    updated = await bai.ok("admin", "domain", "update", name, "--description", "changed")
    assert updated["ok"] is True
    info = await bai.ok("admin", "domain", "info", name)
    assert info["items"][0]["description"] == "changed"
    duplicate = await bai.run("admin", "domain", "add", name)
    assert duplicate.code != 0
    assert duplicate.json()["ok"] is False
