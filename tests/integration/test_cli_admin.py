"""The ``cygnet`` CLI against a real manager: admin command groups, ``--json`` output, login and
profiles, and the error paths (exit 1 with message and error code; exit 2 on usage errors).

Commands run through ``click.testing.CliRunner`` in a worker thread (the manager serves from
this test's event loop), and once as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cygnet.client.cli.main import cli
from cygnet.testing.cluster import LocalManager

CLEAN_ENV: dict[str, str | None] = {
    f"{prefix}{name}": None
    for prefix in ("CYGNET_", "BACKEND_")
    for name in ("ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "DOMAIN", "GROUP", "PROFILE")
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class CLI:
    """Runs ``cygnet`` commands with the manager's admin keys in the environment."""

    def __init__(self, manager: LocalManager, config_dir: Path) -> None:
        self.manager = manager
        self.config_dir = config_dir

    def env(self, with_keys: bool = True, **extra: str | None) -> dict[str, str | None]:
        env: dict[str, str | None] = {**CLEAN_ENV, "CYGNET_CONFIG_DIR": str(self.config_dir)}
        if with_keys:
            env.update(self.manager.env())
        env.update(extra)
        return env

    async def __call__(
        self, *args: str, with_keys: bool = True, input: str | None = None, **extra: str | None
    ) -> Result:
        runner = CliRunner()
        env = self.env(with_keys, **extra)
        return await asyncio.to_thread(runner.invoke, cli, list(args), input=input, env=env)

    async def ok(self, *args: str, with_keys: bool = True, **extra: str | None) -> Result:
        result = await self(*args, with_keys=with_keys, **extra)
        assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.output
        return result

    async def json(self, *args: str, with_keys: bool = True, **extra: str | None) -> Any:
        result = await self.ok("--json", *args, with_keys=with_keys, **extra)
        return json.loads(result.stdout)

    async def fails(
        self, *args: str, code: int = 1, with_keys: bool = True, **extra: str | None
    ) -> Result:
        result = await self(*args, with_keys=with_keys, **extra)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.output
        return result


@pytest.fixture
def run(manager: LocalManager, tmp_path: Path) -> CLI:
    return CLI(manager, tmp_path / "config")


async def test_domain_commands(run: CLI) -> None:
    name = unique("cdom")
    result = await run.ok(
        "admin",
        "domain",
        "add",
        name,
        "--description",
        "CLI lab",
        "--total-resource-slots",
        '{"cpu": 4, "mem": "16g"}',
        "--allowed-docker-registries",
        "cr.example.com,docker.io",
    )
    assert f"Domain '{name}' created." in result.stdout
    assert "Total resource slots" in result.stdout

    shown = await run.json("admin", "domain", "info", name)
    assert shown["name"] == name and shown["description"] == "CLI lab"
    assert isinstance(shown["total_resource_slots"], dict)
    assert shown["allowed_docker_registries"] == ["cr.example.com", "docker.io"]

    listed = await run.json("admin", "domain", "list")
    assert set(listed) == {"items", "total_count"}
    assert listed["total_count"] == len(listed["items"])
    assert name in [d["name"] for d in listed["items"]]

    table = await run.ok("admin", "domain", "list")
    assert "Name" in table.stdout and "Description" in table.stdout and name in table.stdout

    updated = await run.json("admin", "domain", "update", name, "--description", "changed")
    assert updated["description"] == "changed"
    # --json also works after the command
    result = await run.ok("admin", "domain", "info", name, "--json")
    assert json.loads(result.stdout)["description"] == "changed"

    dup = await run.fails("admin", "domain", "add", name)
    assert "already exists" in dup.stderr
    assert "[api_generic_invalid-parameters]" in dup.stderr

    missing = await run.fails("admin", "domain", "info", "no-such-domain")
    assert "not found" in missing.stderr.lower()
    assert "domain_read_not-found" in missing.stderr
    missing_json = await run.fails("--json", "admin", "domain", "info", "no-such-domain")
    body = json.loads(missing_json.stdout)
    assert body["ok"] is False and body["error_code"] == "domain_read_not-found"

    await run.ok("admin", "domain", "delete", name)
    assert (await run.json("admin", "domain", "info", name))["is_active"] is False
    aborted = await run("admin", "domain", "purge", name, input="n\n")
    assert aborted.exit_code == 1
    await run.ok("admin", "domain", "purge", name, "--yes")
    await run.fails("admin", "domain", "info", name)


