"""``cygnet session create|ls|info|logs|exec|upload|download|files|rename|restart|history|
events|rm``: one command per operation on compute sessions (the option parsing and the
execution loop live in ``run.py``, shared with ``cygnet run``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from cygnet.client.cli.context import CLIFailure, CLIState, get_state, json_option, pass_state
from cygnet.client.cli.output import Output, col
from cygnet.client.cli.params import COMMA_LIST, paging_options
from cygnet.client.cli.run import (
    EXIT_INTERRUPTED,
    SESSION_TYPES,
    call,
    drive_execution,
    err_console,
    open_session,
    session_options,
)
from cygnet.client.sdk.compute import LIVE_STATUSES, ComputeSessions
from cygnet.client.sdk.errors import SDKError
from cygnet.client.sdk.models import ComputeSession, Page
from cygnet.common.resources import BinarySize


def short_id(value: Any) -> str:
    return str(value)[:8] if value else "-"


def age(since: datetime | None, now: datetime | None = None) -> str:
    """``45s``, ``12m``, ``3h``, ``2d``."""
    if since is None:
        return "-"
    now = now or datetime.now(UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def fmt_slots(slots: Any) -> str:
    """``cpu=1 mem=1g`` (byte slots in binary units)."""
    if not isinstance(slots, dict) or not slots:
        return "-"
    parts = []
    for key, value in slots.items():
        text = str(value)
        if key == "mem" or key.endswith(".mem"):
            try:
                text = BinarySize(int(Decimal(text))).format()
            except (InvalidOperation, ValueError):
                pass
        parts.append(f"{key}={text}")
    return " ".join(parts)


def list_columns(show_owner: bool, now: datetime | None = None) -> list[Any]:
    columns = [
        col("Name", "name", no_wrap=True),
        col("ID", lambda s: short_id(s.id), no_wrap=True),
    ]
    if show_owner:
        columns.append(col("Owner", "access_key", no_wrap=True))
    columns += [
        col("Type", lambda s: (s.type or "-").lower()),
        col("Image", "image"),
        col("Status", "status", no_wrap=True),
        col("Status info", "status_info"),
        col("Age", lambda s: age(s.created_at, now), no_wrap=True),
        col("Occupied", lambda s: fmt_slots(s.occupied_slots)),
    ]
    return columns


def render_sessions(
    out: Output,
    page: Page[ComputeSession],
    *,
    show_owner: bool,
    offset: int = 0,
    now: datetime | None = None,
) -> None:
    out.items(
        page.items,
        list_columns(show_owner, now),
        total_count=page.total_count,
        offset=offset,
        noun="session",
    )


INFO_ROWS = [
    col("Status", "status"),
    col("Status info", "status_info"),
    col("Image", "image"),
    col("Architecture", "architecture"),
    col("Tag", "tag"),
    col("Domain", "domain_name"),
    col("Project ID", "group_id"),
    col("User ID", "user_id"),
    col("Occupied", lambda i: fmt_slots(i.occupied_slots)),
    col("Requested", lambda i: fmt_slots(i.requested_slots)),
    col("Resource options", "resource_opts"),
    col("Environment", "environ"),
    col("Created", "creation_time"),
    col("Terminated", "termination_time"),
    col("Queries executed", "num_queries_executed"),
]


# --- the command group -------------------------------------------------------------------------


@click.group()
def session() -> None:
    """Create, inspect, use and destroy compute sessions (containers running an image).

    A session is named by its ID or by its name. Add --json for machine-readable output.
    """


@session.command()
@click.argument("image")
@session_options
@click.option(
    "--type",
    "session_type",
    type=click.Choice(SESSION_TYPES),
    default="interactive",
    show_default=True,
    help="Session type; batch sessions run --startup-command and end.",
)
@click.option(
    "--startup-command",
    default=None,
    metavar="CMD",
    help="Command to run at start (required for batch).",
)
@click.option("--enqueue-only", is_flag=True, help="Return as soon as the session is queued.")
@click.option(
    "--max-wait",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seconds to wait for the session to start (0: no limit).",
)
@click.option(
    "--bootstrap-script",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A shell script run once when the session starts.",
)
@click.option(
    "--batch-timeout",
    default=None,
    metavar="DURATION",
    help="Kill a batch job after this long (e.g. 3600, 30m, 2h).",
)
@click.option(
    "--priority",
    type=click.IntRange(0, 100),
    default=None,
    help="Scheduling priority (0-100, default 10).",
)
@click.option(
    "--no-reuse", is_flag=True, help="Fail if a session with this name exists (default: reuse it)."
)
@json_option
@pass_state
def create(
    state: CLIState,
    image: str,
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
    startup_command: str | None,
    enqueue_only: bool,
    max_wait: int,
    bootstrap_script: Path | None,
    batch_timeout: str | None,
    priority: int | None,
    no_reuse: bool,
) -> None:
    """Create a session running IMAGE and wait until it runs (see --enqueue-only)."""
    if session_type == "batch" and not startup_command:
        raise click.UsageError("A batch session needs --startup-command (the job to run).")
    script = bootstrap_script.read_text() if bootstrap_script else None
    spinner = (
        None if state.json_output else err_console().status(f"Creating a session of {image}...")
    )
    if spinner:
        spinner.start()
    try:
        created = state.run_api(
            lambda s: ComputeSessions(s).create(
                image,
                name=name,
                type=session_type,
                resources=resources,
                resource_opts=resource_opts,
                environ=env,
                mounts=mounts[0],
                mount_map=mounts[1],
                startup_command=startup_command,
                bootstrap_script=script,
                enqueue_only=enqueue_only,
                max_wait=max_wait,
                reuse=not no_reuse,
                cluster_size=cluster_size,
                cluster_mode=cluster_mode,
                group=group,
                resource_group=resource_group,
                tag=tag,
                owner_access_key=owner_access_key,
                batch_timeout=_duration(batch_timeout),
                priority=priority,
            )
        )
    finally:
        if spinner:
            spinner.stop()
    if state.json_output:
        state.out.json(created)
        return
    verb = "created" if created.created else "reused"
    state.out.done(f"Session {created.name} ({created.id}) {verb}: {created.status}.")
    if created.status == "TIMEOUT":
        state.out.note("It did not start within --max-wait; it stays queued.")
    if created.service_ports:
        names = ", ".join(p.name for p in created.service_ports)
        state.out.console.print(Text(f"Services: {names}", style="dim"))


def _duration(value: str | None) -> int | str | None:
    """``3600`` as seconds (an int); ``30m``/``2h`` as given (the server parses them)."""
    if value is None:
        return None
    return int(value) if value.strip().isdigit() else value.strip()


@session.command(name="ls")
@click.option("--all", "all_users", is_flag=True, help="Every user's sessions (admins).")
@click.option(
    "--status",
    type=COMMA_LIST,
    default=None,
    metavar="S1,S2",
    help=f"Statuses to show (default: {','.join(LIVE_STATUSES)}).",
)
@click.option("--dead", is_flag=True, help="Show terminated and cancelled sessions.")
@paging_options
@json_option
@pass_state
def list_(
    state: CLIState,
    all_users: bool,
    status: list[str] | None,
    dead: bool,
    filter_: str | None,
    order: str | None,
    limit: int,
    offset: int,
) -> None:
    """List your sessions (with --all, everyone's)."""
    statuses: Sequence[str] = [s.upper() for s in status] if status else LIVE_STATUSES
    if dead:
        statuses = ["TERMINATED", "CANCELLED"]
    page = state.run_api(
        lambda s: ComputeSessions(s).list(
            status=statuses,
            access_key=None if all_users else s.config.access_key,
            filter=filter_,
            order=order,
            limit=limit,
            offset=offset,
        )
    )
    render_sessions(state.out, page, show_owner=all_users, offset=offset)


@session.command()
@click.argument("ref", metavar="ID_OR_NAME")
@click.option(
    "--owner-access-key", default=None, metavar="AK", help="The owner's access key (admins)."
)
@json_option
@pass_state
def info(state: CLIState, ref: str, owner_access_key: str | None) -> None:
    """Show a session."""
    found = state.run_api(lambda s: ComputeSessions(s).info(ref, owner_access_key=owner_access_key))
    state.out.item(found, INFO_ROWS, title=None if state.json_output else f"Session {ref}")


@session.command()
@click.argument("ref", metavar="ID_OR_NAME")
@click.option(
    "--kernel",
    "kernel_id",
    default=None,
    metavar="KERNEL_ID",
    help="A kernel other than the main one.",
)
@json_option
@pass_state
def logs(state: CLIState, ref: str, kernel_id: str | None) -> None:
    """Print a session's container log."""
    text = state.run_api(lambda s: ComputeSessions(s).logs(ref, kernel_id=kernel_id))
    if state.json_output:
        state.out.json({"logs": text})
    else:
        click.echo(text, nl=not text.endswith("\n"))


@session.command(name="exec")
@click.argument("ref", metavar="ID_OR_NAME")
@click.option("-c", "--code", required=True, help="Code to run (in the image's language).")
@click.pass_context
def exec_(ctx: click.Context, ref: str, code: str) -> None:
    """Run CODE in a session; its output streams here and its exit code is ours."""
    state = get_state(ctx)
    with open_session(state) as (session, api):
        try:
            exit_code = drive_execution(session, api, ref, code)
        except KeyboardInterrupt:
            err_console().print(Text("Interrupted.", style="yellow"))
            try:
                call(session, api.interrupt(ref))
            except SDKError:
                pass
            exit_code = EXIT_INTERRUPTED
    ctx.exit(exit_code)


@session.command()
@click.argument("ref", metavar="ID_OR_NAME")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@json_option
@pass_state
def upload(state: CLIState, ref: str, files: tuple[str, ...]) -> None:
    """Upload FILES to the session's /home/work (paths relative to the current directory)."""
    names = state.run_api(lambda s: ComputeSessions(s).upload(ref, files))
    state.out.done(f"Uploaded {len(names)} file(s): {', '.join(names)}.", files=names)


@session.command()
@click.argument("ref", metavar="ID_OR_NAME")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to put the files.",
)
@json_option
@pass_state
def download(state: CLIState, ref: str, paths: tuple[str, ...], dest: Path) -> None:
    """Download PATHS (relative to /home/work) from a session into --dest."""
    names = state.run_api(lambda s: ComputeSessions(s).download(ref, list(paths), dest))
    state.out.done(f"Downloaded {len(names)} item(s) into {dest}.", files=names)


