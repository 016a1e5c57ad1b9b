"""A persistent Python REPL driven over stdin/stdout with JSON lines (Cygnet's kernel runner).

The agent starts ``python3 -u /opt/cygnet/repl.py`` inside a kernel and talks to it through the
process's stdin and stdout. The script is self-contained and uses only the standard library, so
it runs on any Python >= 3.8.

Requests (agent -> REPL), one JSON object per line on stdin:

* ``{"op": "run", "code": "..."}``: run a cell. Cells run one after another, in the order they
  arrive, in one ``__main__`` namespace that persists between them.
* ``{"op": "input", "line": "..."}``: the answer to an ``input`` frame: ``input()`` (or
  ``getpass.getpass()``, or ``sys.stdin.readline()``) returns ``line``. A line sent while nothing
  waits for input is kept for the next read (type-ahead).
* ``{"op": "interrupt"}``: raise ``KeyboardInterrupt`` in the running cell (also while it sleeps
  or waits for input); when no cell runs yet, in the next cell queued (so an interrupt sent
  right after a ``run`` is never lost). Ignored when no cell runs or waits to run.

Frames (REPL -> agent), one JSON object per line on stdout (ASCII only), in this order per cell:

* ``{"t": "ready", "version": 1, "python": "3.11.7", "pid": 123}``: once, at start-up.
* ``{"t": "stdout", "d": "..."}`` and ``{"t": "stderr", "d": "..."}``: output, sent as it is
  produced, in the order it was produced on each stream (and across both streams for output
  written through ``sys.stdout``/``sys.stderr``).
* ``{"t": "input", "prompt": "...", "password": false}``: the cell waits for an ``input``
  request (``password`` is true for ``getpass``); the prompt is not sent as output.
* ``{"t": "done", "exit": 0}``: the cell ended; every byte of its output came before. ``exit``
  is 0 on success, 1 for an exception (its traceback went to stderr, including
  ``KeyboardInterrupt`` after an interrupt) and ``n`` for ``sys.exit(n)`` (preceded by
  ``SystemExit: n`` on stderr). The REPL keeps running after all of them.
* ``{"t": "error", "msg": "..."}``: a request could not be understood; nothing was run.

As in the interactive interpreter, when a cell ends with a bare expression whose value is not
``None``, ``repr(value)`` is written to stdout (with no newline) and bound to ``_``.

Output of child processes and C code is captured too: fds 1 and 2 are pipes that threads drain
into ``stdout``/``stderr`` frames (and ``sys.stdout``/``sys.stderr`` drain them before each of
their own writes, to keep the order), while frames go out on a private duplicate of the
original stdout, so nothing a cell does can corrupt the protocol. Fd 0 is ``/dev/null``; the
requests arrive on a private duplicate of the original stdin. The REPL exits when its stdin
closes.
"""

from __future__ import annotations

import ast
import builtins
import codecs
import getpass
import io
import json
import linecache
import os
import queue
import select
import signal
import sys
import threading
import traceback
import types
from typing import Any, TextIO, cast

PROTOCOL_VERSION = 1
_OWN_FILE = (lambda: None).__code__.co_filename  # frames from this file are not the user's
_READ_SIZE = 65536
_DRAIN_LIMIT = 1 << 20  # bytes taken from one fd per drain, so a noisy child cannot stall us
_FRAME_BACKLOG = 1024  # frames queued before writers block (back-pressure on a slow agent)


