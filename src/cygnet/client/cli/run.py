"""``cygnet run IMAGE``: create a session, run code or files in it with the output streaming
here, then destroy it; and the helpers ``cygnet session`` shares with it (resource and env
option parsing, a long-lived API session, the loop that drives an execution on the terminal)."""

from __future__ import annotations

import getpass
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import click
from rich.text import Text

from cygnet.client.cli.context import CLIFailure, CLIState, get_state
from cygnet.client.cli.output import make_console
from cygnet.client.sdk.compute import ComputeSessions, ExecMode, Transport, generate_name
from cygnet.client.sdk.errors import SDKError
from cygnet.client.sdk.models import ExecutionResult
from cygnet.client.sdk.session import APISession
from cygnet.common.resources import BinarySize

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

SESSION_TYPES = ("interactive", "batch", "inference")
CLUSTER_MODES = ("single-node", "multi-node")
EXIT_INTERRUPTED = 130
EXIT_EXEC_TIMEOUT = 124


# --- option parsing ----------------------------------------------------------------------------


def parse_key_values(items: Sequence[str], what: str, example: str) -> dict[str, str]:
    """``KEY=VALUE`` items as a dict; a usage error that says what is wrong otherwise."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE; for example {example}", param_hint=what
            )
        result[key] = value
    return result


def _mem_default_unit(key: str, value: str) -> str:
    """``mem=4`` means ``4m``, as in the official client (wire notes 4)."""
    value = value.strip()
    if key == "mem" and value and not value[-1].isalpha():
        return f"{value}m"
    return value


def parse_resources(items: Sequence[str]) -> dict[str, str]:
    """``-r cpu=1 -r mem=1g`` as a slot map; ``mem`` without a unit is in MiB."""
    pairs = parse_key_values(items, "'-r' / '--resources'", "-r cpu=2 -r mem=4g")
    result: dict[str, str] = {}
    for key, value in pairs.items():
        value = _mem_default_unit(key, value)
        if not value:
            raise click.BadParameter(f"no quantity given for {key!r}", param_hint="'-r'")
        if key == "mem" or key.endswith(".mem"):
            try:
                BinarySize.parse(value)
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise click.BadParameter(f"{key}={value}: {exc}", param_hint="'-r'") from None
        else:
            try:
                if Decimal(value) < 0:
                    raise click.BadParameter(f"{key}={value} is negative", param_hint="'-r'")
            except InvalidOperation:
                raise click.BadParameter(
                    f"{key}={value} is not a number", param_hint="'-r'"
                ) from None
        result[key] = value
    return result


def parse_resource_opts(items: Sequence[str]) -> dict[str, str]:
    """``--resource-opts shmem=64m`` (same ``mem`` rule as ``-r``)."""
    pairs = parse_key_values(items, "'--resource-opts'", "--resource-opts shmem=64m")
    return {k: _mem_default_unit(k, v) for k, v in pairs.items()}


def parse_env(items: Sequence[str]) -> dict[str, str]:
    """``-e KEY=VALUE`` (the value may contain ``=``, and may be empty)."""
    return parse_key_values(items, "'-e' / '--env'", "-e DEBUG=1")


def parse_mounts(items: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """``-v NAME`` or ``-v NAME:DEST`` as (mounts, mount_map)."""
    mounts: list[str] = []
    mount_map: dict[str, str] = {}
    for item in items:
        name, _, dest = item.partition(":")
        if not name:
            raise click.BadParameter(f"{item!r}: give a vfolder name", param_hint="'-v'")
        mounts.append(name)
        if dest:
            mount_map[name] = dest
    return mounts, mount_map


def _cb(fn: Callable[[Sequence[str]], T]) -> Callable[[click.Context, click.Parameter, Any], T]:
    def callback(_ctx: click.Context, _param: click.Parameter, value: Any) -> T:
        return fn(value or ())

    return callback


def session_options(f: F) -> F:
    """Options shared by ``session create`` and ``run``."""
    options = [
        click.option(
            "--name", "-n", default=None, help="Session name (4-64 chars; default: generated)."
        ),
        click.option(
            "-r",
            "--resources",
            multiple=True,
            metavar="SLOT=QTY",
            callback=_cb(parse_resources),
            help="Resources, repeatable: -r cpu=2 -r mem=4g -r cuda.shares=0.5 (mem=4 means 4m).",
        ),
        click.option(
            "--resource-opts",
            multiple=True,
            metavar="KEY=VALUE",
            callback=_cb(parse_resource_opts),
            help="Resource options, repeatable: --resource-opts shmem=64m.",
        ),
        click.option(
            "-e",
            "--env",
            multiple=True,
            metavar="KEY=VALUE",
            callback=_cb(parse_env),
            help="Environment variable, repeatable.",
        ),
        click.option(
            "-v",
            "--mount",
            "mounts",
            multiple=True,
            metavar="VFOLDER[:DEST]",
            callback=_cb(parse_mounts),
            help="Mount a vfolder (under /home/work by default).",
        ),
        click.option(
            "--group",
            "-g",
            default=None,
            help="Project (group) name (default: the configured one).",
        ),
        click.option(
            "--resource-group",
            "--scaling-group",
            "resource_group",
            default=None,
            help="Resource group to run in.",
        ),
        click.option(
            "--cluster-size",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Number of containers.",
        ),
        click.option(
            "--cluster-mode",
            type=click.Choice(CLUSTER_MODES),
            default="single-node",
            show_default=True,
            help="Where the containers go.",
        ),
        click.option("--tag", default=None, help="A free-form tag."),
        click.option(
            "--owner-access-key",
            default=None,
            metavar="AK",
            help="Create on behalf of this keypair (admins).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


# --- sessions and output helpers -----------------------------------------------------------------


@contextmanager
def open_session(state: CLIState) -> Iterator[tuple[APISession, ComputeSessions]]:
    """A blocking API session for commands that make several calls or stream; SDK errors become
    ``CLIFailure`` (exit code 1)."""
    config = state.config()
    try:
        with APISession(config) as session:
            yield session, ComputeSessions(session.aio)
    except SDKError as exc:
        raise state.fail(exc) from None
    except ValueError as exc:
        raise CLIFailure(str(exc)) from None


def call(session: APISession, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` on the session's event loop (made here, run there)."""

    async def go(_s: Any) -> T:
        return await awaitable

    return session.run(go)


