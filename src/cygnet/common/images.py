"""Image references, read the same way by the manager and the agents (as Docker reads them)."""

from __future__ import annotations


def split_name(name: str) -> tuple[str, str]:
    """``repo/name:tag`` -> (``repo/name``, ``tag``); no tag means ``latest``."""
    repository, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, "latest"
    return repository, tag


def with_tag(reference: str) -> str:
    """The reference with its tag spelled out: ``repo`` means ``repo:latest``."""
    repository, tag = split_name(reference)
    return f"{repository}:{tag}"
