"""``cygnet admin keypair-policy list|info|add|update|delete``: limits attached to keypairs."""

from __future__ import annotations

from typing import Any

import click

from cygnet.client.cli.context import CLIState, json_option, pass_state
from cygnet.client.cli.output import col
from cygnet.client.cli.params import RESOURCE_SLOTS, VFOLDER_HOSTS, require_changes

LIST_COLUMNS = [
    col("Name", "name", no_wrap=True),
    col("Resource slots", "total_resource_slots"),
    col("Sessions", "max_concurrent_sessions"),
    col("Containers", "max_containers_per_session"),
    col("Idle (s)", "idle_timeout"),
    col("Lifetime (s)", "max_session_lifetime"),
    col("Pending", "max_pending_session_count"),
    col("Created", "created_at", no_wrap=True),
]
DETAIL_ROWS = [
    col("Name", "name"),
    col("Created", "created_at"),
    col("Default for unspecified slots", "default_for_unspecified"),
    col("Total resource slots", "total_resource_slots"),
    col("Max concurrent sessions", "max_concurrent_sessions"),
    col("Max concurrent SFTP sessions", "max_concurrent_sftp_sessions"),
    col("Max containers per session", "max_containers_per_session"),
    col("Idle timeout (s)", "idle_timeout"),
    col("Max session lifetime (s)", "max_session_lifetime"),
    col("Max pending sessions", "max_pending_session_count"),
    col("Max pending resource slots", "max_pending_session_resource_slots"),
    col("Allowed vfolder hosts", "allowed_vfolder_hosts"),
]

_COUNT = click.IntRange(min=0)


def _limit_options(f: Any) -> Any:
    options = [
        click.option(
            "--default-for-unspecified",
            type=click.Choice(["LIMITED", "UNLIMITED"], case_sensitive=False),
            default=None,
            help="Whether slots missing from --total-resource-slots are unlimited or zero.",
        ),
        click.option(
            "--total-resource-slots",
            type=RESOURCE_SLOTS,
            default=None,
            help='Most resources all sessions may hold, as JSON: \'{"cpu": 8, "mem": "32g"}\'.',
        ),
        click.option(
            "--max-concurrent-sessions", type=_COUNT, default=None, help="Sessions at once."
        ),
        click.option(
            "--max-concurrent-sftp-sessions",
            type=_COUNT,
            default=None,
            help="SFTP sessions at once.",
        ),
        click.option(
            "--max-containers-per-session",
            type=_COUNT,
            default=None,
            help="Containers in one (cluster) session.",
        ),
        click.option(
            "--idle-timeout",
            type=_COUNT,
            default=None,
            help="Seconds a session may stay idle before it is terminated (0: never).",
        ),
        click.option(
            "--max-session-lifetime",
            type=_COUNT,
            default=None,
            help="Seconds a session may live (0: no limit).",
        ),
        click.option(
            "--max-pending-session-count",
            type=_COUNT,
            default=None,
            help="Sessions that may wait in the queue at once.",
        ),
        click.option(
            "--max-pending-session-resource-slots",
            type=RESOURCE_SLOTS,
            default=None,
            help="Most resources the queued sessions may ask for, as JSON.",
        ),
        click.option(
            "--allowed-vfolder-hosts",
            type=VFOLDER_HOSTS,
            default=None,
            help="Storage hosts and permissions, as JSON.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group(name="keypair-policy")
def keypair_policy() -> None:
    """Manage keypair resource policies (session and resource limits per keypair)."""


@keypair_policy.command(name="list")
@json_option
@pass_state
def list_(state: CLIState) -> None:
    """List keypair resource policies."""
    found = state.run_api(lambda s: s.admin.keypair_policies.list())
    state.out.items(found, LIST_COLUMNS, noun="keypair resource policy")


@keypair_policy.command()
@click.argument("name")
@json_option
@pass_state
def info(state: CLIState, name: str) -> None:
    """Show one keypair resource policy."""
    found = state.run_api(lambda s: s.admin.keypair_policies.get(name))
    state.out.item(found, DETAIL_ROWS)


@keypair_policy.command()
@click.argument("name")
@_limit_options
@json_option
@pass_state
def add(state: CLIState, /, name: str, **limits: Any) -> None:
    """Create a keypair resource policy called NAME (unset limits take server defaults).

    \b
    Example:
      cygnet admin keypair-policy add students --max-concurrent-sessions 2 \\
        --total-resource-slots '{"cpu": 4, "mem": "16g"}' --idle-timeout 3600
    """
    limits = _normalise(limits)
    created = state.run_api(lambda s: s.admin.keypair_policies.create(name, **limits))
    state.out.done(f"Keypair resource policy {name!r} created.", created, DETAIL_ROWS)


@keypair_policy.command()
@click.argument("name")
@_limit_options
@json_option
@pass_state
def update(state: CLIState, /, name: str, **limits: Any) -> None:
    """Change the limits of keypair resource policy NAME (only the options given)."""
    limits = _normalise(limits)
    require_changes(limits)
    updated = state.run_api(lambda s: s.admin.keypair_policies.update(name, **limits))
    state.out.done(f"Keypair resource policy {name!r} updated.", updated, DETAIL_ROWS)


@keypair_policy.command()
@click.argument("name")
@json_option
@pass_state
def delete(state: CLIState, name: str) -> None:
    """Delete keypair resource policy NAME (refused while keypairs use it)."""
    state.run_api(lambda s: s.admin.keypair_policies.delete(name))
    state.out.done(f"Keypair resource policy {name!r} deleted.")


def _normalise(limits: dict[str, Any]) -> dict[str, Any]:
    value = limits.get("default_for_unspecified")
    if isinstance(value, str):
        limits["default_for_unspecified"] = value.upper()
    return limits
