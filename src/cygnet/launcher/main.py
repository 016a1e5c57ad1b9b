"""Entry point of the ``cygnet`` console script."""

from __future__ import annotations

from cygnet.client.cli.main import cli
from cygnet.launcher.images import image_group
from cygnet.launcher.servers import agent_group, manager_group, up
from cygnet.launcher.storage import storage_group

cli.add_command(up)
cli.add_command(manager_group)
cli.add_command(image_group)
cli.add_command(agent_group)
cli.add_command(storage_group)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
