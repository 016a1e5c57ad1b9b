"""``cygnet admin user list|info|add|update|delete|purge``."""

from __future__ import annotations

from typing import Any

import click

from cygnet.client.cli.context import CLIState, json_option, pass_state
from cygnet.client.cli.output import col
from cygnet.client.cli.params import confirm, paging_options, require_changes, yes_option

ROLES = ("superadmin", "admin", "user", "monitor")
STATUSES = ("active", "inactive", "deleted", "before-verification")


def _projects(user: Any) -> list[str]:
    return [g.name or str(g.id) for g in (user.groups or [])]


LIST_COLUMNS = [
    col("Email", "email", no_wrap=True),
    col("Full name", "full_name"),
    col("Role", "role"),
    col("Status", "status"),
    col("Domain", "domain_name"),
    col("Projects", _projects),
    col("Created", "created_at", no_wrap=True),
]
DETAIL_ROWS = [
    col("UUID", "uuid"),
    col("Email", "email"),
    col("Username", "username"),
    col("Full name", "full_name"),
    col("Description", "description"),
    col("Role", "role"),
    col("Status", "status"),
    col("Status info", "status_info"),
    col("Domain", "domain_name"),
    col("Projects", _projects),
    col("Must change password", "need_password_change"),
    col("Sudo in sessions", "sudo_session_enabled"),
    col("Allowed client IPs", "allowed_client_ip"),
    col("Main access key", "main_access_key"),
    col("Created", "created_at"),
]


@click.group()
def user() -> None:
    """Manage users."""


@user.command(name="list")
@click.option(
    "--status", type=click.Choice(STATUSES), default=None, help="Only users in this status."
)
@click.option("--project", default=None, help="Only members of this project (name or UUID).")
@paging_options
@json_option
@pass_state
def list_(
    state: CLIState,
    status: str | None,
    project: str | None,
    filter_: str | None,
    order: str | None,
    limit: int,
    offset: int,
) -> None:
    """List users, a page at a time.

    \b
    Examples:
      cygnet admin user list --filter 'email ilike "%@example.com"' --order -created_at
      cygnet admin user list --project vision --limit 50
    """
    page = state.run_api(
        lambda s: s.admin.users.list(
            status=status, project=project, filter=filter_, order=order, limit=limit, offset=offset
        )
    )
    state.out.items(
        page.items, LIST_COLUMNS, total_count=page.total_count, offset=offset, noun="user"
    )


@user.command()
@click.argument("email")
@json_option
@pass_state
def info(state: CLIState, email: str) -> None:
    """Show one user (by email or UUID)."""
    found = state.run_api(lambda s: s.admin.users.get(email))
    state.out.item(found, DETAIL_ROWS)


def _common_options(f: Any) -> Any:
    f = click.option(
        "--allowed-client-ip",
        multiple=True,
        metavar="IP",
        help="Only accept requests from this address or network (repeatable).",
    )(f)
    f = click.option("--resource-policy", default=None, help="The user resource policy.")(f)
    f = click.option(
        "--project",
        "projects",
        multiple=True,
        metavar="PROJECT",
        help="A project (name or UUID) the user belongs to (repeatable).",
    )(f)
    f = click.option("--description", default=None, help="A free-form description.")(f)
    f = click.option("--full-name", default=None, help="The user's full name.")(f)
    f = click.option("--username", default=None, help="A unique username (default: the email).")(f)
    return f