@session.command()
@click.argument("ref", metavar="ID_OR_NAME")
@click.argument("path", default=".")
@json_option
@pass_state
def files(state: CLIState, ref: str, path: str) -> None:
    """List the files in a directory of a session (default: /home/work)."""
    listing = state.run_api(lambda s: ComputeSessions(s).list_files(ref, path))
    state.out.items(
        listing.files,
        [
            col("Name", "filename", no_wrap=True),
            col("Mode", "mode", no_wrap=True),
            col("Size", "size"),
            col("Modified", "mtime"),
        ],
        noun="file",
    )
    if listing.errors and not state.json_output:
        state.out.note(listing.errors.strip())


@session.command()
@click.argument("ref", metavar="ID_OR_NAME")
@click.argument("new_name")
@json_option
@pass_state
def rename(state: CLIState, ref: str, new_name: str) -> None:
    """Rename a session."""
    state.run_api(lambda s: ComputeSessions(s).rename(ref, new_name))
    state.out.done(f"Session {ref} renamed to {new_name}.")


@session.command()
@click.argument("ref", metavar="ID_OR_NAME")
@json_option
@pass_state
def restart(state: CLIState, ref: str) -> None:
    """Restart a session's containers (files in /home/work are kept)."""
    state.run_api(lambda s: ComputeSessions(s).restart(ref))
    state.out.done(f"Session {ref} restarted.")


