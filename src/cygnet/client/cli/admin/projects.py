"""``cygnet admin project list|info|add|update|delete|purge|add-users|remove-users``.

A project (Backend.AI's "group") is named by its name (within --domain) or by its UUID."""

from __future__ import annotations

from typing import Any

import click

from cygnet.client.cli.context import CLIState, json_option, pass_state
from cygnet.client.cli.output import col
from cygnet.client.cli.params import (
    active_flag,
    confirm,
    require_changes,
    resource_slots_option,
    vfolder_hosts_option,
    yes_option,
)

LIST_COLUMNS = [
    col("ID", "id", no_wrap=True),
    col("Name", "name", no_wrap=True),
    col("Domain", "domain_name"),
    col("Active", "is_active"),
    col("Total resource slots", "total_resource_slots"),
    col("Created", "created_at", no_wrap=True),
]
DETAIL_ROWS = [
    col("ID", "id"),
    col("Name", "name"),
    col("Domain", "domain_name"),
    col("Description", "description"),
    col("Active", "is_active"),
    col("Created", "created_at"),
    col("Total resource slots", "total_resource_slots"),
    col("Allowed vfolder hosts", "allowed_vfolder_hosts"),
    col("Integration ID", "integration_id"),
]

domain_option = click.option(
    "--domain",
    "domain_",
    default=None,
    help="The domain the project belongs to (to find it by name).",
)


@click.group()
def project() -> None:
    """Manage projects (groups of users that share resources and folders)."""


@project.command(name="list")
@click.option(
    "--domain",
    "domain_",
    default=None,
    help="List the projects of this domain (default: your domain).",
)
@json_option
@pass_state
def list_(state: CLIState, domain_: str | None) -> None:
    """List projects."""
    found = state.run_api(lambda s: s.admin.projects.list(domain=domain_))
    state.out.items(found, LIST_COLUMNS, noun="project")


@project.command()
@click.argument("project_ref", metavar="PROJECT")
@domain_option
@json_option
@pass_state
def info(state: CLIState, project_ref: str, domain_: str | None) -> None:
    """Show one project (by name or UUID)."""
    found = state.run_api(lambda s: s.admin.projects.get(project_ref, domain=domain_))
    state.out.item(found, DETAIL_ROWS)


def _props_options(f: Any) -> Any:
    f = click.option("--integration-id", default=None, help="An external system's id.")(f)
    f = vfolder_hosts_option()(f)
    f = resource_slots_option("The most the whole project may use at once.")(f)
    f = click.option("--description", default=None, help="A free-form description.")(f)
    return f


@project.command()
@click.argument("name")
@click.option(
    "--domain",
    "domain_",
    default=None,
    help="Create it in this domain (default: the configured domain).",
)
@_props_options
@click.option("--resource-policy", default=None, help="The project resource policy to apply.")
@click.option("--inactive", is_flag=True, help="Create the project deactivated.")
@json_option
@pass_state
def add(
    state: CLIState,
    name: str,
    domain_: str | None,
    description: str | None,
    total_resource_slots: dict[str, Any] | None,
    allowed_vfolder_hosts: dict[str, Any] | None,
    integration_id: str | None,
    resource_policy: str | None,
    inactive: bool,
) -> None:
    """Create a project called NAME.

    \b
    Example:
      cygnet admin project add vision --domain research \\
        --total-resource-slots '{"cpu": 16, "mem": "64g"}'
    """
    created = state.run_api(
        lambda s: s.admin.projects.create(
            name,
            domain=domain_,
            description=description,
            is_active=False if inactive else None,
            total_resource_slots=total_resource_slots,
            allowed_vfolder_hosts=allowed_vfolder_hosts,
            integration_id=integration_id,
            resource_policy=resource_policy,
        )
    )
    state.out.done(f"Project {name!r} created.", created, DETAIL_ROWS)


@project.command()
@click.argument("project_ref", metavar="PROJECT")
@domain_option
@click.option("--name", "new_name", default=None, help="Rename the project.")
@_props_options
@click.option("--resource-policy", default=None, help="The project resource policy to apply.")
@active_flag("project")
@json_option
@pass_state
def update(
    state: CLIState,
    project_ref: str,
    domain_: str | None,
    new_name: str | None,
    description: str | None,
    total_resource_slots: dict[str, Any] | None,
    allowed_vfolder_hosts: dict[str, Any] | None,
    integration_id: str | None,
    resource_policy: str | None,
    is_active: bool | None,
) -> None:
    """Change the properties of PROJECT (only the options given)."""
    changes: dict[str, Any] = {
        "name": new_name,
        "description": description,
        "is_active": is_active,
        "total_resource_slots": total_resource_slots,
        "allowed_vfolder_hosts": allowed_vfolder_hosts,
        "integration_id": integration_id,
        "resource_policy": resource_policy,
    }
    require_changes(changes)
    updated = state.run_api(
        lambda s: s.admin.projects.update(project_ref, domain=domain_, **changes)
    )
    state.out.done(f"Project {project_ref!r} updated.", updated, DETAIL_ROWS)


@project.command()
@click.argument("project_ref", metavar="PROJECT")
@domain_option
@json_option
@pass_state
def delete(state: CLIState, project_ref: str, domain_: str | None) -> None:
    """Deactivate PROJECT."""
    state.run_api(lambda s: s.admin.projects.delete(project_ref, domain=domain_))
    state.out.done(f"Project {project_ref!r} deleted (deactivated).")


@project.command()
@click.argument("project_ref", metavar="PROJECT")
@domain_option
@yes_option
@json_option
@pass_state
def purge(state: CLIState, project_ref: str, domain_: str | None, yes: bool) -> None:
    """Remove PROJECT for good (refused while it has live sessions or endpoints)."""
    confirm(yes, f"Purge project {project_ref!r} for good?")
    state.run_api(lambda s: s.admin.projects.purge(project_ref, domain=domain_))
    state.out.done(f"Project {project_ref!r} purged.")


@project.command(name="add-users")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("users", nargs=-1, required=True, metavar="USER...")
@domain_option
@json_option
@pass_state
def add_users(
    state: CLIState, project_ref: str, users: tuple[str, ...], domain_: str | None
) -> None:
    """Add users (emails or UUIDs) to PROJECT."""
    state.run_api(lambda s: s.admin.projects.add_users(project_ref, list(users), domain=domain_))
    state.out.done(f"Added {len(users)} user(s) to project {project_ref!r}.", users=list(users))


@project.command(name="remove-users")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("users", nargs=-1, required=True, metavar="USER...")
@domain_option
@json_option
@pass_state
def remove_users(
    state: CLIState, project_ref: str, users: tuple[str, ...], domain_: str | None
) -> None:
    """Remove users (emails or UUIDs) from PROJECT."""
    state.run_api(lambda s: s.admin.projects.remove_users(project_ref, list(users), domain=domain_))
    state.out.done(f"Removed {len(users)} user(s) from project {project_ref!r}.", users=list(users))
