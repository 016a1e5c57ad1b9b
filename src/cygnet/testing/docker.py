"""A real Docker Engine for tests: make sure one answers, build the catalogue images into it,
and find or remove the kernel containers a test run left behind.

``ensure_docker`` starts ``dockerd`` only when no engine answers at the local socket (and
stops it again in ``DockerEngine.stop``, only if it started it), so a developer's or CI's
running engine is used as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiodocker

from cygnet.agent.images.bootstrap import BuildResult, bootstrap_images, docker_url
from cygnet.agent.images.catalog import BOOTSTRAP_IMAGES

KERNEL_LABEL = "cygnet.kernel-id"


class DockerUnavailable(Exception):
    """No Docker engine answers and none could be started; the message says why."""


@dataclass
class DockerEngine:
    url: str
    process: asyncio.subprocess.Process | None = None  # set when we started dockerd
    log_path: Path | None = None

    @property
    def started_here(self) -> bool:
        return self.process is not None

    async def stop(self, grace: float = 30.0) -> None:
        """Stop dockerd if ``ensure_docker`` started it; otherwise leave the engine alone."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                process.kill()
                await process.wait()
        log_path, self.log_path = self.log_path, None
        if log_path is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(log_path.unlink)


async def engine_answers(url: str) -> bool:
    docker = aiodocker.Docker(url=url)
    try:
        await docker.version()
    except (aiodocker.DockerError, OSError):
        return False
    finally:
        await docker.close()
    return True


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def ensure_docker(
    url: str | None = None, *, start_within: float = 60.0, dockerd_args: Sequence[str] = ()
) -> DockerEngine:
    """An engine that answers: the one at ``url`` ($DOCKER_HOST, the local socket), or a
    ``dockerd`` started here in the background (root only; ``dockerd_args`` added to its
    command line), its log in a temporary file. A second daemon beside a running one needs
    its own ``--pidfile``, ``--data-root`` and ``--exec-root``, and must not be given
    ``--bridge=none``: that removes the host's ``docker0``, which the other daemon uses."""
    address = docker_url(url)
    if await engine_answers(address):
        return DockerEngine(address)
    if not address.startswith("unix://"):
        raise DockerUnavailable(f"no Docker engine answers at {address}")
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise DockerUnavailable(
            f"no Docker engine answers at {address} and dockerd is not installed "
            "(apt-get install docker.io)"
        )
    if os.geteuid() != 0:
        raise DockerUnavailable(f"no Docker engine answers at {address}; dockerd needs root")
    fd, log_name = tempfile.mkstemp(prefix="cygnet-dockerd-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "wb") as log:
        process = await asyncio.create_subprocess_exec(
            dockerd,
            "--host",
            address,
            *dockerd_args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    engine = DockerEngine(address, process, log_path)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + start_within
    while loop.time() < deadline:
        if process.returncode is not None:
            break
        if await engine_answers(address):
            return engine
        await asyncio.sleep(0.25)
    tail = await asyncio.to_thread(_log_tail, log_path)
    why = (
        f"dockerd exited with status {process.returncode}"
        if process.returncode is not None
        else f"dockerd did not answer within {start_within:.0f}s"
    )
    await engine.stop()
    raise DockerUnavailable(f"{why}; its log ends with:\n{tail}")


async def ensure_images(names: Sequence[str], *, url: str | None = None) -> list[BuildResult]:
    """Build the catalogue images called ``names`` that are missing or out of date."""
    by_name = {image.name: image for image in BOOTSTRAP_IMAGES}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise KeyError(f"not catalogue images: {', '.join(unknown)}")
    return await bootstrap_images([by_name[name] for name in names], url=url)


async def leftover_containers(label: str = KERNEL_LABEL, *, url: str | None = None) -> list[str]:
    """Ids of all containers (running or not) that carry ``label``."""
    async with aiodocker.Docker(url=docker_url(url)) as docker:
        containers = await docker.containers.list(all=True, filters={"label": [label]})
        return [container.id for container in containers]


async def remove_containers(ids: Sequence[str], *, url: str | None = None) -> None:
    """Force-remove containers (and their anonymous volumes); gone ones are no error."""
    async with aiodocker.Docker(url=docker_url(url)) as docker:
        for container_id in ids:
            with contextlib.suppress(aiodocker.DockerError):
                await docker.containers.container(container_id).delete(force=True, v=True)


def docker_run_seconds(image: str, argv: Sequence[str], expected: str) -> float:
    """Seconds ``docker run --rm IMAGE ARGV...`` (the Docker CLI) takes; its output must be
    ``expected`` (the baseline the benchmarks compare with)."""
    docker = shutil.which("docker")
    if docker is None:
        raise SystemExit("the docker CLI is not installed")
    started = time.perf_counter()
    out = subprocess.run(
        [docker, "run", "--rm", image, *argv], check=True, capture_output=True, text=True
    ).stdout
    elapsed = time.perf_counter() - started
    if out != expected:
        raise SystemExit(f"unexpected output from docker run: {out!r}")
    return elapsed


async def side_by_side(
    rounds: int,
    ours: Callable[[int], Awaitable[float]],
    theirs: Callable[[], float],
    names: tuple[str, str],
) -> tuple[list[float], list[float]]:
    """Time ``ours(round)`` and ``theirs()`` (run in a thread) alternately, ``rounds`` times;
    which goes first swaps every round, and each round is printed."""
    mine: list[float] = []
    other: list[float] = []
    for i in range(1, rounds + 1):
        if i % 2:
            mine.append(await ours(i))
            other.append(await asyncio.to_thread(theirs))
        else:
            other.append(await asyncio.to_thread(theirs))
            mine.append(await ours(i))
        print(
            f"round {i:2d}: {names[0]} {mine[-1]:.3f} s, {names[1]} {other[-1]:.3f} s",
            flush=True,
        )
    return mine, other