@session.command()
@click.argument("ref", metavar="ID_OR_NAME")
@json_option
@pass_state
def history(state: CLIState, ref: str) -> None:
    """Show when a session reached each status."""
    entries = state.run_api(lambda s: ComputeSessions(s).status_history(ref))
    if state.json_output:
        state.out.json(entries)
        return
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("Status", no_wrap=True)
    table.add_column("Since", no_wrap=True)
    for status, when in entries.items():
        table.add_row(status, when)
    state.out.console.print(table)


@session.command()
@click.argument("ref", metavar="ID_OR_NAME")
@json_option
@pass_state
def why(state: CLIState, ref: str) -> None:
    """Explain why a session is still pending (the scheduler's latest try)."""
    info = state.run_api(lambda s: ComputeSessions(s).scheduling(ref))
    if state.json_output:
        state.out.json(info)
        return
    console = state.out.console
    name = info.get("session_name") or ref
    status = info.get("status", "?")
    sched = info.get("scheduler")
    if not isinstance(sched, dict):
        detail = f" ({info['status_info']})" if info.get("status_info") else ""
        console.print(f"{name} is {status}{detail}: no scheduling attempt left it waiting.")
        return
    lead = "is waiting" if status == "PENDING" else f"is {status}; the scheduler last said"
    console.print(f"[bold]{name}[/] {lead}: {sched.get('msg', '')}")
    facts = []
    if sched.get("queue_position"):
        facts.append(f"queue position {sched['queue_position']}")
    if info.get("resource_group"):
        facts.append(f"resource group {info['resource_group']}")
    if sched.get("retries"):
        facts.append(f"{sched['retries']} change(s) of reason")
    if sched.get("last_try"):
        facts.append(f"last try {sched['last_try']}")
    if facts:
        console.print("  " + ", ".join(facts))
    verdicts = [v for v in sched.get("plugins", []) if v.get("code") != "success"]
    if verdicts:
        table = Table(show_edge=False, header_style="bold", pad_edge=False)
        table.add_column("Plugin", no_wrap=True)
        table.add_column("Verdict", no_wrap=True)
        table.add_column("Reasons")
        for verdict in verdicts:
            table.add_row(
                str(verdict.get("plugin")),
                str(verdict.get("code")),
                "; ".join(str(r) for r in verdict.get("reasons", [])),
            )
        console.print(table)
    agents = sched.get("agents") or []
    if agents:
        console.print("Agents:")
        for group in agents:
            count = int(group.get("count", 0))
            plural = "s" if count != 1 else ""
            console.print(f"  {count} agent{plural}: {group.get('reason')}")


