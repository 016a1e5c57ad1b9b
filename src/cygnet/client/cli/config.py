"""``cygnet config show|set|unset|use``, ``cygnet login`` and ``cygnet logout``: connection
profiles in ``profiles.toml`` (mode 0600, under the user config directory)."""

from __future__ import annotations

import os

import click
from rich.table import Table
from rich.text import Text

from cygnet.client.cli.context import CLIFailure, CLIState, json_option, pass_state
from cygnet.client.sdk.config import ENV_PREFIXES, APIConfig, resolve_settings
from cygnet.client.sdk.errors import SDKError
from cygnet.client.sdk.profiles import DEFAULT_PROFILE, ProfileStore
from cygnet.client.sdk.session import APISession

DEFAULT_ENDPOINT = "http://127.0.0.1:8081"


def _mask(value: str) -> str:
    return value[:4] + "*" * 8 if len(value) > 4 else "*" * 8


def _target_profile(state: CLIState, store: ProfileStore, name: str | None = None) -> str:
    """The profile a command writes to: the given name, --profile, the current one, default."""
    return name or state.profile or store.load().current or DEFAULT_PROFILE


@click.group()
def config() -> None:
    """Show and change the client configuration (profiles).

    A profile holds an endpoint, an access key and secret key, a domain and a group.
    `cygnet login` writes one for you; `cygnet config use NAME` switches between them.
    """


@config.command()
@json_option
@pass_state
def show(state: CLIState) -> None:
    """Show the settings in effect, where each comes from, and the known profiles."""
    store = ProfileStore()
    try:
        data = store.load()
        values, sources = resolve_settings(profile=state.profile, overrides=state.overrides)
    except SDKError as exc:
        raise state.fail(exc) from None
    settings = {}
    for key in ("endpoint", "access_key", "secret_key", "domain", "group"):
        value = values.get(key)
        source = sources.get(key)
        if value is None and key in ("domain", "group"):
            value, source = "default", "default"
        if key == "secret_key" and value:
            value = _mask(value)
        settings[key] = {"value": value, "source": source}
    out = state.out
    if out.json_mode:
        out.json(
            {
                "profiles_file": str(store.path),
                "current_profile": data.current,
                "profiles": data.names(),
                "settings": settings,
            }
        )
        return
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("Setting", no_wrap=True)
    table.add_column("Value", overflow="fold")
    table.add_column("From", style="dim")
    for key, entry in settings.items():
        shown = entry["value"]
        table.add_row(
            key,
            Text(shown) if shown else Text("(not set)", style="yellow"),
            Text(entry["source"] or "-"),
        )
    out.console.print(table)
    names = ", ".join(f"{n}{' (current)' if n == data.current else ''}" for n in data.names())
    out.console.print(Text(f"Profiles file: {store.path}", style="dim"), soft_wrap=True)
    out.console.print(Text(f"Profiles: {names or 'none yet'}", style="dim"), soft_wrap=True)
    if not values.get("endpoint") or not values.get("access_key"):
        out.console.print(
            Text(
                "Not fully configured: run `cygnet login`, or `cygnet up` and load its "
                "credentials.env.",
                style="yellow",
            ),
            soft_wrap=True,
        )


@config.command(name="set")
@click.argument("key", metavar="KEY")
@click.argument("value")
@json_option
@pass_state
def set_(state: CLIState, key: str, value: str) -> None:
    """Set KEY (endpoint, access_key, secret_key, domain, group, email) in a profile.

    Writes to the --profile given, else to the current profile.

    \b
    Example:
      cygnet config set endpoint http://gpu-cluster.example.com:8081
      cygnet --profile staging config set domain research
    """
    store = ProfileStore()
    try:
        name = _target_profile(state, store)
        normalised = key.replace("-", "_").lower()
        if normalised == "endpoint":
            value = APIConfig(endpoint=value).endpoint
        store.update(name, {key: value})
    except SDKError as exc:
        raise state.fail(exc) from None
    shown = _mask(value) if normalised == "secret_key" else value
    state.out.done(f"Set {normalised} = {shown} in profile {name!r}.", profile=name)


@config.command()
@click.argument("key", metavar="KEY")
@json_option
@pass_state
def unset(state: CLIState, key: str) -> None:
    """Remove KEY from a profile (the --profile given, else the current one)."""
    store = ProfileStore()
    try:
        name = _target_profile(state, store)
        store.update(name, {key: None})
    except SDKError as exc:
        raise state.fail(exc) from None
    state.out.done(f"Removed {key} from profile {name!r}.", profile=name)