def _clean(text: str) -> str:
    """``text`` as valid Unicode (lone surrogates cannot be sent as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


class Channel:
    """Frames out, one JSON line each, written by one thread in the order they were queued (so
    a ``KeyboardInterrupt`` in the main thread never leaves half a frame behind). Output frames
    that queue up while the writer is busy are merged, so a chatty cell costs few lines."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=_FRAME_BACKLOG)
        self._thread = threading.Thread(target=self._write_loop, name="cygnet-frames")
        self._thread.daemon = True
        self._thread.start()

    def send(self, frame: dict[str, Any]) -> None:
        self._queue.put(frame)

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _write_loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < _FRAME_BACKLOG and batch[-1] is not None:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            lines: list[str] = []
            texts: list[str] = []
            stream = ""
            for frame in batch:
                if frame is not None and frame["t"] == stream:
                    texts.append(frame["d"])
                    continue
                if texts:
                    lines.append(json.dumps({"t": stream, "d": "".join(texts)}))
                    texts, stream = [], ""
                if frame is None:
                    break
                if frame["t"] in ("stdout", "stderr"):
                    stream = frame["t"]
                    texts.append(frame["d"])
                else:
                    lines.append(json.dumps(frame))
            if texts:
                lines.append(json.dumps({"t": stream, "d": "".join(texts)}))
            self._write(("\n".join(lines) + "\n").encode("ascii") if lines else b"")
            if batch[-1] is None:
                return

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            os._exit(0)  # the agent is gone: there is nobody left to run code for


class Output:
    """Fds 1 and 2 as pipes, drained into frames; the lock orders all output frames."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._lock = threading.RLock()
        self._pipes: list[tuple[int, str, codecs.IncrementalDecoder]] = []
        for target, stream in ((1, "stdout"), (2, "stderr")):
            read_fd, write_fd = os.pipe()
            os.dup2(write_fd, target)
            os.close(write_fd)
            os.set_blocking(read_fd, False)
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            self._pipes.append((read_fd, stream, decoder))
        pump = threading.Thread(target=self._pump, name="cygnet-fd-output")
        pump.daemon = True
        pump.start()

    def write(self, stream: str, text: str) -> None:
        """Send ``text`` on ``stream`` after whatever is already waiting in the pipes."""
        with self._lock:
            self._drain()
            self._send(stream, text)

    def sync(self) -> None:
        """Send everything written to fds 1 and 2 so far."""
        with self._lock:
            self._drain()

    def _drain(self) -> None:
        for fd, stream, decoder in self._pipes:
            taken = 0
            while taken < _DRAIN_LIMIT:
                try:
                    data = os.read(fd, _READ_SIZE)
                except BlockingIOError:
                    break
                if not data:
                    break
                taken += len(data)
                self._send(stream, decoder.decode(data))

    def _send(self, stream: str, text: str) -> None:
        if text:
            self._channel.send({"t": stream, "d": _clean(text)})

    def _pump(self) -> None:
        fds = [fd for fd, _, _ in self._pipes]
        while True:
            select.select(fds, [], [])
            self.sync()


class TextOut(io.TextIOBase):
    """``sys.stdout``/``sys.stderr``: every write becomes a frame at once."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, output: Output, stream: str, fd: int) -> None:
        super().__init__()
        self._output = output
        self._stream = stream
        self._fd = fd
        self.buffer = BinaryOut(self)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._output.write(self._stream, text)
        return len(text)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    def flush(self) -> None:
        return None


class BinaryOut:
    """``sys.stdout.buffer``: bytes decoded as UTF-8 (a character split across writes is kept
    until its last byte arrives)."""

    def __init__(self, text_out: TextOut) -> None:
        self._text_out = text_out
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data: bytes | bytearray | memoryview) -> int:
        data = bytes(data)
        text = self._decoder.decode(data)
        if text:
            self._text_out.write(text)
        return len(data)

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._text_out.fileno()

    def flush(self) -> None:
        return None


class TextIn:
    """``sys.stdin``: each line read is asked of the agent, like ``input()``."""

    encoding = "utf-8"
    errors = "replace"
    closed = False

    def __init__(self, repl: Repl) -> None:
        self._repl = repl

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> str:
        return self._repl.read_input("", False) + "\n"

    def read(self, size: int | None = -1) -> str:
        return self.readline()

    def __iter__(self) -> TextIn:
        return self

    def __next__(self) -> str:
        return self.readline()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 0  # /dev/null, for child processes

    def close(self) -> None:
        return None  # there is nothing to release (and the cells keep asking for input)