async def test_project_and_user_commands(run: CLI) -> None:
    domain = unique("cpd")
    await run.ok("admin", "domain", "add", domain)
    project_name = unique("cproj")
    project = await run.json(
        "admin",
        "project",
        "add",
        project_name,
        "--domain",
        domain,
        "--description",
        "vision",
        "--total-resource-slots",
        '{"cpu": 2}',
    )
    assert project["name"] == project_name and project["domain_name"] == domain
    listed = await run.json("admin", "project", "list", "--domain", domain)
    assert [p["name"] for p in listed["items"]] == [project_name]
    info = await run.json("admin", "project", "info", project_name, "--domain", domain)
    assert info["id"] == project["id"]

    email = f"{unique('carol')}@example.com"
    user = await run.json(
        "admin",
        "user",
        "add",
        email,
        "--password",
        "pass-W0rd!",
        "--full-name",
        "Carol",
        "--domain",
        domain,
        "--project",
        project_name,
    )
    assert user["email"] == email and user["full_name"] == "Carol"
    assert [g["name"] for g in user["groups"]] == [project_name]

    dave = f"{unique('dave')}@example.com"
    await run.ok("admin", "user", "add", dave, "--password", "pass-W0rd!", "--domain", domain)
    await run.ok("admin", "project", "add-users", project["id"], dave)
    members = await run.json("admin", "user", "list", "--project", project["id"])
    assert {u["email"] for u in members["items"]} == {email, dave}
    assert members["total_count"] == 2

    page = await run.json(
        "admin", "user", "list", "--project", project["id"], "--limit", "1", "--order", "email"
    )
    assert len(page["items"]) == 1 and page["total_count"] == 2
    table = await run.ok("admin", "user", "list", "--project", project["id"], "--limit", "1")
    assert "Use --offset 1 for the next page." in table.stdout

    filtered = await run.json("admin", "user", "list", "--filter", f'email == "{email}"')
    assert [u["email"] for u in filtered["items"]] == [email]

    await run.ok("admin", "project", "remove-users", project["id"], dave)
    assert (await run.json("admin", "user", "info", dave))["groups"] == []

    changed = await run.json("admin", "user", "update", email, "--full-name", "Carol C.")
    assert changed["full_name"] == "Carol C."
    renamed = await run.json(
        "admin", "project", "update", project["id"], "--description", "vision 2"
    )
    assert renamed["description"] == "vision 2"

    await run.ok("admin", "user", "delete", dave)
    assert (await run.json("admin", "user", "info", dave))["status"] == "deleted"
    await run.ok("admin", "user", "purge", dave, "--yes")
    gone = await run.fails("admin", "user", "info", dave)
    assert "not found" in gone.stderr.lower() or "no such" in gone.stderr.lower()

    dup = await run.fails("admin", "user", "add", email, "--password", "x-Y-z-123")
    assert "Error:" in dup.stderr


async def test_keypair_commands(run: CLI) -> None:
    email = f"{unique('kpu')}@example.com"
    await run.ok("admin", "user", "add", email, "--password", "pass-W0rd!")
    created = await run.json("admin", "keypair", "add", email, "--rate-limit", "777")
    access_key = created["access_key"]
    assert access_key and created["secret_key"]
    shown = await run.ok("admin", "keypair", "add", email)
    assert "Secret key" in shown.stdout and "Keep the secret key safe" in shown.stdout

    listed = await run.json("admin", "keypair", "list", "--user", email)
    assert access_key in [k["access_key"] for k in listed["items"]]
    assert listed["total_count"] >= 2  # and the main keypair the user got on creation
    info = await run.json("admin", "keypair", "info", access_key)
    assert info["rate_limit"] == 777 and info["user_id"] == email

    assert (await run.json("admin", "keypair", "deactivate", access_key))["is_active"] is False
    assert (await run.json("admin", "keypair", "activate", access_key))["is_active"] is True
    updated = await run.json("admin", "keypair", "update", access_key, "--rate-limit", "50")
    assert updated["rate_limit"] == 50
    mine = await run.json("admin", "keypair", "info")
    assert mine["access_key"] == run.manager.admin.access_key

    await run.ok("admin", "keypair", "delete", access_key)
    await run.fails("admin", "keypair", "info", access_key)
    bad = await run.fails("admin", "keypair", "add", "nobody@nowhere.example")
    assert "Error:" in bad.stderr


async def test_policy_commands(run: CLI) -> None:
    name = unique("ckrp")
    created = await run.json(
        "admin",
        "keypair-policy",
        "add",
        name,
        "--total-resource-slots",
        '{"cpu": 2, "mem": "4g"}',
        "--max-concurrent-sessions",
        "2",
        "--idle-timeout",
        "300",
        "--default-for-unspecified",
        "limited",
    )
    assert created["max_concurrent_sessions"] == 2 and created["idle_timeout"] == 300
    assert created["default_for_unspecified"] == "LIMITED"
    listed = await run.json("admin", "keypair-policy", "list")
    assert name in [p["name"] for p in listed["items"]]
    table = await run.ok("admin", "keypair-policy", "info", name)
    assert "Max concurrent sessions" in table.stdout
    updated = await run.json(
        "admin", "keypair-policy", "update", name, "--max-concurrent-sessions", "4"
    )
    assert updated["max_concurrent_sessions"] == 4
    dup = await run.fails("admin", "keypair-policy", "add", name)
    assert "Error:" in dup.stderr
    await run.ok("admin", "keypair-policy", "delete", name)
    await run.fails("admin", "keypair-policy", "info", name)

    uname = unique("curp")
    made = await run.json(
        "admin",
        "user-policy",
        "add",
        uname,
        "--max-vfolder-count",
        "3",
        "--max-quota-scope-size",
        "1g",
    )
    assert made["max_vfolder_count"] == 3 and made["max_quota_scope_size"] == 1 << 30
    assert uname in [p["name"] for p in (await run.json("admin", "user-policy", "list"))["items"]]
    changed = await run.json(
        "admin", "user-policy", "update", uname, "--max-quota-scope-size", "unlimited"
    )
    assert changed["max_quota_scope_size"] == -1
    await run.fails("admin", "user-policy", "add", "x", "--max-quota-scope-size", "lots", code=2)
    await run.ok("admin", "user-policy", "delete", uname)


