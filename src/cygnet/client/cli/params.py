"""Parameter types and option helpers shared by the command groups; bad values are usage errors
(exit code 2) with a message that says what is wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from cygnet.common.resources import BinarySize, ResourceSlot, ResourceSlotError

F = TypeVar("F", bound=Callable[..., Any])


class JSONObject(click.ParamType):  # type: ignore[type-arg]
    """A JSON object given on the command line, e.g. ``'{"cpu": 4, "mem": "16g"}'``."""

    name = "JSON"
    example = '\'{"key": "value"}\''

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dict):
            return self.validate(value, param, ctx)
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            self.fail(
                f"not valid JSON ({exc.msg} at column {exc.colno}): {value!r}. "
                f"Example: {self.example}",
                param,
                ctx,
            )
        if not isinstance(parsed, dict):
            self.fail(
                f"expected a JSON object ({{...}}), got {type(parsed).__name__}: {value!r}. "
                f"Example: {self.example}",
                param,
                ctx,
            )
        return self.validate(parsed, param, ctx)

    def validate(
        self, value: dict[str, Any], param: click.Parameter | None, ctx: click.Context | None
    ) -> dict[str, Any]:
        return value


class ResourceSlots(JSONObject):
    """A resource-slot map: ``{"cpu": 4, "mem": "16g", "cuda.shares": 0.5}``."""

    name = "SLOTS"
    example = '\'{"cpu": 4, "mem": "16g"}\''

    def validate(
        self, value: dict[str, Any], param: click.Parameter | None, ctx: click.Context | None
    ) -> dict[str, Any]:
        for slot, quantity in value.items():
            if quantity is not None and (
                isinstance(quantity, bool) or not isinstance(quantity, (int, float, str))
            ):
                self.fail(
                    f'the value of slot {slot!r} must be a number or a string like "16g", '
                    f"not {json.dumps(quantity)}",
                    param,
                    ctx,
                )
        try:
            ResourceSlot.from_user_input(value)
        except ResourceSlotError as exc:
            self.fail(str(exc), param, ctx)
        return value


class VFolderHosts(JSONObject):
    """Storage hosts and what may be done on each: ``{"local:volume1": ["create-vfolder"]}``."""

    name = "HOSTS"
    example = '\'{"local:volume1": ["create-vfolder", "mount-in-session"]}\''

    def validate(
        self, value: dict[str, Any], param: click.Parameter | None, ctx: click.Context | None
    ) -> dict[str, Any]:
        for host, perms in value.items():
            if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
                self.fail(
                    f"the permissions of host {host!r} must be a list of strings, "
                    f"not {json.dumps(perms)}",
                    param,
                    ctx,
                )
        return value


class CommaList(click.ParamType):  # type: ignore[type-arg]
    """``a,b,c`` as a list of strings (empty string: an empty list)."""

    name = "LIST"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, list):
            return value
        return [part.strip() for part in str(value).split(",") if part.strip()]


class Size(click.ParamType):  # type: ignore[type-arg]
    """A byte size (``10g``, ``512m``, ``1073741824``), or ``-1``/``unlimited``."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text in ("-1", "unlimited", "inf", "infinity"):
            return -1
        try:
            return int(BinarySize.from_str(text))
        except (ValueError, TypeError) as exc:
            self.fail(f"not a size ({exc}); use e.g. 10g, 512m, 1073741824 or -1", param, ctx)


JSON_OBJECT = JSONObject()
RESOURCE_SLOTS = ResourceSlots()
VFOLDER_HOSTS = VFolderHosts()
COMMA_LIST = CommaList()
SIZE = Size()


def active_flag(noun: str) -> Callable[[F], F]:
    """``--active/--inactive``, None when not given."""
    return click.option(
        "--active/--inactive",
        "is_active",
        default=None,
        help=f"Whether the {noun} is active (usable).",
    )


def resource_slots_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--total-resource-slots",
        type=RESOURCE_SLOTS,
        default=None,
        help=f'{help} As JSON, e.g. \'{{"cpu": 4, "mem": "16g"}}\'.',
    )


def vfolder_hosts_option() -> Callable[[F], F]:
    return click.option(
        "--allowed-vfolder-hosts",
        type=VFOLDER_HOSTS,
        default=None,
        help="Storage hosts and permissions, as JSON, e.g. "
        '\'{"local:volume1": ["create-vfolder", "mount-in-session"]}\'.',
    )


def paging_options(f: F) -> F:
    f = click.option(
        "--offset",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Skip this many items.",
    )(f)
    f = click.option(
        "--limit",
        type=click.IntRange(1, 100),
        default=20,
        show_default=True,
        help="Show at most this many items (1-100).",
    )(f)
    f = click.option(
        "--order",
        default=None,
        metavar="FIELD",
        help="Sort by a field; prefix with '-' for descending (e.g. -created_at).",
    )(f)
    f = click.option(
        "--filter",
        "filter_",
        default=None,
        metavar="EXPR",
        help="Filter expression, e.g. 'email ilike \"%@example.com\"'.",
    )(f)
    return f


def yes_option(f: F) -> F:
    return click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")(f)


def confirm(yes: bool, question: str) -> None:
    """Ask before a destructive action (skipped with ``--yes``)."""
    if not yes:
        click.confirm(question, abort=True)


def require_changes(values: dict[str, Any]) -> None:
    """Refuse an ``update`` that changes nothing."""
    if all(v is None for v in values.values()):
        raise click.UsageError("Nothing to update: give at least one option (see --help).")
