"""Error hierarchy with stable codes, shared by the API (problem+json bodies) and the SDK.

Each class fixes the HTTP status, the problem ``type`` slug (``https://api.backend.ai/probs/<slug>``,
as the official client expects), a default title and the ``error_code``
(``<domain>_<operation>_<detail>``). Raise them with an optional ``msg`` and ``data``.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://api.backend.ai/probs/"


class CygnetError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-server-error"
    title: ClassVar[str] = "Something went wrong during processing the request."
    error_code: ClassVar[str] = "backendai_generic_internal-error"

    def __init__(self, msg: str | None = None, *, data: Any = None) -> None:
        super().__init__(msg or self.title)
        self.msg = msg
        self.data = data

    def body(self) -> dict[str, Any]:
        """The problem+json body for this error."""
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "error_code": self.error_code,
        }
        if self.msg is not None:
            body["msg"] = self.msg
        if self.data is not None:
            body["data"] = self.data
        return body


class BadRequest(CygnetError):
    status = 400
    slug = "generic-bad-request"
    title = "Bad request."
    error_code = "backendai_generic_bad-request"


class UnsupportedVersion(BadRequest):
    title = "Unsupported API version."


class MalformedBody(BadRequest):
    title = "Malformed request body."
    error_code = "api_parsing_bad-request"


class InvalidParameters(BadRequest):
    """The request did not parse into the operation's parameters (wrong keys or types)."""

    title = "Invalid or Missing API Parameters."
    error_code = "api_parsing_invalid-parameters"


class InvalidAPIParameters(CygnetError):
    """The parameters parsed but make no sense together (a duplicate name, a bad value)."""

    status = 400
    slug = "invalid-api-params"
    title = "Missing or invalid API parameters."
    error_code = "api_generic_invalid-parameters"


class AlreadyExists(InvalidAPIParameters):
    """A create or rename would duplicate a unique name."""

    title = "The object already exists."


class InvalidAuthParameters(CygnetError):
    status = 400
    slug = "invalid-auth-params"
    title = "Missing or invalid authorization parameters."
    error_code = "user_auth_invalid-parameters"


class AuthFailed(CygnetError):
    status = 401
    slug = "auth-failed"
    title = "Credential/signature mismatch."
    error_code = "user_auth_unauthorized"


class Forbidden(CygnetError):
    status = 403
    slug = "generic-forbidden"
    title = "Forbidden operation."
    error_code = "backendai_generic_forbidden"


class InsufficientPrivilege(Forbidden):
    slug = "insufficient-privilege"
    title = "Insufficient privilege."
    error_code = "user_auth_forbidden"


class ObjectNotFound(CygnetError):
    status = 404
    slug = "object-not-found"
    title = "No such object."
    error_code = "api_read_not-found"
    object_name: ClassVar[str] = "object"


class DomainNotFound(ObjectNotFound):
    title = "No such domain."
    error_code = "domain_read_not-found"


class ProjectNotFound(ObjectNotFound):
    title = "No such project."
    error_code = "group_read_not-found"


class UserNotFound(ObjectNotFound):
    title = "No such user."
    error_code = "user_read_not-found"


class KeyPairNotFound(ObjectNotFound):
    title = "No such keypair."
    error_code = "keypair_read_not-found"


class ResourcePolicyNotFound(ObjectNotFound):
    title = "No such resource policy."
    error_code = "resource-policy_read_not-found"


class ResourceGroupNotFound(ObjectNotFound):
    title = "No such scaling group."
    error_code = "scaling-group_read_not-found"


class SessionNotFound(ObjectNotFound):
    title = "No such session."
    error_code = "session_read_not-found"


class SessionAlreadyExists(CygnetError):
    """A live session of that name exists and cannot be reused (``data.existingSessionId``)."""

    status = 400
    slug = "session-already-exists"
    title = "The session already exists but you requested to create a new one."
    error_code = "session_create_already-exists"


class SessionTerminatedWhileWaiting(SessionNotFound):
    title = "Session terminated during scheduling."


class URLNotFound(CygnetError):
    status = 404
    slug = "url-not-found"
    title = "Unknown URL path."
    error_code = "api_read_not-found"


class MethodNotAllowed(CygnetError):
    status = 405
    slug = "method-not-allowed"
    title = "HTTP Method Not Allowed."
    error_code = "api_access_forbidden"


class Conflict(CygnetError):
    """A state that forbids the operation (deleting a domain that still has users...)."""

    status = 400
    slug = "invalid-api-params"
    title = "The operation conflicts with the current state."
    error_code = "api_generic_conflict"


