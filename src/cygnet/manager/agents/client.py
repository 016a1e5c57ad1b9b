"""Typed calls from the manager to one agent."""

from __future__ import annotations

import uuid
from typing import Any

from cygnet.common import rpc
from cygnet.common.transport import RPCClient


class AgentClient:
    def __init__(self, agent_id: str, rpc_client: RPCClient) -> None:
        self.agent_id = agent_id
        self.rpc = rpc_client

    @property
    def address(self) -> str:
        return self.rpc.address

    async def create_kernel(self, request: rpc.CreateKernel) -> rpc.KernelCreated:
        return await self.rpc.call(request, rpc.KernelCreated)

    async def destroy_kernel(
        self, kernel_id: uuid.UUID, reason: str = "user-requested"
    ) -> rpc.KernelDestroyed:
        return await self.rpc.call(
            rpc.DestroyKernel(kernel_id=kernel_id, reason=reason), rpc.KernelDestroyed
        )

    async def execute(
        self,
        kernel_id: uuid.UUID,
        mode: rpc.ExecMode,
        code: str = "",
        run_id: str | None = None,
        options: dict[str, Any] | None = None,
        flush_timeout: float = 2.0,
    ) -> rpc.ExecutionResult:
        request = rpc.ExecuteCode(
            kernel_id=kernel_id,
            mode=mode,
            code=code,
            run_id=run_id,
            options=options or {},
            flush_timeout=flush_timeout,
        )
        return await self.rpc.call(request, rpc.ExecutionResult, timeout=flush_timeout + 30)

    async def interrupt(self, kernel_id: uuid.UUID) -> None:
        await self.rpc.call(rpc.InterruptKernel(kernel_id=kernel_id), rpc.Ack)

    async def upload_file(self, kernel_id: uuid.UUID, path: str, data: bytes) -> None:
        request = rpc.UploadFile(kernel_id=kernel_id, path=path, data=rpc.encode_bytes(data))
        await self.rpc.call(request, rpc.Ack)

    async def download_file(self, kernel_id: uuid.UUID, path: str) -> bytes:
        reply = await self.rpc.call(
            rpc.DownloadFile(kernel_id=kernel_id, path=path), rpc.FileArchive
        )
        return rpc.decode_bytes(reply.data)

    async def list_files(self, kernel_id: uuid.UUID, path: str = ".") -> rpc.FileList:
        return await self.rpc.call(rpc.ListFiles(kernel_id=kernel_id, path=path), rpc.FileList)

    async def logs(self, kernel_id: uuid.UUID) -> str:
        reply = await self.rpc.call(rpc.GetLogs(kernel_id=kernel_id), rpc.KernelLogs)
        return reply.logs

    async def list_kernels(self) -> list[rpc.KernelSummary]:
        reply = await self.rpc.call(rpc.ListKernels(), rpc.KernelList)
        return reply.kernels

    async def status(self) -> rpc.AgentStatusReply:
        return await self.rpc.call(rpc.GetAgentStatus(), rpc.AgentStatusReply)