@config.command()
@click.argument("profile")
@json_option
@pass_state
def use(state: CLIState, profile: str) -> None:
    """Make PROFILE the current profile."""
    try:
        ProfileStore().use(profile)
    except SDKError as exc:
        raise state.fail(exc) from None
    state.out.done(f"Now using profile {profile!r}.", profile=profile)


@click.command()
@click.option("--endpoint", default=None, metavar="URL", help="The manager's URL.")
@click.option("--email", default=None, help="Your email (asked for when not given).")
@click.option(
    "--password",
    default=None,
    help="Your password (asked for, hidden, when not given; prefer the prompt).",
)
@click.option("--domain", "domain_", default=None, help="Your domain (default: 'default').")
@click.option(
    "--profile",
    "profile_name",
    default=None,
    metavar="NAME",
    help="Save the keys in this profile (default: the current profile, or 'default').",
)
@json_option
@pass_state
def login(
    state: CLIState,
    endpoint: str | None,
    email: str | None,
    password: str | None,
    domain_: str | None,
    profile_name: str | None,
) -> None:
    """Log in with your email and password and save your keypair in a profile.

    \b
    Example:
      cygnet login --endpoint http://gpu-cluster.example.com:8081 --email me@example.com
    """
    store = ProfileStore()
    name = _target_profile(state, store, profile_name)
    try:
        saved = store.read_profile(name) or {}
    except SDKError as exc:
        raise state.fail(exc) from None
    endpoint = endpoint or state.overrides.get("endpoint") or saved.get("endpoint")
    endpoint = endpoint or os.environ.get("CYGNET_ENDPOINT") or os.environ.get("BACKEND_ENDPOINT")
    if not endpoint:
        endpoint = click.prompt("Endpoint", default=DEFAULT_ENDPOINT)
    endpoint = str(endpoint).split(",")[0]
    email = email or click.prompt("Email", default=saved.get("email") or None)
    if password is None:
        password = click.prompt("Password", hide_input=True)
    domain = domain_ or state.overrides.get("domain") or saved.get("domain") or "default"
    try:
        cfg = APIConfig(endpoint=str(endpoint), domain=domain)
        with APISession(cfg) as session:
            creds = session.authorize(str(email), str(password), domain)
        store.update(
            name,
            {
                "endpoint": cfg.endpoint,
                "access_key": creds.access_key,
                "secret_key": creds.secret_key,
                "domain": domain,
                "email": str(email),
            },
            make_current=True,
        )
    except SDKError as exc:
        raise state.fail(exc) from None
    state.out.done(
        f"Logged in to {cfg.endpoint} as {email} (role: {creds.role or '?'}). "
        f"Saved in profile {name!r} ({store.path}).",
        profile=name,
        endpoint=cfg.endpoint,
        email=email,
        access_key=creds.access_key,
        role=creds.role,
    )
    shadowing = [
        prefix + var
        for prefix in ENV_PREFIXES
        for var in ("ENDPOINT", "ACCESS_KEY", "SECRET_KEY")
        if os.environ.get(prefix + var)
    ]
    if shadowing:
        state.out.note(
            f"Note: {', '.join(shadowing)} in your environment take precedence over the "
            f"current profile; unset them, or pass --profile {name}."
        )


@click.command()
@click.option(
    "--profile",
    "profile_name",
    default=None,
    metavar="NAME",
    help="The profile to log out of (default: the current one).",
)
@json_option
@pass_state
def logout(state: CLIState, profile_name: str | None) -> None:
    """Forget the keys saved in a profile (its endpoint and email are kept)."""
    store = ProfileStore()
    try:
        name = _target_profile(state, store, profile_name)
        saved = store.read_profile(name)
        if saved is None:
            raise CLIFailure(f"No profile named {name!r}; nothing to log out of.")
        store.update(name, {"access_key": None, "secret_key": None})
    except SDKError as exc:
        raise state.fail(exc) from None
    had_keys = "access_key" in saved or "secret_key" in saved
    message = (
        f"Logged out: removed the keys from profile {name!r}."
        if had_keys
        else f"Profile {name!r} held no keys; nothing to do."
    )
    state.out.done(message, profile=name)
