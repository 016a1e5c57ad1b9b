"""Client configuration: where the manager is and which keypair signs the requests.

Values are resolved, highest first, from:

1. explicit arguments (the CLI's ``--endpoint``/``--access-key``/``--secret-key``/``--domain``);
2. an explicitly named profile (``--profile NAME`` or ``$CYGNET_PROFILE``);
3. the environment: ``CYGNET_*`` first, then the official client's ``BACKEND_*``;
4. the current profile of ``profiles.toml`` (see ``cygnet.client.sdk.profiles``);
5. defaults (domain and group ``default``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

import httpx

from cygnet import __version__
from cygnet.client.sdk.errors import ConfigError
from cygnet.client.sdk.profiles import ProfileStore
from cygnet.common.auth import API_VERSION
from cygnet.common.config import default_data_dir as common_data_dir
from cygnet.common.versions import parse_version

DEFAULT_USER_AGENT = f"Cygnet Client for Python {__version__}"
SETTINGS: tuple[str, ...] = ("endpoint", "access_key", "secret_key", "domain", "group")
DEFAULTS: Mapping[str, str] = {"domain": "default", "group": "default"}
ENV_PREFIXES: tuple[str, ...] = ("CYGNET_", "BACKEND_")


def default_data_dir() -> Path:
    """Where ``cygnet up`` keeps its data (and ``credentials.env``) unless told otherwise."""
    override = os.environ.get("CYGNET_DATA_DIR")
    if override:
        return Path(override).expanduser()
    return common_data_dir()


def setup_hint() -> str:
    """How to get a working configuration, for error messages."""
    creds = default_data_dir() / "credentials.env"
    return (
        "Start a local cluster with `cygnet up` and load its admin keys with "
        f"`set -a; . {creds}; set +a`, or log in to a server with "
        "`cygnet login --endpoint URL --email EMAIL`."
    )


@dataclass(frozen=True, slots=True)
class APIConfig:
    """Everything a session needs (build it directly, or with ``load``/``from_env``/...)."""

    endpoint: str
    access_key: str | None = None
    secret_key: str | None = None
    domain: str = "default"
    group: str = "default"
    version: str = API_VERSION
    """The newest API version to use; the session negotiates ``min(server, this)``."""
    connect_timeout: float = 10.0
    read_timeout: float | None = None
    verify_ssl: bool = True
    user_agent: str = DEFAULT_USER_AGENT
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Where each setting came from (``option``, ``env:NAME``, ``profile:NAME``, ``default``)."""

    def __post_init__(self) -> None:
        endpoint = self.endpoint.strip().rstrip("/")
        try:
            url = httpx.URL(endpoint)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ConfigError(f"Invalid endpoint URL {self.endpoint!r}: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(
                f"Invalid endpoint URL {self.endpoint!r}: expected http(s)://host[:port][/path]."
            )
        object.__setattr__(self, "endpoint", endpoint)
        if parse_version(self.version) is None:
            raise ConfigError(f"Invalid API version {self.version!r}: expected vN.YYYYMMDD.")

    @property
    def has_credentials(self) -> bool:
        return bool(self.access_key and self.secret_key)

    def replace(self, **changes: Any) -> APIConfig:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """From ``CYGNET_*`` (then ``BACKEND_*``) variables only."""
        env = os.environ if environ is None else environ
        values, sources = _from_env(env)
        return cls._build(values, sources, env)

    @classmethod
    def from_profile(cls, name: str | None = None, *, path: Path | None = None) -> Self:
        """From a profile of ``profiles.toml`` (the current one when ``name`` is None)."""
        store = ProfileStore(path)
        data = store.load()
        name = name or data.current
        profile = data.get(name) if name else None
        if profile is None:
            what = f"profile {name!r}" if name else "current profile"
            raise ConfigError(f"No {what} in {store.path}. {setup_hint()}")
        sources = {key: f"profile:{name}" for key in profile}
        return cls._build(dict(profile), sources, os.environ)

    @classmethod
    def load(
        cls,
        *,
        profile: str | None = None,
        endpoint: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        domain: str | None = None,
        group: str | None = None,
        overrides: Mapping[str, str | None] | None = None,
        environ: Mapping[str, str] | None = None,
        path: Path | None = None,
    ) -> Self:
        """Resolve every setting in the documented order (see the module docstring).

        The keyword settings (or the same keys in ``overrides``) are the explicit options.
        """
        env = os.environ if environ is None else environ
        given = {
            "endpoint": endpoint,
            "access_key": access_key,
            "secret_key": secret_key,
            "domain": domain,
            "group": group,
        }
        for key, value in (overrides or {}).items():
            given[key] = given.get(key) or value
        values, sources = resolve_settings(profile=profile, environ=env, path=path, overrides=given)
        return cls._build(values, sources, env)

    @classmethod
    def _build(
        cls, values: dict[str, str], sources: dict[str, str], env: Mapping[str, str]
    ) -> Self:
        endpoint = values.get("endpoint")
        if not endpoint:
            raise ConfigError(f"No Cygnet endpoint is configured. {setup_hint()}")
        for key, default in DEFAULTS.items():
            if not values.get(key):
                values[key] = default
                sources.setdefault(key, "default")
        return cls(
            endpoint=endpoint.split(",")[0],
            access_key=values.get("access_key") or None,
            secret_key=values.get("secret_key") or None,
            domain=values["domain"],
            group=values["group"],
            connect_timeout=_env_float(env, "CONNECTION_TIMEOUT", 10.0) or 10.0,
            read_timeout=_env_float(env, "READ_TIMEOUT", None) or None,
            verify_ssl=not _env_bool(env, "SKIP_SSLCERT_VALIDATION"),
            sources=sources,
        )


