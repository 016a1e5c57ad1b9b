"""Code execution inside a kernel: the Backend.AI ``execute`` protocol on top of ``Runtime.exec``.

One ``KernelExecutor`` per kernel holds at most one *run* at a time:

* ``query`` runs a cell in a persistent Python REPL (``runner/repl.py``, started lazily with
  the image's interpreter; its JSON-lines protocol is described there), so state persists
  between runs. Only ``python`` images (label ``ai.backend.runtime-type``) have it.
* ``batch`` runs shell commands (``options.clean``, ``options.build``, then ``options.exec`` or
  ``code``) one after another with ``/bin/sh -c``, stopping at the first that fails.
* ``continue`` collects more output of the current run, ``input`` feeds it a line.

Every call returns when the run finished, waits for input, or ``flush_timeout`` seconds passed,
with the output gathered since the previous call (none lost, none repeated).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import uuid
from typing import Any, Literal

from cygnet.agent.runtime.base import RUNNER_DIR, ExecProcess, KernelState, Runtime, StreamName
from cygnet.common.errors import AgentError, Conflict, CygnetError, InvalidAPIParameters
from cygnet.common.rpc import ExecuteCode, ExecutionResult

log = logging.getLogger(__name__)

REPL_SCRIPT = f"{RUNNER_DIR}/repl.py"
PYTHON_RUNTIME = "python"
_KILL_WAIT = 5.0  # seconds to wait for a killed process to be reaped


def _exit_status(code: int) -> int:
    """A shell-style exit status: 128 + N for a process killed by signal N."""
    return 128 - code if code < 0 else code


class _Decoder:
    """Incremental UTF-8 decoding per stream: a character split across reads is kept whole."""

    def __init__(self) -> None:
        self._decoders: dict[StreamName, codecs.IncrementalDecoder] = {}

    def decode(self, stream: StreamName, data: bytes, final: bool = False) -> str:
        decoder = self._decoders.get(stream)
        if decoder is None:
            decoder = self._decoders[stream] = codecs.getincrementaldecoder("utf-8")("replace")
        return decoder.decode(data, final)

    def finish(self) -> list[tuple[StreamName, str]]:
        return [(stream, self.decode(stream, b"", final=True)) for stream in self._decoders]


class _Run:
    """One run's output not yet handed out, and where it stands."""

    def __init__(self, run_id: str, kind: Literal["query", "batch"]) -> None:
        self.run_id = run_id
        self.kind = kind
        self.exit_code: int | None = None
        self.waiting: bool | None = None  # while waiting for input: whether it is a password
        self.error: CygnetError | None = None
        self.interrupted = False
        self.proc: ExecProcess | None = None  # batch: the step now running
        self.task: asyncio.Task[None] | None = None  # batch: the steps
        self.changed = asyncio.Event()
        self._console: list[tuple[StreamName, str]] = []

    @property
    def finished(self) -> bool:
        return self.exit_code is not None or self.error is not None

    def emit(self, stream: StreamName, text: str) -> None:
        if text and not self.finished:
            self._console.append((stream, text))
            self.changed.set()

    def wait_input(self, prompt: str, password: bool) -> None:
        self.emit("stdout", prompt)
        self.waiting = password
        self.changed.set()

    def finish(self, exit_code: int) -> None:
        if not self.finished:
            self.exit_code = exit_code
            self.waiting = None
            self.changed.set()

    def fail(self, error: CygnetError) -> None:
        if not self.finished:
            self.error = error
            self.changed.set()

    def take_console(self) -> list[tuple[str, Any]]:
        """The output gathered since the last call, consecutive chunks of a stream merged."""
        merged: list[tuple[str, Any]] = []
        for stream, text in self._console:
            if merged and merged[-1][0] == stream:
                merged[-1] = (stream, merged[-1][1] + text)
            else:
                merged.append((stream, text))
        self._console = []
        return merged


