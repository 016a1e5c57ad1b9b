"""The in-kernel REPL (``runner/repl.py``) driven as a real subprocess through its protocol."""

from __future__ import annotations

import ast
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cygnet.agent.runner

REPL = Path(cygnet.agent.runner.__file__).parent / "repl.py"
WAIT = 15.0  # seconds before a missing frame fails the test (never reached when all is well)

Frame = dict[str, Any]


class Driver:
    """One REPL process: requests in, frames out (read by a thread into a queue)."""

    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(REPL)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
        )
        self.frames: queue.Queue[Frame | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ready = self.next()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.frames.put(json.loads(line))
        self.frames.put(None)

    def send(self, **request: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()

    def next(self) -> Frame:
        frame = self.frames.get(timeout=WAIT)
        assert frame is not None, "the REPL exited"
        return frame

    def until(self, kind: str) -> list[Frame]:
        """Frames up to and including the next one of ``kind``."""
        frames = [self.next()]
        while frames[-1]["t"] != kind:
            frames.append(self.next())
        return frames

    def expect_output(self, stream: str, expected: str) -> None:
        """Read output frames of ``stream`` until they add up to ``expected``."""
        seen = ""
        while seen != expected:
            frame = self.next()
            assert frame["t"] == stream, (frame, seen)
            seen += frame["d"]
            assert expected.startswith(seen), seen

    def run(self, code: str) -> tuple[list[tuple[str, str]], int]:
        """Run a cell to its end: its output chunks (merged per stream) and exit status."""
        self.send(op="run", code=code)
        return collect(self.until("done"))

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=WAIT)
        finally:
            self.proc.kill()
            self.proc.wait()
            self._reader.join(WAIT)
            assert self.proc.stdout is not None and self.proc.stderr is not None
            self.proc.stdout.close()
            self.proc.stderr.close()
        return code


def collect(frames: list[Frame]) -> tuple[list[tuple[str, str]], int]:
    output: list[tuple[str, str]] = []
    for frame in frames:
        if frame["t"] in ("stdout", "stderr"):
            if output and output[-1][0] == frame["t"]:
                output[-1] = (frame["t"], output[-1][1] + frame["d"])
            else:
                output.append((frame["t"], frame["d"]))
    assert frames[-1]["t"] == "done"
    return output, frames[-1]["exit"]


def text(output: list[tuple[str, str]], stream: str) -> str:
    return "".join(data for name, data in output if name == stream)


@pytest.fixture
def repl(tmp_path: Path) -> Iterator[Driver]:
    driver = Driver(tmp_path)
    yield driver
    assert driver.close() == 0


def test_source_parses_as_python_38() -> None:
    ast.parse(REPL.read_text(), feature_version=(3, 8))


def test_ready_frame(repl: Driver) -> None:
    assert repl.ready["t"] == "ready"
    assert repl.ready["version"] == 1
    assert repl.ready["pid"] == repl.proc.pid


def test_print_and_expression_echo(repl: Driver) -> None:
    assert repl.run('print("Hello, world!")') == ([("stdout", "Hello, world!\n")], 0)
    assert repl.run("1 + 1") == ([("stdout", "2")], 0)
    assert repl.run("None") == ([], 0)
    assert repl.run("x = 1") == ([], 0)
    assert repl.run('print("a")\n"b"') == ([("stdout", "a\n'b'")], 0)
    assert repl.run("") == ([], 0)


def test_state_persists_between_runs(repl: Driver) -> None:
    assert repl.run("x = 20") == ([], 0)
    assert repl.run("x + 22") == ([("stdout", "42")], 0)
    assert repl.run("_ * 2") == ([("stdout", "84")], 0)
    assert repl.run("def f(y):\n    return x * y\n") == ([], 0)
    assert repl.run("f(2)") == ([("stdout", "40")], 0)
    assert repl.run("__name__") == ([("stdout", "'__main__'")], 0)


def test_modules_import_from_the_working_directory(repl: Driver, tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("VALUE = 7\n")
    assert repl.run("import helper\nhelper.VALUE") == ([("stdout", "7")], 0)
    output, status = repl.run("import repl")  # the runner's directory is not on the path
    assert status == 1
    assert text(output, "stderr").endswith("ModuleNotFoundError: No module named 'repl'\n")


def test_exception_gives_traceback_and_exit_1(repl: Driver) -> None:
    output, status = repl.run("def f():\n    return 1 / 0\nf()")
    assert status == 1
    assert [name for name, _ in output] == ["stderr"]
    trace = output[0][1]
    assert trace.startswith("Traceback (most recent call last):\n")
    assert trace.endswith("ZeroDivisionError: division by zero\n")
    assert "return 1 / 0" in trace  # the cell's source is shown
    assert "repl.py" not in trace  # the REPL's own frames are not


def test_syntax_error(repl: Driver) -> None:
    output, status = repl.run("x = = 1")
    assert status == 1
    assert output[0][0] == "stderr"
    assert "SyntaxError" in output[0][1]
    assert "repl.py" not in output[0][1] and "ast.py" not in output[0][1]


@pytest.mark.parametrize(
    ("code", "status", "stderr"),
    [
        ("import sys\nsys.exit(2)", 2, "SystemExit: 2\n"),
        ("raise SystemExit(3)", 3, "SystemExit: 3\n"),
        ("import sys\nsys.exit()", 0, "SystemExit: 0\n"),
        ("import sys\nsys.exit('bye')", 1, "bye\nSystemExit: 1\n"),
    ],
)
def test_sys_exit(repl: Driver, code: str, status: int, stderr: str) -> None:
    assert repl.run(code) == ([("stderr", stderr)], status)
    assert repl.run("'still alive'") == ([("stdout", "'still alive'")], 0)


def test_sys_exit_after_output_keeps_order(repl: Driver) -> None:
    output, status = repl.run("import sys\nprint('out')\nsys.exit(2)")
    assert (output, status) == ([("stdout", "out\n"), ("stderr", "SystemExit: 2\n")], 2)


def test_input_round_trip(repl: Driver) -> None:
    repl.send(op="run", code='name = input("name? ")\nprint("hi", name)')
    assert repl.next() == {"t": "input", "prompt": "name? ", "password": False}
    repl.send(op="input", line="bob")
    assert collect(repl.until("done")) == ([("stdout", "hi bob\n")], 0)
    assert repl.run("name") == ([("stdout", "'bob'")], 0)


def test_getpass_and_stdin_readline(repl: Driver) -> None:
    repl.send(op="run", code="import getpass\nsecret = getpass.getpass()")
    assert repl.next() == {"t": "input", "prompt": "Password: ", "password": True}
    repl.send(op="input", line="hunter2")
    assert collect(repl.until("done")) == ([], 0)
    repl.send(op="run", code="import sys\nsys.stdin.readline()")
    assert repl.next() == {"t": "input", "prompt": "", "password": False}
    repl.send(op="input", line="typed")
    assert collect(repl.until("done")) == ([("stdout", "'typed\\n'")], 0)
    assert repl.run("secret") == ([("stdout", "'hunter2'")], 0)


def test_fd_level_output_is_captured_in_order(repl: Driver) -> None:
    code = (
        "import os, subprocess, sys\n"
        "print('a')\n"
        "os.system('echo b')\n"
        "subprocess.run(['echo', 'c'])\n"
        "os.write(1, b'd\\n')\n"
        "print('e')\n"
        "os.write(2, b'err\\n')\n"
        "subprocess.run(['sh', '-c', 'echo child-err >&2'])\n"
        "None\n"
    )
    output, status = repl.run(code)
    assert status == 0
    assert text(output, "stdout") == "a\nb\nc\nd\ne\n"
    assert text(output, "stderr") == "err\nchild-err\n"
    assert repl.run("1") == ([("stdout", "1")], 0)  # the protocol survived


def test_stdout_and_stderr_keep_their_relative_order(repl: Driver) -> None:
    code = "import sys\nprint('1')\nprint('2', file=sys.stderr)\nprint('3')"
    assert repl.run(code) == ([("stdout", "1\n"), ("stderr", "2\n"), ("stdout", "3\n")], 0)


def test_binary_stdout_and_non_ascii(repl: Driver) -> None:
    code = (
        "import sys\n"
        "sys.stdout.buffer.write(b'\\xea\\xb0')\n"
        "sys.stdout.buffer.write(b'\\x80!')\n"
        "None"
    )
    assert repl.run(code) == ([("stdout", "가!")], 0)
    assert repl.run("print('café ✓')") == ([("stdout", "café ✓\n")], 0)
    assert repl.run("print('\\ud800')") == ([("stdout", "?\n")], 0)  # a lone surrogate


def test_output_is_streamed_while_the_cell_runs(repl: Driver, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    repl.send(
        op="run",
        code=(
            "import os, time\n"
            "print('first')\n"
            "os.system('echo second')\n"
            f"while not os.path.exists({str(gate)!r}):\n"
            "    time.sleep(0.01)\n"
            "print('third')\n"
        ),
    )
    repl.expect_output("stdout", "first\nsecond\n")  # while the cell still waits
    gate.touch()
    assert collect(repl.until("done")) == ([("stdout", "third\n")], 0)


def test_interrupt_busy_loop(repl: Driver) -> None:
    repl.send(op="run", code="n = 0\nprint('started')\nwhile True:\n    n += 1")
    repl.expect_output("stdout", "started\n")
    repl.send(op="interrupt")
    output, status = collect(repl.until("done"))
    assert status == 1
    assert output[0][0] == "stderr" and output[0][1].endswith("KeyboardInterrupt\n")
    output, status = repl.run("n > 0")
    assert (output, status) == ([("stdout", "True")], 0)


def test_interrupt_sleep_and_input(repl: Driver) -> None:
    repl.send(op="run", code="import time\nprint('sleeping')\ntime.sleep(600)")
    repl.expect_output("stdout", "sleeping\n")
    repl.send(op="interrupt")
    output, status = collect(repl.until("done"))
    assert status == 1 and "KeyboardInterrupt" in text(output, "stderr")

    repl.send(op="run", code="input('? ')")
    assert repl.next()["t"] == "input"
    repl.send(op="interrupt")
    output, status = collect(repl.until("done"))
    assert status == 1
    trace = text(output, "stderr")
    assert trace.startswith('Traceback (most recent call last):\n  File "<cell 2>", line 1')
    assert trace.endswith("KeyboardInterrupt\n")
    assert ".py" not in trace  # not the REPL's machinery (queue.py, threading.py, repl.py)


def test_interrupt_right_after_run_is_not_lost(repl: Driver) -> None:
    repl.send(op="run", code="import time\ntime.sleep(600)")
    repl.send(op="interrupt")  # most likely before the cell starts
    output, status = collect(repl.until("done"))
    assert status == 1 and text(output, "stderr").endswith("KeyboardInterrupt\n")
    assert repl.run("'next cell runs'") == ([("stdout", "'next cell runs'")], 0)


def test_interrupt_while_idle_is_ignored(repl: Driver) -> None:
    repl.send(op="interrupt")
    assert repl.run("'fine'") == ([("stdout", "'fine'")], 0)


def test_malformed_requests_are_refused(repl: Driver) -> None:
    assert repl.proc.stdin is not None
    repl.proc.stdin.write(b"not json\n")
    repl.proc.stdin.flush()
    assert repl.next()["t"] == "error"
    repl.send(op="dance")
    assert repl.next() == {"t": "error", "msg": "unknown op: 'dance'"}
    assert repl.run("2") == ([("stdout", "2")], 0)


def test_multiprocessing_child_output_is_captured(repl: Driver) -> None:
    code = (
        "import multiprocessing as mp\n"
        "def work():\n"
        "    print('from child')\n"
        "p = mp.get_context('fork').Process(target=work)\n"
        "p.start()\n"
        "p.join()\n"
        "p.exitcode"
    )
    output, status = repl.run(code)
    assert (text(output, "stdout"), status) == ("from child\n0", 0)


def test_closing_stdin_ends_the_repl(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    driver.send(op="run", code="input()")
    assert driver.next()["t"] == "input"
    assert driver.close() == 0  # the waiting input() got EOF; the REPL then exited
