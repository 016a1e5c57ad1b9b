"""Profiles (``profiles.toml``), the configuration resolution order, and the ``cygnet config``
commands that need no server."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from cygnet.client.cli.main import cli
from cygnet.client.sdk import APIConfig, ConfigError, ProfileStore
from cygnet.client.sdk.profiles import Profiles, dump_profiles

CLEAN_ENV = {
    f"{prefix}{name}": None
    for prefix in ("CYGNET_", "BACKEND_")
    for name in ("ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "DOMAIN", "GROUP", "PROFILE")
}


@pytest.fixture
def store(tmp_path: Path) -> ProfileStore:
    return ProfileStore(tmp_path / "cfg" / "profiles.toml")


def test_writer_round_trips_awkward_strings(store: ProfileStore) -> None:
    tricky = 'quote " backslash \\ tab \t newline \n unicode é ✓ \x01'
    data = Profiles(
        current="lab.gpu",
        profiles={"lab.gpu": {"endpoint": "http://h:1", "email": tricky}, "default": {}},
    )
    text = dump_profiles(data)
    assert tomllib.loads(text)["profiles"]["lab.gpu"]["email"] == tricky
    store.save(data)
    assert store.load() == data


def test_file_is_private(store: ProfileStore) -> None:
    store.update("default", {"endpoint": "http://h:1", "secret_key": "s3cret"})
    mode = stat.S_IMODE(store.path.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) & 0o077 == 0


def test_update_use_and_remove(store: ProfileStore) -> None:
    store.update("a", {"endpoint": "http://a:1"})
    store.update("b", {"endpoint": "http://b:1", "access-key": "AK"})
    data = store.load()
    assert data.current == "a"  # the first profile becomes current
    assert data.profiles["b"] == {"endpoint": "http://b:1", "access_key": "AK"}
    store.use("b")
    assert store.load().current == "b"
    store.update("b", {"access_key": None})
    assert store.load().profiles["b"] == {"endpoint": "http://b:1"}
    with pytest.raises(ConfigError, match="No profile named 'zzz'"):
        store.use("zzz")
    with pytest.raises(ConfigError, match="Unknown setting"):
        store.update("b", {"colour": "blue"})
    with pytest.raises(ConfigError, match="Invalid profile name"):
        store.update("bad name!", {"endpoint": "http://x:1"})


def test_corrupt_file_is_a_config_error(store: ProfileStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("current = [unterminated")
    with pytest.raises(ConfigError, match="Cannot read the profile file"):
        store.load()


def test_from_env_prefers_cygnet_over_backend() -> None:
    env = {
        "CYGNET_ENDPOINT": "http://cygnet:1",
        "BACKEND_ENDPOINT": "http://backend:1,http://backup:1",
        "BACKEND_ACCESS_KEY": "AKB",
        "BACKEND_SECRET_KEY": "SKB",
        "BACKEND_DOMAIN": "research",
    }
    config = APIConfig.from_env(env)
    assert config.endpoint == "http://cygnet:1"
    assert (config.access_key, config.secret_key, config.domain) == ("AKB", "SKB", "research")
    assert config.group == "default"
    del env["CYGNET_ENDPOINT"]
    assert APIConfig.from_env(env).endpoint == "http://backend:1"


def test_from_profile(store: ProfileStore) -> None:
    store.update("lab", {"endpoint": "http://lab:1", "access_key": "AK", "secret_key": "SK"})
    config = APIConfig.from_profile("lab", path=store.path)
    assert (config.endpoint, config.access_key, config.secret_key) == ("http://lab:1", "AK", "SK")
    assert APIConfig.from_profile(path=store.path).endpoint == "http://lab:1"
    with pytest.raises(ConfigError):
        APIConfig.from_profile("other", path=store.path)


def test_resolution_order(store: ProfileStore) -> None:
    store.update("home", {"endpoint": "http://home:1", "access_key": "AKH", "secret_key": "SKH"})
    store.update("work", {"endpoint": "http://work:1", "domain": "lab"})
    env = {"CYGNET_ENDPOINT": "http://env:1", "CYGNET_ACCESS_KEY": "AKE"}

    # env over the current profile; the keys come as a pair from one place
    config = APIConfig.load(environ=env, path=store.path)
    assert config.endpoint == "http://env:1"
    assert (config.access_key, config.secret_key) == ("AKE", None)
    assert config.sources["endpoint"] == "env:CYGNET_ENDPOINT"

    # only the current profile
    config = APIConfig.load(environ={}, path=store.path)
    assert (config.endpoint, config.access_key, config.secret_key) == (
        "http://home:1",
        "AKH",
        "SKH",
    )
    assert config.sources["access_key"] == "profile:home"

    # an explicit profile outranks the environment, options outrank everything
    config = APIConfig.load(profile="work", environ=env, path=store.path)
    assert (config.endpoint, config.domain, config.access_key) == ("http://work:1", "lab", "AKE")
    config = APIConfig.load(profile="work", endpoint="http://opt:1", environ=env, path=store.path)
    assert config.endpoint == "http://opt:1"
    assert config.sources["endpoint"] == "option"

    # CYGNET_PROFILE names a profile explicitly
    config = APIConfig.load(environ={"CYGNET_PROFILE": "work"}, path=store.path)
    assert config.endpoint == "http://work:1"
    with pytest.raises(ConfigError, match="No profile named 'nope'"):
        APIConfig.load(profile="nope", environ={}, path=store.path)


def test_nothing_configured_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        APIConfig.load(environ={}, path=tmp_path / "none.toml")
    message = str(caught.value)
    assert "cygnet up" in message
    assert "credentials.env" in message
    assert "cygnet login" in message


def run(args: list[str], tmp_path: Path, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, args, env={**CLEAN_ENV, "CYGNET_CONFIG_DIR": str(tmp_path), **env}
    )
    return result.exit_code, result.stdout, result.stderr


def test_cli_config_set_show_use(tmp_path: Path) -> None:
    code, out, err = run(["config", "set", "endpoint", "http://gpu:8081/"], tmp_path)
    assert code == 0, err
    assert "profile 'default'" in out
    code, out, err = run(["config", "set", "secret_key", "verysecret"], tmp_path)
    assert code == 0 and "verysecret" not in out
    code, out, err = run(
        ["--profile", "lab", "config", "set", "endpoint", "http://lab:1"], tmp_path
    )
    assert code == 0, err

    code, out, err = run(["config", "show", "--json"], tmp_path)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["current_profile"] == "default"
    assert shown["profiles"] == ["default", "lab"]
    assert shown["settings"]["endpoint"] == {
        "value": "http://gpu:8081",
        "source": "profile:default",
    }
    assert "verysecret" not in out

    code, out, err = run(["config", "use", "lab"], tmp_path)
    assert code == 0, err
    code, out, err = run(["config", "show"], tmp_path)
    assert code == 0 and "http://lab:1" in out and "Not fully configured" in out

    code, out, err = run(["config", "use", "missing"], tmp_path)
    assert code == 1 and "No profile named 'missing'" in err
    code, out, err = run(["config", "set", "colour", "blue"], tmp_path)
    assert code == 1 and "Unknown setting" in err
    code, out, err = run(["config", "set", "endpoint", "ftp://x"], tmp_path)
    assert code == 1 and "Invalid endpoint URL" in err

    saved = tomllib.loads((tmp_path / "profiles.toml").read_text())
    assert saved["current"] == "lab"
    assert saved["profiles"]["default"]["secret_key"] == "verysecret"


def test_cli_without_configuration_points_at_up_and_login(tmp_path: Path) -> None:
    code, out, err = run(["admin", "domain", "list"], tmp_path)
    assert code == 1
    assert "cygnet up" in err and "cygnet login" in err and "credentials.env" in err
    assert "Traceback" not in err + out


def test_cli_without_keys_points_at_login(tmp_path: Path) -> None:
    code, _, err = run(["admin", "domain", "list"], tmp_path, CYGNET_ENDPOINT="http://h:1")
    assert code == 1
    assert "No access key" in err and "cygnet login" in err


def test_cli_bad_json_options_are_usage_errors(tmp_path: Path) -> None:
    env = {"CYGNET_ENDPOINT": "http://h:1", "CYGNET_ACCESS_KEY": "A", "CYGNET_SECRET_KEY": "S"}
    code, _, err = run(
        ["admin", "domain", "add", "d", "--total-resource-slots", "{cpu: 4}"], tmp_path, **env
    )
    assert code == 2 and "not valid JSON" in err
    code, _, err = run(
        ["admin", "domain", "add", "d", "--total-resource-slots", "[1]"], tmp_path, **env
    )
    assert code == 2 and "expected a JSON object" in err
    code, _, err = run(
        ["admin", "domain", "add", "d", "--total-resource-slots", '{"mem": "16x"}'],
        tmp_path,
        **env,
    )
    assert code == 2 and "invalid quantity for resource slot 'mem'" in err
    code, _, err = run(
        ["admin", "domain", "add", "d", "--allowed-vfolder-hosts", '{"local": "rw"}'],
        tmp_path,
        **env,
    )
    assert code == 2 and "must be a list of strings" in err
    code, _, err = run(["admin", "domain", "update", "d"], tmp_path, **env)
    assert code == 2 and "Nothing to update" in err
    code, _, err = run(["admin", "resource-group", "associate", "rg"], tmp_path, **env)
    assert code == 2 and "exactly one of --domain, --project or --keypair" in err


def test_every_command_has_help(tmp_path: Path) -> None:
    import click

    def walk(command: click.Command, path: list[str]) -> None:
        code, out, err = run([*path, "--help"], tmp_path)
        assert code == 0, (path, err)
        assert "Usage:" in out
        assert (command.help or "").strip(), f"{' '.join(path)} has no help text"
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    admin = cli.commands["admin"]
    walk(admin, ["admin"])
    for name in ("config", "login", "logout", "version"):
        walk(cli.commands[name], [name])
