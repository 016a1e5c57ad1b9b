"""``cygnet admin scheduler status|trigger``: the manager's reconcile loops."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from cygnet.client.cli.context import CLIState, json_option, pass_state

_DETAIL_KEYS = (
    "pending",
    "scheduled",
    "waiting",
    "cancelled",
    "expired",
    "departed",
    "session",
    "sessions",
)


def _details(run: dict[str, Any]) -> str:
    return ", ".join(f"{k} {run[k]}" for k in _DETAIL_KEYS if k in run)


@click.group()
def scheduler() -> None:
    """The scheduler's health, and a scheduling pass on demand (superadmins)."""


@scheduler.command()
@json_option
@pass_state
def status(state: CLIState) -> None:
    """When each reconcile loop of the manager last ran, how long it took and what it did."""
    info = state.run_api(lambda s: s.admin.scheduler.status())
    if state.json_output:
        state.out.json(info)
        return
    console = state.out.console
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for name in ("Loop", "Last run", "Took", "OK", "Runs", "Failures", "Last outcome"):
        table.add_column(name, no_wrap=name != "Last outcome")
    for loop, run in info.get("loops", {}).items():
        table.add_row(
            loop,
            str(run.get("at", "")),
            f"{float(run.get('seconds', 0)) * 1000:.1f} ms",
            "yes" if run.get("ok", True) else "[red]no[/]",
            str(run.get("runs", "")),
            str(run.get("failures", "")),
            _details(run),
        )
    if not info.get("loops"):
        console.print("No loop has run yet.")
    else:
        console.print(table)
    sessions = info.get("sessions") or {}
    summary = ", ".join(f"{n} {status}" for status, n in sorted(sessions.items())) or "none"
    console.print(f"Sessions not over: {summary}")


@scheduler.command()
@json_option
@pass_state
def trigger(state: CLIState) -> None:
    """Run a scheduling pass now and show what it did."""
    run = state.run_api(lambda s: s.admin.scheduler.trigger())
    if state.json_output:
        state.out.json(run)
        return
    state.out.console.print(
        f"Scheduling pass done in {float(run.get('seconds', 0)) * 1000:.1f} ms: {_details(run)}"
    )
