"""Composition root of an agent: settings -> agent (resources, runtime, restored kernels) ->
RPC endpoint (HTTP, or in-process next to the manager) -> registration and loops."""

from __future__ import annotations

from cygnet.agent.agent import Agent
from cygnet.agent.config import AgentSettings
from cygnet.agent.rpc import bind_inproc, serve_http_endpoint
from cygnet.common.clock import Clock
from cygnet.common.logging import get_logger
from cygnet.common.tasks import until_signalled
from cygnet.common.transport import InProcNetwork

log = get_logger(__name__)


async def start_agent(
    settings: AgentSettings,
    *,
    network: InProcNetwork | None = None,
    clock: Clock | None = None,
    secret: str | None = None,
) -> Agent:
    """Start an agent. With ``network`` and an ``inproc://`` manager address it serves on the
    in-process network; otherwise over HTTP on ``rpc_host:rpc_port``."""
    secret = secret or settings.rpc_secret()
    agent = Agent(settings, network=network, clock=clock)
    await agent.prepare()
    try:
        if network is not None and settings.manager.startswith("inproc://"):
            bind_inproc(agent)
        else:
            await serve_http_endpoint(agent, secret)
        await agent.connect(secret)
    except BaseException:
        await agent.stop(goodbye=False)
        raise
    return agent


async def serve(settings: AgentSettings) -> None:
    """Run an agent until SIGINT/SIGTERM (``cygnet agent serve``)."""
    agent = await start_agent(settings)
    log.info("agent %s serving RPC at %s (runtime %s)", agent.id, agent.address, agent.runtime_name)
    try:
        await until_signalled()
    finally:
        await agent.stop()
