"""``cygnet admin``: one command group per resource, one module per group."""

from __future__ import annotations

import click

from cygnet.client.cli.admin.domains import domain
from cygnet.client.cli.admin.keypair_policies import keypair_policy
from cygnet.client.cli.admin.keypairs import keypair
from cygnet.client.cli.admin.projects import project
from cygnet.client.cli.admin.resource_groups import resource_group
from cygnet.client.cli.admin.scheduler import scheduler
from cygnet.client.cli.admin.user_policies import user_policy
from cygnet.client.cli.admin.users import user


@click.group()
def admin() -> None:
    """Administer domains, projects, users, keypairs, resource policies, resource groups and
    the scheduler.

    Needs an admin (or superadmin) keypair. Add --json for machine-readable output.
    """


for _group in (
    domain,
    project,
    user,
    keypair,
    keypair_policy,
    user_policy,
    resource_group,
    scheduler,
):
    admin.add_command(_group)
