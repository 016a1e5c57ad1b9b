"""What an agent restarted on the same data directory makes of the kernel records it finds: a
RUNNING kernel is re-attached, one that was still being created (PREPARING) is cleaned up and
reported failed. The restart is a second ``Agent`` on the first one's directory, as after a
``kill -9``; the simulated runtime needs neither a manager nor processes."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from cygnet.agent.agent import Agent
from cygnet.agent.config import AgentSettings
from cygnet.agent.runtime.base import KernelSpec
from cygnet.common import rpc
from cygnet.common.events import KernelFailed
from cygnet.common.lifecycle import KernelRunState

IMAGE = "cygnet/python:3.11"

AgentFactory = Callable[[], Coroutine[Any, Any, Agent]]


@pytest.fixture
async def new_agent(tmp_path: Path) -> AsyncIterator[AgentFactory]:
    """Prepared agents, all on ``tmp_path`` (each new one is the previous one restarted)."""
    agents: list[Agent] = []

    async def make() -> Agent:
        settings = AgentSettings.load(
            id="restored",
            manager="inproc://manager",
            data_dir=tmp_path,
            runtime="simulated",
            cpus=[0, 1],
            memory="4g",
        )
        agent = Agent(settings)
        await agent.prepare()
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        await agent.stop(goodbye=False)


def _request(**overrides: Any) -> rpc.CreateKernel:
    fields: dict[str, Any] = {
        "kernel_id": uuid.uuid4(),
        "session_id": uuid.uuid4(),
        "owner_access_key": "AKIATEST",
        "image": IMAGE,
        "resources": {"cpu": "1", "mem": "256m"},
    }
    return rpc.CreateKernel(**(fields | overrides))


def _records(agent: Agent) -> list[Path]:
    return sorted(agent.data_dir.joinpath("kernels").glob("*.json"))


async def test_a_running_kernel_is_reattached(new_agent: AgentFactory) -> None:
    first = await new_agent()
    request = _request()
    created = await first.create_kernel(request)

    second = await new_agent()

    record = second.kernels[request.kernel_id]
    assert record.state == KernelRunState.RUNNING
    assert second.occupied().to_json() == created.occupied_slots
    assert not any(isinstance(e, KernelFailed) for e in second._outbox)


async def test_a_kernel_being_created_is_cleaned_up_and_reported_failed(
    new_agent: AgentFactory,
) -> None:
    first = await new_agent()
    assert first.runtime is not None
    entered, never = asyncio.Event(), asyncio.Event()

    async def start_that_hangs(spec: KernelSpec) -> dict[str, Any]:
        spec.scratch_dir.mkdir(parents=True)  # as a runtime whose kernels run code has it
        entered.set()
        await never.wait()
        return {}

    first.runtime.start = start_that_hangs  # type: ignore[method-assign]
    request = _request()
    creating = asyncio.create_task(first.create_kernel(request))
    await entered.wait()
    # The agent "dies" here: the kernel's record says it was being created.
    [path] = _records(first)
    assert f'"state": "{KernelRunState.PREPARING}"' in path.read_text()
    scratch = first.kernels[request.kernel_id].scratch_dir
    assert _is_dir(scratch)

    second = await new_agent()

    assert request.kernel_id not in second.kernels
    assert _records(second) == []
    assert not _is_dir(scratch)
    assert second.occupied().get_or_zero("cpu") == 0
    [failed] = [e for e in second._outbox if isinstance(e, KernelFailed)]
    assert (failed.kernel_id, failed.session_id) == (request.kernel_id, request.session_id)
    # And the kernel can be created again on the restarted agent.
    created = await second.create_kernel(request)
    assert created.kernel_id == request.kernel_id
    creating.cancel()
    with pytest.raises(asyncio.CancelledError):
        await creating


async def test_a_simulated_interactive_kernel_answers_its_first_query_plainly(
    new_agent: AgentFactory,
) -> None:
    agent = await new_agent()
    request = _request()
    await agent.create_kernel(request)
    for _ in range(3):
        await asyncio.sleep(0)

    result = await agent.execute(
        rpc.ExecuteCode(kernel_id=request.kernel_id, mode="query", code="1 + 1")
    )

    # Without a REPL started (and gone) ahead of it, nothing says the REPL "had stopped".
    assert "had stopped" not in str(result.console)
    await agent.destroy_kernel(request.kernel_id, "test-done")


async def test_a_simulated_kernel_gets_its_scratch_dir_when_files_first_move(
    new_agent: AgentFactory,
) -> None:
    agent = await new_agent()
    request = _request()
    await agent.create_kernel(request)
    scratch = agent.kernels[request.kernel_id].scratch_dir
    assert not _is_dir(scratch)  # nothing in a simulated kernel needs it

    assert (await agent.list_files(request.kernel_id, ".")).files == []
    await agent.upload_file(request.kernel_id, "in/data.txt", b"hello")
    listing = await agent.list_files(request.kernel_id, "in")
    assert [f.filename for f in listing.files] == ["data.txt"]
    assert (Path(scratch) / "in" / "data.txt").read_bytes() == b"hello"

    await agent.destroy_kernel(request.kernel_id, "test-done")
    assert not _is_dir(scratch)


def _is_dir(path: str) -> bool:
    return os.path.isdir(path)