class Repl:
    def __init__(self, channel: Channel, output: Output, requests_fd: int) -> None:
        self._channel = channel
        self._output = output
        self._requests_fd = requests_fd
        self.stdout = TextOut(output, "stdout", 1)
        self.stderr = TextOut(output, "stderr", 2)
        self._runs: queue.Queue[str | None] = queue.Queue()
        self._inputs: queue.Queue[str | None] = queue.Queue()
        self._armed = False  # True while a cell runs: only then does SIGINT interrupt it
        self._interrupt_lock = threading.RLock()
        self._interrupt_requested = False  # an interrupt request not yet raised in the cell
        self._interrupt_taken = threading.Event()
        self._interrupt_next = False  # interrupt the next queued cell as soon as it starts
        self._queued = 0  # cells received and not started yet
        self._cells = 0
        self._main_thread = threading.get_ident()
        self.module = types.ModuleType("__main__")
        self.module.__dict__["__builtins__"] = builtins

    def install(self) -> None:
        """Make this process look like a plain interpreter to the cells it runs."""
        sys.modules["__main__"] = self.module
        sys.argv = [""]
        here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
        if sys.path and os.path.realpath(sys.path[0] or os.curdir) == here:
            sys.path[0] = ""  # import from the working directory, not from /opt/cygnet
        sys.stdout = cast(TextIO, self.stdout)
        sys.stderr = cast(TextIO, self.stderr)
        sys.stdin = cast(TextIO, TextIn(self))
        vars(builtins)["input"] = self.input
        vars(getpass)["getpass"] = self.getpass
        signal.signal(signal.SIGINT, self._on_sigint)
        os.register_at_fork(after_in_child=self._after_fork)

    def serve(self) -> None:
        """Run cells until stdin closes."""
        reader = threading.Thread(target=self._read_requests, name="cygnet-requests")
        reader.daemon = True
        reader.start()
        version = "{}.{}.{}".format(*sys.version_info[:3])
        self._channel.send(
            {"t": "ready", "version": PROTOCOL_VERSION, "python": version, "pid": os.getpid()}
        )
        while True:
            code = self._runs.get()
            if code is None:
                return
            status = self.run(code)
            for stream in (sys.__stdout__, sys.__stderr__):
                try:
                    if stream is not None:
                        stream.flush()
                except (OSError, ValueError):
                    pass
            self._output.sync()
            self._channel.send({"t": "done", "exit": status})

    def run(self, code: str) -> int:
        """Run one cell; its exit status."""
        self._cells += 1
        filename = f"<cell {self._cells}>"
        try:
            try:
                with self._interrupt_lock:
                    self._queued -= 1
                    interrupted, self._interrupt_next = self._interrupt_next, False
                    self._interrupt_requested = False
                    self._armed = True
                if interrupted:
                    raise KeyboardInterrupt
                try:
                    body, last = self._compile(code, filename)
                except Exception as exc:  # SyntaxError, ValueError (NUL bytes), RecursionError...
                    self.stderr.write("".join(traceback.format_exception_only(type(exc), exc)))
                    return 1
                self._execute(body, last)
            finally:
                self._armed = False
        except SystemExit as exc:
            return self._report_exit(exc)
        except BaseException as exc:
            self._report_error(exc)
            return 1
        return 0

    def _compile(self, code: str, filename: str) -> tuple[types.CodeType, types.CodeType | None]:
        """The cell's statements, and its last one apart when it is a bare expression."""
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        tree = ast.parse(code, filename, "exec")
        last: types.CodeType | None = None
        if tree.body:
            statement = tree.body[-1]
            if isinstance(statement, ast.Expr):
                tree.body.pop()
                last = compile(ast.Expression(statement.value), filename, "eval")
        return compile(tree, filename, "exec"), last

    def _execute(self, body: types.CodeType, last: types.CodeType | None) -> None:
        namespace = self.module.__dict__
        exec(body, namespace)
        if last is not None:
            value = eval(last, namespace)
            if value is not None:
                vars(builtins)["_"] = value
                self.stdout.write(repr(value))

    def _report_exit(self, exc: SystemExit) -> int:
        code = exc.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code
        else:
            self.stderr.write(f"{code}\n")
            status = 1
        self.stderr.write(f"SystemExit: {status}\n")
        return status

    def _report_error(self, exc: BaseException) -> None:
        """The traceback without the REPL's own frames, on stderr."""
        summary = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        pending = [summary]
        seen: set[int] = set()
        while pending:
            current = pending.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            frames = list(current.stack)
            while frames and frames[0].filename == _OWN_FILE:
                del frames[0]  # the REPL calling the cell
            for index, frame in enumerate(frames):
                if frame.filename == _OWN_FILE:
                    del frames[index:]  # the cell calling into the REPL (input(), print())
                    break
            current.stack = traceback.StackSummary.from_list(frames)
            for chained in (current.__cause__, current.__context__):
                if chained is not None:
                    pending.append(chained)
        self.stderr.write("".join(summary.format()))

    def read_input(self, prompt: str, password: bool) -> str:
        """Ask the agent for a line (blocks until an ``input`` request brings it)."""
        self._output.sync()
        self._channel.send({"t": "input", "prompt": _clean(prompt), "password": password})
        line = self._inputs.get()
        if line is None:
            raise EOFError("the agent closed the REPL's input")
        return line

    def input(self, prompt: object = "") -> str:
        return self.read_input(str(prompt), False)

    def getpass(self, prompt: str = "Password: ", stream: object = None) -> str:
        return self.read_input(str(prompt), True)

    def _on_sigint(self, signum: int, frame: types.FrameType | None) -> None:
        with self._interrupt_lock:
            armed = self._armed
            self._interrupt_requested = False
        self._interrupt_taken.set()
        if armed:
            raise KeyboardInterrupt

    def _interrupt(self) -> None:
        """Interrupt the running cell, if any."""
        with self._interrupt_lock:
            if not self._armed:
                if self._queued > 0:
                    self._interrupt_next = True
                return
            if self._interrupt_requested:
                return
            self._interrupt_requested = True
            self._interrupt_taken.clear()
        deliver = threading.Thread(target=self._deliver_interrupt, name="cygnet-interrupt")
        deliver.daemon = True
        deliver.start()

    def _deliver_interrupt(self) -> None:
        """SIGINT the main thread until its handler runs. One signal is not always enough: one
        that lands just before the thread blocks in C (a lock, a sleep) only takes effect when
        that call returns, so it is sent again, less and less often, while it is still due."""
        delay = 0.01
        while True:
            with self._interrupt_lock:
                if not (self._armed and self._interrupt_requested):
                    return
                signal.pthread_kill(self._main_thread, signal.SIGINT)
            if self._interrupt_taken.wait(delay):
                return
            delay = min(delay * 2, 0.5)

    def _read_requests(self) -> None:
        with os.fdopen(self._requests_fd, "rb") as requests:
            for raw in requests:
                try:
                    request = json.loads(raw.decode("utf-8"))
                    op = request["op"]
                except (ValueError, KeyError, TypeError):
                    self._channel.send({"t": "error", "msg": f"malformed request: {raw[:200]!r}"})
                    continue
                if op == "run":
                    with self._interrupt_lock:
                        self._queued += 1
                    self._runs.put(str(request.get("code", "")))
                elif op == "input":
                    self._inputs.put(str(request.get("line", "")))
                elif op == "interrupt":
                    self._interrupt()
                else:
                    self._channel.send({"t": "error", "msg": f"unknown op: {op!r}"})
        self._inputs.put(None)
        self._interrupt()
        self._runs.put(None)

    def _after_fork(self) -> None:
        """A forked child (``multiprocessing``) has none of our threads: give it ordinary
        streams on fds 1 and 2, which are the pipes the parent drains."""
        for name, fd in (("stdout", 1), ("stderr", 2)):
            stream = os.fdopen(
                fd, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False
            )
            setattr(sys, name, stream)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main() -> None:
    requests_fd = os.dup(0)
    frames_fd = os.dup(1)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.close(null_fd)
    channel = Channel(frames_fd)
    output = Output(channel)
    repl = Repl(channel, output, requests_fd)
    repl.install()
    try:
        repl.serve()
    finally:
        channel.close()


if __name__ == "__main__":
    main()
