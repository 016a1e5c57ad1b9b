"""The storage proxy's errors (problem+json bodies through ``CygnetError.body()``).

Statuses: 400 bad input (``InvalidPath``, bad parameters), 401 missing/invalid secret or token
(``TokenInvalid``, ``TokenExpired``), 403 a token used for another operation
(``TokenWrongOperation``), 404 missing volume/folder/file, 409 something already exists or an
upload offset does not match, 413 a folder quota would be exceeded (``FolderQuotaExceeded``),
507 the volume itself is full (``VolumeFull``)."""

from __future__ import annotations

from cygnet.common.errors import (
    AuthFailed,
    BadRequest,
    CygnetError,
    Forbidden,
    ObjectNotFound,
)


class InvalidPath(BadRequest):
    slug = "invalid-path"
    title = "Invalid or unsafe path."
    error_code = "storage_path_invalid"


class NotADirectoryInFolder(BadRequest):
    slug = "not-a-directory"
    title = "Not a directory."
    error_code = "storage_path_not-a-directory"


class VolumeNotFound(ObjectNotFound):
    slug = "volume-not-found"
    title = "No such storage volume."
    error_code = "storage_volume_not-found"


class FolderNotFound(ObjectNotFound):
    slug = "vfolder-not-found"
    title = "No such folder on this volume."
    error_code = "storage_vfolder_not-found"


class FileNotFoundInFolder(ObjectNotFound):
    slug = "vfolder-file-not-found"
    title = "No such file or directory in the folder."
    error_code = "storage_file_not-found"


class AlreadyExistsInStorage(CygnetError):
    status = 409
    slug = "already-exists"
    title = "It already exists."
    error_code = "storage_generic_already-exists"


class UploadOffsetMismatch(CygnetError):
    status = 409
    slug = "upload-offset-mismatch"
    title = "Upload-Offset does not match the upload's current offset."
    error_code = "storage_upload_offset-mismatch"


class FolderQuotaExceeded(CygnetError):
    status = 413
    slug = "vfolder-quota-exceeded"
    title = "The folder's quota would be exceeded."
    error_code = "storage_vfolder_quota-exceeded"


class VolumeFull(CygnetError):
    status = 507
    slug = "volume-full"
    title = "The storage volume has no space left."
    error_code = "storage_volume_full"


class TokenInvalid(AuthFailed):
    slug = "invalid-token"
    title = "Missing, malformed or tampered token."
    error_code = "storage_token_invalid"


class TokenExpired(AuthFailed):
    slug = "token-expired"
    title = "The token has expired; ask the manager for a new one."
    error_code = "storage_token_expired"


class TokenWrongOperation(Forbidden):
    slug = "token-wrong-operation"
    title = "The token was issued for another operation."
    error_code = "storage_token_wrong-operation"


class StorageAuthFailed(AuthFailed):
    title = "Missing or wrong storage proxy secret."
    error_code = "storage_auth_unauthorized"


class VolumeUnsupported(CygnetError):
    """A volume's backend cannot work on its path (raised at startup)."""

    status = 500
    slug = "volume-unsupported"
    title = "The volume's backend does not support this file system."
    error_code = "storage_volume_unsupported"
