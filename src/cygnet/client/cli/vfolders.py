"""``cygnet vfolder``: storage folders that outlive sessions. This module has the folder
commands (create, ls, info, rename, update-options, rm, restore, purge, hosts), sharing
(invite, invitations, accept, reject, share, unshare, leave) and clone; the file commands and
the transfers live in ``vfolder_files.py``."""

from __future__ import annotations

from typing import Any

import click
from pydantic import BaseModel

from cygnet.client.cli.context import CLIState, json_option, pass_state
from cygnet.client.cli.output import col
from cygnet.client.cli.params import confirm, yes_option
from cygnet.client.cli.vfolder_files import (
    api,
    download,
    files,
    human_bytes,
    mkdir,
    mv,
    progress_bar,
    rename_file,
    rm_files,
    upload,
)
from cygnet.client.sdk.models import VFolderInvitation

PERMISSIONS = ("ro", "rw", "wd")
USAGE_MODES = ("general", "model", "data")


LIST_COLUMNS = [
    col("Name", "name", no_wrap=True),
    col("ID", "id", no_wrap=True),
    col("Host", "host", no_wrap=True),
    col("Status", "status", no_wrap=True),
    col("Usage", "usage_mode"),
    col("Permission", "permission"),
    col(
        "Owner",
        lambda f: f.user_email if f.ownership_type == "user" else f.group_name,
        no_wrap=True,
    ),
    col("Type", "ownership_type"),
    col("Cloneable", "cloneable"),
]

INFO_ROWS = [
    col("Name", "name"),
    col("ID", "id"),
    col("Host", "host"),
    col("Status", "status"),
    col("Usage mode", "usage_mode"),
    col("Your permission", "permission"),
    col("Ownership", "ownership_type"),
    col("Owner", lambda f: f.user_email or f.user),
    col("Project", lambda f: f.group_name or f.group),
    col("Cloneable", "cloneable"),
    col("Files", "num_files"),
    col("Used", lambda f: human_bytes(f.used_bytes)),
    col("Quota", lambda f: human_bytes(f.max_size) if f.max_size else "unlimited"),
    col("Created", "created_at"),
    col("Last used", "last_used"),
]

INVITATION_COLUMNS = [
    col("ID", "id", no_wrap=True),
    col("Folder", "vfolder_name", no_wrap=True),
    col("From", "inviter"),
    col("To", "invitee"),
    col("Permission", "perm"),
    col("State", "state"),
    col("Sent", "created_at"),
]


# --- the command group -------------------------------------------------------------------------


@click.group()
def vfolder() -> None:
    """Storage folders (vfolders): create them, move files in and out, share and clone them.

    A folder is named by its name or its ID. Files move straight between this machine and the
    storage proxy; interrupted uploads and downloads resume when you run the same command
    again. Add --json for machine-readable output.

    \b
    Examples:
      cygnet vfolder create data
      cygnet vfolder upload data ./train.csv ./images --recursive
      cygnet vfolder files data images
      cygnet vfolder download data train.csv --dest ./out
      cygnet vfolder invite data bob@example.com --perm ro
    """


@vfolder.command()
@click.argument("name")
@click.argument("host", required=False)
@click.option(
    "--usage-mode",
    type=click.Choice(USAGE_MODES),
    default="general",
    show_default=True,
    help="What the folder holds.",
)
@click.option(
    "--permission",
    type=click.Choice(PERMISSIONS),
    default="rw",
    show_default=True,
    help="ro: read only, rw: read-write, wd: read-write-delete (for project members).",
)
@click.option("--cloneable", is_flag=True, help="Let others who can see it clone it.")
@click.option(
    "--group",
    "--project",
    "group",
    default=None,
    metavar="PROJECT",
    help="Make a project folder of this project (name or ID; admins).",
)
@json_option
@pass_state
def create(
    state: CLIState,
    name: str,
    host: str | None,
    usage_mode: str,
    permission: str,
    cloneable: bool,
    group: str | None,
) -> None:
    """Create a folder NAME on HOST (default: the server's default host; see `hosts`).

    \b
    Examples:
      cygnet vfolder create data
      cygnet vfolder create models local:volume1 --usage-mode model --cloneable
      cygnet vfolder create shared-data --project default --permission ro
    """
    created = api(
        state,
        lambda s: s.vfolders.create(
            name,
            host,
            usage_mode=usage_mode,
            permission=permission,
            cloneable=cloneable,
            group=group,
        ),
    )
    state.out.done(f"Folder {created.name} ({created.id}) created on {created.host}.", created)


