"""``cygnet up`` (the whole local cluster in the foreground) and ``cygnet manager serve``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from cygnet.common.logging import setup_logging
from cygnet.manager.config import ManagerSettings, default_data_dir
from cygnet.manager.server import create_manager, run_event_loop, uvicorn_server

console = Console(stderr=True)


async def _run_up(settings: ManagerSettings) -> None:
    manager = await create_manager(settings)
    server = uvicorn_server(manager)
    creds = manager.credentials_path
    lines = [
        f"[bold]Manager[/]      {settings.endpoint}",
        f"[bold]Database[/]     {settings.database_description()}",
        f"[bold]Credentials[/]  {creds}",
    ]
    if manager.new_admin is not None:
        lines.append(
            f"[bold]Admin[/]        {manager.new_admin.email} (password in the file above)"
        )
    lines += [
        "",
        "Use it from another terminal:",
        f"  set -a; . {creds}; set +a",
        "  cygnet admin domain list        # or the official client: backend.ai admin domain list",
        "",
        "Stop with Ctrl-C.",
    ]
    console.print("[bold green]Cygnet is up[/]")
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)
    await server.serve()
    if not server.started:
        raise click.ClickException(
            f"could not listen on {settings.host}:{settings.port}; is another server using it? "
            "Choose another with --port."
        )
    console.print("Cygnet stopped.")


@click.command("up")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Where the database and credentials live [default: {default_data_dir()}].",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8081, show_default=True, type=click.IntRange(1, 65535))
@click.option("--log-level", default="WARNING", show_default=True, help="Server log level.")
def up(data_dir: Path | None, host: str, port: int, log_level: str) -> None:
    """Start a whole local Cygnet cluster in the foreground.

    Embedded defaults: SQLite under the data directory and in-process events. On first start
    it creates the default domain, project, resource group and policies, and a superadmin
    whose keys and password are written to DATA_DIR/credentials.env (mode 0600).
    """
    setup_logging(log_level)
    if data_dir is not None:
        settings = ManagerSettings.load(
            data_dir=data_dir, host=host, port=port, log_level=log_level
        )
    else:
        settings = ManagerSettings.load(host=host, port=port, log_level=log_level)
    try:
        run_event_loop(_run_up(settings))
    except KeyboardInterrupt:
        console.print("Cygnet stopped.")


@click.group("manager")
def manager_group() -> None:
    """Run the manager service on its own (production)."""


@manager_group.command("serve")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="TOML settings file (CYGNET_* environment variables override it).",
)
def serve(config_file: Path | None) -> None:
    """Run a manager alone, e.g. against PostgreSQL (set db_url in the config or CYGNET_DB_URL)."""
    try:
        settings = ManagerSettings.load(config_file)
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"invalid manager settings: {exc}") from exc
    setup_logging(settings.log_level)
    if settings.db_url is None:
        console.print(
            "[yellow]No db_url set: using SQLite under "
            f"{settings.data_dir}. Set db_url (PostgreSQL) for production.[/]"
        )
    try:
        run_event_loop(_serve(settings))
    except KeyboardInterrupt:
        pass


async def _serve(settings: ManagerSettings) -> None:
    manager = await create_manager(settings)
    console.print(f"Cygnet manager listening on {settings.endpoint}")
    await uvicorn_server(manager).serve()
