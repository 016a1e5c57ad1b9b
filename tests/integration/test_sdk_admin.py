"""The SDK against a real manager: every admin resource end to end, typed results, errors."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from cygnet.client.sdk import (
    APIConfig,
    APIError,
    APISession,
    AsyncAPISession,
    ClientError,
    MutationFailed,
    NotFound,
    SDKError,
)
from cygnet.testing.cluster import LocalManager


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def admin_config(manager: LocalManager) -> APIConfig:
    return APIConfig(
        endpoint=manager.endpoint,
        access_key=manager.admin.access_key,
        secret_key=manager.admin.secret_key,
    )


@pytest.fixture
async def sdk(manager: LocalManager) -> AsyncIterator[AsyncAPISession]:
    async with AsyncAPISession(admin_config(manager)) as session:
        yield session


async def test_version_and_announcement(sdk: AsyncAPISession) -> None:
    found = await sdk.version()
    assert found.version == "v9.20250722"
    assert await sdk.api_version() == "v9.20250722"
    announcement = await sdk.announcement()
    assert announcement.enabled in (True, False)


async def test_domain_lifecycle(sdk: AsyncAPISession) -> None:
    name = unique("dom")
    created = await sdk.admin.domains.create(
        name,
        description="lab",
        total_resource_slots={"cpu": 8, "mem": "16g"},
        allowed_vfolder_hosts={"local:volume1": ["create-vfolder"]},
        allowed_docker_registries=["cr.example.com"],
    )
    assert created.name == name and created.is_active is True
    assert isinstance(created.total_resource_slots, dict)
    assert created.total_resource_slots.get("cpu") in (8, "8")
    assert created.allowed_vfolder_hosts == {"local:volume1": ["create-vfolder"]}
    assert created.allowed_docker_registries == ["cr.example.com"]

    assert name in [d.name for d in await sdk.admin.domains.list()]
    assert (await sdk.admin.domains.get(name)).description == "lab"

    updated = await sdk.admin.domains.update(name, description="renamed lab")
    assert updated.description == "renamed lab"

    with pytest.raises(MutationFailed) as dup:
        await sdk.admin.domains.create(name)
    assert "already exists" in str(dup.value)
    assert dup.value.error_code == "api_generic_invalid-parameters"

    await sdk.admin.domains.delete(name)
    assert (await sdk.admin.domains.get(name)).is_active is False
    await sdk.admin.domains.purge(name)
    with pytest.raises(APIError) as gone:
        await sdk.admin.domains.get(name)
    assert "not found" in str(gone.value).lower()
    assert gone.value.error_code == "domain_read_not-found"


async def test_unknown_domain_is_not_found(sdk: AsyncAPISession) -> None:
    with pytest.raises(NotFound) as caught:
        await sdk.admin.domains.get("no-such-domain")
    assert "not found" in str(caught.value).lower()


async def test_projects_users_and_membership(sdk: AsyncAPISession) -> None:
    domain = unique("pdom")
    await sdk.admin.domains.create(domain)
    project = await sdk.admin.projects.create(
        unique("proj"), domain=domain, description="vision", total_resource_slots={"cpu": 4}
    )
    assert project.domain_name == domain and project.description == "vision"
    assert project.total_resource_slots is not None

    assert project.id in [p.id for p in await sdk.admin.projects.list(domain=domain)]
    assert (await sdk.admin.projects.get(project.name, domain=domain)).id == project.id
    assert (await sdk.admin.projects.get(str(project.id))).name == project.name

    email = f"{unique('alice')}@example.com"
    user = await sdk.admin.users.create(
        email,
        "pass-W0rd!",
        full_name="Alice",
        domain=domain,
        projects=[project.name],
    )
    assert user.email == email and user.domain_name == domain
    assert [g.id for g in user.groups or []] == [project.id]

    bob = f"{unique('bob')}@example.com"
    await sdk.admin.users.create(bob, "pass-W0rd!", domain=domain)
    await sdk.admin.projects.add_users(project.name, [bob], domain=domain)
    page = await sdk.admin.users.list(project=project.id)
    assert {u.email for u in page.items} == {email, bob}
    assert page.total_count == 2
    await sdk.admin.projects.remove_users(project.id, [bob])
    assert (await sdk.admin.users.get(bob)).groups == []

    # filter / order / limit / offset
    filtered = await sdk.admin.users.list(filter=f'email == "{email}"')
    assert [u.email for u in filtered.items] == [email]
    first = await sdk.admin.users.list(project=project.id, limit=1, order="email")
    assert first.total_count == 1 and len(first.items) == 1

    updated = await sdk.admin.users.update(email, full_name="Alice Liddell", description="x")
    assert updated.full_name == "Alice Liddell"
    assert (await sdk.admin.users.get(updated.uuid or email)).email == email

    renamed = await sdk.admin.projects.update(project.id, description="vision 2")
    assert renamed.description == "vision 2"

    await sdk.admin.users.delete(bob)
    assert (await sdk.admin.users.get(bob)).status == "deleted"
    await sdk.admin.users.purge(bob)
    with pytest.raises(SDKError):
        await sdk.admin.users.get(bob)

    with pytest.raises(NotFound):
        await sdk.admin.projects.get("no-such-project", domain=domain)


async def test_keypairs(manager: LocalManager, sdk: AsyncAPISession) -> None:
    email = f"{unique('kp')}@example.com"
    await sdk.admin.users.create(email, "pass-W0rd!")
    created = await sdk.admin.keypairs.create(email, rate_limit=1234)
    assert created.access_key and created.secret_key
    assert created.user_id == email

    listed = await sdk.admin.keypairs.list(email=email)
    assert created.access_key in [k.access_key for k in listed.items]

    info = await sdk.admin.keypairs.get(created.access_key)
    assert info.rate_limit == 1234 and info.is_active is True

    assert (await sdk.admin.keypairs.deactivate(created.access_key)).is_active is False
    inactive = await sdk.admin.keypairs.list(email=email, is_active=False)
    assert created.access_key in [k.access_key for k in inactive.items]
    assert (await sdk.admin.keypairs.activate(created.access_key)).is_active is True
    assert (await sdk.admin.keypairs.update(created.access_key, rate_limit=99)).rate_limit == 99

    # the new keypair signs requests of its own
    user_config = APIConfig(
        endpoint=manager.endpoint, access_key=created.access_key, secret_key=created.secret_key
    )
    async with AsyncAPISession(user_config) as mine:
        assert (await mine.admin.keypairs.get()).access_key == created.access_key

    await sdk.admin.keypairs.delete(created.access_key)
    with pytest.raises(SDKError):
        await sdk.admin.keypairs.get(created.access_key)


async def test_resource_policies(sdk: AsyncAPISession) -> None:
    name = unique("krp")
    created = await sdk.admin.keypair_policies.create(
        name,
        total_resource_slots={"cpu": 4, "mem": "8g"},
        max_concurrent_sessions=3,
        max_containers_per_session=2,
        idle_timeout=600,
    )
    assert created.max_concurrent_sessions == 3
    assert isinstance(created.total_resource_slots, dict)
    assert name in [p.name for p in await sdk.admin.keypair_policies.list()]
    updated = await sdk.admin.keypair_policies.update(name, max_concurrent_sessions=5)
    assert updated.max_concurrent_sessions == 5 and updated.idle_timeout == 600
    with pytest.raises(MutationFailed):
        await sdk.admin.keypair_policies.create(name)
    await sdk.admin.keypair_policies.delete(name)
    with pytest.raises(NotFound):
        await sdk.admin.keypair_policies.get(name)

    uname = unique("urp")
    made = await sdk.admin.user_policies.create(uname, max_vfolder_count=7)
    assert made.max_vfolder_count == 7
    assert uname in [p.name for p in await sdk.admin.user_policies.list()]
    changed = await sdk.admin.user_policies.update(uname, max_quota_scope_size=1 << 30)
    assert changed.max_quota_scope_size == 1 << 30
    await sdk.admin.user_policies.delete(uname)
    with pytest.raises(NotFound):
        await sdk.admin.user_policies.get(uname)


async def test_resource_groups_and_associations(sdk: AsyncAPISession) -> None:
    name = unique("rg")
    created = await sdk.admin.resource_groups.create(
        name, description="gpus", scheduler="fifo", scheduler_opts={"allowed_session_types": []}
    )
    assert created.scheduler == "fifo" and created.description == "gpus"
    assert created.scheduler_opts == {"allowed_session_types": []}
    assert name in [g.name for g in await sdk.admin.resource_groups.list()]
    updated = await sdk.admin.resource_groups.update(name, is_public=False, scheduler="lifo")
    assert updated.is_public is False and updated.scheduler == "lifo"

    domain = unique("rgdom")
    await sdk.admin.domains.create(domain)
    project = await sdk.admin.projects.create(unique("rgproj"), domain=domain)
    email = f"{unique('rgu')}@example.com"
    await sdk.admin.users.create(email, "pass-W0rd!", domain=domain)
    keypair = await sdk.admin.keypairs.create(email)

    await sdk.admin.resource_groups.associate(name, domain=domain)
    await sdk.admin.resource_groups.associate(name, project=project.name, project_domain=domain)
    await sdk.admin.resource_groups.associate(name, keypair=keypair.access_key)
    await sdk.admin.resource_groups.disassociate(name, domain=domain)
    await sdk.admin.resource_groups.disassociate(name, keypair=keypair.access_key)
    await sdk.admin.resource_groups.disassociate(name, project=project.id)

    await sdk.admin.resource_groups.delete(name)
    with pytest.raises(NotFound):
        await sdk.admin.resource_groups.get(name)


async def test_authorize_returns_working_keys(manager: LocalManager, sdk: AsyncAPISession) -> None:
    email = f"{unique('login')}@example.com"
    await sdk.admin.users.create(email, "S3cret-pass")
    creds = await sdk.authorize(email, "S3cret-pass", "default")
    assert creds.access_key and creds.secret_key and creds.role == "user"
    user_config = APIConfig(
        endpoint=manager.endpoint, access_key=creds.access_key, secret_key=creds.secret_key
    )
    async with AsyncAPISession(user_config) as mine:
        assert (await mine.admin.users.me()).email == email
    with pytest.raises(APIError) as bad:
        await sdk.authorize(email, "wrong password", "default")
    assert bad.value.status in (400, 401)


async def test_blocking_session(manager: LocalManager) -> None:
    def work() -> list[str]:
        with APISession(admin_config(manager)) as session:
            session.open()
            return [d.name for d in session.admin.domains.list()]

    assert "default" in await asyncio.to_thread(work)


async def test_unreachable_manager() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = APIConfig(endpoint=f"http://127.0.0.1:{port}", access_key="AK", secret_key="SK")
    async with AsyncAPISession(config) as session:
        with pytest.raises(ClientError) as caught:
            await session.admin.domains.list()
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "cygnet up" in str(caught.value)