@vfolder.command(name="ls")
@click.option("--all", "all_folders", is_flag=True, help="Every folder you manage (admins).")
@click.option("--group", "--project", "group", default=None, help="Only this project's folders.")
@click.option("--owner", default=None, metavar="EMAIL", help="Only this user's folders (admins).")
@json_option
@pass_state
def list_(state: CLIState, all_folders: bool, group: str | None, owner: str | None) -> None:
    """List the folders you can use: yours, your projects', and those shared with you.

    \b
    Examples:
      cygnet vfolder ls
      cygnet --json vfolder ls | jq -r '.items[].name'
    """
    found = api(state, lambda s: s.vfolders.list(all=all_folders, group=group, owner_email=owner))
    state.out.items(found, LIST_COLUMNS, noun="folder")


@vfolder.command()
@click.argument("name")
@json_option
@pass_state
def info(state: CLIState, name: str) -> None:
    """Show a folder: host, status, your permission, file count and usage."""
    found = api(state, lambda s: s.vfolders.info(name))
    state.out.item(found, INFO_ROWS)


@vfolder.command()
@click.argument("name")
@click.argument("new_name")
@json_option
@pass_state
def rename(state: CLIState, name: str, new_name: str) -> None:
    """Rename a folder."""
    api(state, lambda s: s.vfolders.rename(name, new_name))
    state.out.done(f"Folder {name} renamed to {new_name}.")


@vfolder.command(name="update-options")
@click.argument("name")
@click.option("--permission", type=click.Choice(PERMISSIONS), default=None)
@click.option("--cloneable/--not-cloneable", default=None, help="Whether others may clone it.")
@json_option
@pass_state
def update_options(
    state: CLIState, name: str, permission: str | None, cloneable: bool | None
) -> None:
    """Change a folder's default permission or whether it may be cloned."""
    if permission is None and cloneable is None:
        raise click.UsageError("Nothing to update: give --permission or --cloneable.")
    api(
        state, lambda s: s.vfolders.update_options(name, permission=permission, cloneable=cloneable)
    )
    state.out.done(f"Folder {name} updated.")


@vfolder.command(name="rm")
@click.argument("name")
@click.option(
    "--forever", is_flag=True, help="Delete it and its files now, without the trash (no undo)."
)
@yes_option
@json_option
@pass_state
def rm(state: CLIState, name: str, forever: bool, yes: bool) -> None:
    """Move a folder to the trash (`restore` brings it back, `purge` empties it).

    \b
    Examples:
      cygnet vfolder rm old-data
      cygnet vfolder rm scratch --forever --yes
    """
    if forever:
        confirm(yes, f"Delete folder {name} and all its files for good?")
        api(state, lambda s: s.vfolders.delete_forever(name))
        state.out.done(f"Folder {name} deleted for good.")
        return
    api(state, lambda s: s.vfolders.delete(name))
    state.out.done(f"Folder {name} moved to the trash; `cygnet vfolder restore {name}` undoes it.")


@vfolder.command()
@click.argument("name")
@json_option
@pass_state
def restore(state: CLIState, name: str) -> None:
    """Bring a folder back from the trash."""
    api(state, lambda s: s.vfolders.restore(name))
    state.out.done(f"Folder {name} restored.")


@vfolder.command()
@click.argument("name")
@yes_option
@json_option
@pass_state
def purge(state: CLIState, name: str, yes: bool) -> None:
    """Delete a folder that is in the trash, with its files, for good."""
    confirm(yes, f"Delete the trashed folder {name} and all its files for good?")
    api(state, lambda s: s.vfolders.delete_from_trash(name))
    state.out.done(f"Folder {name} purged.")


@vfolder.command()
@click.option("--group", "--project", "group", default=None, help="Hosts for this project.")
@json_option
@pass_state
def hosts(state: CLIState, group: str | None) -> None:
    """The storage hosts you may create folders on, and their usage."""
    found = api(state, lambda s: s.vfolders.hosts(group))
    if state.json_output:
        state.out.json(found)
        return
    rows = []
    for host in found.allowed:
        usage = (found.volume_info.get(host) or {}).get("usage") or {}
        rows.append(
            _HostRow(
                host=host,
                default=host == found.default,
                used=human_bytes(usage.get("used_bytes")),
                capacity=human_bytes(usage.get("capacity_bytes")),
            )
        )
    state.out.items(
        rows,
        [
            col("Host", "host"),
            col("Default", "default"),
            col("Used", "used"),
            col("Capacity", "capacity"),
        ],
        noun="host",
    )


class _HostRow(BaseModel):
    host: str
    default: bool
    used: str
    capacity: str


# --- sharing -----------------------------------------------------------------------------------


@vfolder.command()
@click.argument("name")
@click.argument("emails", nargs=-1, required=True)
@click.option(
    "--perm",
    "--permission",
    "perm",
    type=click.Choice(PERMISSIONS),
    default="rw",
    show_default=True,
    help="What the invitees may do: ro read, rw also write, wd also delete.",
)
@json_option
@pass_state
def invite(state: CLIState, name: str, emails: tuple[str, ...], perm: str) -> None:
    """Invite users (by email) to one of your folders; they `accept` it.

    \b
    Example:
      cygnet vfolder invite data bob@example.com carol@example.com --perm ro
    """
    invited = api(state, lambda s: s.vfolders.invite(name, emails, perm))
    skipped = [e for e in emails if e not in invited]
    state.out.done(
        f"Invited {', '.join(invited) or 'nobody'} to {name} ({perm}).",
        invited=invited,
        skipped=skipped,
    )
    if skipped:
        state.out.note(f"Skipped (unknown, or already with access): {', '.join(skipped)}.")


