"""``cygnet admin resource-group list|info|add|update|delete|associate|disassociate``."""

from __future__ import annotations

from typing import Any

import click

from cygnet.client.cli.context import CLIState, json_option, pass_state
from cygnet.client.cli.output import col
from cygnet.client.cli.params import JSON_OBJECT, active_flag, require_changes

LIST_COLUMNS = [
    col("Name", "name", no_wrap=True),
    col("Description", "description"),
    col("Active", "is_active"),
    col("Public", "is_public"),
    col("Scheduler", "scheduler"),
    col("Driver", "driver"),
    col("Created", "created_at", no_wrap=True),
]
DETAIL_ROWS = [
    col("Name", "name"),
    col("Description", "description"),
    col("Active", "is_active"),
    col("Public", "is_public"),
    col("Created", "created_at"),
    col("Scheduler", "scheduler"),
    col("Scheduler options", "scheduler_opts"),
    col("Driver", "driver"),
    col("Driver options", "driver_opts"),
    col("Host network", "use_host_network"),
    col("App proxy address", "wsproxy_addr"),
    col("App proxy token", "wsproxy_api_token"),
]


def _props_options(f: Any) -> Any:
    options = [
        click.option("--description", default=None, help="A free-form description."),
        click.option(
            "--scheduler",
            default=None,
            help="How pending sessions are ordered: fifo, lifo, drf, priority... "
            "(default on add: fifo).",
        ),
        click.option(
            "--scheduler-opts",
            type=JSON_OBJECT,
            default=None,
            help='Scheduler options as JSON, e.g. \'{"allowed_session_types": ["batch"]}\'.',
        ),
        click.option("--driver", default=None, help="Agent driver (default on add: static)."),
        click.option("--driver-opts", type=JSON_OBJECT, default=None, help="Driver options, JSON."),
        click.option(
            "--use-host-network/--no-use-host-network",
            default=None,
            help="Whether session containers use the host's network.",
        ),
        click.option("--wsproxy-addr", default=None, help="The app proxy's address."),
        click.option("--wsproxy-api-token", default=None, help="The app proxy's API token."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group(name="resource-group")
def resource_group() -> None:
    """Manage resource groups (scaling groups): sets of agents with their own scheduler."""


@resource_group.command(name="list")
@active_flag("resource group")
@json_option
@pass_state
def list_(state: CLIState, is_active: bool | None) -> None:
    """List resource groups."""
    found = state.run_api(lambda s: s.admin.resource_groups.list(is_active=is_active))
    state.out.items(found, LIST_COLUMNS, noun="resource group")


@resource_group.command()
@click.argument("name")
@json_option
@pass_state
def info(state: CLIState, name: str) -> None:
    """Show one resource group."""
    found = state.run_api(lambda s: s.admin.resource_groups.get(name))
    state.out.item(found, DETAIL_ROWS)


@resource_group.command()
@click.argument("name")
@_props_options
@click.option("--inactive", is_flag=True, help="Create the group deactivated.")
@click.option("--private", is_flag=True, help="Only associated domains/projects/keys may use it.")
@json_option
@pass_state
def add(state: CLIState, /, name: str, inactive: bool, private: bool, **props: Any) -> None:
    """Create a resource group called NAME.

    \b
    Example:
      cygnet admin resource-group add gpu-a100 --scheduler drf --description "A100 nodes"
    """
    props = {k: v for k, v in props.items() if v is not None}
    created = state.run_api(
        lambda s: s.admin.resource_groups.create(
            name,
            is_active=False if inactive else None,
            is_public=False if private else None,
            **props,
        )
    )
    state.out.done(f"Resource group {name!r} created.", created, DETAIL_ROWS)


@resource_group.command()
@click.argument("name")
@_props_options
@active_flag("resource group")
@click.option("--public/--private", "is_public", default=None, help="Whether anyone may use it.")
@json_option
@pass_state
def update(state: CLIState, /, name: str, **changes: Any) -> None:
    """Change the properties of resource group NAME (only the options given)."""
    require_changes(changes)
    updated = state.run_api(lambda s: s.admin.resource_groups.update(name, **changes))
    state.out.done(f"Resource group {name!r} updated.", updated, DETAIL_ROWS)


@resource_group.command()
@click.argument("name")
@json_option
@pass_state
def delete(state: CLIState, name: str) -> None:
    """Delete resource group NAME."""
    state.run_api(lambda s: s.admin.resource_groups.delete(name))
    state.out.done(f"Resource group {name!r} deleted.")


def _target_options(f: Any) -> Any:
    options = [
        click.option("--domain", "domain_", default=None, help="A domain name."),
        click.option("--project", default=None, help="A project (name or UUID)."),
        click.option(
            "--project-domain",
            default=None,
            help="The domain of --project, when the name exists in several.",
        ),
        click.option("--keypair", default=None, metavar="ACCESS_KEY", help="A keypair."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _one_target(domain: str | None, project: str | None, keypair: str | None) -> str:
    given = [
        (k, v) for k, v in (("domain", domain), ("project", project), ("keypair", keypair)) if v
    ]
    if len(given) != 1:
        raise click.UsageError("Give exactly one of --domain, --project or --keypair.")
    kind, value = given[0]
    return f"{kind} {value!r}"


@resource_group.command()
@click.argument("name")
@_target_options
@json_option
@pass_state
def associate(
    state: CLIState,
    name: str,
    domain_: str | None,
    project: str | None,
    project_domain: str | None,
    keypair: str | None,
) -> None:
    """Let a domain, a project or a keypair use resource group NAME.

    \b
    Example:
      cygnet admin resource-group associate gpu-a100 --project vision
    """
    target = _one_target(domain_, project, keypair)
    state.run_api(
        lambda s: s.admin.resource_groups.associate(
            name, domain=domain_, project=project, keypair=keypair, project_domain=project_domain
        )
    )
    state.out.done(f"Resource group {name!r} associated with {target}.")


@resource_group.command()
@click.argument("name")
@_target_options
@json_option
@pass_state
def disassociate(
    state: CLIState,
    name: str,
    domain_: str | None,
    project: str | None,
    project_domain: str | None,
    keypair: str | None,
) -> None:
    """Stop a domain, a project or a keypair from using resource group NAME."""
    target = _one_target(domain_, project, keypair)
    state.run_api(
        lambda s: s.admin.resource_groups.disassociate(
            name, domain=domain_, project=project, keypair=keypair, project_domain=project_domain
        )
    )
    state.out.done(f"Resource group {name!r} disassociated from {target}.")
