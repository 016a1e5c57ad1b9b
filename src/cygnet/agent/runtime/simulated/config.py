"""Options of the ``simulated`` runtime (the agent's ``runtime_options``).

Example ``agent.toml``::

    runtime = "simulated"

    [runtime_options]
    start_delay = 0.5              # seconds each kernel takes to start
    stop_delay = 0.1
    exec_delay = 0.0
    jitter = 0.2                   # each delay varies by up to ±20 %
    fail_start_probability = 0.05  # one start in twenty fails (AgentError)
    fail_images = ["cygnet/broken:1"]
    seed = 42                      # the same failures and jitter on every run
    run_seconds = 30               # kernels exit on their own after 30 s ...
    exit_code = 0                  # ... with this code

    [[runtime_options.images]]
    name = "cygnet/python:3.11"
    labels = { "ai.backend.runtime-type" = "python" }

Without ``images`` the runtime offers the images ``cygnet image bootstrap`` builds
(``cygnet.agent.images.catalog.BOOTSTRAP_IMAGES``), with their labels.
"""

from __future__ import annotations

import platform

from pydantic import BaseModel, ConfigDict, Field

from cygnet.agent.images.catalog import BOOTSTRAP_IMAGES


class SimulatedImage(BaseModel):
    """An image the simulated runtime pretends to have."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Reference, e.g. 'cygnet/python:3.11'.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Backend.AI-style image labels the manager reads."
    )


def catalog_images() -> list[SimulatedImage]:
    """The bootstrap catalog's images, with their labels."""
    return [
        SimulatedImage(name=image.name, labels=dict(image.labels)) for image in BOOTSTRAP_IMAGES
    ]


class SimulatedRuntimeConfig(BaseModel):
    """What the simulated runtime does; every field has a default, so ``{}`` is valid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_delay: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Seconds ``start`` takes (0: no waiting)."
    )
    stop_delay: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="Seconds ``stop`` takes for a running kernel (a stopped one answers at once).",
    )
    exec_delay: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Seconds ``exec`` takes to start a process."
    )
    jitter: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Relative spread of every delay: each one is multiplied by a factor drawn "
        "uniformly from [1 - jitter, 1 + jitter].",
    )
    fail_start_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Chance that a ``start`` fails with ``AgentError`` (after its delay).",
    )
    fail_images: list[str] = Field(
        default_factory=list,
        description="Images whose kernels always fail to start (``AgentError``); the image "
        "must still be one of ``images``, or the start is an ``ImageNotFound``.",
    )
    seed: int | None = Field(
        None,
        description="Seed of the random draws (failures, jitter), for repeatable runs; None "
        "seeds from the OS.",
    )
    run_seconds: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="If set, every kernel exits on its own this many seconds after it started "
        "(computed from timestamps when polled: no timers); None: kernels run until stopped.",
    )
    exit_code: int = Field(
        0, ge=0, le=255, description="Exit code of a kernel that ends after ``run_seconds``."
    )
    kill_exit_code: int = Field(
        143,
        ge=0,
        le=255,
        description="Exit code ``stop`` reports for a kernel that was still running "
        "(143 = killed by SIGTERM).",
    )
    images: list[SimulatedImage] = Field(
        default_factory=catalog_images,
        description="The images kernels can start from (default: the bootstrap catalog).",
    )
    architecture: str = Field(
        default_factory=platform.machine,
        description="Architecture the images report (default: this host's).",
    )
