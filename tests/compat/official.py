"""Runs the official ``backend.ai`` CLI as a subprocess without blocking the event loop."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Result:
    code: int
    out: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class OfficialClient:
    exe: Path
    env: dict[str, str]
    cwd: Path

    async def run(self, *args: str, output_json: bool = True, stdin: str | None = None) -> Result:
        """Run ``backend.ai [--output json] ARGS`` without blocking the manager's event loop.

        ``stdin`` is fed to the command (e.g. ``"y\\n"`` for an ``Are you sure?`` prompt)."""
        argv = [str(self.exe), *(["--output", "json"] if output_json else []), *args]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=self.env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        given = stdin.encode() if stdin is not None else None
        out, _ = await asyncio.wait_for(proc.communicate(given), timeout=120)
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode())

    async def ok(self, *args: str) -> Any:
        """Run a command that must succeed and print JSON; return the parsed output."""
        result = await self.run(*args)
        assert result.code == 0, f"backend.ai {' '.join(args)} failed:\n{result.out}"
        return result.json()
