"""The agent's RPC endpoint: dispatch of manager requests, served over HTTP (``POST /rpc``,
signed with the shared secret) or bound to an in-process network."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from pydantic import TypeAdapter

from cygnet.agent.agent import Agent
from cygnet.common import rpc
from cygnet.common.transport import listening_socket, serve_http

AGENT_REQUEST: TypeAdapter[Any] = TypeAdapter(rpc.AgentRequest)
RPC_PATH = "/rpc"


async def handle(agent: Agent, request: Any) -> rpc.Message:
    """Run one manager request against ``agent`` and return the reply model."""
    match request:
        case rpc.ExecuteCode():
            return await agent.execute(request)
        case rpc.CreateKernel():
            return await agent.create_kernel(request)
        case rpc.DestroyKernel():
            return await agent.destroy_kernel(request.kernel_id, request.reason)
        case rpc.InterruptKernel():
            await agent.interrupt(request.kernel_id)
            return rpc.Ack()
        case rpc.UploadFile():
            await agent.upload_file(request.kernel_id, request.path, rpc.decode_bytes(request.data))
            return rpc.Ack()
        case rpc.DownloadFile():
            data = await agent.download_file(request.kernel_id, request.path)
            return rpc.FileArchive(data=rpc.encode_bytes(data))
        case rpc.ListFiles():
            return await agent.list_files(request.kernel_id, request.path)
        case rpc.GetLogs():
            return rpc.KernelLogs(logs=await agent.logs(request.kernel_id))
        case rpc.ListKernels():
            return rpc.KernelList(kernels=agent.summaries())
        case rpc.GetAgentStatus():
            return agent.status()
    raise TypeError(f"unexpected request {type(request).__name__}")


def create_app(agent: Agent, secret: str) -> FastAPI:
    app = FastAPI(title="Cygnet agent RPC", docs_url=None, redoc_url=None, openapi_url=None)

    async def dispatch(request: Any) -> rpc.Message:
        return await handle(agent, request)

    @app.post(RPC_PATH)
    async def rpc_endpoint(request: Request) -> Response:
        status, body = await serve_http(
            AGENT_REQUEST, dispatch, secret, RPC_PATH, request.headers, await request.body()
        )
        return Response(body, status_code=status, media_type="application/json")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "agent": agent.id}

    return app


def bind_inproc(agent: Agent) -> str:
    """Serve ``agent`` on its in-process network as ``inproc://agent-<id>``."""
    assert agent.network is not None
    name = f"agent-{agent.id}"

    async def dispatch(request: Any) -> rpc.Message:
        return await handle(agent, request)

    agent.address = agent.network.bind(name, AGENT_REQUEST, dispatch)

    async def unbind() -> None:
        assert agent.network is not None
        agent.network.unbind(name)

    agent.on_stop.append(unbind)
    return agent.address


class _RPCServer(uvicorn.Server):
    """uvicorn without its signal handling: the agent's own handlers stop the whole agent
    (which then stops this server); uvicorn's would stop only the endpoint."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http_endpoint(agent: Agent, secret: str) -> uvicorn.Server:
    """Listen on the agent's ``rpc_host:rpc_port`` (port 0 picks a free one) and set its
    advertised address. Stops when the agent stops."""
    settings = agent.settings
    sock = listening_socket(settings.rpc_host, settings.rpc_port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(agent, secret),
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = _RPCServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"agent-{agent.id}-rpc")
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    if settings.advertised_address:
        agent.address = settings.advertised_address
    else:
        host = settings.rpc_host if settings.rpc_host not in ("0.0.0.0", "::") else None
        agent.address = settings.model_copy(
            update={"rpc_port": port, "rpc_host": host or settings.rpc_host}
        ).address()

    async def shutdown() -> None:
        server.should_exit = True
        await task
        sock.close()

    agent.on_stop.append(shutdown)
    return server
