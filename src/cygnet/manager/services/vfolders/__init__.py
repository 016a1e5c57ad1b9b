"""Virtual folders: the folders themselves, their files, and sharing (one service each)."""

from cygnet.manager.services.vfolders.files import VFolderFileService
from cygnet.manager.services.vfolders.service import VFolderService
from cygnet.manager.services.vfolders.sharing import VFolderSharingService

__all__ = ["VFolderFileService", "VFolderService", "VFolderSharingService"]
