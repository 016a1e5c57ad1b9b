"""``cygnet up`` (the whole local cluster in the foreground) and ``cygnet manager serve``.

The manager and the agent are imported when a command runs, not when the ``cygnet`` command
line starts: every client command (``cygnet session ls`` …) would otherwise pay a second for
them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from cygnet.common.config import default_data_dir
from cygnet.common.logging import setup_logging
from cygnet.common.resources import BinarySize, is_bytes_slot

if TYPE_CHECKING:
    from cygnet.launcher.local_storage import LocalStorage
    from cygnet.manager.config import ManagerSettings

RUNTIMES = ("auto", "docker", "process", "simulated")


def config_option(env_prefix: str) -> Callable[[F], F]:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help=f"TOML settings file ({env_prefix}* environment variables override it).",
    )


console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


async def _run_up(settings: ManagerSettings, runtime: str, agent_count: int) -> None:
    from cygnet.launcher.local_storage import start_local_storage

    storage = None
    if not settings.storage_proxies:
        try:
            storage = await start_local_storage(settings.data_dir, settings.host)
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"could not start the storage proxy: {exc}") from exc
        settings = settings.model_validate({**settings.model_dump(), **storage.manager_settings()})
    try:
        await _run_manager_and_agents(settings, runtime, agent_count, storage)
    finally:
        if storage is not None:
            await storage.stop()


async def _run_manager_and_agents(
    settings: ManagerSettings, runtime: str, agent_count: int, storage: LocalStorage | None
) -> None:
    from cygnet.common.transport import InProcNetwork
    from cygnet.launcher.local import local_agent_settings, start_local_agents
    from cygnet.manager.server import create_manager, uvicorn_server

    network = InProcNetwork()
    manager = await create_manager(settings, network=network)
    server = uvicorn_server(manager)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn offers a flag, not an event
        if serving.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        await serving
        raise click.ClickException(
            f"could not listen on {settings.host}:{settings.port}; is another server using it? "
            "Choose another with --port."
        )
    agents = []
    if agent_count:
        try:
            agents = await start_local_agents(
                manager,
                network,
                local_agent_settings(settings.data_dir, agent_count, runtime),
            )
        except Exception as exc:
            server.should_exit = True
            await serving
            raise click.ClickException(f"could not start the local agent: {exc}") from exc
    creds = manager.credentials_path
    lines = [
        f"[bold]Manager[/]      {settings.endpoint}",
        f"[bold]Database[/]     {settings.database_description()}",
        f"[bold]Credentials[/]  {creds}",
    ]
    if storage is not None:
        lines.append(
            f"[bold]Storage[/]      {storage.host} at {storage.volume_path} (uploads via "
            f"{storage.proxy.client_url})"
        )
    for agent in agents:
        assert agent.allocator is not None
        capacity = ", ".join(
            f"{slot}={BinarySize(int(qty)).format() if is_bytes_slot(slot) else qty}"
            for slot, qty in agent.allocator.capacity().to_json().items()
        )
        lines.append(
            f"[bold]Agent[/]        {agent.id} ({agent.runtime_name} runtime; {capacity}; "
            f"{len(agent.info().images)} images)"
        )
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
    await serving
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
@click.option(
    "--runtime",
    type=click.Choice(RUNTIMES),
    default="auto",
    show_default=True,
    help="Kernel runtime of the local agents; auto = docker when an engine answers, "
    "else local processes.",
)
@click.option(
    "--agents",
    "agent_count",
    type=click.IntRange(0, 10_000),
    default=1,
    show_default=True,
    help="How many agents to run in-process (they share this machine's cores and memory).",
)
def up(
    data_dir: Path | None,
    host: str,
    port: int,
    log_level: str,
    runtime: str,
    agent_count: int,
) -> None:
    """Start a whole local Cygnet cluster in the foreground: a manager and its agents.

    Embedded defaults: SQLite under the data directory, in-process events, and one agent
    using Docker if an engine answers (else local processes). On first start it creates the
    default domain, project, resource group and policies, and a superadmin whose keys and
    password are written to DATA_DIR/credentials.env (mode 0600).
    """
    from cygnet.manager.config import ManagerSettings
    from cygnet.manager.server import run_event_loop

    setup_logging(log_level)
    if data_dir is not None:
        settings = ManagerSettings.load(
            data_dir=data_dir, host=host, port=port, log_level=log_level
        )
    else:
        settings = ManagerSettings.load(host=host, port=port, log_level=log_level)
    try:
        run_event_loop(_run_up(settings, runtime, agent_count))
    except KeyboardInterrupt:
        console.print("Cygnet stopped.")


@click.group("manager")
def manager_group() -> None:
    """Run the manager service on its own (production)."""


@manager_group.command("serve")
@config_option("CYGNET_")
def serve(config_file: Path | None) -> None:
    """Run a manager alone, e.g. against PostgreSQL (set db_url in the config or CYGNET_DB_URL)."""
    from cygnet.manager.config import ManagerSettings
    from cygnet.manager.server import run_event_loop

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
    from cygnet.manager.server import create_manager, uvicorn_server

    manager = await create_manager(settings)
    console.print(f"Cygnet manager listening on {settings.endpoint}")
    await uvicorn_server(manager).serve()


@click.group("agent")
def agent_group() -> None:
    """Run an agent (one per node) that connects to a manager."""


@agent_group.command("serve")
@config_option("CYGNET_AGENT_")
def agent_serve(config_file: Path | None) -> None:
    """Run an agent: it registers with the manager named in its config, heartbeats, and runs
    the kernels the manager asks for. Kernels keep running when the agent stops; a restarted
    agent re-attaches to them."""
    from cygnet.agent.config import AgentSettings
    from cygnet.agent.server import serve as serve_agent
    from cygnet.manager.server import run_event_loop

    try:
        settings = AgentSettings.load(config_file)
        settings.rpc_secret()
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"invalid agent settings: {exc}") from exc
    setup_logging(settings.log_level)
    try:
        run_event_loop(serve_agent(settings))
    except KeyboardInterrupt:
        pass
