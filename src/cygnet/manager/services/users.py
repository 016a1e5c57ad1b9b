"""Users: listing, create (with the main keypair), modify, soft delete, purge, and password login.

Who may do what: superadmins everything; a domain admin only users of its own domain, never a
superadmin account and never moving someone to another domain; everyone else only themselves.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import ipaddress
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.clock import Clock
from cygnet.common.errors import (
    AlreadyExists,
    AuthFailed,
    Conflict,
    DomainNotFound,
    InsufficientPrivilege,
    InvalidAPIParameters,
    ProjectNotFound,
    ResourcePolicyNotFound,
    UserNotFound,
)
from cygnet.common.ids import new_access_key, new_secret_key
from cygnet.manager.entities import Caller, KeyPair, Page, User, UserRole, UserStatus
from cygnet.manager.services.auth import AuthService
from cygnet.manager.services.common import require_admin, require_domain_admin
from cygnet.manager.services.passwords import hash_password, verify_password
from cygnet.manager.services.throttle import FailureThrottle
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import domains as domains_repo
from cygnet.manager.store.repositories import keypairs as keypairs_repo
from cygnet.manager.store.repositories import projects as projects_repo
from cygnet.manager.store.repositories import users as repo
from cygnet.manager.store.repositories.users import UserFilter

E = TypeVar("E", bound=enum.Enum)

DEFAULT_POLICY = "default"
MAIN_KEY_RATE_LIMIT = 30_000
ADMIN_ROLES = (UserRole.SUPERADMIN, UserRole.ADMIN)

_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
_SIMPLE_FIELDS = (
    "full_name",
    "description",
    "need_password_change",
    "totp_activated",
    "sudo_session_enabled",
    "container_uid",
    "container_main_gid",
    "container_gids",
    "allowed_client_ip",
)


@dataclass(frozen=True, slots=True)
class Authorization:
    """What ``POST /auth/authorize`` hands back: the user's main keypair and its standing."""

    access_key: str
    secret_key: str
    role: UserRole
    status: UserStatus
    user_id: uuid.UUID


# -- authorisation rules shared with the keypair and project services -------------------------


def can_view_user(caller: Caller, target: User) -> bool:
    return caller.user_uuid == target.uuid or caller.can_admin_domain(target.domain_name)


def check_can_manage_user(caller: Caller, target: User) -> None:
    """Domain admins manage their own domain's users, but never a superadmin."""
    require_domain_admin(caller, target.domain_name)
    if target.role is UserRole.SUPERADMIN and not caller.is_superadmin:
        raise InsufficientPrivilege("Only superadmins can manage superadmin accounts.")


def scoped_domain(caller: Caller, domain_name: str | None) -> str | None:
    """The domain a listing may cover: any for superadmins, otherwise the caller's own."""
    if caller.is_superadmin:
        return domain_name
    if domain_name is not None and domain_name != caller.domain_name:
        raise InsufficientPrivilege("You cannot access another domain.")
    return caller.domain_name


# -- input validation --------------------------------------------------------------------------


def parse_enum(enum_cls: type[E], value: Any, what: str) -> E:
    """A member by value or name, case-insensitively (``ACTIVE``, ``before_verification``)."""
    if isinstance(value, str):
        wanted = value.strip().lower().replace("_", "-")
        for member in enum_cls:
            if wanted in (str(member.value).lower(), member.name.lower().replace("_", "-")):
                return member
    allowed = ", ".join(str(member.value) for member in enum_cls)
    raise InvalidAPIParameters(f"Invalid {what} {value!r}: expected one of {allowed}.")


def check_email(value: str) -> str:
    if len(value) > 64 or not _EMAIL_RE.match(value):
        raise InvalidAPIParameters(f"Invalid email address {value!r}.")
    return value


