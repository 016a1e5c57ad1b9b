"""The ``cygnet`` CLI as a subprocess, for tests: a config dir and HOME of its own, the
manager's endpoint and a keypair in its environment, nothing inherited that could point it
elsewhere. Run it with ``await cli(...)`` (any outcome), ``cli.ok(...)`` or ``cli.fails(...)``
(asyncio subprocesses, so a manager served from the same event loop keeps answering)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The installed console script (the launcher, which also loads the manager and the agent: about
# 1.5 s a start) is needed for ``cygnet run``; the other commands go straight to the client's CLI.
SCRIPT = Path(sys.executable).with_name("cygnet")
CLIENT_CLI = [sys.executable, "-m", "cygnet.client.cli.main"]
CLEAN_ENV = {
    f"{prefix}{name}"
    for prefix in ("CYGNET_", "BACKEND_")
    for name in ("ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "DOMAIN", "GROUP", "PROFILE")
}
TIMEOUT = 120.0


@dataclass
class Done:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def cli_env(manager_env: Mapping[str, str], home: Path, **keys: str) -> dict[str, str]:
    """This process's environment without client settings, plus the manager's, ``keys``, and
    a HOME and config dir under ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env.update(manager_env)
    env.update(keys)
    env["CYGNET_CONFIG_DIR"] = str(home / "config")
    env["HOME"] = str(home)
    env["COLUMNS"] = "200"
    return env


@dataclass
class Cygnet:
    """Runs ``cygnet`` with ``env`` in ``cwd``; ``script``: the console script, not the
    client's CLI module."""

    env: dict[str, str]
    cwd: Path
    script: bool = False

    def argv(self, *args: str) -> list[str]:
        return [str(SCRIPT), *args] if self.script else [*CLIENT_CLI, *args]

    async def __call__(self, *args: str, stdin: str | None = None) -> Done:
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*args),
            env=self.env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), TIMEOUT
        )
        assert proc.returncode is not None
        return Done(proc.returncode, out.decode(), err.decode())

    async def ok(self, *args: str) -> Done:
        done = await self(*args)
        assert done.code == 0, (args, done.code, done.out, done.err)
        assert "Traceback" not in done.out + done.err, done.err
        return done

    async def fails(self, *args: str, code: int = 1) -> Done:
        done = await self(*args)
        assert done.code == code, (args, done.code, done.out, done.err)
        assert "Traceback" not in done.out + done.err, done.err
        return done