async def test_resource_group_commands(run: CLI) -> None:
    name = unique("crg")
    created = await run.json(
        "admin",
        "resource-group",
        "add",
        name,
        "--description",
        "A100 nodes",
        "--scheduler",
        "fifo",
        "--scheduler-opts",
        '{"allowed_session_types": ["batch"]}',
    )
    assert created["scheduler_opts"] == {"allowed_session_types": ["batch"]}
    listed = await run.json("admin", "resource-group", "list")
    assert name in [g["name"] for g in listed["items"]]
    info = await run.json("admin", "resource-group", "info", name)
    assert info["description"] == "A100 nodes" and info["is_public"] is True
    updated = await run.json("admin", "resource-group", "update", name, "--private")
    assert updated["is_public"] is False

    domain = unique("crgd")
    await run.ok("admin", "domain", "add", domain)
    done = await run.ok("admin", "resource-group", "associate", name, "--domain", domain)
    assert "associated with domain" in done.stdout
    await run.ok("admin", "resource-group", "disassociate", name, "--domain", domain)
    await run.ok(
        "admin", "resource-group", "associate", name, "--keypair", run.manager.admin.access_key
    )
    await run.ok(
        "admin", "resource-group", "disassociate", name, "--keypair", run.manager.admin.access_key
    )
    await run.fails("admin", "resource-group", "associate", name, "--domain", "no-such-domain")
    await run.fails("admin", "resource-group", "add", "x", "--scheduler-opts", "{not json", code=2)
    await run.ok("admin", "resource-group", "delete", name)
    await run.fails("admin", "resource-group", "info", name)


async def test_login_profile_and_logout(run: CLI) -> None:
    admin = run.manager.admin
    login = await run(
        "login",
        "--endpoint",
        run.manager.endpoint,
        "--email",
        admin.email,
        with_keys=False,
        input=f"{admin.password}\n",
    )
    assert login.exit_code == 0, (login.stdout, login.stderr)
    assert "Logged in to" in login.stdout and "profile 'default'" in login.stdout
    path = run.config_dir / "profiles.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = tomllib.loads(path.read_text())
    assert saved["current"] == "default"
    assert saved["profiles"]["default"]["access_key"]
    assert saved["profiles"]["default"]["email"] == admin.email

    listed = await run.json("admin", "domain", "list", with_keys=False)
    assert "default" in [d["name"] for d in listed["items"]]
    shown = await run.json("config", "show", with_keys=False)
    assert shown["settings"]["access_key"]["source"] == "profile:default"
    version = await run.json("version", with_keys=False)
    assert version["server_api_version"] == "v9.20250722"
    assert version["negotiated_api_version"] == "v9.20250722"

    bad = await run(
        "login",
        "--profile",
        "other",
        "--endpoint",
        run.manager.endpoint,
        "--email",
        admin.email,
        "--password",
        "wrong",
        with_keys=False,
    )
    assert bad.exit_code == 1 and "Error:" in bad.stderr

    out = await run.ok("logout", with_keys=False)
    assert "removed the keys" in out.stdout
    after = await run.fails("admin", "domain", "list", with_keys=False)
    assert "cygnet login" in after.stderr


async def test_unreachable_endpoint(run: CLI) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    result = await run.fails("admin", "domain", "list", CYGNET_ENDPOINT=endpoint)
    assert "Cannot connect" in result.stderr and endpoint in result.stderr
    assert "cygnet up" in result.stderr
    version = await run.ok("version", CYGNET_ENDPOINT=endpoint)
    assert "unreachable" in version.stdout


async def test_cli_as_a_subprocess(manager: LocalManager, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env.update(manager.env())
    env["CYGNET_CONFIG_DIR"] = str(tmp_path)

    async def cygnet(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cygnet.client.cli.main",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    code, out, err = await cygnet("--json", "admin", "domain", "list")
    assert code == 0, err
    assert "default" in [d["name"] for d in json.loads(out)["items"]]
    code, out, err = await cygnet("admin", "domain", "info", "no-such-domain")
    assert code == 1 and "not found" in err.lower() and "Traceback" not in err
    code, out, err = await cygnet("admin", "domain", "add", "x", "--total-resource-slots", "{")
    assert code == 2 and "not valid JSON" in err
