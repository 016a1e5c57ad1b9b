"""``backend.ai admin …`` commands of the official client against Cygnet (wire notes 2.6, 5(c)).

Every change is followed by a fresh read (``info``/``list``) through the official CLI, and the
values that come back are checked, not just the exit codes. Names carry a random suffix, so the
tests share the session's manager and do not depend on their order. Each command costs a Python
start-up of the client, so independent commands (and independent chains of them) run
concurrently.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from official import OfficialClient, Result

from cygnet.testing.cluster import LocalManager

pytestmark = pytest.mark.compat

PASSWORD = "Compat-pw-1234"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _by(items: list[dict[str, Any]], key: str, value: object) -> dict[str, Any]:
    found = [item for item in items if item.get(key) == value]
    assert found, f"no item with {key}={value!r} in {items}"
    return found[0]


def _values(listing: dict[str, Any], key: str = "name") -> list[Any]:
    return [item[key] for item in listing["items"]]


def _only(listing: dict[str, Any]) -> dict[str, Any]:
    """The single item of an ``info`` answer (or of a list that must hold exactly one)."""
    assert listing["count"] == 1 and listing["total_count"] == 1, listing
    assert len(listing["items"]) == 1, listing
    return listing["items"][0]


def _empty(listing: dict[str, Any]) -> None:
    assert listing == {"count": 0, "total_count": 0, "items": []}


def _refused(result: Result, *words: str) -> dict[str, Any]:
    """A mutation the server turned down: non-zero exit and ``{"ok": false, "msg": …}`` whose
    message contains ``words`` (case-insensitive)."""
    assert result.code != 0, result.out
    payload = result.json()
    assert payload["ok"] is False, payload
    assert payload["msg"], payload
    for word in words:
        assert word.lower() in payload["msg"].lower(), payload
    return payload


async def _confirmed(bai: OfficialClient, *args: str) -> Result:
    """Run a command that asks ``Are you sure? [Y/n]`` first: answer yes, drop the prompt."""
    result = await bai.run(*args, stdin="y\n")
    prompt, brace, rest = result.out.partition("{")
    assert "Are you sure?" in prompt and brace, result.out
    return Result(result.code, brace + rest)


async def _new_user(
    bai: OfficialClient, *, domain: str = "default", role: str = "user", group: str | None = None
) -> tuple[str, str]:
    """Create a user; return (email, uuid)."""
    email = f"{_unique('cu')}@compat.cygnet.test"
    args = ["admin", "user", "add", domain, email, PASSWORD, "-r", role]
    added = await bai.ok(*args, *(["-g", group] if group else []))
    assert added["ok"] is True and added["user"]["email"] == email
    return email, added["user"]["uuid"]


def _as(bai: OfficialClient, access_key: str, secret_key: str) -> OfficialClient:
    """The same client, signing with another keypair."""
    env = {**bai.env, "BACKEND_ACCESS_KEY": access_key, "BACKEND_SECRET_KEY": secret_key}
    return OfficialClient(bai.exe, env, bai.cwd)


# Domains.


async def test_domain_commands(bai: OfficialClient) -> None:
    name, doomed = _unique("cdom"), _unique("cdom")
    added, added_doomed = await asyncio.gather(
        bai.ok(
            "admin", "domain", "add", name,
            "-d", "compat domain",
            "--inactive",
            "--allowed-docker-registries", "cr.example.com,docker.io",
            "--allowed-vfolder-hosts", '{"local": ["create-vfolder", "mount-in-session"]}',
        ),
        bai.ok("admin", "domain", "add", doomed, "-d", "to be purged"),
    )  # fmt: skip
    assert added == {"ok": True, "msg": "success", "domain": {"name": name}}
    assert added_doomed["ok"] is True

    info, listed, duplicate = await asyncio.gather(
        bai.ok("admin", "domain", "info", name),
        bai.ok("admin", "domain", "list"),
        bai.run("admin", "domain", "add", name),
    )
    domain = _only(info)
    assert domain["name"] == name
    assert domain["description"] == "compat domain"
    assert domain["is_active"] is False
    assert domain["total_resource_slots"] == {}
    assert domain["allowed_docker_registries"] == ["cr.example.com", "docker.io"]
    assert json.loads(domain["allowed_vfolder_hosts"]) == {
        "local": ["create-vfolder", "mount-in-session"]
    }
    assert domain["integration_id"] is None
    assert _by(listed["items"], "name", name) == domain
    assert _by(listed["items"], "name", doomed)["is_active"] is True
    assert _by(listed["items"], "name", "default")["is_active"] is True
    assert listed["count"] == listed["total_count"] == len(listed["items"])
    _refused(duplicate, "already exists")

    async def update_and_rename() -> None:
        renamed = _unique("cdom")
        updated = await bai.ok(
            "admin", "domain", "update", name,
            "--new-name", renamed,
            "--description", "changed",
            "--is-active", "true",
            "--allowed-docker-registries", "registry.example.org",
            "--allowed-vfolder-hosts", '{"nfs": ["mount-in-session"]}',
        )  # fmt: skip
        assert updated["ok"] is True
        info, old = await asyncio.gather(
            bai.ok("admin", "domain", "info", renamed),
            bai.ok("admin", "domain", "info", name),
        )
        domain = _only(info)
        assert domain["name"] == renamed
        assert domain["description"] == "changed"
        assert domain["is_active"] is True
        assert domain["allowed_docker_registries"] == ["registry.example.org"]
        assert json.loads(domain["allowed_vfolder_hosts"]) == {"nfs": ["mount-in-session"]}
        _empty(old)

    async def delete_and_purge() -> None:
        deleted = await bai.ok("admin", "domain", "delete", doomed)
        assert deleted["ok"] is True
        domain = _only(await bai.ok("admin", "domain", "info", doomed))
        assert domain["is_active"] is False
        assert domain["description"] == "to be purged"

        purged = await _confirmed(bai, "admin", "domain", "purge", doomed)
        assert purged.code == 0, purged.out
        assert purged.json()["ok"] is True
        info, listed, again = await asyncio.gather(
            bai.ok("admin", "domain", "info", doomed),
            bai.ok("admin", "domain", "list"),
            _confirmed(bai, "admin", "domain", "purge", doomed),
        )
        _empty(info)
        assert doomed not in _values(listed)
        _refused(again, doomed)

    await asyncio.gather(update_and_rename(), delete_and_purge())


async def test_domain_and_group_resource_slots_round_trip(bai: OfficialClient) -> None:
    """Wire notes 4: slot maps come back as ``{slot: "<decimal string>"}``, bytes as integers."""
    domain = _unique("cslot")
    await bai.ok(
        "admin", "domain", "add", domain,
        "--total-resource-slots", '{"cpu": 4, "mem": "8g", "cuda.shares": "0.5"}',
    )  # fmt: skip
    added = await bai.ok(
        "admin", "group", "add", domain, "slots",
        "--total-resource-slots", '{"cpu": "2", "mem": "512m"}',
    )  # fmt: skip
    gid = added["group"]["id"]
    domain_info, group_info = await asyncio.gather(
        bai.ok("admin", "domain", "info", domain),
        bai.ok("admin", "group", "info", gid),
    )
    slots = (
        _only(domain_info)["total_resource_slots"],
        _only(group_info)["total_resource_slots"],
    )
    assert slots == (
        {"cpu": "4", "mem": "8589934592", "cuda.shares": "0.5"},
        {"cpu": "2", "mem": "536870912"},
    )

    await asyncio.gather(
        bai.ok("admin", "domain", "update", domain, "--total-resource-slots", '{"mem": "1g"}'),
        bai.ok("admin", "group", "update", gid, "--total-resource-slots", '{"cpu": 1.5}'),
    )
    domain_info, group_info = await asyncio.gather(
        bai.ok("admin", "domain", "info", domain),
        bai.ok("admin", "group", "info", gid),
    )
    slots = (
        _only(domain_info)["total_resource_slots"],
        _only(group_info)["total_resource_slots"],
    )
    assert slots == ({"mem": "1073741824"}, {"cpu": "1.5"})


async def test_domain_add_with_invalid_slots_leaves_no_trace(
    bai: OfficialClient, fresh_manager: LocalManager
) -> None:
    """A refused ``domain add`` must not store the domain (nor break ``domain list``). On a
    manager of its own, since a half-stored domain would spoil the shared one."""
    client = OfficialClient(bai.exe, {**bai.env, **fresh_manager.env()}, bai.cwd)
    name = _unique("cbad")
    added = await client.run("admin", "domain", "add", name, "--total-resource-slots", "[1, 2]")
    assert added.code != 0, added.out
    info, listed = await asyncio.gather(
        client.ok("admin", "domain", "info", name),
        client.ok("admin", "domain", "list"),
    )
    _empty(info)
    assert _values(listed) == ["default"]


# Groups (projects).


async def test_group_commands(bai: OfficialClient) -> None:
    domain = _unique("cgdom")
    await bai.ok("admin", "domain", "add", domain)
    name = _unique("cgrp")
    added = await bai.ok(
        "admin", "group", "add", domain, name,
        "-d", "compat group",
        "--allowed-vfolder-hosts", '{"local": ["create-vfolder"]}',
    )  # fmt: skip
    assert added["ok"] is True
    group = added["group"]
    assert group["name"] == name and group["domain_name"] == domain
    gid = group["id"]
    assert str(uuid.UUID(gid)) == gid

    email, user_id = await _new_user(bai, domain=domain, group=gid)

    by_id, by_name, in_domain, everywhere, duplicate, members = await asyncio.gather(
        bai.ok("admin", "group", "info", gid),
        bai.ok("admin", "group", "info", name),
        bai.ok("admin", "group", "list", "-d", domain),
        bai.ok("admin", "group", "list"),
        bai.run("admin", "group", "add", domain, name),
        bai.ok("admin", "user", "list", "-g", gid),
    )
    detail = _only(by_id)
    assert detail["id"] == gid
    assert detail["name"] == name
    assert detail["description"] == "compat group"
    assert detail["is_active"] is True
    assert detail["domain_name"] == domain
    assert json.loads(detail["allowed_vfolder_hosts"]) == {"local": ["create-vfolder"]}
    assert detail["integration_id"] is None
    assert _only(by_name) == detail
    listed = _only(in_domain)
    assert listed["id"] == gid and listed["name"] == name and listed["is_active"] is True
    assert listed["created_at"] == detail["created_at"]
    assert _by(everywhere["items"], "id", gid)["name"] == name
    assert "default" in _values(everywhere)
    _refused(duplicate, "already exists")
    assert _values(members, "email") == [email]
    assert _only(members)["groups"] == [{"id": gid, "name": name}]

    renamed = _unique("cgrp")

    async def update() -> None:
        updated = await bai.ok(
            "admin", "group", "update", gid,
            "-n", renamed,
            "-d", "changed",
            "--allowed-vfolder-hosts", '{"nfs": ["mount-in-session"]}',
        )  # fmt: skip
        assert updated["ok"] is True
        detail = _only(await bai.ok("admin", "group", "info", gid))
        assert detail["name"] == renamed
        assert detail["description"] == "changed"
        assert detail["is_active"] is True
        assert detail["domain_name"] == domain
        assert json.loads(detail["allowed_vfolder_hosts"]) == {"nfs": ["mount-in-session"]}

    async def membership() -> None:
        removed = await bai.ok("admin", "group", "remove-users", gid, user_id)
        assert removed["ok"] is True
        _empty(await bai.ok("admin", "user", "list", "-g", gid))
        added_users = await bai.ok("admin", "group", "add-users", gid, user_id)
        assert added_users["ok"] is True
        assert _values(await bai.ok("admin", "user", "list", "-g", gid), "uuid") == [user_id]

    await asyncio.gather(update(), membership())

    deleted = await bai.ok("admin", "group", "delete", gid)
    assert deleted["ok"] is True
    info, in_domain, user = await asyncio.gather(
        bai.ok("admin", "group", "info", gid),
        bai.ok("admin", "group", "list", "-d", domain),
        bai.ok("admin", "user", "info", "-e", email),
    )
    assert _only(info)["is_active"] is False
    assert _only(in_domain)["is_active"] is False
    assert _only(user)["groups"] == [{"id": gid, "name": renamed}]

    purged = await _confirmed(bai, "admin", "group", "purge", gid)
    assert purged.code == 0, purged.out
    assert purged.json()["ok"] is True
    info, in_domain, again, user = await asyncio.gather(
        bai.ok("admin", "group", "info", gid),
        bai.ok("admin", "group", "list", "-d", domain),
        _confirmed(bai, "admin", "group", "purge", gid),
        bai.ok("admin", "user", "info", "-e", email),
    )
    _empty(info)
    _empty(in_domain)
    _refused(again, gid)
    assert _only(user)["groups"] == []


# Users.


async def test_user_commands(bai: OfficialClient) -> None:
    tag = uuid.uuid4().hex[:8]
    mail_domain = f"{tag}.compat.test"
    people = {
        # key: (username, full name, role, status)
        "ann": (f"{tag}-ann", "Ann Admin", "admin", "active"),
        "bob": (f"{tag}-bob", "Bob User", "user", "inactive"),
        "cyd": (f"{tag}-cyd", "Cyd Monitor", "monitor", "before-verification"),
    }
    email = {key: f"{key}@{mail_domain}" for key in people}

    async def add(key: str) -> dict[str, Any]:
        username, full_name, role, status = people[key]
        return await bai.ok(
            "admin", "user", "add", "default", email[key], PASSWORD,
            "-u", username, "-n", full_name, "-r", role, "-s", status,
        )  # fmt: skip

    added = dict(zip(people, await asyncio.gather(*(add(key) for key in people)), strict=True))
    for key, result in added.items():
        assert result["ok"] is True
        user = result["user"]
        assert user["email"] == email[key]
        assert user["username"] == people[key][0]
        assert user["domain_name"] == "default"
        assert user["groups"] == "default"
        assert str(uuid.UUID(user["uuid"])) == user["uuid"]

    pattern = f'email ilike "%@{mail_domain.upper()}"'
    page_args = ["--order", "+email", "--limit", "1", "--offset", "1"]
    descending, page, info, keys, duplicate = await asyncio.gather(
        bai.ok("admin", "user", "list", "--filter", pattern, "--order", "-username"),
        bai.ok("admin", "user", "list", "--filter", pattern, *page_args),
        bai.ok("admin", "user", "info", "-e", email["bob"]),
        bai.ok("admin", "keypair", "list", "-u", email["bob"]),
        bai.run("admin", "user", "add", "default", email["ann"], PASSWORD),
    )
    assert descending["total_count"] == 3
    assert _values(descending, "email") == [email["cyd"], email["bob"], email["ann"]]
    for item in descending["items"]:
        key = item["email"].partition("@")[0]
        username, full_name, role, status = people[key]
        assert item["username"] == username
        assert item["full_name"] == full_name
        assert (item["role"], item["status"]) == (role, status)
        assert item["uuid"] == added[key]["user"]["uuid"]
        assert item["domain_name"] == "default"
        assert [g["name"] for g in item["groups"]] == ["default"]
    assert page["total_count"] == 3 and page["count"] == 1
    assert _values(page, "email") == [email["bob"]]
    bob = _only(info)
    assert bob["uuid"] == added["bob"]["user"]["uuid"]
    assert bob["full_name"] == "Bob User"
    assert (bob["role"], bob["status"]) == ("user", "inactive")
    main_key = _only(keys)
    assert main_key["access_key"] == bob["main_access_key"]
    assert (main_key["is_active"], main_key["is_admin"]) == (False, False)
    _refused(duplicate, "already exists")

    async def update_bob() -> None:
        updated = await bai.ok(
            "admin", "user", "update", email["bob"],
            "-n", "Robert Renamed", "-r", "admin", "-s", "active",
        )  # fmt: skip
        assert updated["ok"] is True
        info, keys = await asyncio.gather(
            bai.ok("admin", "user", "info", "-e", email["bob"]),
            bai.ok("admin", "keypair", "list", "-u", email["bob"]),
        )
        bob = _only(info)
        assert bob["full_name"] == "Robert Renamed"
        assert (bob["role"], bob["status"]) == ("admin", "active")
        assert bob["username"] == people["bob"][0]
        # The user's keypairs follow the new role and status.
        main_key = _only(keys)
        assert main_key["access_key"] == bob["main_access_key"]
        assert (main_key["is_active"], main_key["is_admin"]) == (True, True)

    async def delete_and_purge_cyd() -> None:
        deleted = await bai.ok("admin", "user", "delete", email["cyd"])
        assert deleted["ok"] is True
        info, deleted_users = await asyncio.gather(
            bai.ok("admin", "user", "info", "-e", email["cyd"]),
            bai.ok("admin", "user", "list", "-s", "deleted", "--filter", pattern),
        )
        assert _only(info)["status"] == "deleted"
        assert _values(deleted_users, "email") == [email["cyd"]]

        purged = await _confirmed(bai, "admin", "user", "purge", email["cyd"])
        assert purged.code == 0, purged.out
        assert purged.json()["ok"] is True
        info, again = await asyncio.gather(
            bai.ok("admin", "user", "info", "-e", email["cyd"]),
            _confirmed(bai, "admin", "user", "purge", email["cyd"]),
        )
        _empty(info)
        _refused(again, email["cyd"])

    await asyncio.gather(update_bob(), delete_and_purge_cyd())
    remaining = await bai.ok("admin", "user", "list", "--filter", pattern, "--order", "email")
    assert _values(remaining, "email") == [email["ann"], email["bob"]]
    assert [(u["role"], u["status"]) for u in remaining["items"]] == [
        ("admin", "active"),
        ("admin", "active"),
    ]


# Keypairs.


async def test_keypair_commands(bai: OfficialClient) -> None:
    email, _ = await _new_user(bai)
    added, bad_policy, bad_user = await asyncio.gather(
        bai.ok("admin", "keypair", "add", email, "default", "-r", "1234"),
        bai.run("admin", "keypair", "add", email, "compat-no-such-policy"),
        bai.run("admin", "keypair", "add", "compat-nobody@compat.test", "default"),
    )
    assert added["ok"] is True
    access_key, secret_key = added["access_key"], added["secret_key"]
    assert added["keypair"] == {"access_key": access_key, "secret_key": secret_key}
    _refused(bad_policy, "compat-no-such-policy")
    _refused(bad_user, "compat-nobody@compat.test")

    keys = await bai.ok("admin", "keypair", "list", "-u", email)
    assert keys["total_count"] == 2 and keys["count"] == 2
    assert {item["user_id"] for item in keys["items"]} == {email}
    key = _by(keys["items"], "access_key", access_key)
    assert key["secret_key"] == secret_key
    assert key["rate_limit"] == 1234
    assert key["resource_policy"] == "default"
    assert (key["is_active"], key["is_admin"]) == (True, False)
    assert key["projects"] == ["default"]
    assert key["concurrency_used"] == 0
    main_key = next(item for item in keys["items"] if item["access_key"] != access_key)
    assert main_key["is_active"] is True

    updated = await bai.ok(
        "admin", "keypair", "update", access_key,
        "-r", "77", "--is-admin", "true", "--resource-policy", "default",
    )  # fmt: skip
    assert updated["ok"] is True
    deactivated = await bai.ok("admin", "keypair", "deactivate", access_key)
    assert deactivated["ok"] is True
    inactive, active = await asyncio.gather(
        bai.ok("admin", "keypair", "list", "-u", email, "--is-active", "false"),
        bai.ok("admin", "keypair", "list", "-u", email, "--is-active", "true"),
    )
    key = _only(inactive)
    assert key["access_key"] == access_key
    assert (key["rate_limit"], key["is_admin"], key["is_active"]) == (77, True, False)
    assert key["resource_policy"] == "default"
    assert _values(active, "access_key") == [main_key["access_key"]]

    activated = await bai.ok("admin", "keypair", "activate", access_key)
    assert activated["ok"] is True
    keys = await bai.ok("admin", "keypair", "list", "-u", email, "--is-active", "true")
    assert sorted(_values(keys, "access_key")) == sorted([access_key, main_key["access_key"]])
    key = _by(keys["items"], "access_key", access_key)
    assert (key["rate_limit"], key["is_admin"], key["is_active"]) == (77, True, True)

    deleted = await bai.ok("admin", "keypair", "delete", access_key)
    assert deleted["ok"] is True
    keys, again = await asyncio.gather(
        bai.ok("admin", "keypair", "list", "-u", email),
        bai.run("admin", "keypair", "delete", access_key),
    )
    assert _values(keys, "access_key") == [main_key["access_key"]]
    _refused(again, access_key)


async def test_plain_user_is_refused_admin_commands(bai: OfficialClient) -> None:
    email, _ = await _new_user(bai, role="user")
    main_key = _only(await bai.ok("admin", "keypair", "list", "-u", email))
    plain = _as(bai, main_key["access_key"], main_key["secret_key"])

    users, own, domain_add = await asyncio.gather(
        plain.run("admin", "user", "list"),
        plain.ok("admin", "keypair", "info"),
        plain.run("admin", "domain", "add", _unique("cdom")),
    )
    assert users.code != 0, users.out
    refusal = users.json()
    assert refusal["api"]["status"] == 400  # GraphQL errors reach the client as a 400
    assert refusal["api"]["type"].endswith("/graphql-error")
    assert "privilege" in json.dumps(refusal["api"]["data"]).lower(), refusal

    key = _only(own)
    assert key["user_id"] == email
    assert key["access_key"] == main_key["access_key"]
    assert key["secret_key"] == main_key["secret_key"]
    assert (key["is_active"], key["is_admin"]) == (True, False)
    assert key["resource_policy"] == "default"

    _refused(domain_add)
    assert "privilege" in domain_add.json()["error"].lower()


# Keypair resource policies.


async def test_keypair_resource_policy_commands(bai: OfficialClient) -> None:
    name = _unique("ckrp")
    added, (email, _) = await asyncio.gather(
        bai.ok(
            "admin", "keypair-resource-policy", "add", name,
            "--default-for-unspecified", "UNLIMITED",
            "--total-resource-slots", '{"cpu": 4, "mem": "2g"}',
            "--max-session-lifetime", "3600",
            "--max-concurrent-sessions", "5",
            "--max-concurrent-sftp-sessions", "2",
            "--max-containers-per-session", "3",
            "--idle-timeout", "600",
            "--allowed-vfolder-hosts", '{"local": ["create-vfolder"]}',
            "--max-pending-session-count", "4",
            "--max-pending-session-resource-slots", '{"cpu": "2"}',
        ),
        _new_user(bai),
    )  # fmt: skip
    assert added == {"ok": True, "msg": "success", "resource_policy": {"name": name}}

    info, listed, duplicate, key_added = await asyncio.gather(
        bai.ok("admin", "keypair-resource-policy", "info", name),
        bai.ok("admin", "keypair-resource-policy", "list"),
        bai.run("admin", "keypair-resource-policy", "add", name),
        bai.ok("admin", "keypair", "add", email, name),
    )
    policy = _only(info)
    assert policy["name"] == name
    # Not parsed by the CLI: JSON strings of slot maps with decimal-string values.
    assert json.loads(policy["total_resource_slots"]) == {"cpu": "4", "mem": "2147483648"}
    assert json.loads(policy["max_pending_session_resource_slots"]) == {"cpu": "2"}
    assert json.loads(policy["allowed_vfolder_hosts"]) == {"local": ["create-vfolder"]}
    assert policy["max_session_lifetime"] == 3600
    assert policy["max_concurrent_sessions"] == 5
    assert policy["max_concurrent_sftp_sessions"] == 2
    assert policy["max_containers_per_session"] == 3
    assert policy["idle_timeout"] == 600
    assert policy["max_pending_session_count"] == 4
    assert _by(listed["items"], "name", name) == policy
    assert "default" in _values(listed)
    _refused(duplicate, "already exists")
    access_key = key_added["access_key"]

    updated, keys, in_use = await asyncio.gather(
        bai.ok(
            "admin", "keypair-resource-policy", "update", name,
            "--max-containers-per-session", "7",
            "--total-resource-slots", '{"cpu": "8", "cuda.shares": "0.5"}',
            "--idle-timeout", "0",
            "--max-concurrent-sessions", "9",
        ),
        bai.ok("admin", "keypair", "list", "-u", email),
        _confirmed(bai, "admin", "keypair-resource-policy", "delete", name),
    )  # fmt: skip
    assert updated["ok"] is True
    assert _by(keys["items"], "access_key", access_key)["resource_policy"] == name
    _refused(in_use)  # a keypair still uses the policy

    info, key_deleted = await asyncio.gather(
        bai.ok("admin", "keypair-resource-policy", "info", name),
        bai.ok("admin", "keypair", "delete", access_key),
    )
    policy = _only(info)
    assert policy["max_containers_per_session"] == 7
    assert json.loads(policy["total_resource_slots"]) == {"cpu": "8", "cuda.shares": "0.5"}
    assert policy["idle_timeout"] == 0
    assert policy["max_concurrent_sessions"] == 9
    assert policy["max_session_lifetime"] == 3600  # untouched
    assert policy["max_pending_session_count"] == 4
    assert key_deleted["ok"] is True

    deleted = await _confirmed(bai, "admin", "keypair-resource-policy", "delete", name)
    assert deleted.code == 0, deleted.out
    assert deleted.json()["ok"] is True
    info, listed, again = await asyncio.gather(
        bai.ok("admin", "keypair-resource-policy", "info", name),
        bai.ok("admin", "keypair-resource-policy", "list"),
        _confirmed(bai, "admin", "keypair-resource-policy", "delete", name),
    )
    _empty(info)
    assert name not in _values(listed)
    _refused(again, name)


# Scaling groups.


async def test_scaling_group_commands(bai: OfficialClient) -> None:
    name, domain = _unique("csg"), _unique("csgdom")
    added, _ = await asyncio.gather(
        bai.ok(
            "admin", "scaling-group", "add", name,
            "-d", "compat sgroup",
            "--private",
            "--driver", "static",
            "--driver-opts", '{"x": 1}',
            "--scheduler", "lifo",
            "--scheduler-opts", '{"allowed_session_types": ["batch"], "pending_timeout": 30}',
            "--use-host-network",
            "--wsproxy-addr", "http://proxy.compat.test:5050",
            "--wsproxy-api-token", "compat-token",
        ),
        bai.ok("admin", "domain", "add", domain),
    )  # fmt: skip
    assert added == {"ok": True, "msg": "success", "scaling_group": {"name": name}}

    info, listed, duplicate = await asyncio.gather(
        bai.ok("admin", "scaling-group", "info", name),
        bai.ok("admin", "scaling-group", "list"),
        bai.run("admin", "scaling-group", "add", name),
    )
    sgroup = _only(info)
    assert sgroup["name"] == name
    assert sgroup["description"] == "compat sgroup"
    assert (sgroup["is_active"], sgroup["is_public"]) == (True, False)
    assert sgroup["driver"] == "static"
    assert sgroup["driver_opts"] == {"x": 1}
    assert sgroup["scheduler"] == "lifo"
    # The server may add its defaults to the options; what was sent must come back.
    opts = sgroup["scheduler_opts"]
    assert opts["allowed_session_types"] == ["batch"]
    assert opts["pending_timeout"] == 30
    assert sgroup["use_host_network"] is True
    assert sgroup["wsproxy_addr"] == "http://proxy.compat.test:5050"
    assert sgroup["wsproxy_api_token"] == "compat-token"
    assert _by(listed["items"], "name", name) == {
        key: value for key, value in sgroup.items() if key not in ("driver_opts", "scheduler_opts")
    }
    assert "default" in _values(listed)
    _refused(duplicate, "already exists")

    async def update() -> None:
        updated = await bai.ok(
            "admin", "scaling-group", "update", name,
            "-d", "changed",
            "-a", "false",
            "--private", "false",
            "--scheduler", "drf",
            "--scheduler-opts", '{"allowed_session_types": ["interactive", "batch"]}',
            "--use-host-network", "false",
            "--wsproxy-addr", "http://proxy2.compat.test:6060",
        )  # fmt: skip
        assert updated["ok"] is True
        sgroup = _only(await bai.ok("admin", "scaling-group", "info", name))
        assert sgroup["description"] == "changed"
        assert (sgroup["is_active"], sgroup["is_public"]) == (False, True)
        assert sgroup["scheduler"] == "drf"
        assert sgroup["scheduler_opts"]["allowed_session_types"] == ["interactive", "batch"]
        assert sgroup["use_host_network"] is False
        assert sgroup["wsproxy_addr"] == "http://proxy2.compat.test:6060"
        assert sgroup["wsproxy_api_token"] == "compat-token"  # untouched
        assert sgroup["driver"] == "static"
        assert sgroup["driver_opts"] == {"x": 1}

    async def association() -> None:
        """A repeated (dis)association shows the state the previous one left."""
        associate = ("admin", "scaling-group", "associate-scaling", name, domain)
        dissociate = ("admin", "scaling-group", "dissociate-scaling", name, domain)
        associated = await bai.ok(*associate)
        assert associated["ok"] is True
        assert (
            associated["detail_msg"] == f"Scaling group {name} is associated with domain {domain}."
        )
        _refused(await bai.run(*associate), "already")
        dissociated = await bai.run(*dissociate)  # prints a plain "done" line, not JSON
        assert dissociated.code == 0, dissociated.out
        assert f"Scaling group {name} is dissociated from domain {domain}." in dissociated.out
        _refused(await bai.run(*dissociate), "not associated")
        # Linked once more, so that the deletion below has a link to drop as well.
        assert (await bai.ok(*associate))["ok"] is True

    await asyncio.gather(update(), association())

    deleted = await bai.ok("admin", "scaling-group", "delete", name)
    assert deleted["ok"] is True
    info, listed, again = await asyncio.gather(
        bai.ok("admin", "scaling-group", "info", name),
        bai.ok("admin", "scaling-group", "list"),
        bai.run("admin", "scaling-group", "delete", name),
    )
    _empty(info)
    assert name not in _values(listed)
    _refused(again, name)


async def test_scaling_group_get_available(bai: OfficialClient) -> None:
    """``scaling-group get-available PROJECT`` (REST ``GET /scaling-groups?group=``)."""
    available = await bai.ok("admin", "scaling-group", "get-available", "default")
    assert "default" in [item["name"] for item in available["items"]]
    missing = await bai.run("admin", "scaling-group", "get-available", _unique("noproj"))
    assert missing.code != 0
