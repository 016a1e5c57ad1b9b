"""The pure parts of the image catalogue: build hashes and the import changes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cygnet.agent.images.catalog import (
    BOOTSTRAP_IMAGES,
    BUILD_HASH_LABEL,
    BUSYBOX_IMAGE,
    PYTHON_IMAGE,
    build_hash,
    import_changes,
    select_images,
)


def test_build_hash_is_stable_and_order_independent() -> None:
    digest = build_hash(PYTHON_IMAGE)
    assert len(digest) == 16
    assert int(digest, 16) >= 0
    assert build_hash(PYTHON_IMAGE) == digest
    reordered = replace(PYTHON_IMAGE, labels=dict(reversed(PYTHON_IMAGE.labels.items())))
    assert build_hash(reordered) == digest


@pytest.mark.parametrize(
    "change",
    [
        {"labels": {**PYTHON_IMAGE.labels, "ai.backend.resource.min.mem": "512m"}},
        {"labels": {**PYTHON_IMAGE.labels, "extra": ""}},
        {"packages": ("python3", "python3-venv")},
        {"suite": "trixie"},
        {"env": {"PATH": "/bin"}},
        {"cmd": ("/bin/sh",)},
        {"name": "cygnet/python:3.12"},
    ],
)
def test_build_hash_changes_with_the_recipe(change: dict[str, object]) -> None:
    assert build_hash(replace(PYTHON_IMAGE, **change)) != build_hash(PYTHON_IMAGE)  # type: ignore[arg-type]


def test_catalogue_images_hash_differently() -> None:
    assert len({build_hash(image) for image in BOOTSTRAP_IMAGES}) == len(BOOTSTRAP_IMAGES)


def test_import_changes_carry_workdir_env_cmd_and_every_label() -> None:
    changes = import_changes(PYTHON_IMAGE)
    assert changes[0] == "WORKDIR /home/work"
    assert 'ENV LANG="C.UTF-8"' in changes
    assert any(change.startswith('ENV PATH="/usr/local/sbin:') for change in changes)
    assert 'CMD ["/usr/bin/python3"]' in changes
    labels = {}
    for change in changes:
        if change.startswith("LABEL "):
            key, _, value = change.removeprefix("LABEL ").partition("=")
            labels[key] = json.loads(value)
    assert labels == {**PYTHON_IMAGE.labels, BUILD_HASH_LABEL: build_hash(PYTHON_IMAGE)}
    # values with spaces and empty values stay one quoted word each
    assert 'LABEL ai.backend.features="batch query uid-match"' in changes
    assert 'LABEL ai.backend.service-ports=""' in changes


def test_import_changes_quote_awkward_values() -> None:
    image = replace(BUSYBOX_IMAGE, labels={"k": 'say "hi"\\now'}, env={})
    assert 'LABEL k="say \\"hi\\"\\\\now"' in import_changes(image)


def test_select_images() -> None:
    assert select_images() == BOOTSTRAP_IMAGES
    assert select_images("python") == (PYTHON_IMAGE,)
    assert select_images("cygnet/busybox:latest") == (BUSYBOX_IMAGE,)
    with pytest.raises(KeyError):
        select_images("nope")
    assert (PYTHON_IMAGE.repository, PYTHON_IMAGE.tag) == ("cygnet/python", "3.11")
