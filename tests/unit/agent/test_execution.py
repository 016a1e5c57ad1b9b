"""KernelExecutor against a runtime double whose ``exec`` starts real local processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

import cygnet.agent.runner
from cygnet.agent.execution import KernelExecutor
from cygnet.agent.runtime.base import (
    RUNNER_DIR,
    WORKDIR,
    ExecProcess,
    KernelPoll,
    KernelSpec,
    KernelState,
    KernelStats,
    Runtime,
    StreamName,
)
from cygnet.common.errors import AgentError, Conflict, InvalidAPIParameters
from cygnet.common.rpc import ExecuteCode, ExecutionResult, ImageInfo

RUNNER = Path(cygnet.agent.runner.__file__).parent
KERNEL_ID = uuid.uuid4()


class LocalProcess(ExecProcess):
    """A local process in its own session; output re-cut into ``chunk``-byte pieces if set."""

    def __init__(self, proc: asyncio.subprocess.Process, chunk: int | None) -> None:
        self.proc = proc
        self._chunk = chunk
        self._queue: asyncio.Queue[tuple[StreamName, bytes] | None] = asyncio.Queue()
        self._open = 2
        assert proc.stdout is not None and proc.stderr is not None
        self.pumps = [
            asyncio.create_task(self._pump("stdout", proc.stdout)),
            asyncio.create_task(self._pump("stderr", proc.stderr)),
        ]

    async def _pump(self, stream: StreamName, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(65536):
            step = self._chunk or len(data)
            for start in range(0, len(data), step):
                self._queue.put_nowait((stream, data[start : start + step]))
        self._queue.put_nowait(None)

    async def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    async def read(self) -> tuple[StreamName, bytes] | None:
        while self._open:
            item = await self._queue.get()
            if item is not None:
                return item
            self._open -= 1
        return None

    async def wait(self) -> int:
        return await self.proc.wait()

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    async def dispose(self) -> None:
        await self.kill()
        await self.proc.wait()
        await asyncio.gather(*self.pumps)
        assert self.proc.stdin is not None
        self.proc.stdin.close()


class LocalRuntime(Runtime):
    """Just enough of a runtime for execution: a kernel is a working directory."""

    name: ClassVar[str] = "local-test"

    def __init__(self, chunk: int | None = None) -> None:
        self.chunk = chunk
        self.fail_exec: Exception | None = None  # raised by the next exec
        self.processes: list[LocalProcess] = []
        self.execs: list[list[str]] = []

    async def list_images(self) -> list[ImageInfo]:
        return []

    async def start(self, spec: KernelSpec) -> KernelState:
        return {"workdir": str(spec.scratch_dir)}

    async def poll(self, state: KernelState) -> KernelPoll:
        return KernelPoll(status="running")

    async def stop(self, state: KernelState, timeout: float = 10.0) -> int | None:
        return None

    async def exec(
        self,
        state: KernelState,
        argv: Sequence[str],
        environ: Mapping[str, str] | None = None,
        workdir: str = WORKDIR,
    ) -> ExecProcess:
        assert workdir == WORKDIR
        if self.fail_exec is not None:
            error, self.fail_exec = self.fail_exec, None
            raise error
        self.execs.append(list(argv))
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=state["workdir"],
            start_new_session=True,
        )
        process = LocalProcess(proc, self.chunk)
        self.processes.append(process)
        return process

    async def logs(self, state: KernelState) -> str:
        return ""

    async def stats(self, state: KernelState) -> KernelStats:
        return KernelStats()

    def kernel_path(self, state: KernelState, path: str) -> str:
        assert path.startswith(RUNNER_DIR + "/")
        return str(RUNNER / path.removeprefix(RUNNER_DIR + "/"))

    async def dispose(self) -> None:
        for process in self.processes:
            await process.dispose()


class Kernel:
    """An executor on a local runtime, with helpers that speak the execute protocol."""

    def __init__(
        self, workdir: Path, runtime_type: str = "python", chunk: int | None = None
    ) -> None:
        self.workdir = workdir
        self.runtime = LocalRuntime(chunk)
        self.executor = KernelExecutor(
            self.runtime, {"workdir": str(workdir)}, runtime_type, sys.executable
        )

    async def call(
        self,
        mode: str,
        code: str = "",
        run_id: str | None = None,
        flush_timeout: float = 10.0,
        **options: Any,
    ) -> ExecutionResult:
        request = ExecuteCode.model_validate(
            {
                "kernel_id": KERNEL_ID,
                "mode": mode,
                "code": code,
                "run_id": run_id,
                "options": options,
                "flush_timeout": flush_timeout,
            }
        )
        return await self.executor.execute(request)

    async def finish(self, result: ExecutionResult) -> tuple[list[list[str]], int | None]:
        """``continue`` a run to its end: all its console (merged) and its exit code."""
        console = wire(result)
        async with asyncio.timeout(60):  # a run that never ends fails the test
            while result.status == "continued":
                result = await self.call("continue", run_id=result.run_id)
                console = merge(console + wire(result))
        assert result.status == "finished", result
        return console, result.exit_code

    async def close(self) -> None:
        await self.executor.close()
        await self.runtime.dispose()


def wire(result: ExecutionResult) -> list[list[str]]:
    console: list[list[str]] = result.model_dump(mode="json")["console"]
    return console


def merge(console: list[list[str]]) -> list[list[str]]:
    merged: list[list[str]] = []
    for stream, text in console:
        if merged and merged[-1][0] == stream:
            merged[-1] = [stream, merged[-1][1] + text]
        else:
            merged.append([stream, text])
    return merged


def stdout(console: list[list[str]]) -> str:
    return "".join(text for stream, text in console if stream == "stdout")


@pytest.fixture
async def kernel(tmp_path: Path) -> AsyncIterator[Kernel]:
    kernel = Kernel(tmp_path)
    yield kernel
    await kernel.close()


# -- query mode: the wire notes' expectations -------------------------------------------------


async def test_hello_world(kernel: Kernel) -> None:
    result = await kernel.call("query", 'print("Hello, world!")')
    assert (result.status, result.exit_code) == ("finished", 0)
    assert wire(result) == [["stdout", "Hello, world!\n"]]
    assert len(result.run_id) == 32  # a fresh uuid hex
    assert kernel.runtime.execs == [[sys.executable, "-u", str(RUNNER / "repl.py")]]


async def test_expression_is_echoed_without_newline(kernel: Kernel) -> None:
    result = await kernel.call("query", "1 + 1")
    assert (result.status, result.exit_code, wire(result)) == ("finished", 0, [["stdout", "2"]])


async def test_bad_statement(kernel: Kernel) -> None:
    result = await kernel.call("query", "this is not python")
    assert (result.status, result.exit_code) == ("finished", 1)
    assert wire(result)[0][0] == "stderr"
    result = await kernel.call("query", "undefined_name")
    assert result.exit_code == 1
    assert wire(result)[0][0] == "stderr" and "NameError" in wire(result)[0][1]


async def test_sys_exit(kernel: Kernel) -> None:
    result = await kernel.call("query", "import sys\nsys.exit(2)")
    assert (result.status, result.exit_code) == ("finished", 2)
    assert wire(result)[0][0] == "stderr"


async def test_state_persists(kernel: Kernel) -> None:
    assert (await kernel.call("query", "x = 20")).console == []
    assert wire(await kernel.call("query", "x + 22")) == [["stdout", "42"]]
    assert len(kernel.runtime.execs) == 1  # one REPL for both


async def test_given_run_id_is_kept(kernel: Kernel) -> None:
    result = await kernel.call("query", "3", run_id="my-run")
    assert (result.run_id, wire(result)) == ("my-run", [["stdout", "3"]])


async def test_stdout_and_stderr_are_separate(kernel: Kernel) -> None:
    code = "import sys\nprint('out')\nprint('err', file=sys.stderr)\nprint('out2')"
    result = await kernel.call("query", code)
    assert wire(result) == [["stdout", "out\n"], ["stderr", "err\n"], ["stdout", "out2\n"]]


async def test_input_round_trip(kernel: Kernel) -> None:
    result = await kernel.call("query", 'name = input("name? ")\nprint("hi", name)')
    assert result.status == "waiting-input"
    assert (result.exit_code, result.options) == (None, {"is_password": False})
    assert wire(result) == [["stdout", "name? "]]
    again = await kernel.call("continue", run_id=result.run_id, flush_timeout=0.05)
    assert (again.status, again.console) == ("waiting-input", [])  # still waiting, no repeat
    done = await kernel.call("input", "bob", run_id=result.run_id)
    assert (done.run_id, done.status, done.exit_code) == (result.run_id, "finished", 0)
    assert wire(done) == [["stdout", "hi bob\n"]]


async def test_password_input(kernel: Kernel) -> None:
    result = await kernel.call("query", "import getpass\npw = getpass.getpass('pin: ')")
    assert (result.status, result.options) == ("waiting-input", {"is_password": True})
    assert wire(result) == [["stdout", "pin: "]]
    done = await kernel.call("input", "1234", run_id=result.run_id)
    assert (done.status, done.exit_code) == ("finished", 0)
    assert wire(await kernel.call("query", "pw")) == [["stdout", "'1234'"]]


async def test_interrupt_while_waiting_for_input(kernel: Kernel) -> None:
    result = await kernel.call("query", "input('? ')")
    assert result.status == "waiting-input"
    await kernel.executor.interrupt()
    done = await kernel.call("continue", run_id=result.run_id)
    assert (done.status, done.exit_code) == ("finished", 1)
    assert wire(done)[-1][0] == "stderr" and wire(done)[-1][1].endswith("KeyboardInterrupt\n")


async def test_long_run_is_continued_without_losing_output(kernel: Kernel) -> None:
    gate = kernel.workdir / "gate"
    code = (
        "import os, time\n"
        "print('before')\n"
        "while not os.path.exists('gate'):\n"
        "    time.sleep(0.01)\n"
        "print('after')\n"
    )
    result = await kernel.call("query", code, flush_timeout=0.2)
    assert (result.status, result.exit_code) == ("continued", None)
    console = wire(result)
    while stdout(console) != "before\n":  # whatever came by the first flush, the rest follows
        result = await kernel.call("continue", run_id=result.run_id, flush_timeout=0.2)
        assert result.status == "continued"
        console += wire(result)
    gate.touch()
    rest, exit_code = await kernel.finish(await kernel.call("continue", run_id=result.run_id))
    assert (stdout(console + rest), exit_code) == ("before\nafter\n", 0)


async def test_chatty_run_collected_in_many_steps(kernel: Kernel) -> None:
    code = "import time\nfor i in range(40):\n    print(i)\n    time.sleep(0.005)\n"
    result = await kernel.call("query", code, flush_timeout=0.02)
    console, exit_code = await kernel.finish(result)
    assert (stdout(console), exit_code) == ("".join(f"{i}\n" for i in range(40)), 0)


async def test_one_run_at_a_time(kernel: Kernel) -> None:
    first = await kernel.call("query", "import time\ntime.sleep(600)", flush_timeout=0.05)
    assert first.status == "continued"
    with pytest.raises(Conflict, match=first.run_id):
        await kernel.call("query", "1")
    with pytest.raises(Conflict):
        await kernel.call("batch", "echo hi")
    await kernel.executor.interrupt()
    console, exit_code = await kernel.finish(await kernel.call("continue", run_id=first.run_id))
    assert exit_code == 1
    assert console[-1][0] == "stderr" and console[-1][1].endswith("KeyboardInterrupt\n")
    assert wire(await kernel.call("query", "'free again'")) == [["stdout", "'free again'"]]


async def test_unknown_run_ids(kernel: Kernel) -> None:
    with pytest.raises(InvalidAPIParameters, match="nope"):
        await kernel.call("continue", run_id="nope")
    with pytest.raises(InvalidAPIParameters, match="nope"):
        await kernel.call("input", "x", run_id="nope")
    with pytest.raises(InvalidAPIParameters, match="runId"):
        await kernel.call("continue")
    done = await kernel.call("query", "1")
    with pytest.raises(InvalidAPIParameters):  # a finished, collected run is gone
        await kernel.call("continue", run_id=done.run_id)


async def test_repl_restart_is_reported(kernel: Kernel) -> None:
    await kernel.call("query", "x = 1")
    died = await kernel.call("query", "import os\nos._exit(3)")
    assert (died.status, died.exit_code) == ("finished", 3)
    assert "exited with status 3" in wire(died)[-1][1]
    result = await kernel.call("query", "'x' in globals()")
    assert result.exit_code == 0
    assert wire(result)[0][0] == "stderr" and "restarted" in wire(result)[0][1]
    assert wire(result)[1:] == [["stdout", "False"]]
    assert len(kernel.runtime.execs) == 2


async def test_query_mode_needs_a_python_image(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path, runtime_type="shell")
    try:
        with pytest.raises(InvalidAPIParameters, match="batch mode"):
            await kernel.call("query", "1")
        result = await kernel.call("batch", "echo ok")
        assert (result.exit_code, wire(result)) == (0, [["stdout", "ok\n"]])
    finally:
        await kernel.close()


async def test_close_kills_the_repl(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path)
    first = await kernel.call("query", "import time\ntime.sleep(600)", flush_timeout=0.05)
    assert first.status == "continued"
    await kernel.executor.close()
    repl = kernel.runtime.processes[0].proc
    assert repl.returncode == -signal.SIGKILL
    await kernel.executor.close()  # idempotent
    await kernel.runtime.dispose()


# -- batch mode ------------------------------------------------------------------------------


async def test_batch_build_then_exec(kernel: Kernel) -> None:
    result = await kernel.call(
        "batch", "ignored", build="echo building > built.txt; echo built", exec="cat built.txt"
    )
    assert (result.status, result.exit_code) == ("finished", 0)
    assert wire(result) == [["stdout", "built\nbuilding\n"]]
    assert kernel.runtime.execs[-2:] == [
        ["/bin/sh", "-c", "echo building > built.txt; echo built"],
        ["/bin/sh", "-c", "cat built.txt"],
    ]


async def test_batch_failing_build_stops_before_exec(kernel: Kernel) -> None:
    result = await kernel.call("batch", build="echo nope >&2; exit 3", exec="echo never")
    assert (result.exit_code, wire(result)) == (3, [["stderr", "nope\n"]])
    assert len(kernel.runtime.execs) == 1


async def test_batch_default_exec_runs_the_code(kernel: Kernel) -> None:
    result = await kernel.call("batch", "echo out; echo err >&2; exit 4", build="*", exec="*")
    assert (result.exit_code, wire(result)) == (4, [["stdout", "out\n"], ["stderr", "err\n"]])
    assert kernel.runtime.execs == [["/bin/sh", "-c", "echo out; echo err >&2; exit 4"]]


async def test_batch_needs_a_command(kernel: Kernel) -> None:
    with pytest.raises(InvalidAPIParameters):
        await kernel.call("batch", "  ", exec="*")


async def test_batch_input_goes_to_stdin(kernel: Kernel) -> None:
    result = await kernel.call("batch", "read line; echo got $line", flush_timeout=0.1)
    assert (result.status, result.console) == ("continued", [])
    done = await kernel.call("input", "hello", run_id=result.run_id)
    assert (done.status, done.exit_code, wire(done)) == ("finished", 0, [["stdout", "got hello\n"]])


async def test_batch_interrupt_kills_the_step(kernel: Kernel) -> None:
    result = await kernel.call("batch", "echo start; sleep 600; echo never", flush_timeout=0.05)
    while stdout(wire(result)) != "start\n":
        assert result.status == "continued"
        result = await kernel.call("continue", run_id=result.run_id, flush_timeout=0.05)
    await kernel.executor.interrupt()
    console, exit_code = await kernel.finish(await kernel.call("continue", run_id=result.run_id))
    assert (console, exit_code) == ([], 128 + signal.SIGKILL)


async def test_runtime_failures_are_errors(kernel: Kernel) -> None:
    kernel.runtime.fail_exec = AgentError("the container is gone")
    with pytest.raises(AgentError, match="the container is gone"):
        await kernel.call("batch", "echo hi")
    kernel.runtime.fail_exec = AgentError("the container is gone")
    with pytest.raises(AgentError, match="the container is gone"):
        await kernel.call("query", "1")
    assert wire(await kernel.call("query", "1")) == [["stdout", "1"]]  # the kernel is free


# -- decoding ----------------------------------------------------------------------------------


async def test_multibyte_characters_split_across_reads(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path, chunk=1)  # every read returns a single byte
    try:
        result = await kernel.call("batch", r"printf 'caf\303\251 \352\260\200\n'")
        assert wire(result) == [["stdout", "café 가\n"]]
        result = await kernel.call("query", "print('가나다')\n'é'")
        assert wire(result) == [["stdout", "가나다\n'é'"]]
    finally:
        await kernel.close()


async def test_large_output(kernel: Kernel) -> None:
    result = await kernel.call("query", "print('x' * 300_000)\nfor i in range(2000):\n    print(i)")
    expected = "x" * 300_000 + "\n" + "".join(f"{i}\n" for i in range(2000))
    assert (result.exit_code, wire(result)) == (0, [["stdout", expected]])


async def test_multibyte_character_split_across_calls(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path, chunk=1)
    try:
        code = r"printf 'a\352'; while [ ! -e gate ]; do sleep 0.01; done; printf '\260\200\n'"
        result = await kernel.call("batch", code, flush_timeout=0.1)
        console = wire(result)
        while stdout(console) != "a":
            assert result.status == "continued" and "\ufffd" not in stdout(console)
            result = await kernel.call("continue", run_id=result.run_id, flush_timeout=0.1)
            console += wire(result)
        (tmp_path / "gate").touch()
        rest, exit_code = await kernel.finish(await kernel.call("continue", run_id=result.run_id))
        assert (stdout(console + rest), exit_code) == ("a가\n", 0)
    finally:
        await kernel.close()