def err_console() -> Any:
    return make_console(stderr=True)


# --- driving an execution on the terminal --------------------------------------------------


def emit_console(result: ExecutionResult) -> None:
    """Write an execution's console items as they come: stdout to stdout, the rest to stderr."""
    for item in result.console:
        if len(item) < 2:
            continue
        kind, data = item[0], item[1]
        if kind == "stdout":
            sys.stdout.write(str(data))
            sys.stdout.flush()
        elif kind in ("stderr", "log"):
            sys.stderr.write(str(data))
            sys.stderr.flush()
        elif kind == "media":
            mime = data[0] if isinstance(data, list) and data else "?"
            err_console().print(Text(f"[media output: {mime}, not shown]", style="dim"))
        elif kind == "html":
            err_console().print(Text("[HTML output, not shown]", style="dim"))


def read_input(result: ExecutionResult) -> str:
    """The line to send on ``waiting-input`` (hidden when the program asks for a password)."""
    if (result.options or {}).get("is_password") and sys.stdin.isatty():
        return getpass.getpass("")
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def drive_execution(
    session: APISession,
    api: ComputeSessions,
    ref: str,
    code: str,
    *,
    mode: ExecMode = "query",
    options: dict[str, Any] | None = None,
    transport: Transport = "auto",
) -> int:
    """Run code to the end: stream its output, feed stdin lines, return its exit code."""
    stream = call(
        session,
        api.stream_execute(ref, code, mode=mode, options=options, transport=transport),
    )
    try:
        while True:
            result = call(session, stream.receive())
            emit_console(result)
            if result.status == "waiting-input":
                line = read_input(result)
                call(session, stream.send_input(line))
            elif result.status == "exec-timeout":
                err_console().print(Text("The execution timed out.", style="yellow"))
                return result.exit_code if result.exit_code is not None else EXIT_EXEC_TIMEOUT
            elif result.status == "finished":
                return result.exit_code or 0
    finally:
        try:
            call(session, stream.close())
        except (SDKError, RuntimeError, OSError):
            pass


def wait_batch(session: APISession, api: ComputeSessions, ref: str, poll: float = 1.0) -> int:
    """Wait for a batch session to end; print its log; its exit code (1 when unknown and failed)."""
    logs: str | None = None
    status: str | None = None
    status_data: dict[str, Any] = {}
    while True:
        try:
            found = call(session, api.info(ref))
        except SDKError:
            break  # gone: terminated and purged
        status, status_data = found.status, dict(found.status_data or {})
        if status in ("TERMINATING", "TERMINATED", "CANCELLED", "ERROR") and logs is None:
            try:
                logs = call(session, api.logs(ref))
            except SDKError:
                logs = ""
        if status in ("TERMINATED", "CANCELLED", "ERROR"):
            break
        time.sleep(poll)
    if logs:
        sys.stdout.write(logs if logs.endswith("\n") else logs + "\n")
    kernel = status_data.get("kernel")
    if isinstance(kernel, dict) and isinstance(kernel.get("exit_code"), int):
        return int(kernel["exit_code"])
    return 0 if status in ("TERMINATED", None) and "error" not in status_data else 1


def batch_options(files: Sequence[str], exec_cmd: str | None, build: str | None) -> dict[str, Any]:
    """Batch-mode options: build (optional), then ``exec`` (default: python on the first file)."""
    command = exec_cmd or (f"python {files[0]}" if files else None)
    if not command:
        raise click.UsageError("Nothing to run: give FILES or --exec CMD.")
    return {"clean": "", "build": build or "", "buildLog": bool(build), "exec": command}