def format_event(name: str, data: dict[str, Any], when: datetime | None = None) -> str:
    """One human-readable line per event."""
    stamp = (when or datetime.now()).strftime("%H:%M:%S")
    target = data.get("sessionName") or short_id(data.get("sessionId"))
    parts = [stamp, name, str(target)]
    if data.get("kernelId"):
        parts.append(f"kernel={short_id(data['kernelId'])}")
    if data.get("reason"):
        parts.append(f"reason={data['reason']}")
    if data.get("exitCode") is not None:
        parts.append(f"exit={data['exitCode']}")
    return "  ".join(parts)


@session.command()
@click.argument("ref", metavar="ID_OR_NAME", default="*")
@click.option(
    "--scope",
    type=click.Choice(["*", "session", "kernel", "session,kernel"]),
    default="*",
    show_default=True,
    help="Which events.",
)
@click.option(
    "--owner-access-key", default=None, metavar="AK", help="The owner's access key (admins)."
)
@json_option
@click.pass_context
def events(ctx: click.Context, ref: str, scope: str, owner_access_key: str | None) -> None:
    """Print a session's lifecycle events as they happen, until Ctrl-C (all yours with '*')."""
    state = get_state(ctx)
    with open_session(state) as (session, api):
        stream = api.events(ref, scope=scope, owner_access_key=owner_access_key)
        try:
            while True:
                try:
                    name, data = call(session, anext(stream))
                except StopAsyncIteration:
                    break
                if state.json_output:
                    click.echo(json.dumps({"event": name, **data}, ensure_ascii=False))
                else:
                    click.echo(format_event(name, data))
        except KeyboardInterrupt:
            pass


@session.command(name="rm")
@click.argument("refs", metavar="ID_OR_NAME...", nargs=-1, required=True)
@click.option(
    "--forced", "-f", is_flag=True, help="Terminate without waiting for a clean shutdown."
)
@click.option("--recursive", is_flag=True, help="Also terminate sessions depending on these.")
@json_option
@click.pass_context
def remove(ctx: click.Context, refs: tuple[str, ...], forced: bool, recursive: bool) -> None:
    """Terminate sessions."""
    state = get_state(ctx)
    results: list[dict[str, Any]] = []
    failed = False
    with open_session(state) as (session, api):
        for ref in refs:
            try:
                stats = call(session, api.destroy(ref, forced=forced, recursive=recursive))
            except SDKError as exc:
                failed = True
                results.append(
                    {"session": ref, "ok": False, "msg": exc.message, "error_code": exc.error_code}
                )
                if not state.json_output:
                    CLIFailure(f"{ref}: {exc.message}", exc.error_code).show()
                continue
            results.append({"session": ref, "ok": True, "stats": stats})
            if not state.json_output:
                status = stats.get("status") or "terminating"
                state.out.console.print(Text(f"Session {ref}: {status}.", style="green"))
    if state.json_output:
        state.out.json({"ok": not failed, "items": results})
    if failed:
        ctx.exit(1)
