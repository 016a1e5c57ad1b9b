"""The credential cache on the authentication hot path: one query for many concurrent misses,
and no stale entry after an identity change."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cygnet.common.auth import make_auth_headers
from cygnet.manager.services import auth as auth_module
from cygnet.manager.services.auth import SignedRequest
from cygnet.testing.cluster import LocalManager


def _request(local: LocalManager) -> SignedRequest:
    host = local.endpoint.removeprefix("http://")
    signed = make_auth_headers(
        local.admin.access_key,
        local.admin.secret_key,
        method="GET",
        rel_url="/manager/announcement",
        host=host,
        content_type="text/plain",
    )
    return SignedRequest(
        method="GET",
        rel_url="/manager/announcement",
        host=host,
        content_type="text/plain",
        date=signed.date,
        version="v9.20250722",
        version_header="x-backendai-version",
        authorization=signed.authorization,
        client_ip="127.0.0.1",
    )


def _counting(
    monkeypatch: pytest.MonkeyPatch,
    gate: asyncio.Event | None = None,
    started: asyncio.Event | None = None,
) -> list[str]:
    calls: list[str] = []
    original: Callable[..., Awaitable[Any]] = auth_module.repo.get_credentials

    async def counted(session: Any, access_key: str) -> Any:
        calls.append(access_key)
        if started is not None:
            started.set()
        if gate is not None:
            await gate.wait()
        return await original(session, access_key)

    monkeypatch.setattr(auth_module.repo, "get_credentials", counted)
    return calls


async def test_concurrent_misses_share_one_query(
    fresh_manager: LocalManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = fresh_manager.manager.services.auth
    auth.invalidate()
    calls = _counting(monkeypatch)
    request = _request(fresh_manager)
    results = await asyncio.gather(*(auth.authenticate(request) for _ in range(50)))
    assert len(calls) == 1
    assert {caller.access_key for caller, _ in results} == {fresh_manager.admin.access_key}


async def test_a_lookup_racing_an_invalidation_is_not_cached(
    fresh_manager: LocalManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = fresh_manager.manager.services.auth
    auth.invalidate()
    gate, started = asyncio.Event(), asyncio.Event()
    calls = _counting(monkeypatch, gate, started)
    request = _request(fresh_manager)
    first = asyncio.create_task(auth.authenticate(request))
    await started.wait()
    auth.invalidate()  # e.g. the keypair was deactivated while the read was under way
    gate.set()
    await first
    await auth.authenticate(request)
    assert len(calls) == 2  # the second request read again instead of trusting the first read