class StillInUse(Conflict):
    """The object still has live dependants (a project with running sessions)."""

    title = "The object is still in use."
    error_code = "api_generic_still-in-use"


class QuotaExceeded(CygnetError):
    status = 400
    slug = "quota-exceeded"
    title = "You have reached your resource limit."
    error_code = "session_create_unavailable"


class RateLimitExceeded(CygnetError):
    status = 429
    slug = "rate-limit-exceeded"
    title = "Rate limit exceeded."
    error_code = "api_access_unavailable"


class NotImplementedAPI(CygnetError):
    status = 501
    slug = "not-implemented"
    title = "This API is not implemented."
    error_code = "api_generic_not-implemented"


class InternalError(CygnetError):
    pass


class KernelNotFound(ObjectNotFound):
    slug = "kernel-not-found"
    title = "No such kernel."
    error_code = "kernel_read_not-found"


class ImageNotFound(ObjectNotFound):
    slug = "image-not-found"
    title = "No such image."
    error_code = "image_read_not-found"


class AgentNotFound(ObjectNotFound):
    slug = "agent-not-found"
    title = "No such agent."
    error_code = "agent_read_not-found"


class InsufficientResources(CygnetError):
    """An agent cannot fit the requested slots (nothing was allocated)."""

    status = 400
    slug = "insufficient-resources"
    title = "Not enough resources on the agent."
    error_code = "agent_allocate_insufficient-resources"


class PathOutsideWorkdir(InvalidAPIParameters):
    """A file path that resolves outside the kernel's working directory (``/home/work``)."""

    error_code = "kernel_files_invalid-path"


class AgentError(CygnetError):
    """The agent or its runtime failed to carry out an operation."""

    status = 502
    slug = "agent-error"
    title = "The agent could not carry out the operation."
    error_code = "agent_generic_error"


class AgentUnreachable(AgentError):
    slug = "agent-unreachable"
    title = "The agent did not answer."
    error_code = "agent_rpc_unreachable"


class RPCAuthFailed(AuthFailed):
    error_code = "agent_rpc_unauthorized"


class VFolderNotFound(ObjectNotFound):
    slug = "vfolder-not-found"
    title = "No such virtual folder."
    error_code = "vfolder_read_not-found"


class VFolderInvitationNotFound(ObjectNotFound):
    title = "No such vfolder invitation."
    error_code = "vfolder-invitation_read_not-found"


class VFolderFileNotFound(ObjectNotFound):
    title = "No such file or directory in the virtual folder."
    error_code = "vfolder_file_not-found"


class VFolderAlreadyExists(InvalidAPIParameters):
    """A folder of that name exists for the owner, or an invitation is already pending."""

    title = "The virtual folder already exists with the same name."
    error_code = "vfolder_create_already-exists"


class VFolderInvalidState(InvalidAPIParameters):
    """The folder's status forbids the operation (in the trash, being cloned...)."""

    title = "The virtual folder is not in a state that allows this operation."
    error_code = "vfolder_generic_invalid-state"


class VFolderConflict(InvalidAPIParameters):
    """A file operation would overwrite an existing file or directory."""

    title = "The target already exists in the virtual folder."
    error_code = "vfolder_file_already-exists"


class VFolderForbidden(Forbidden):
    """The caller sees the folder, but their permission does not allow the operation."""

    title = "Your permission on the virtual folder does not allow this operation."
    error_code = "vfolder_generic_forbidden"


class VFolderQuotaExceeded(QuotaExceeded):
    title = "The virtual folder's quota would be exceeded."
    error_code = "vfolder_file_quota-exceeded"


class StorageProxyError(CygnetError):
    """The storage proxy failed, refused the manager's secret, or did not answer."""

    status = 503
    slug = "vfolder-operation-failed"
    title = "The storage proxy could not carry out the operation."
    error_code = "storage-proxy_generic_unavailable"


class BackgroundTaskNotFound(ObjectNotFound):
    title = "No such background task."
    error_code = "bgtask_read_not-found"


ERRORS_BY_CODE: dict[str, type[CygnetError]] = {}


def _index(cls: type[CygnetError]) -> None:
    ERRORS_BY_CODE.setdefault(cls.error_code, cls)
    for sub in cls.__subclasses__():
        _index(sub)


def error_from_code(error_code: str, msg: str | None, data: Any = None) -> CygnetError:
    """Rebuild the error an RPC peer raised from its ``error_code`` (the most general class
    that carries the code; the generic internal error for codes this side does not know)."""
    if not ERRORS_BY_CODE:
        _index(CygnetError)
        ERRORS_BY_CODE[InternalError.error_code] = InternalError
    cls = ERRORS_BY_CODE.get(error_code, InternalError)
    return cls(msg, data=data)
