"""Options of the ``process`` runtime (the agent's ``runtime_options``).

Example ``agent.toml``::

    runtime = "process"

    [runtime_options]
    cgroups = "auto"            # "off": rlimits and CPU affinity only
    cgroup_root = "cygnet"

    [runtime_options.images.python]
    python = "/usr/bin/python3"
    env = { PYTHONUNBUFFERED = "1" }
    path_prepend = ["/opt/tools/bin"]

An image here is a local environment: an interpreter, extra environment and ``PATH`` entries.
Image names are matched exactly; a name without a tag also answers to ``<name>:latest`` (so
the default image ``python`` is also ``python:latest``).
"""

from __future__ import annotations

import os
import sys
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_IMAGE = "python"


def _default_python() -> str:
    return sys.executable or "/usr/bin/python3"


class ProcessImage(BaseModel):
    """A local environment kernels can start from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    python: str = Field(default_factory=_default_python, min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    path_prepend: list[str] = Field(default_factory=list)

    @field_validator("python")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not os.path.isabs(value):
            raise ValueError("python must be an absolute path")
        return value

    def effective_labels(self) -> dict[str, str]:
        """The Backend.AI-style labels of this image: defaults overlaid by configured ones."""
        return {
            "ai.backend.kernelspec": "1",
            "ai.backend.runtime-type": "python",
            "ai.backend.runtime-path": self.python,
            "ai.backend.resource.min.cpu": "1",
            "ai.backend.resource.min.mem": "64m",
            **self.labels,
        }


def _default_images() -> dict[str, ProcessImage]:
    return {DEFAULT_IMAGE: ProcessImage()}


class ProcessRuntimeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    images: dict[str, ProcessImage] = Field(default_factory=_default_images)
    cgroups: Literal["auto", "off"] = "auto"
    cgroup_root: str = Field("cygnet", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")

    def find_image(self, name: str) -> tuple[str, ProcessImage] | None:
        """The configured image called ``name`` (``x`` and ``x:latest`` are the same)."""
        candidates = [name]
        if name.endswith(":latest"):
            candidates.append(name.removesuffix(":latest"))
        elif ":" not in name.rsplit("/", 1)[-1]:
            candidates.append(f"{name}:latest")
        for candidate in candidates:
            if candidate in self.images:
                return candidate, self.images[candidate]
        return None
