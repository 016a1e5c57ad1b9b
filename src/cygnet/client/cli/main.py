"""The ``cygnet`` command line: the root group ``cli`` and ``main()``.

Other packages add their commands to ``cli`` (``cygnet.launcher`` adds ``up`` and
``manager serve``), so importing this module has no side effects.
"""

from __future__ import annotations

import click

from cygnet import __version__
from cygnet.client.cli.admin import admin
from cygnet.client.cli.config import config, login, logout
from cygnet.client.cli.context import CLIState
from cygnet.client.cli.run import run
from cygnet.client.cli.sessions import session
from cygnet.client.cli.version import version
from cygnet.client.cli.vfolders import vfolder

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--profile",
    "-p",
    default=None,
    metavar="NAME",
    help="Use this profile from profiles.toml (see `cygnet config`); also $CYGNET_PROFILE.",
)
@click.option(
    "--endpoint",
    default=None,
    metavar="URL",
    help="The manager's URL (default: $CYGNET_ENDPOINT, $BACKEND_ENDPOINT, then the profile).",
)
@click.option("--access-key", default=None, help="Access key (default: env, then the profile).")
@click.option(
    "--secret-key", default=None, help="Secret key (prefer $CYGNET_SECRET_KEY or a profile)."
)
@click.option("--domain", "domain_", default=None, help="Domain name sent with requests.")
@click.option(
    "--json", "json_output", is_flag=True, help="Print machine-readable JSON instead of tables."
)
@click.version_option(__version__, prog_name="cygnet")
@click.pass_context
def cli(
    ctx: click.Context,
    profile: str | None,
    endpoint: str | None,
    access_key: str | None,
    secret_key: str | None,
    domain_: str | None,
    json_output: bool,
) -> None:
    """Cygnet: pool your compute servers and share them.

    Configure the client once with `cygnet login` (or, for a local cluster started with
    `cygnet up`, by loading its credentials.env), then manage domains, projects, users,
    keypairs, resource policies and resource groups under `cygnet admin`.

    Settings are resolved in this order: command-line options, an explicit --profile,
    the environment (CYGNET_* then BACKEND_*), the current profile.
    """
    state = ctx.ensure_object(CLIState)
    state.profile = profile
    state.json_output = state.json_output or json_output
    state.overrides = {
        "endpoint": endpoint,
        "access_key": access_key,
        "secret_key": secret_key,
        "domain": domain_,
    }


cli.add_command(version)
cli.add_command(config)
cli.add_command(login)
cli.add_command(logout)
cli.add_command(admin)
cli.add_command(session)
cli.add_command(run)
cli.add_command(vfolder)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cygnet")


if __name__ == "__main__":
    main()
