"""Manager <-> agent RPC messages: one pydantic model per operation, tagged by ``kind``.

Both ends import these models; the transport (``cygnet.common.transport``) moves them as JSON
over HTTP between hosts, or hands them over directly in one process. Requests from the manager
to an agent form ``AgentRequest``; requests from an agent to the manager form
``ManagerRequest``. Every request names its reply model in ``Reply``; a failed call answers
``RPCError`` instead, which the caller turns back into the ``CygnetError`` that was raised.

Slot maps travel as ``{slot: "<decimal string>"}`` (``ResourceSlot.to_json``); file contents as
base64 text.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from cygnet.common.events import AgentEvent
from cygnet.common.lifecycle import KernelRunState


class Message(BaseModel):
    """An RPC message. Fields a message does not know are ignored when it is read, so that a
    manager and agents of neighbouring versions understand each other during a rolling
    upgrade: a field added later must be optional (a default that keeps the old behaviour).
    Building one in code with a field it does not have is refused by the type checker."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# ---------------------------------------------------------------------------------------------
# Shared shapes


class ImageInfo(Message):
    """A container image (or a local environment) an agent can start kernels from."""

    name: str  # canonical reference, e.g. "cygnet/python:3.11"
    id: str = ""  # engine id / digest where there is one
    size: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    architecture: str = "x86_64"


class DeviceInfo(Message):
    """One accelerator device, as its plugin discovered it."""

    device_id: str
    model: str = ""
    memory: int = 0  # bytes
    numa_node: int | None = None
    slots: dict[str, str] = Field(default_factory=dict)  # capacity this device adds


class AcceleratorInfo(Message):
    plugin: str  # "cuda", "mock", …
    slot_types: dict[str, str]  # "cuda.device" -> "count"
    devices: list[DeviceInfo] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class AgentInfo(Message):
    agent_id: str
    address: str  # where the manager reaches this agent's RPC: http://host:port or inproc://name
    resource_group: str = "default"
    region: str = "local"
    architecture: str = "x86_64"
    version: str
    runtime: str  # docker | process | simulated | …
    available_slots: dict[str, str]
    slot_types: dict[str, str]
    accelerators: list[AcceleratorInfo] = Field(default_factory=list)
    images: list[ImageInfo] = Field(default_factory=list)
    hardware: dict[str, Any] = Field(default_factory=dict)  # cpu model, memory, disk …


class LiveStat(Message):
    cpu_percent: float = 0.0  # node-wide, 0-100 x cores
    mem_used: int = 0  # bytes
    mem_total: int = 0
    disk_used: int = 0
    disk_total: int = 0
    kernels: int = 0


class KernelSummary(Message):
    kernel_id: uuid.UUID
    session_id: uuid.UUID
    state: KernelRunState
    exit_code: int | None = None
    occupied_slots: dict[str, str] = Field(default_factory=dict)


class MountSpec(Message):
    source: str  # host path (vfolder directory) or a volume name the runtime understands
    target: str  # absolute path inside the kernel; relative paths live under /home/work
    read_only: bool = False


class FileEntry(Message):
    filename: str
    mode: str  # "-rw-r--r--"
    size: int
    ctime: float
    mtime: float
    atime: float


ExecMode = Literal["query", "batch", "input", "continue"]
ExecStatus = Literal["finished", "continued", "waiting-input", "build-finished", "exec-timeout"]
ConsoleItem = tuple[str, Any]  # ("stdout", "text") | ("stderr", "text") | ("media", [mime, data])


def encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_bytes(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


# ---------------------------------------------------------------------------------------------
# Replies


class Ack(Message):
    kind: Literal["ack"] = "ack"


class RPCError(Message):
    kind: Literal["error"] = "error"
    error_code: str
    status: int = 500
    msg: str | None = None
    data: Any = None


class Registered(Message):
    kind: Literal["registered"] = "registered"
    heartbeat_interval: float


class HeartbeatAck(Message):
    kind: Literal["heartbeat_ack"] = "heartbeat_ack"
    known: bool  # False: the manager does not know this agent (it restarted): register again


class KernelCreated(Message):
    kind: Literal["kernel_created"] = "kernel_created"
    kernel_id: uuid.UUID
    container_id: str
    occupied_slots: dict[str, str]
    attached_devices: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    allocation: dict[str, dict[str, str]] = Field(default_factory=dict)  # slot -> {unit: qty}


class KernelDestroyed(Message):
    kind: Literal["kernel_destroyed"] = "kernel_destroyed"
    kernel_id: uuid.UUID
    exit_code: int | None
    logs: str | None = None  # its output, read just before it was stopped


class ExecutionResult(Message):
    kind: Literal["execution_result"] = "execution_result"
    run_id: str
    status: ExecStatus
    exit_code: int | None = None
    console: list[ConsoleItem] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    files: list[Any] | None = None


class FileArchive(Message):
    kind: Literal["file_archive"] = "file_archive"
    data: str  # base64 of a tar archive holding the path (member name = its basename)


class FileList(Message):
    kind: Literal["file_list"] = "file_list"
    abspath: str
    files: list[FileEntry]
    errors: str = ""


class KernelLogs(Message):
    kind: Literal["kernel_logs"] = "kernel_logs"
    logs: str


class KernelList(Message):
    kind: Literal["kernel_list"] = "kernel_list"
    kernels: list[KernelSummary]


class AgentStatusReply(Message):
    kind: Literal["agent_status"] = "agent_status"
    info: AgentInfo
    occupied_slots: dict[str, str]
    live_stat: LiveStat


# ---------------------------------------------------------------------------------------------
# Manager -> agent


class CreateKernel(Message):
    kind: Literal["create_kernel"] = "create_kernel"
    Reply: ClassVar[type[Message]] = KernelCreated
    timeout: ClassVar[float] = 300.0

    kernel_id: uuid.UUID
    session_id: uuid.UUID
    owner_access_key: str
    image: str
    resources: dict[str, str]  # slots to allocate
    environ: dict[str, str] = Field(default_factory=dict)
    mounts: list[MountSpec] = Field(default_factory=list)
    command: list[str] | None = None  # main process; None keeps the kernel idle until destroyed
    labels: dict[str, str] = Field(default_factory=dict)
    shmem: int = 64 * 1024 * 1024
    cluster_role: str = "main"
    cluster_idx: int = 1
    cluster_hostname: str = "main1"
    # The per-session network the kernels of a cluster session (cluster_size > 1) join, so
    # they reach each other by hostname; None (single-kernel sessions): the runtime's default.
    cluster_network: str | None = None
    # The devices the manager's scheduler booked for accelerator slots (slot -> {device id:
    # amount}); the agent takes them when they are still free, else chooses itself (and says
    # what it took in ``KernelCreated.allocation``). None: the agent chooses.
    devices: dict[str, dict[str, str]] | None = None


class DestroyKernel(Message):
    kind: Literal["destroy_kernel"] = "destroy_kernel"
    Reply: ClassVar[type[Message]] = KernelDestroyed
    timeout: ClassVar[float] = 60.0

    kernel_id: uuid.UUID
    reason: str = "user-requested"


class ExecuteCode(Message):
    """One step of the Backend.AI execute protocol: start a run (``query``/``batch``), feed a
    line of input (``input``) or collect more output (``continue``). The reply comes when the
    run finishes, waits for input, or ``flush_timeout`` seconds of output have gathered."""

    kind: Literal["execute"] = "execute"
    Reply: ClassVar[type[Message]] = ExecutionResult
    timeout: ClassVar[float] = 60.0

    kernel_id: uuid.UUID
    run_id: str | None = None
    mode: ExecMode
    code: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    flush_timeout: float = Field(default=2.0, gt=0, le=30)


class InterruptKernel(Message):
    kind: Literal["interrupt"] = "interrupt"
    Reply: ClassVar[type[Message]] = Ack
    timeout: ClassVar[float] = 10.0

    kernel_id: uuid.UUID


class UploadFile(Message):
    kind: Literal["upload_file"] = "upload_file"
    Reply: ClassVar[type[Message]] = Ack
    timeout: ClassVar[float] = 60.0

    kernel_id: uuid.UUID
    path: str  # relative to /home/work (or absolute inside it)
    data: str  # base64


class DownloadFile(Message):
    kind: Literal["download_file"] = "download_file"
    Reply: ClassVar[type[Message]] = FileArchive
    timeout: ClassVar[float] = 60.0

    kernel_id: uuid.UUID
    path: str


class ListFiles(Message):
    kind: Literal["list_files"] = "list_files"
    Reply: ClassVar[type[Message]] = FileList
    timeout: ClassVar[float] = 30.0

    kernel_id: uuid.UUID
    path: str = "."


class GetLogs(Message):
    kind: Literal["get_logs"] = "get_logs"
    Reply: ClassVar[type[Message]] = KernelLogs
    timeout: ClassVar[float] = 30.0

    kernel_id: uuid.UUID


class ListKernels(Message):
    kind: Literal["list_kernels"] = "list_kernels"
    Reply: ClassVar[type[Message]] = KernelList
    timeout: ClassVar[float] = 30.0


class GetAgentStatus(Message):
    kind: Literal["get_agent_status"] = "get_agent_status"
    Reply: ClassVar[type[Message]] = AgentStatusReply
    timeout: ClassVar[float] = 30.0


AgentRequest = Annotated[
    CreateKernel
    | DestroyKernel
    | ExecuteCode
    | InterruptKernel
    | UploadFile
    | DownloadFile
    | ListFiles
    | GetLogs
    | ListKernels
    | GetAgentStatus,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------------------------------------
# Agent -> manager


class RegisterAgent(Message):
    kind: Literal["register_agent"] = "register_agent"
    Reply: ClassVar[type[Message]] = Registered
    timeout: ClassVar[float] = 30.0

    info: AgentInfo
    kernels: list[KernelSummary] = Field(default_factory=list)


class Heartbeat(Message):
    kind: Literal["heartbeat"] = "heartbeat"
    Reply: ClassVar[type[Message]] = HeartbeatAck
    timeout: ClassVar[float] = 15.0

    agent_id: str
    occupied_slots: dict[str, str]
    live_stat: LiveStat
    images_hash: str = ""  # changes when the local images change; the manager asks again
    sent_at: datetime | None = None


class PushEvents(Message):
    kind: Literal["push_events"] = "push_events"
    Reply: ClassVar[type[Message]] = Ack
    timeout: ClassVar[float] = 15.0

    agent_id: str
    events: list[AgentEvent]


class AgentGoodbye(Message):
    kind: Literal["agent_goodbye"] = "agent_goodbye"
    Reply: ClassVar[type[Message]] = Ack
    timeout: ClassVar[float] = 10.0

    agent_id: str
    reason: str = "agent-shutdown"


ManagerRequest = Annotated[
    RegisterAgent | Heartbeat | PushEvents | AgentGoodbye,
    Field(discriminator="kind"),
]

AnyReply = Annotated[
    Ack
    | RPCError
    | Registered
    | HeartbeatAck
    | KernelCreated
    | KernelDestroyed
    | ExecutionResult
    | FileArchive
    | FileList
    | KernelLogs
    | KernelList
    | AgentStatusReply,
    Field(discriminator="kind"),
]