class KernelExecutor:
    """Runs code in one kernel. Calls are served one at a time; ``interrupt`` and ``close``
    may come at any moment."""

    def __init__(
        self,
        runtime: Runtime,
        state: KernelState,
        runtime_type: str,
        runtime_path: str | None,
    ) -> None:
        self._runtime = runtime
        self._state = state
        self._runtime_type = runtime_type
        self._runtime_path = runtime_path
        self._lock = asyncio.Lock()
        self._run: _Run | None = None
        self._repl: ExecProcess | None = None
        self._repl_reader: asyncio.Task[None] | None = None
        self._repl_lost: int | None = None  # exit status of a REPL that died, until restarted
        self._closed = False

    @property
    def supports_query(self) -> bool:
        return self._runtime_type == PYTHON_RUNTIME and bool(self._runtime_path)

    async def execute(self, request: ExecuteCode) -> ExecutionResult:
        async with self._lock:
            if self._closed:
                raise AgentError("the kernel's executor is closed")
            if request.mode in ("query", "batch"):
                run = await self._start(request)
            else:
                run = self._current(request.run_id, request.mode)
                if request.mode == "input":
                    await self._send_input(run, request.code)
            return await self._collect(run, request.flush_timeout)

    async def interrupt(self) -> None:
        """Interrupt the current run: ``KeyboardInterrupt`` in the REPL; a batch step is killed."""
        run = self._run
        if run is None or run.finished:
            return
        run.waiting = None  # an interrupted run waits for nothing: collect its end instead
        if run.kind == "query":
            if self._repl is not None:
                with contextlib.suppress(OSError, CygnetError):
                    await self._repl_send({"op": "interrupt"})
            return
        run.interrupted = True
        if run.proc is not None:
            await run.proc.kill()

    async def close(self) -> None:
        """Kill the REPL and any running step. Idempotent."""
        self._closed = True
        run, self._run = self._run, None
        if run is not None:
            run.fail(AgentError("the kernel's executor was closed"))
            if run.proc is not None:
                await self._kill(run.proc)
            if run.task is not None:
                run.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run.task
        await self._stop_repl()

    # -- starting runs --------------------------------------------------------------------------

    async def _start(self, request: ExecuteCode) -> _Run:
        current = self._run
        if current is not None and not current.finished:
            raise Conflict(
                f"run {current.run_id} is still in progress in this kernel: collect its output "
                "with mode 'continue', answer it with mode 'input', or interrupt it first"
            )
        run_id = request.run_id or uuid.uuid4().hex
        if request.mode == "batch":
            steps = _batch_steps(request)
            run = _Run(run_id, "batch")
            self._run = run
            run.task = asyncio.create_task(self._run_batch(run, steps))
            return run
        if not self.supports_query:
            raise InvalidAPIParameters(
                f"query mode needs a Python image (ai.backend.runtime-type={PYTHON_RUNTIME!r} and "
                f"a runtime path); this kernel's image has runtime type "
                f"{self._runtime_type!r}: use batch mode instead"
            )
        run = _Run(run_id, "query")
        await self._ensure_repl(run)
        self._run = run
        try:
            await self._repl_send({"op": "run", "code": request.code})
        except (OSError, CygnetError) as exc:
            self._run = None
            await self._stop_repl()
            raise AgentError(f"could not send the code to the kernel's Python REPL: {exc}") from exc
        return run

    def _current(self, run_id: str | None, mode: str) -> _Run:
        if run_id is None:
            raise InvalidAPIParameters(f"mode {mode!r} needs the runId of a run")
        run = self._run
        if run is None or run.run_id != run_id:
            raise InvalidAPIParameters(f"no run {run_id!r} is in progress in this kernel")
        return run

    async def _send_input(self, run: _Run, line: str) -> None:
        if run.finished:
            return
        run.waiting = None
        # a process that is gone cannot take input; collecting then reports how it ended
        with contextlib.suppress(OSError):
            if run.kind == "query":
                await self._repl_send({"op": "input", "line": line})
            elif run.proc is not None:
                await run.proc.write(f"{line}\n".encode())

    async def _collect(self, run: _Run, flush_timeout: float) -> ExecutionResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + flush_timeout
        while not run.finished and run.waiting is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            run.changed.clear()
            try:
                async with asyncio.timeout(remaining):
                    await run.changed.wait()
            except TimeoutError:
                break
        console = run.take_console()
        if run.finished and self._run is run:
            self._run = None
        if run.error is not None:
            raise run.error
        if run.exit_code is not None:
            return ExecutionResult(
                run_id=run.run_id, status="finished", exit_code=run.exit_code, console=console
            )
        if run.waiting is not None:
            return ExecutionResult(
                run_id=run.run_id,
                status="waiting-input",
                console=console,
                options={"is_password": run.waiting},
            )
        return ExecutionResult(run_id=run.run_id, status="continued", console=console)

    # -- batch mode -----------------------------------------------------------------------------

    async def _run_batch(self, run: _Run, steps: list[str]) -> None:
        status = 0
        try:
            for command in steps:
                if run.interrupted:
                    status = status or 130
                    break
                proc = await self._runtime.exec(self._state, ["/bin/sh", "-c", command])
                run.proc = proc
                try:
                    if run.interrupted:
                        await proc.kill()
                    decoder = _Decoder()
                    while (chunk := await proc.read()) is not None:
                        run.emit(chunk[0], decoder.decode(*chunk))
                    for stream, text in decoder.finish():
                        run.emit(stream, text)
                    status = _exit_status(await proc.wait())
                finally:
                    run.proc = None
                if status != 0:
                    break
        except CygnetError as exc:
            run.fail(exc)
        except Exception as exc:
            log.warning("a batch run failed in the runtime: %r", exc)
            run.fail(AgentError(f"could not run the batch command in the kernel: {exc}"))
        else:
            run.finish(status)

    # -- the REPL -------------------------------------------------------------------------------

    async def warm_up(self) -> None:
        """Start the Python REPL ahead of the first query, so that a kernel's first cell
        does not wait for the interpreter to start. Failures are left to that first query."""
        if not self.supports_query:
            return
        async with self._lock:
            if self._repl is None and not self._closed:
                try:
                    await self._ensure_repl(_Run("warm-up", "query"))
                except Exception as exc:
                    log.debug("could not start the Python REPL ahead of time: %r", exc)

    async def _ensure_repl(self, run: _Run) -> None:
        if self._repl is not None:
            return
        if self._repl_lost is not None:
            run.emit(
                "stderr",
                f"(the Python REPL had stopped with exit status {self._repl_lost} and was "
                "restarted: names defined before are gone)\n",
            )
        assert self._runtime_path is not None
        script = self._runtime.kernel_path(self._state, REPL_SCRIPT)
        proc = await self._runtime.exec(self._state, [self._runtime_path, "-u", script])
        self._repl = proc
        self._repl_lost = None
        self._repl_reader = asyncio.create_task(self._read_repl(proc))

    async def _repl_send(self, request: dict[str, Any]) -> None:
        if self._repl is None:
            raise AgentError("the kernel's Python REPL is not running")
        await self._repl.write(json.dumps(request).encode() + b"\n")

    async def _read_repl(self, proc: ExecProcess) -> None:
        """Turn the REPL's frames into run output until it exits."""
        try:
            await self._pump_frames(proc)
            status = _exit_status(await proc.wait())
            note = f"the Python REPL exited with status {status}"
        except Exception as exc:  # the runtime lost the process: treat it as gone
            log.warning("lost the Python REPL of a kernel: %r", exc)
            await self._kill(proc)
            status = 1
            note = f"lost the Python REPL: {exc}"
        if self._repl is proc:
            self._repl = None
            self._repl_reader = None
            self._repl_lost = status
        run = self._run
        if run is not None and run.kind == "query" and not run.finished:
            run.emit("stderr", f"\n({note})\n")
            run.finish(status)

    async def _pump_frames(self, proc: ExecProcess) -> None:
        buffer = bytearray()
        decoder = _Decoder()  # for what the REPL itself writes to stderr (a crash)
        while (chunk := await proc.read()) is not None:
            stream, data = chunk
            if stream == "stderr":
                if self._run is not None and self._run.kind == "query":
                    self._run.emit("stderr", decoder.decode("stderr", data))
                continue
            scan = len(buffer)  # what is already in the buffer holds no newline
            buffer += data
            start = 0
            while (end := buffer.find(b"\n", scan)) >= 0:
                self._on_frame(buffer[start:end])
                start = scan = end + 1
            del buffer[:start]
        if buffer:
            self._on_frame(buffer)

    def _on_frame(self, line: bytes | bytearray) -> None:
        run = self._run if self._run is not None and self._run.kind == "query" else None
        try:
            frame = json.loads(line)
            kind = frame["t"]
        except (ValueError, KeyError, TypeError):
            # not a frame: something wrote to the protocol stream; keep it as output
            if run is not None:
                run.emit("stdout", line.decode("utf-8", "replace") + "\n")
            return
        if kind in ("stdout", "stderr"):
            if run is not None:
                run.emit(kind, str(frame.get("d", "")))
        elif kind == "input":
            if run is not None:
                run.wait_input(str(frame.get("prompt", "")), bool(frame.get("password")))
        elif kind == "done":
            if run is not None:
                run.finish(int(frame.get("exit", 1)))
        elif kind == "error":
            log.warning("the Python REPL refused a request: %s", frame.get("msg"))
        elif kind != "ready":
            log.debug("unknown REPL frame %r", kind)

    async def _stop_repl(self) -> None:
        proc, reader = self._repl, self._repl_reader
        self._repl = self._repl_reader = None
        if proc is not None:
            await self._kill(proc)
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    @staticmethod
    async def _kill(proc: ExecProcess) -> None:
        with contextlib.suppress(OSError, CygnetError):
            await proc.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_KILL_WAIT):
                    await proc.wait()


def _batch_steps(request: ExecuteCode) -> list[str]:
    """The shell commands of a batch run: clean and build when given, then exec (or the code)."""
    options = request.options
    steps = [
        str(options[name])
        for name in ("clean", "build")
        if isinstance(options.get(name), str) and options[name].strip() not in ("", "*")
    ]
    command = options.get("exec")
    if isinstance(command, str) and command.strip() not in ("", "*"):
        steps.append(command)
    elif request.code.strip():
        steps.append(request.code)
    if not steps:
        raise InvalidAPIParameters(
            "batch mode needs a command: options.exec (or code), or options.build"
        )
    return steps
