"""``cygnet admin domain list|info|add|update|delete|purge``."""

from __future__ import annotations

from typing import Any

import click

from cygnet.client.cli.context import CLIState, json_option, pass_state
from cygnet.client.cli.output import col
from cygnet.client.cli.params import (
    COMMA_LIST,
    active_flag,
    confirm,
    require_changes,
    resource_slots_option,
    vfolder_hosts_option,
    yes_option,
)

LIST_COLUMNS = [
    col("Name", "name", no_wrap=True),
    col("Description", "description"),
    col("Active", "is_active"),
    col("Total resource slots", "total_resource_slots"),
    col("Created", "created_at", no_wrap=True),
]
DETAIL_ROWS = [
    col("Name", "name"),
    col("Description", "description"),
    col("Active", "is_active"),
    col("Created", "created_at"),
    col("Total resource slots", "total_resource_slots"),
    col("Allowed vfolder hosts", "allowed_vfolder_hosts"),
    col("Allowed docker registries", "allowed_docker_registries"),
    col("Integration ID", "integration_id"),
]


@click.group()
def domain() -> None:
    """Manage domains, the top of the domain > project > user tree (superadmin)."""


@domain.command(name="list")
@active_flag("domain")
@json_option
@pass_state
def list_(state: CLIState, is_active: bool | None) -> None:
    """List domains."""
    found = state.run_api(lambda s: s.admin.domains.list(is_active=is_active))
    state.out.items(found, LIST_COLUMNS, noun="domain")


@domain.command()
@click.argument("name")
@json_option
@pass_state
def info(state: CLIState, name: str) -> None:
    """Show one domain."""
    found = state.run_api(lambda s: s.admin.domains.get(name))
    state.out.item(found, DETAIL_ROWS)


def _props_options(f: Any) -> Any:
    f = click.option("--integration-id", default=None, help="An external system's id.")(f)
    f = click.option(
        "--allowed-docker-registries",
        type=COMMA_LIST,
        default=None,
        metavar="LIST",
        help="Comma-separated registry names the domain may pull images from.",
    )(f)
    f = vfolder_hosts_option()(f)
    f = resource_slots_option("The most the whole domain may use at once.")(f)
    f = click.option("--description", default=None, help="A free-form description.")(f)
    return f


@domain.command()
@click.argument("name")
@_props_options
@click.option("--inactive", is_flag=True, help="Create the domain deactivated.")
@json_option
@pass_state
def add(
    state: CLIState,
    name: str,
    description: str | None,
    total_resource_slots: dict[str, Any] | None,
    allowed_vfolder_hosts: dict[str, Any] | None,
    allowed_docker_registries: list[str] | None,
    integration_id: str | None,
    inactive: bool,
) -> None:
    """Create a domain called NAME.

    \b
    Example:
      cygnet admin domain add research --description "Research lab" \\
        --total-resource-slots '{"cpu": 64, "mem": "256g", "cuda.device": 8}'
    """
    created = state.run_api(
        lambda s: s.admin.domains.create(
            name,
            description=description,
            is_active=False if inactive else None,
            total_resource_slots=total_resource_slots,
            allowed_vfolder_hosts=allowed_vfolder_hosts,
            allowed_docker_registries=allowed_docker_registries,
            integration_id=integration_id,
        )
    )
    state.out.done(f"Domain {name!r} created.", created, DETAIL_ROWS)


@domain.command()
@click.argument("name")
@click.option("--new-name", default=None, help="Rename the domain.")
@_props_options
@active_flag("domain")
@json_option
@pass_state
def update(
    state: CLIState,
    name: str,
    new_name: str | None,
    description: str | None,
    total_resource_slots: dict[str, Any] | None,
    allowed_vfolder_hosts: dict[str, Any] | None,
    allowed_docker_registries: list[str] | None,
    integration_id: str | None,
    is_active: bool | None,
) -> None:
    """Change the properties of domain NAME (only the options given)."""
    changes: dict[str, Any] = {
        "new_name": new_name,
        "description": description,
        "is_active": is_active,
        "total_resource_slots": total_resource_slots,
        "allowed_vfolder_hosts": allowed_vfolder_hosts,
        "allowed_docker_registries": allowed_docker_registries,
        "integration_id": integration_id,
    }
    require_changes(changes)
    updated = state.run_api(lambda s: s.admin.domains.update(name, **changes))
    state.out.done(f"Domain {name!r} updated.", updated, DETAIL_ROWS)


@domain.command()
@click.argument("name")
@json_option
@pass_state
def delete(state: CLIState, name: str) -> None:
    """Deactivate domain NAME (refused while it has active users)."""
    state.run_api(lambda s: s.admin.domains.delete(name))
    state.out.done(f"Domain {name!r} deleted (deactivated).")


@domain.command()
@click.argument("name")
@yes_option
@json_option
@pass_state
def purge(state: CLIState, name: str, yes: bool) -> None:
    """Remove domain NAME for good (refused while users or projects remain in it)."""
    confirm(yes, f"Purge domain {name!r} for good?")
    state.run_api(lambda s: s.admin.domains.purge(name))
    state.out.done(f"Domain {name!r} purged.")
