"""``cygnet admin user-policy list|info|add|update|delete``: limits attached to users."""

from __future__ import annotations

from typing import Any

import click

from cygnet.client.cli.context import CLIState, json_option, pass_state
from cygnet.client.cli.output import col
from cygnet.client.cli.params import SIZE, require_changes

LIST_COLUMNS = [
    col("Name", "name", no_wrap=True),
    col("Folders", "max_vfolder_count"),
    col("Quota scope size", "max_quota_scope_size"),
    col("Sessions/service", "max_session_count_per_model_session"),
    col("Custom images", "max_customized_image_count"),
    col("Created", "created_at", no_wrap=True),
]
DETAIL_ROWS = [
    col("Name", "name"),
    col("Created", "created_at"),
    col("Max folders", "max_vfolder_count"),
    col("Max quota scope size (bytes)", "max_quota_scope_size"),
    col("Max sessions per model service", "max_session_count_per_model_session"),
    col("Max customized images", "max_customized_image_count"),
]

_COUNT = click.IntRange(min=0)


def _limit_options(f: Any) -> Any:
    options = [
        click.option(
            "--max-vfolder-count",
            type=_COUNT,
            default=None,
            help="Storage folders the user may own (0: no limit).",
        ),
        click.option(
            "--max-quota-scope-size",
            type=SIZE,
            default=None,
            help="Total size of the user's folders, e.g. 100g (-1: no limit).",
        ),
        click.option(
            "--max-session-count-per-model-session",
            type=_COUNT,
            default=None,
            help="Replicas one model service may run.",
        ),
        click.option(
            "--max-customized-image-count",
            type=_COUNT,
            default=None,
            help="Customized images the user may keep.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group(name="user-policy")
def user_policy() -> None:
    """Manage user resource policies (storage and model-service limits per user)."""


@user_policy.command(name="list")
@json_option
@pass_state
def list_(state: CLIState) -> None:
    """List user resource policies."""
    found = state.run_api(lambda s: s.admin.user_policies.list())
    state.out.items(found, LIST_COLUMNS, noun="user resource policy")


@user_policy.command()
@click.argument("name")
@json_option
@pass_state
def info(state: CLIState, name: str) -> None:
    """Show one user resource policy."""
    found = state.run_api(lambda s: s.admin.user_policies.get(name))
    state.out.item(found, DETAIL_ROWS)


@user_policy.command()
@click.argument("name")
@_limit_options
@json_option
@pass_state
def add(state: CLIState, /, name: str, **limits: Any) -> None:
    """Create a user resource policy called NAME (unset limits take server defaults).

    \b
    Example:
      cygnet admin user-policy add researchers --max-vfolder-count 20 --max-quota-scope-size 1t
    """
    created = state.run_api(lambda s: s.admin.user_policies.create(name, **limits))
    state.out.done(f"User resource policy {name!r} created.", created, DETAIL_ROWS)


@user_policy.command()
@click.argument("name")
@_limit_options
@json_option
@pass_state
def update(state: CLIState, /, name: str, **limits: Any) -> None:
    """Change the limits of user resource policy NAME (only the options given)."""
    require_changes(limits)
    updated = state.run_api(lambda s: s.admin.user_policies.update(name, **limits))
    state.out.done(f"User resource policy {name!r} updated.", updated, DETAIL_ROWS)


@user_policy.command()
@click.argument("name")
@json_option
@pass_state
def delete(state: CLIState, name: str) -> None:
    """Delete user resource policy NAME (refused while users use it)."""
    state.run_api(lambda s: s.admin.user_policies.delete(name))
    state.out.done(f"User resource policy {name!r} deleted.")