@user.command()
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The initial password (asked for, hidden, when not given).",
)
@_common_options
@click.option("--role", type=click.Choice(ROLES), default="user", show_default=True)
@click.option("--status", type=click.Choice(STATUSES), default="active", show_default=True)
@click.option(
    "--domain",
    "domain_",
    default=None,
    help="The user's domain (default: the configured domain).",
)
@click.option("--need-password-change", is_flag=True, help="Ask the user to change the password.")
@click.option("--sudo-session-enabled", is_flag=True, help="Allow sudo inside sessions.")
@json_option
@pass_state
def add(
    state: CLIState,
    email: str,
    password: str,
    username: str | None,
    full_name: str | None,
    description: str | None,
    projects: tuple[str, ...],
    resource_policy: str | None,
    allowed_client_ip: tuple[str, ...],
    role: str,
    status: str,
    domain_: str | None,
    need_password_change: bool,
    sudo_session_enabled: bool,
) -> None:
    """Create a user with this EMAIL.

    \b
    Example:
      cygnet admin user add alice@example.com --full-name "Alice" --project vision
    """
    created = state.run_api(
        lambda s: s.admin.users.create(
            email,
            password,
            username=username,
            full_name=full_name,
            role=role,
            status=status,
            need_password_change=need_password_change,
            description=description,
            domain=domain_,
            projects=list(projects) or None,
            resource_policy=resource_policy,
            sudo_session_enabled=sudo_session_enabled or None,
            allowed_client_ip=list(allowed_client_ip) or None,
        )
    )
    state.out.done(f"User {email!r} created.", created, DETAIL_ROWS)


@user.command()
@click.argument("email")
@_common_options
@click.option(
    "--password",
    default=None,
    help="A new password (use --ask-password to type it hidden instead).",
)
@click.option("--ask-password", is_flag=True, help="Ask for a new password (hidden).")
@click.option("--role", type=click.Choice(ROLES), default=None)
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--domain", "domain_", default=None, help="Move the user to this domain.")
@click.option(
    "--need-password-change/--no-need-password-change",
    default=None,
    help="Whether the user must change the password.",
)
@click.option(
    "--sudo-session-enabled/--no-sudo-session-enabled",
    default=None,
    help="Whether sudo is allowed inside sessions.",
)
@json_option
@pass_state
def update(
    state: CLIState,
    email: str,
    username: str | None,
    full_name: str | None,
    description: str | None,
    projects: tuple[str, ...],
    resource_policy: str | None,
    allowed_client_ip: tuple[str, ...],
    password: str | None,
    ask_password: bool,
    role: str | None,
    status: str | None,
    domain_: str | None,
    need_password_change: bool | None,
    sudo_session_enabled: bool | None,
) -> None:
    """Change the properties of the user with this EMAIL (only the options given).

    --project replaces the user's project memberships.
    """
    if ask_password:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    changes: dict[str, Any] = {
        "password": password,
        "username": username,
        "full_name": full_name,
        "description": description,
        "role": role,
        "status": status,
        "domain": domain_,
        "need_password_change": need_password_change,
        "sudo_session_enabled": sudo_session_enabled,
        "projects": list(projects) or None,
        "resource_policy": resource_policy,
        "allowed_client_ip": list(allowed_client_ip) or None,
    }
    require_changes(changes)
    updated = state.run_api(lambda s: s.admin.users.update(email, **changes))
    state.out.done(f"User {email!r} updated.", updated, DETAIL_ROWS)


@user.command()
@click.argument("email")
@json_option
@pass_state
def delete(state: CLIState, email: str) -> None:
    """Mark the user with this EMAIL as deleted (their keys stop working)."""
    state.run_api(lambda s: s.admin.users.delete(email))
    state.out.done(f"User {email!r} deleted.")


@user.command()
@click.argument("email")
@click.option(
    "--purge-shared-vfolders", is_flag=True, help="Also delete folders they shared with others."
)
@click.option(
    "--delegate-endpoint-ownership",
    is_flag=True,
    help="Hand their model endpoints over to you instead of deleting them.",
)
@yes_option
@json_option
@pass_state
def purge(
    state: CLIState,
    email: str,
    purge_shared_vfolders: bool,
    delegate_endpoint_ownership: bool,
    yes: bool,
) -> None:
    """Remove the user with this EMAIL, and their keypairs, for good."""
    confirm(yes, f"Purge user {email!r} for good?")
    state.run_api(
        lambda s: s.admin.users.purge(
            email,
            purge_shared_vfolders=purge_shared_vfolders,
            delegate_endpoint_ownership=delegate_endpoint_ownership,
        )
    )
    state.out.done(f"User {email!r} purged.")
