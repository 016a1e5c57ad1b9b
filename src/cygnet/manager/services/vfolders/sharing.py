"""Sharing vfolders: invitations to user folders (invite, list, accept, reject/cancel), shares
of project folders with project members (share, unshare), and leaving a shared folder.

An accepted invitation or a share is a row of ``vfolder_permissions`` giving one user a
permission (ro / rw / wd) that overrides the folder's own for them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from cygnet.common.clock import Clock
from cygnet.common.errors import (
    InvalidAPIParameters,
    VFolderAlreadyExists,
    VFolderForbidden,
    VFolderInvitationNotFound,
)
from cygnet.manager.entities import (
    Caller,
    InvitationState,
    User,
    UserStatus,
    VFolderInvitation,
    VFolderOwnership,
    VFolderPermission,
    VFolderShare,
)
from cygnet.manager.services.vfolders.access import FolderAccess
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import users as users_repo
from cygnet.manager.store.repositories import vfolders as repo


def _emails(values: object, what: str = "emails") -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidAPIParameters(f"{what} must be a list of email addresses.")
    return list(dict.fromkeys(values))


def _parse_id(value: object, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise VFolderInvitationNotFound(f"No such {what}: {value!r}") from None


def _user_id(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidAPIParameters(f"A user must be given by UUID; got {value!r}.") from None


class VFolderSharingService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._access = FolderAccess(db)

    async def _users(self, emails: Iterable[str]) -> list[User]:
        async with self._db.read() as session:
            found = [await users_repo.get_by_email(session, email) for email in emails]
        return [u for u in found if u is not None and u.status is UserStatus.ACTIVE]

    # -- invitations (user folders) ------------------------------------------------------------

    async def invite(
        self, caller: Caller, ref: str, permission: VFolderPermission, emails: object
    ) -> list[str]:
        """Invite users (by email) to the caller's folder; answers the invited emails (unknown
        users and those who already have access are left out; a pending duplicate is 400)."""
        access = await self._access.resolve(caller, ref, manage=True)
        folder = access.folder
        if folder.ownership_type is not VFolderOwnership.USER:
            raise InvalidAPIParameters("Project folders are shared with share, not invite.")
        invited: list[str] = []
        users = await self._users(_emails(emails))
        now = self._clock.now()
        async with self._db.transaction() as session:
            existing = await repo.shares(session, folder.id)
            has_access = {s.user_uuid for s in existing}
            pending = {
                i.invitee
                for i in await repo.invitations(
                    session, vfolder_id=folder.id, state=InvitationState.PENDING
                )
            }
            for user in users:
                if user.uuid == folder.user or user.uuid in has_access:
                    continue
                if user.email in pending:
                    raise VFolderAlreadyExists(
                        f"An invitation to this vfolder is already pending for {user.email}."
                    )
                await repo.create_invitation(
                    session,
                    {
                        "id": uuid.uuid4(),
                        "permission": permission.value,
                        "inviter": caller.email,
                        "invitee": user.email,
                        "state": InvitationState.PENDING.value,
                        "created_at": now,
                        "modified_at": now,
                        "vfolder": folder.id,
                    },
                )
                invited.append(user.email)
        return invited

    async def invitations(self, caller: Caller) -> list[VFolderInvitation]:
        """The caller's pending invitations."""
        async with self._db.read() as session:
            return await repo.invitations(
                session, invitee=caller.email, state=InvitationState.PENDING
            )

    async def sent_invitations(self, caller: Caller) -> list[VFolderInvitation]:
        async with self._db.read() as session:
            return await repo.invitations(
                session, inviter=caller.email, state=InvitationState.PENDING
            )

    async def accept(self, caller: Caller, invitation_id: object) -> None:
        """Accept a pending invitation to the caller (404 otherwise, a second accept too)."""
        inv_id = _parse_id(invitation_id, "invitation")
        async with self._db.transaction() as session:
            invitation = await repo.get_invitation(session, inv_id)
            if invitation is None or invitation.invitee != caller.email:
                raise VFolderInvitationNotFound(f"No such invitation: {inv_id}")
            if not await repo.set_invitation_state(
                session, inv_id, InvitationState.ACCEPTED, self._clock.now()
            ):
                raise VFolderInvitationNotFound(f"The invitation {inv_id} is not pending.")
            await repo.set_share(
                session, invitation.vfolder_id, caller.user_uuid, invitation.permission
            )

    async def reject(self, caller: Caller, invitation_id: object) -> None:
        """The invitee rejects a pending invitation; the inviter cancels it."""
        inv_id = _parse_id(invitation_id, "invitation")
        async with self._db.transaction() as session:
            invitation = await repo.get_invitation(session, inv_id)
            if invitation is None or caller.email not in (invitation.invitee, invitation.inviter):
                raise VFolderInvitationNotFound(f"No such invitation: {inv_id}")
            state = (
                InvitationState.REJECTED
                if invitation.invitee == caller.email
                else InvitationState.CANCELED
            )
            if not await repo.set_invitation_state(session, inv_id, state, self._clock.now()):
                raise VFolderInvitationNotFound(f"The invitation {inv_id} is not pending.")

    async def update_invitation(
        self, caller: Caller, invitation_id: object, permission: VFolderPermission
    ) -> None:
        """The inviter changes the permission of a pending invitation (404 otherwise)."""
        inv_id = _parse_id(invitation_id, "invitation")
        async with self._db.transaction() as session:
            invitation = await repo.get_invitation(session, inv_id)
            if invitation is None or invitation.inviter != caller.email:
                raise VFolderInvitationNotFound(f"No such invitation: {inv_id}")
            if not await repo.set_invitation_permission(
                session, inv_id, permission, self._clock.now()
            ):
                raise VFolderInvitationNotFound(f"The invitation {inv_id} is not pending.")

    # -- shares (project folders) --------------------------------------------------------------

    async def share(
        self, caller: Caller, ref: str, permission: VFolderPermission, emails: object
    ) -> list[str]:
        """Give project members a permission on a project folder (admins)."""
        access = await self._access.resolve(caller, ref, manage=True)
        folder = access.folder
        if folder.ownership_type is not VFolderOwnership.GROUP or folder.group is None:
            raise InvalidAPIParameters("Only project folders are shared; invite users instead.")
        wanted = _emails(emails)
        users = {u.email: u for u in await self._users(wanted)}
        missing = [email for email in wanted if email not in users]
        if missing:
            raise InvalidAPIParameters(f"No such users: {', '.join(missing)}")
        async with self._db.transaction() as session:
            for user in users.values():
                if not await repo.is_member(session, folder.group, user.uuid):
                    raise InvalidAPIParameters(
                        f"{user.email} is not a member of the folder's project."
                    )
                await repo.set_share(session, folder.id, user.uuid, permission)
        return list(users)

    async def unshare(self, caller: Caller, ref: str, emails: object) -> list[str]:
        access = await self._access.resolve(caller, ref, manage=True)
        users = await self._users(_emails(emails))
        async with self._db.transaction() as session:
            shared = {s.user_uuid for s in await repo.shares(session, access.folder.id)}
            removed = [u for u in users if u.uuid in shared]
            await repo.remove_shares(session, access.folder.id, [u.uuid for u in removed])
        return [u.email for u in removed]

    async def update_shares(
        self, caller: Caller, ref: str, changes: Iterable[tuple[object, VFolderPermission | None]]
    ) -> None:
        """Change the permission of users who share the folder (an accepted invitation or a
        project share), or with None take it away; its owner or an admin; all or nothing."""
        access = await self._access.resolve(caller, ref, manage=True)
        wanted = [(_user_id(user), perm) for user, perm in changes]
        if not wanted:
            raise InvalidAPIParameters("Give at least one user to update.")
        async with self._db.transaction() as session:
            shared = {s.user_uuid for s in await repo.shares(session, access.folder.id)}
            missing = [str(user) for user, _ in wanted if user not in shared]
            if missing:
                raise InvalidAPIParameters(
                    f"These users do not share the vfolder: {', '.join(missing)}"
                )
            for user, perm in wanted:
                if perm is None:
                    await repo.remove_shares(session, access.folder.id, [user])
                else:
                    await repo.set_share(session, access.folder.id, user, perm)

    async def shares(self, caller: Caller, ref: str) -> list[VFolderShare]:
        access = await self._access.resolve(caller, ref, manage=True)
        async with self._db.read() as session:
            return await repo.shares(session, access.folder.id)

    async def leave(self, caller: Caller, ref: str, shared_user: object = None) -> None:
        """Leave a folder shared with the caller (or, for its manager, remove one user)."""
        access = await self._access.resolve(caller, ref)
        if shared_user:
            user_id = _parse_id(shared_user, "user")
            if user_id != caller.user_uuid and not access.can_manage:
                raise VFolderForbidden("Only the folder's owner may remove other users.")
        else:
            if access.is_owner:
                raise InvalidAPIParameters("The owner cannot leave their own vfolder.")
            user_id = caller.user_uuid
        async with self._db.transaction() as session:
            if not await repo.remove_shares(session, access.folder.id, [user_id]):
                raise InvalidAPIParameters("That user does not share this vfolder.")