@click.command()
@click.argument("image")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("-c", "--code", default=None, help="Code to run (in the image's language).")
@session_options
@click.option(
    "--type",
    "session_type",
    type=click.Choice(["interactive", "batch"]),
    default="interactive",
    show_default=True,
    help="batch: run --exec (or -c) as the session's startup command and wait for it to end.",
)
@click.option("--exec", "exec_cmd", default=None, metavar="CMD", help="Command that runs FILES.")
@click.option("--build", default=None, metavar="CMD", help="Command run before --exec.")
@click.option("--keep", is_flag=True, help="Keep the session when done (default: destroy it).")
@click.option(
    "--transport",
    type=click.Choice(["auto", "websocket", "rest"]),
    default="auto",
    show_default=True,
    help="How output streams back (auto: WebSocket, else REST polling).",
)
@click.pass_context
def run(
    ctx: click.Context,
    image: str,
    files: tuple[str, ...],
    code: str | None,
    name: str | None,
    resources: dict[str, str],
    resource_opts: dict[str, str],
    env: dict[str, str],
    mounts: tuple[list[str], dict[str, str]],
    group: str | None,
    resource_group: str | None,
    cluster_size: int,
    cluster_mode: str,
    tag: str | None,
    owner_access_key: str | None,
    session_type: str,
    exec_cmd: str | None,
    build: str | None,
    keep: bool,
    transport: Transport,
) -> None:
    """Run code or files in a new session of IMAGE and stream the output here.

    \b
    cygnet run python:3.11 -c 'print("hello")'
    cygnet run python:3.11 main.py utils.py -r cpu=2 -r mem=4g
    cygnet run python:3.11 --type batch --exec 'python -c "print(42)"'

    The session is destroyed at the end (unless --keep); the exit code is the program's.
    Ctrl-C interrupts the program, then destroys the session.
    """
    if code is not None and files:
        raise click.UsageError("Give either -c CODE or FILES, not both.")
    batch_session = session_type == "batch"
    startup: str | None = None
    options: dict[str, Any] | None = None
    if batch_session:
        if files:
            raise click.UsageError(
                "A batch session starts its command at once, before files can be uploaded; "
                "run FILES in an interactive session (the default --type) instead."
            )
        startup = exec_cmd or code
        if not startup:
            raise click.UsageError("A batch run needs --exec CMD (or -c COMMAND).")
    elif code is None:
        options = batch_options(files, exec_cmd, build)
    state = get_state(ctx)
    generated_name = name is None
    name = name or generate_name()
    exit_code = 0
    with open_session(state) as (session, api):
        created = None
        try:
            with err_console().status(f"Starting session {name} ({image})..."):
                created = call(
                    session,
                    api.create(
                        image,
                        name=name,
                        type=session_type,
                        resources=resources,
                        resource_opts=resource_opts,
                        environ=env,
                        mounts=mounts[0],
                        mount_map=mounts[1],
                        startup_command=startup,
                        cluster_size=cluster_size,
                        cluster_mode=cluster_mode,
                        group=group,
                        resource_group=resource_group,
                        tag=tag,
                        owner_access_key=owner_access_key,
                        reuse=False,
                    ),
                )
            ref = str(created.id)
            err_console().print(
                Text(f"Session {name} ({ref}) is {created.status.lower()}.", style="dim")
            )
            if batch_session:
                exit_code = wait_batch(session, api, ref)
            elif code is not None:
                exit_code = drive_execution(session, api, ref, code, transport=transport)
            else:
                uploaded = call(session, api.upload(ref, files))
                err_console().print(Text(f"Uploaded {', '.join(uploaded)}.", style="dim"))
                exit_code = drive_execution(
                    session, api, ref, "", mode="batch", options=options, transport=transport
                )
        except KeyboardInterrupt:
            err_console().print(Text("Interrupted.", style="yellow"))
            exit_code = EXIT_INTERRUPTED
            if created is not None and not batch_session:
                try:
                    call(session, api.interrupt(str(created.id)))
                except (SDKError, KeyboardInterrupt):
                    pass
            if created is None and generated_name:
                # Interrupted while starting: the session may exist under the name we chose.
                _finish(session, api, name, keep=False, known=False)
        finally:
            if created is not None:
                _finish(session, api, str(created.id), keep, known=True)
    ctx.exit(exit_code)


def _finish(session: APISession, api: ComputeSessions, ref: str, keep: bool, known: bool) -> None:
    """Destroy the session (best effort), or say how to, with --keep."""
    if keep:
        if known:
            err_console().print(
                Text(f"Kept session {ref}: `cygnet session rm {ref}`.", style="dim")
            )
        return
    try:
        call(session, api.destroy(ref))
    except SDKError as exc:
        if known:
            err_console().print(
                Text(f"Could not destroy session {ref}: {exc.message}", style="yellow")
            )
    except KeyboardInterrupt:
        err_console().print(Text(f"Left session {ref} running.", style="yellow"))
