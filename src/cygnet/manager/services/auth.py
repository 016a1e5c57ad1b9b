"""Request authentication: HMAC signature, clock skew, keypair and user state, client IP and
rate limit.

The hot path reads no database on a cache hit: keypair lookups are kept for
``credential_cache_seconds`` (and dropped at once when this manager changes identities), and
per-keypair usage counters are written in batches by ``flush_usage``.
"""

from __future__ import annotations

import asyncio
import email.utils
import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dateutil import parser as dateparser

from cygnet.common import auth as signing
from cygnet.common.clock import Clock
from cygnet.common.errors import (
    AuthFailed,
    InvalidAuthParameters,
    RateLimitExceeded,
    UnsupportedVersion,
)
from cygnet.common.versions import is_supported
from cygnet.manager.config import ManagerSettings
from cygnet.manager.entities import Caller, UserStatus
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import credentials as repo

_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    rel_url: str
    host: str
    content_type: str
    date: str | None
    version: str | None
    version_header: str
    authorization: str | None
    client_ip: str | None


@dataclass(frozen=True, slots=True)
class RateLimitState:
    limit: int
    remaining: int
    reset: int
    window: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Window": str(self.window),
        }

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The same headers, encoded for an ASGI response."""
        return [
            (b"x-ratelimit-limit", b"%d" % self.limit),
            (b"x-ratelimit-remaining", b"%d" % self.remaining),
            (b"x-ratelimit-reset", b"%d" % self.reset),
            (b"x-ratelimit-window", b"%d" % self.window),
        ]


@dataclass(frozen=True, slots=True)
class _CacheEntry:
    credentials: repo.Credentials | None
    caller: Caller | None
    expires: float


def parse_date(value: str) -> datetime:
    """ISO-8601 (what the SDK sends) or RFC 1123; a naive value is UTC."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            try:
                when = dateparser.parse(value)
            except (ValueError, OverflowError) as exc:
                raise InvalidAuthParameters("Date/time sync error", data=None) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


class AuthService:
    def __init__(self, db: Database, settings: ManagerSettings, clock: Clock) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._cache: dict[str, _CacheEntry] = {}
        self._inflight: dict[str, asyncio.Future[_CacheEntry]] = {}
        self._generation = 0
        self._windows: dict[str, tuple[int, int]] = {}  # access key -> (window index, count)
        self._usage: dict[str, tuple[int, datetime]] = {}
        self._listeners: list[Callable[[], None]] = []

    def on_invalidate(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` on every ``invalidate()`` (other caches of identities: keypairs,
        users, domains, projects, policies, resource-group links)."""
        self._listeners.append(listener)

    def invalidate(self) -> None:
        """Forget cached credentials (after any change to keypairs, users, domains, projects,
        policies or resource-group links). Lookups already under way finish but do not fill
        the cache with what they read before the change."""
        self._generation += 1
        self._cache.clear()
        self._inflight.clear()
        for listener in self._listeners:
            listener()

    async def _lookup(self, access_key: str) -> _CacheEntry:
        """The cached credentials of a key; concurrent misses for one key share one query."""
        hit = self._cache.get(access_key)
        if hit is not None and hit.expires > self._clock.monotonic():
            return hit
        pending = self._inflight.get(access_key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(access_key, self._generation))
            self._inflight[access_key] = pending
            pending.add_done_callback(lambda done: self._forget_inflight(access_key, done))
        return await asyncio.shield(pending)

    def _forget_inflight(self, access_key: str, done: asyncio.Future[_CacheEntry]) -> None:
        if self._inflight.get(access_key) is done:
            del self._inflight[access_key]

    async def _load(self, access_key: str, generation: int) -> _CacheEntry:
        async with self._db.read() as session:
            found = await repo.get_credentials(session, access_key)
        caller = None
        if found is not None:
            caller = Caller(
                access_key=found.keypair.access_key,
                user_uuid=found.user.uuid,
                email=found.user.email,
                role=found.user.role,
                domain_name=found.user.domain_name,
                is_admin_key=found.keypair.is_admin,
            )
        expires = self._clock.monotonic() + self._settings.credential_cache_seconds
        entry = _CacheEntry(found, caller, expires)
        if generation == self._generation:  # no identity change since the read began
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[access_key] = entry
        return entry

    @staticmethod
    def check_version(version: str | None) -> None:
        if version is None:
            raise UnsupportedVersion("X-BackendAI-Version header is missing.")
        if not is_supported(version):
            raise UnsupportedVersion(f"Unsupported API version: {version}")

    async def authenticate(self, req: SignedRequest) -> tuple[Caller, RateLimitState]:
        if not req.authorization:
            raise AuthFailed("Unauthorized access")
        self.check_version(req.version)
        assert req.version is not None
        if not req.date:
            raise InvalidAuthParameters("Date header is missing.")
        when = parse_date(req.date)
        wall_now = self._clock.now()
        skew = abs((wall_now - when).total_seconds())
        if skew >= self._settings.clock_skew_seconds:
            raise InvalidAuthParameters("Date/time sync error")
        header = signing.parse_authorization(req.authorization)
        if header is None:
            raise InvalidAuthParameters("Malformed Authorization header.")
        entry = self._cache.get(header.access_key)
        if entry is None or entry.expires <= self._clock.monotonic():
            entry = await self._lookup(header.access_key)
        creds, caller = entry.credentials, entry.caller
        if creds is None or caller is None or not creds.keypair.is_active:
            raise AuthFailed("Unauthorized access")
        expected = signing.sign(
            creds.keypair.secret_key,
            method=req.method,
            rel_url=req.rel_url,
            date=req.date,
            day=when,
            host=req.host,
            content_type=req.content_type,
            version=req.version,
            hash_name=header.hash_name,
            version_header=req.version_header,
        )
        if not hmac.compare_digest(expected, header.signature):
            raise AuthFailed("Unauthorized access")
        user = creds.user
        if user.status is not UserStatus.ACTIVE:
            raise AuthFailed(f"The user account is {user.status.value}.")
        if user.allowed_client_ip and not _ip_allowed(req.client_ip, user.allowed_client_ip):
            raise AuthFailed("Access from this client IP is not allowed.")
        rate = self._count_request(creds.keypair.access_key, creds.keypair.rate_limit, wall_now)
        return caller, rate

    def _count_request(self, access_key: str, limit: int, wall_now: datetime) -> RateLimitState:
        window = self._settings.rate_limit_window_seconds
        now = self._clock.monotonic()
        index = int(now // window)
        current_index, count = self._windows.get(access_key, (index, 0))
        if current_index != index:
            count = 0
        count += 1
        self._windows[access_key] = (index, count)
        reset = int((index + 1) * window - now)
        state = RateLimitState(
            limit=limit, remaining=max(limit - count, 0), reset=reset, window=window
        )
        if limit > 0 and count > limit:
            raise RateLimitExceeded(
                f"Rate limit of {limit} requests per {window} s exceeded.", data=state.headers()
            )
        used = self._usage[access_key][0] if access_key in self._usage else 0
        self._usage[access_key] = (used + 1, wall_now)
        return state

    async def flush_usage(self) -> None:
        """Write the batched request counters and ``last_used`` times."""
        if not self._usage:
            return
        usage, self._usage = self._usage, {}
        async with self._db.transaction() as session:
            await repo.record_usage(session, usage)


def _ip_allowed(client_ip: str | None, allowed: list[str]) -> bool:
    if client_ip is None:
        return False
    try:
        addr = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False
