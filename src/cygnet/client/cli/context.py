"""The state every command shares (global options, output) and how commands call the API.

``run_api`` opens a blocking ``APISession`` with the resolved configuration, runs one async
function on it and turns SDK errors into a clean message on stderr and exit code 1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

import click
from rich.text import Text

from cygnet.client.cli.output import Output, make_console
from cygnet.client.sdk.config import APIConfig
from cygnet.client.sdk.errors import APIError, SDKError
from cygnet.client.sdk.session import APISession, AsyncAPISession

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class CLIFailure(click.ClickException):
    """A failed operation: ``Error: <message> [<error_code>]`` on stderr, exit code 1."""

    exit_code = 1

    def __init__(self, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code

    def show(self, file: IO[Any] | None = None) -> None:
        text = Text("Error: ", style="bold red")
        text.append(self.message)
        if self.error_code:
            text.append(f" [{self.error_code}]", style="dim")
        make_console(stderr=True).print(text, soft_wrap=True)


@dataclass
class CLIState:
    """Global options, resolved lazily into an ``APIConfig``."""

    profile: str | None = None
    json_output: bool = False
    overrides: dict[str, str | None] = field(default_factory=dict)

    @property
    def out(self) -> Output:
        return Output(self.json_output)

    def config(self) -> APIConfig:
        try:
            return APIConfig.load(profile=self.profile, overrides=self.overrides)
        except SDKError as exc:
            raise CLIFailure(exc.message, exc.error_code) from None

    def fail(self, exc: SDKError) -> CLIFailure:
        """The CLI error for an SDK error (also printed as JSON on stdout in ``--json`` mode)."""
        if self.json_output:
            body: dict[str, Any] = {"ok": False, "msg": exc.message}
            if exc.error_code:
                body["error_code"] = exc.error_code
            if isinstance(exc, APIError):
                body["status"] = exc.status
            self.out.json(body)
        return CLIFailure(exc.message, exc.error_code)

    def run_api(self, fn: Callable[[AsyncAPISession], Awaitable[T]]) -> T:
        """Run ``fn`` on a fresh session; SDK errors become ``CLIFailure`` (exit code 1)."""
        config = self.config()
        try:
            with APISession(config) as session:
                return session.run(fn)
        except SDKError as exc:
            raise self.fail(exc) from None
        except ValueError as exc:
            raise CLIFailure(str(exc)) from None


def get_state(ctx: click.Context | None = None) -> CLIState:
    ctx = ctx or click.get_current_context()
    state = ctx.find_object(CLIState)
    if state is None:
        state = ctx.ensure_object(CLIState)
    return state


pass_state = click.make_pass_decorator(CLIState, ensure=True)


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        get_state(ctx).json_output = True


def json_option(f: F) -> F:
    """``--json`` on a command (the same as the global ``cygnet --json``)."""
    return click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_json,
        help="Print machine-readable JSON instead of a table.",
    )(f)
