"""Named connection profiles in ``profiles.toml`` (written by ``cygnet login`` / ``cygnet config``).

The file lives in ``$CYGNET_CONFIG_DIR`` or platformdirs' ``user_config_dir("cygnet")`` and is
kept at mode 0600 (it holds secret keys)::

    current = "default"

    [profiles.default]
    endpoint = "http://127.0.0.1:8081"
    access_key = "AKIA..."
    secret_key = "..."
    domain = "default"

It is read with ``tomllib``; the tiny writer below only has to emit string tables.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from cygnet.client.sdk.errors import ConfigError

PROFILES_FILE = "profiles.toml"
DEFAULT_PROFILE = "default"
PROFILE_KEYS: tuple[str, ...] = (
    "endpoint",
    "access_key",
    "secret_key",
    "domain",
    "group",
    "email",
)
"""Keys a profile may hold (``email`` is informational: who logged in)."""

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def config_dir() -> Path:
    """Where the client keeps its configuration (``$CYGNET_CONFIG_DIR`` overrides)."""
    override = os.environ.get("CYGNET_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("cygnet", appauthor=False))


def default_profiles_path() -> Path:
    return config_dir() / PROFILES_FILE


def check_profile_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ConfigError(
            f"Invalid profile name {name!r}: use 1-64 letters, digits, '.', '_' or '-'."
        )
    return name


def check_profile_key(key: str) -> str:
    normalised = key.replace("-", "_").lower()
    if normalised not in PROFILE_KEYS:
        raise ConfigError(f"Unknown setting {key!r}; choose one of: {', '.join(PROFILE_KEYS)}.")
    return normalised


@dataclass
class Profiles:
    """The parsed file: the current profile's name and every profile's settings."""

    current: str | None = None
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)

    def get(self, name: str) -> dict[str, str] | None:
        return self.profiles.get(name)

    def names(self) -> list[str]:
        return sorted(self.profiles)


class ProfileStore:
    """Reads and writes ``profiles.toml`` (atomically, mode 0600)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_profiles_path()

    def load(self) -> Profiles:
        if not self.path.is_file():
            return Profiles()
        try:
            raw = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Cannot read the profile file {self.path}: {exc}") from exc
        current = raw.get("current")
        tables = raw.get("profiles", {})
        if not isinstance(tables, dict):
            raise ConfigError(
                f"Cannot read the profile file {self.path}: 'profiles' is not a table"
            )
        profiles: dict[str, dict[str, str]] = {}
        for name, values in tables.items():
            if isinstance(values, dict):
                profiles[name] = {
                    key: str(value) for key, value in values.items() if key in PROFILE_KEYS
                }
        return Profiles(current=current if isinstance(current, str) else None, profiles=profiles)

    def save(self, data: Profiles) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = dump_profiles(data)
        fd, tmp = tempfile.mkstemp(prefix=".profiles-", suffix=".toml", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        os.chmod(self.path, 0o600)

    def read_profile(self, name: str) -> dict[str, str] | None:
        return self.load().get(name)

    def update(
        self,
        name: str,
        values: dict[str, str | None],
        *,
        make_current: bool = False,
    ) -> dict[str, str]:
        """Set (or, with a None value, remove) keys of a profile, creating it if needed."""
        check_profile_name(name)
        data = self.load()
        profile = dict(data.profiles.get(name, {}))
        for key, value in values.items():
            key = check_profile_key(key)
            if value is None:
                profile.pop(key, None)
            else:
                profile[key] = value
        data.profiles[name] = profile
        if make_current or data.current is None:
            data.current = name
        self.save(data)
        return profile

    def use(self, name: str) -> None:
        """Make an existing profile the current one."""
        data = self.load()
        if name not in data.profiles:
            known = ", ".join(data.names()) or "none yet"
            raise ConfigError(
                f"No profile named {name!r} (known: {known}). Create one with "
                f"`cygnet login --profile {name}` or `cygnet --profile {name} config set ...`."
            )
        data.current = name
        self.save(data)


def _toml_string(value: str) -> str:
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.match(key) else _toml_string(key)


def dump_profiles(data: Profiles) -> str:
    """The TOML text for ``data`` (string values only)."""
    lines = ["# Cygnet client profiles, written by `cygnet login` and `cygnet config`."]
    if data.current is not None:
        lines.append(f"current = {_toml_string(data.current)}")
    for name in sorted(data.profiles):
        lines.append("")
        lines.append(f"[profiles.{_toml_key(name)}]")
        for key, value in data.profiles[name].items():
            lines.append(f"{_toml_key(key)} = {_toml_string(value)}")
    return "\n".join(lines) + "\n"