def _env(env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    for prefix in ENV_PREFIXES:
        value = env.get(prefix + name)
        if value:
            return value, prefix + name
    return None


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key in SETTINGS:
        found = _env(env, key.upper())
        if found is not None:
            values[key], sources[key] = found[0], f"env:{found[1]}"
    return values, sources


def _env_float(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    found = _env(env, name)
    if found is None:
        return default
    try:
        return float(found[0])
    except ValueError:
        raise ConfigError(f"{found[1]} must be a number of seconds, not {found[0]!r}.") from None


def _env_bool(env: Mapping[str, str], name: str) -> bool:
    found = _env(env, name)
    return found is not None and found[0].strip().lower() in ("1", "true", "yes", "on")


def resolve_settings(
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    path: Path | None = None,
    overrides: Mapping[str, str | None] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Each setting's value and source, in the documented order (no defaults applied).

    The access key and the secret key always come from the same place, so a key from the
    environment is never paired with a secret from a profile.
    """
    env = os.environ if environ is None else environ
    overrides = overrides or {}
    unknown = set(overrides) - set(SETTINGS)
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    store = ProfileStore(path)
    data = store.load()
    explicit = profile or env.get("CYGNET_PROFILE") or None
    # Each layer: {key: (value, source)}, highest precedence first.
    layers: list[dict[str, tuple[str, str]]] = [
        {k: (v, "option") for k, v in overrides.items() if v}
    ]
    if explicit is not None:
        chosen = data.get(explicit)
        if chosen is None:
            known = ", ".join(data.names()) or "none yet"
            raise ConfigError(
                f"No profile named {explicit!r} in {store.path} (known: {known}). "
                f"Create it with `cygnet login --profile {explicit}`."
            )
        layers.append({k: (v, f"profile:{explicit}") for k, v in chosen.items() if v})
    env_values, env_sources = _from_env(env)
    layers.append({k: (v, env_sources[k]) for k, v in env_values.items()})
    if explicit is None and data.current is not None:
        current = data.get(data.current) or {}
        layers.append({k: (v, f"profile:{data.current}") for k, v in current.items() if v})
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key in ("endpoint", "domain", "group"):
        for layer in layers:
            if key in layer:
                values[key], sources[key] = layer[key]
                break
    for layer in layers:
        if "access_key" in layer or "secret_key" in layer:
            for key in ("access_key", "secret_key"):
                if key in layer:
                    values[key], sources[key] = layer[key]
            break
    return values, sources
