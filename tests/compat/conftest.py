"""The official Backend.AI client (``backend.ai-client==26.9.6``) run against a live Cygnet.

The client lives in its own Python 3.13 virtualenv: ``CYGNET_COMPAT_CLIENT`` may name its
``backend.ai`` executable; otherwise ``.venv-compat/`` at the repository root is used, and
created (``python3.13 -m venv`` + pip) when missing. Without Python 3.13 the tests are skipped,
unless ``CYGNET_REQUIRE_COMPAT=1`` (as in CI), which turns that into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from official import OfficialClient

from cygnet.testing.cluster import LocalManager

CLIENT_VERSION = "26.9.6"
REPO = Path(__file__).resolve().parents[2]
COMPAT_VENV = REPO / ".venv-compat"


def _python313() -> list[str] | None:
    if shutil.which("python3.13"):
        probe = subprocess.run(
            ["python3.13", "--version"],
            env={**os.environ, "PYENV_VERSION": "3.13.0"},
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return ["python3.13"]
    return None


def _ensure_client() -> Path:
    given = os.environ.get("CYGNET_COMPAT_CLIENT")
    if given:
        return Path(given)
    exe = COMPAT_VENV / "bin" / "backend.ai"
    if exe.exists():
        return exe
    python = _python313()
    if python is None:
        message = "Python 3.13 is needed for the official backend.ai client"
        if os.environ.get("CYGNET_REQUIRE_COMPAT") == "1":
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "PYENV_VERSION": "3.13.0"}
    subprocess.run([*python, "-m", "venv", str(COMPAT_VENV)], env=env, check=True)
    subprocess.run(
        [str(COMPAT_VENV / "bin" / "pip"), "install", "-q", f"backend.ai-client=={CLIENT_VERSION}"],
        check=True,
    )
    return exe


@pytest.fixture(scope="session")
def official_client_exe() -> Path:
    return _ensure_client()


@pytest.fixture(scope="session")
def bai(
    official_client_exe: Path, manager: LocalManager, tmp_path_factory: pytest.TempPathFactory
) -> OfficialClient:
    home = tmp_path_factory.mktemp("bai-home")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "BACKEND_ENDPOINT_TYPE": "api",
        **manager.env(),
    }
    return OfficialClient(official_client_exe, env, home)