@vfolder.command()
@click.option("--sent", is_flag=True, help="The invitations you sent instead.")
@json_option
@pass_state
def invitations(state: CLIState, sent: bool) -> None:
    """List invitations waiting for you (accept or reject them by ID)."""
    found: list[VFolderInvitation] = api(
        state, lambda s: s.vfolders.sent_invitations() if sent else s.vfolders.invitations()
    )
    state.out.items(found, INVITATION_COLUMNS, noun="invitation")


@vfolder.command()
@click.argument("invitation_id")
@json_option
@pass_state
def accept(state: CLIState, invitation_id: str) -> None:
    """Accept an invitation (IDs from `cygnet vfolder invitations`)."""
    api(state, lambda s: s.vfolders.accept_invitation(invitation_id))
    state.out.done(f"Invitation {invitation_id} accepted; the folder is in `cygnet vfolder ls`.")


@vfolder.command()
@click.argument("invitation_id")
@json_option
@pass_state
def reject(state: CLIState, invitation_id: str) -> None:
    """Reject an invitation (or cancel one you sent)."""
    api(state, lambda s: s.vfolders.reject_invitation(invitation_id))
    state.out.done(f"Invitation {invitation_id} rejected.")


@vfolder.command()
@click.argument("name")
@click.argument("emails", nargs=-1, required=True)
@click.option(
    "--perm",
    "--permission",
    "perm",
    type=click.Choice(PERMISSIONS),
    default="rw",
    show_default=True,
)
@json_option
@pass_state
def share(state: CLIState, name: str, emails: tuple[str, ...], perm: str) -> None:
    """Give project members a permission on a project folder (admins)."""
    shared = api(state, lambda s: s.vfolders.share(name, emails, perm))
    state.out.done(f"Shared {name} with {', '.join(shared) or 'nobody'} ({perm}).", shared=shared)


@vfolder.command()
@click.argument("name")
@click.argument("emails", nargs=-1, required=True)
@json_option
@pass_state
def unshare(state: CLIState, name: str, emails: tuple[str, ...]) -> None:
    """Take back what `share` gave (members keep the folder's own permission)."""
    removed = api(state, lambda s: s.vfolders.unshare(name, emails))
    state.out.done(f"Unshared {name} from {', '.join(removed) or 'nobody'}.", unshared=removed)


@vfolder.command()
@click.argument("name")
@json_option
@pass_state
def leave(state: CLIState, name: str) -> None:
    """Give up your access to a folder someone shared with you."""
    api(state, lambda s: s.vfolders.leave(name))
    state.out.done(f"You left {name}.")


# --- clone -------------------------------------------------------------------------------------


@vfolder.command()
@click.argument("name")
@click.argument("target_name")
@click.option("--host", default=None, help="Host of the copy (default: the source's).")
@click.option("--usage-mode", type=click.Choice(USAGE_MODES), default=None)
@click.option("--permission", type=click.Choice(PERMISSIONS), default="rw", show_default=True)
@click.option("--cloneable", is_flag=True, help="Let others clone the copy too.")
@click.option("--no-wait", is_flag=True, help="Return as soon as the copy has started.")
@json_option
@pass_state
def clone(
    state: CLIState,
    name: str,
    target_name: str,
    host: str | None,
    usage_mode: str | None,
    permission: str,
    cloneable: bool,
    no_wait: bool,
) -> None:
    """Copy folder NAME into a new folder TARGET_NAME of yours, showing the progress.

    \b
    Example:
      cygnet vfolder clone datasets my-datasets
    """

    async def run(s: Any) -> tuple[Any, str | None]:
        created = await s.vfolders.clone(
            name,
            target_name,
            target_host=host,
            usage_mode=usage_mode,
            permission=permission,
            cloneable=cloneable,
        )
        if no_wait:
            return created, None
        with progress_bar(state, f"Cloning {name} to {target_name}") as (update, _):
            return created, await s.vfolders.follow_task(created.bgtask_id, update)

    created, _message = api(state, run)
    if no_wait:
        state.out.done(
            f"Cloning {name} into {target_name} ({created.id}) started; background task "
            f"{created.bgtask_id}.",
            created,
        )
        return
    state.out.done(f"Folder {name} cloned into {target_name} ({created.id}).", created)


for _command in (mkdir, files, upload, download, mv, rename_file, rm_files):
    vfolder.add_command(_command)