def _check_text(value: Any, what: str, max_len: int, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidAPIParameters(f"{what} must not be empty.")
        return None if value is None else ""
    if not isinstance(value, str) or len(value) > max_len or value != value.strip():
        raise InvalidAPIParameters(
            f"Invalid {what} {value!r}: at most {max_len} characters, no surrounding spaces."
        )
    return value


def _check_ips(value: Any) -> list[str] | None:
    if not value:
        return None
    for entry in value:
        try:
            ipaddress.ip_network(str(entry), strict=False)
        except ValueError as exc:
            raise InvalidAPIParameters(f"Invalid allowed_client_ip entry {entry!r}.") from exc
    return [str(entry) for entry in value]


def _check_ids(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidAPIParameters(f"Invalid {what} {value!r}: a non-negative integer is needed.")
    return value


def parse_uuids(values: Iterable[Any], what: str) -> list[uuid.UUID]:
    parsed: list[uuid.UUID] = []
    for value in values:
        try:
            parsed.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError as exc:
            raise InvalidAPIParameters(f"Invalid {what} {value!r}: not a UUID.") from exc
    return parsed


def _common_values(props: dict[str, Any]) -> dict[str, Any]:
    """Validated values of the fields create and modify share (only those present)."""
    values: dict[str, Any] = {key: props[key] for key in _SIMPLE_FIELDS if key in props}
    if "full_name" in values:
        values["full_name"] = _check_text(values["full_name"], "full name", 64)
    if "allowed_client_ip" in values:
        values["allowed_client_ip"] = _check_ips(values["allowed_client_ip"])
    for key in ("container_uid", "container_main_gid"):
        if key in values:
            values[key] = _check_ids(values[key], key)
    if values.get("container_gids") is not None:
        values["container_gids"] = [
            _check_ids(g, "container gid") for g in values["container_gids"]
        ]
    for key in ("need_password_change", "totp_activated", "sudo_session_enabled"):
        if key in values and values[key] is None:
            del values[key]
    if "status" in props and props["status"] is not None:
        values["status"] = parse_enum(UserStatus, props["status"], "user status").value
    if props.get("username"):
        values["username"] = _check_text(props["username"], "username", 64)
    return values


@functools.cache
def _dummy_hash() -> str:
    return hash_password("cygnet-timing-equaliser")


# -- transaction helpers ------------------------------------------------------------------------


async def _target(session: AsyncSession, caller: Caller, email: str) -> User:
    target = await repo.get_by_email(session, email)
    if target is None:
        raise UserNotFound(f"User {email!r} not found.")
    check_can_manage_user(caller, target)
    return target


async def _ids_in(session: AsyncSession, domain_name: str) -> set[uuid.UUID]:
    return {p.id for p in await projects_repo.list_all(session, domain_name=domain_name)}


async def _checked_projects(
    session: AsyncSession, raw_ids: Any, domain_name: str
) -> list[uuid.UUID]:
    ids = parse_uuids(raw_ids, "group id")
    found = {p.id: p for p in await projects_repo.get_many(session, ids)}
    for pid in ids:
        project = found.get(pid)
        if project is None:
            raise ProjectNotFound(f"Project {pid} not found.")
        if project.domain_name != domain_name:
            raise InvalidAPIParameters(
                f"Project {project.name!r} belongs to domain {project.domain_name!r}, "
                f"not {domain_name!r}."
            )
    return ids


async def _sync_keypairs(session: AsyncSession, target: User, values: dict[str, Any]) -> None:
    """Keypairs follow the owner's role (``is_admin``) and status (``is_active``)."""
    if "role" in values:
        is_admin = UserRole(values["role"]) in ADMIN_ROLES
        if is_admin != (target.role in ADMIN_ROLES):
            await keypairs_repo.update_of_user(session, target.uuid, {"is_admin": is_admin})
    new_status = values.get("status")
    if new_status is not None and new_status != target.status.value:
        active = new_status == UserStatus.ACTIVE.value
        await keypairs_repo.update_of_user(session, target.uuid, {"is_active": active})


class UserService:
    def __init__(self, db: Database, clock: Clock, auth: AuthService) -> None:
        self._db = db
        self._clock = clock
        self._auth = auth
        self._failed_emails = FailureThrottle(clock, limit=10, window_seconds=300)
        self._failed_addresses = FailureThrottle(clock, limit=100, window_seconds=300)

    # -- queries -------------------------------------------------------------------------------

    async def list(
        self,
        caller: Caller,
        *,
        domain_name: str | None = None,
        project_id: uuid.UUID | None = None,
        is_active: bool | None = None,
        status: str | None = None,
        filter_text: str | None = None,
        order_text: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page[User]:
        """Users an administrator may see (``user_list`` and the legacy ``users``)."""
        require_admin(caller)
        statuses: set[UserStatus] | None = None
        if status:
            statuses = {parse_enum(UserStatus, s, "user status") for s in status.split(",")}
        if is_active is not None:
            wanted = {s for s in UserStatus if (s is UserStatus.ACTIVE) == is_active}
            statuses = wanted if statuses is None else statuses & wanted
        where = UserFilter(
            domain_name=scoped_domain(caller, domain_name),
            project_id=project_id,
            statuses=statuses,
        )
        async with self._db.read() as session:
            return await repo.page(
                session,
                where,
                filter_text=filter_text,
                order_text=order_text,
                limit=limit,
                offset=offset,
            )

    async def get(
        self,
        caller: Caller,
        *,
        email: str | None = None,
        user_id: uuid.UUID | None = None,
        domain_name: str | None = None,
    ) -> User | None:
        """One user by email or uuid (the caller when neither is given); None if unknown."""
        is_admin = caller.is_superadmin or caller.is_domain_admin
        if not is_admin and (
            (email is not None and email != caller.email)
            or (user_id is not None and user_id != caller.user_uuid)
        ):
            raise InsufficientPrivilege("You can only look up your own account.")
        async with self._db.read() as session:
            if email is not None:
                user = await repo.get_by_email(session, email)
            else:
                user = await repo.get(session, user_id or caller.user_uuid)
        if user is None:
            return None
        if not can_view_user(caller, user):
            raise InsufficientPrivilege("You cannot access users of another domain.")
        if domain_name is not None and user.domain_name != domain_name:
            return None
        return user

    # -- mutations -----------------------------------------------------------------------------

    async def create(self, caller: Caller, email: str, props: dict[str, Any]) -> User:
        """A new user with its main keypair, put into ``group_ids`` (or the domain's default)."""
        require_admin(caller)
        domain_name = props.get("domain_name") or caller.domain_name
        require_domain_admin(caller, domain_name)
        role = parse_enum(UserRole, props.get("role") or UserRole.USER.value, "role")
        if role is UserRole.SUPERADMIN and not caller.is_superadmin:
            raise InsufficientPrivilege("Only superadmins can create superadmin accounts.")
        check_email(email)
        password = props.get("password")
        if not isinstance(password, str) or not password:
            raise InvalidAPIParameters("A password is required.")
        values = {"status": UserStatus.ACTIVE.value, **_common_values(props)}
        values.setdefault("username", email)
        policy = props.get("resource_policy") or DEFAULT_POLICY
        password_hash = await asyncio.to_thread(hash_password, password)
        now = self._clock.now()
        access_key, secret_key = new_access_key(), new_secret_key()
        async with self._db.transaction() as session:
            if await domains_repo.get(session, domain_name) is None:
                raise DomainNotFound(f"Domain {domain_name!r} not found.")
            if await repo.get_by_email(session, email) is not None:
                raise AlreadyExists(f"A user with email {email!r} already exists.")
            if await repo.username_taken(session, values["username"]):
                raise AlreadyExists(f"Username {values['username']!r} is already taken.")
            if not await repo.policy_exists(session, policy):
                raise ResourcePolicyNotFound(f"User resource policy {policy!r} not found.")
            if not await keypairs_repo.policy_exists(session, DEFAULT_POLICY):
                raise ResourcePolicyNotFound(
                    f"Keypair resource policy {DEFAULT_POLICY!r} not found."
                )
            if props.get("group_ids") is not None:
                project_ids = await _checked_projects(session, props["group_ids"], domain_name)
            else:
                default = await projects_repo.get_by_name(
                    session, domain_name, projects_repo.DEFAULT_NAME
                )
                project_ids = [default.id] if default is not None else []
            user_uuid = uuid.uuid4()
            await repo.create(
                session,
                {
                    "need_password_change": False,
                    "totp_activated": False,
                    "sudo_session_enabled": False,
                    **values,
                    "uuid": user_uuid,
                    "email": email,
                    "password": password_hash,
                    "password_changed_at": now,
                    "domain_name": domain_name,
                    "role": role.value,
                    "resource_policy": policy,
                    "main_access_key": access_key,
                    "created_at": now,
                    "modified_at": now,
                },
            )
            await keypairs_repo.create(
                session,
                {
                    "access_key": access_key,
                    "secret_key": secret_key,
                    "user_id": email,
                    "user": user_uuid,
                    "is_active": values["status"] == UserStatus.ACTIVE.value,
                    "is_admin": role in ADMIN_ROLES,
                    "created_at": now,
                    "modified_at": now,
                    "rate_limit": MAIN_KEY_RATE_LIMIT,
                    "num_queries": 0,
                    "resource_policy": DEFAULT_POLICY,
                },
            )
            await repo.set_memberships(session, user_uuid, project_ids)
            user = await repo.get(session, user_uuid)
        assert user is not None
        self._auth.invalidate()
        return user

    async def modify(self, caller: Caller, email: str, props: dict[str, Any]) -> User:
        require_admin(caller)
        values = _common_values(props)
        if "role" in props and props["role"] is not None:
            role = parse_enum(UserRole, props["role"], "role")
            if role is UserRole.SUPERADMIN and not caller.is_superadmin:
                raise InsufficientPrivilege("Only superadmins can grant the superadmin role.")
            values["role"] = role.value
        if props.get("password"):
            values["password"] = await asyncio.to_thread(hash_password, props["password"])
            values["password_changed_at"] = self._clock.now()
        async with self._db.transaction() as session:
            target = await _target(session, caller, email)
            domain_name = props.get("domain_name") or target.domain_name
            if domain_name != target.domain_name:
                if not caller.is_superadmin:
                    raise InsufficientPrivilege("Only superadmins can move users between domains.")
                if await domains_repo.get(session, domain_name) is None:
                    raise DomainNotFound(f"Domain {domain_name!r} not found.")
                values["domain_name"] = domain_name
            if "username" in values and await repo.username_taken(
                session, values["username"], other_than=target.uuid
            ):
                raise AlreadyExists(f"Username {values['username']!r} is already taken.")
            if props.get("resource_policy"):
                if not await repo.policy_exists(session, props["resource_policy"]):
                    raise ResourcePolicyNotFound(
                        f"User resource policy {props['resource_policy']!r} not found."
                    )
                values["resource_policy"] = props["resource_policy"]
            if props.get("main_access_key"):
                key = await keypairs_repo.get(session, props["main_access_key"])
                if key is None or key.user != target.uuid:
                    raise InvalidAPIParameters("The main access key must be one of the user's.")
                values["main_access_key"] = key.access_key
            if props.get("group_ids") is not None:
                project_ids = await _checked_projects(session, props["group_ids"], domain_name)
                await repo.set_memberships(session, target.uuid, project_ids)
            elif domain_name != target.domain_name:
                in_domain = await _ids_in(session, domain_name)
                kept = [g.id for g in target.groups if g.id in in_domain]
                await repo.set_memberships(session, target.uuid, kept)
            await repo.update(session, target.uuid, {**values, "modified_at": self._clock.now()})
            await _sync_keypairs(session, target, values)
            user = await repo.get(session, target.uuid)
        assert user is not None
        self._auth.invalidate()
        return user

    async def delete(self, caller: Caller, email: str) -> None:
        """Mark the user deleted and deactivate its keypairs (nothing is removed)."""
        require_admin(caller)
        async with self._db.transaction() as session:
            target = await _target(session, caller, email)
            if target.uuid == caller.user_uuid:
                raise Conflict("You cannot delete your own account.")
            values = {"status": UserStatus.DELETED.value, "status_info": "admin-requested"}
            await repo.update(session, target.uuid, {**values, "modified_at": self._clock.now()})
            await _sync_keypairs(session, target, values)
        self._auth.invalidate()

    async def purge(self, caller: Caller, email: str, props: dict[str, Any]) -> None:
        """Remove the user for good, with its keypairs and memberships."""
        require_admin(caller)
        async with self._db.transaction() as session:
            target = await _target(session, caller, email)
            if target.uuid == caller.user_uuid:
                raise Conflict("You cannot purge your own account.")
            await repo.purge(session, target.uuid)
        self._auth.invalidate()

    # -- login ---------------------------------------------------------------------------------

    async def authorize(
        self, domain_name: str | None, email: str, password: str, client_ip: str | None = None
    ) -> Authorization:
        """Check a password login and hand back the user's main keypair (``/auth/authorize``).

        Ten failures for one email, or a hundred from one address, within five minutes lock
        further attempts out (429) until the window has passed."""
        account, address = email.strip().lower(), client_ip or "unknown"
        self._failed_emails.check(account)
        self._failed_addresses.check(address)
        try:
            user, active = await self._check_login(domain_name, email, password)
        except AuthFailed:
            self._failed_emails.failed(account)
            self._failed_addresses.failed(address)
            raise
        self._failed_emails.succeeded(account)
        return Authorization(
            access_key=active.access_key,
            secret_key=active.secret_key,
            role=user.role,
            status=user.status,
            user_id=user.uuid,
        )

    async def _check_login(
        self, domain_name: str | None, email: str, password: str
    ) -> tuple[User, KeyPair]:
        async with self._db.read() as session:
            found = await repo.get_with_password(session, email)
            if found is None:
                await asyncio.to_thread(verify_password, _dummy_hash(), password)
                raise AuthFailed("Invalid user name or password.")
            user, password_hash = found
            if not await asyncio.to_thread(verify_password, password_hash, password):
                raise AuthFailed("Invalid user name or password.")
            if domain_name and user.domain_name != domain_name:
                raise AuthFailed("Invalid user name or password.")
            if user.status is not UserStatus.ACTIVE:
                raise AuthFailed(f"The user account is {user.status.value}.")
            keys = [k for k in await keypairs_repo.of_user(session, user.uuid) if k.is_active]
        keys.sort(key=lambda k: (k.access_key != user.main_access_key, k.created_at))
        if not keys:
            raise AuthFailed("The user has no active keypair.")
        return user, keys[0]
