"""``cygnet version``: the client's version, and the server's when it can be reached."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from cygnet import __version__
from cygnet.client.cli.context import CLIState, json_option, pass_state
from cygnet.client.sdk.config import APIConfig
from cygnet.client.sdk.errors import SDKError
from cygnet.client.sdk.session import APISession
from cygnet.common.auth import API_VERSION


@click.command()
@json_option
@pass_state
def version(state: CLIState) -> None:
    """Show the client version, and the server's version if it is reachable."""
    info: dict[str, str | None] = {
        "client": __version__,
        "client_api_version": API_VERSION,
        "endpoint": None,
        "server": None,
        "server_api_version": None,
        "negotiated_api_version": None,
        "server_error": None,
    }
    try:
        config: APIConfig | None = APIConfig.load(profile=state.profile, overrides=state.overrides)
    except SDKError:
        config = None
    if config is not None:
        info["endpoint"] = config.endpoint
        try:
            with APISession(config) as session:
                found = session.version()
                info["server"] = found.manager
                info["server_api_version"] = found.version
                info["negotiated_api_version"] = session.api_version()
        except SDKError as exc:
            info["server_error"] = exc.message
    out = state.out
    if out.json_mode:
        out.json(info)
        return
    table = Table(show_header=False, show_edge=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("Client", Text(f"cygnet {__version__} (API {API_VERSION})"))
    if config is None:
        table.add_row("Server", Text("no endpoint configured (see `cygnet login`)", style="dim"))
    elif info["server_error"]:
        table.add_row("Server", Text(f"{config.endpoint}: unreachable", style="yellow"))
    else:
        table.add_row(
            "Server",
            Text(f"{config.endpoint}: {info['server'] or '?'} (API {info['server_api_version']})"),
        )
        table.add_row("Using API", Text(str(info["negotiated_api_version"])))
    out.console.print(table)
