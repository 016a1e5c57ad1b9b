"""``cygnet admin keypair list|info|add|update|activate|deactivate|delete``."""

from __future__ import annotations

from typing import Any

import click

from cygnet.client.cli.context import CLIState, json_option, pass_state
from cygnet.client.cli.output import col
from cygnet.client.cli.params import active_flag, paging_options, require_changes

LIST_COLUMNS = [
    col("Access key", "access_key", no_wrap=True),
    col("User", "user_id", no_wrap=True),
    col("Active", "is_active"),
    col("Admin", "is_admin"),
    col("Policy", "resource_policy"),
    col("Rate limit", "rate_limit"),
    col("Last used", "last_used"),
    col("Created", "created_at", no_wrap=True),
]
DETAIL_ROWS = [
    col("Access key", "access_key"),
    col("Secret key", "secret_key"),
    col("User", "user_id"),
    col("Full name", "full_name"),
    col("Active", "is_active"),
    col("Admin", "is_admin"),
    col("Resource policy", "resource_policy"),
    col("Rate limit", "rate_limit"),
    col("Sessions in use", "concurrency_used"),
    col("Last used", "last_used"),
    col("Created", "created_at"),
]


@click.group()
def keypair() -> None:
    """Manage keypairs (the access key and secret key that sign API requests)."""


@keypair.command(name="list")
@click.option("--user", "email", default=None, metavar="EMAIL", help="Only this user's keypairs.")
@active_flag("keypair")
@click.option("--domain", "domain_", default=None, help="Only keypairs of users in this domain.")
@paging_options
@json_option
@pass_state
def list_(
    state: CLIState,
    email: str | None,
    is_active: bool | None,
    domain_: str | None,
    filter_: str | None,
    order: str | None,
    limit: int,
    offset: int,
) -> None:
    """List keypairs, a page at a time (secret keys are only in --json output and `info`)."""
    page = state.run_api(
        lambda s: s.admin.keypairs.list(
            email=email,
            is_active=is_active,
            domain=domain_,
            filter=filter_,
            order=order,
            limit=limit,
            offset=offset,
        )
    )
    state.out.items(
        page.items, LIST_COLUMNS, total_count=page.total_count, offset=offset, noun="keypair"
    )


@keypair.command()
@click.argument("access_key", required=False)
@json_option
@pass_state
def info(state: CLIState, access_key: str | None) -> None:
    """Show a keypair (yours when ACCESS_KEY is not given)."""
    found = state.run_api(lambda s: s.admin.keypairs.get(access_key))
    state.out.item(found, DETAIL_ROWS)


@keypair.command()
@click.argument("email")
@click.option(
    "--resource-policy", default="default", show_default=True, help="The keypair resource policy."
)
@click.option("--admin", "is_admin", is_flag=True, help="Give the keypair admin rights.")
@click.option("--inactive", is_flag=True, help="Create the keypair deactivated.")
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Requests allowed per 15 minutes.",
)
@json_option
@pass_state
def add(
    state: CLIState,
    email: str,
    resource_policy: str,
    is_admin: bool,
    inactive: bool,
    rate_limit: int,
) -> None:
    """Issue a new keypair to the user with this EMAIL and show its secret key."""
    created = state.run_api(
        lambda s: s.admin.keypairs.create(
            email,
            resource_policy=resource_policy,
            is_active=not inactive,
            is_admin=is_admin,
            rate_limit=rate_limit,
        )
    )
    state.out.done(
        f"Keypair {created.access_key} issued to {email}. Keep the secret key safe.",
        created,
        DETAIL_ROWS[:3],
    )


@keypair.command()
@click.argument("access_key")
@click.option("--resource-policy", default=None, help="The keypair resource policy.")
@click.option("--admin/--no-admin", "is_admin", default=None, help="Whether it has admin rights.")
@click.option(
    "--rate-limit", type=click.IntRange(min=1), default=None, help="Requests per 15 minutes."
)
@active_flag("keypair")
@json_option
@pass_state
def update(
    state: CLIState,
    access_key: str,
    resource_policy: str | None,
    is_admin: bool | None,
    rate_limit: int | None,
    is_active: bool | None,
) -> None:
    """Change the properties of keypair ACCESS_KEY (only the options given)."""
    changes: dict[str, Any] = {
        "resource_policy": resource_policy,
        "is_admin": is_admin,
        "rate_limit": rate_limit,
        "is_active": is_active,
    }
    require_changes(changes)
    updated = state.run_api(lambda s: s.admin.keypairs.update(access_key, **changes))
    state.out.done(f"Keypair {access_key} updated.", updated, DETAIL_ROWS)


@keypair.command()
@click.argument("access_key")
@json_option
@pass_state
def activate(state: CLIState, access_key: str) -> None:
    """Let keypair ACCESS_KEY sign requests again."""
    updated = state.run_api(lambda s: s.admin.keypairs.activate(access_key))
    state.out.done(f"Keypair {access_key} activated.", updated)


@keypair.command()
@click.argument("access_key")
@json_option
@pass_state
def deactivate(state: CLIState, access_key: str) -> None:
    """Stop keypair ACCESS_KEY from signing requests (it can be activated again)."""
    updated = state.run_api(lambda s: s.admin.keypairs.deactivate(access_key))
    state.out.done(f"Keypair {access_key} deactivated.", updated)


@keypair.command()
@click.argument("access_key")
@json_option
@pass_state
def delete(state: CLIState, access_key: str) -> None:
    """Delete keypair ACCESS_KEY (refused while it owns live sessions)."""
    state.run_api(lambda s: s.admin.keypairs.delete(access_key))
    state.out.done(f"Keypair {access_key} deleted.")
