"""Image catalogue rules: label minimums, the shmem rule, reference parsing and aliases."""

from __future__ import annotations

import pytest

from cygnet.common.errors import ImageNotFound, InvalidAPIParameters
from cygnet.common.resources import ResourceSlot
from cygnet.manager.services.images import (
    ImageEntry,
    check_resources,
    matches_digest,
    merge_entries,
    min_slots_from_labels,
    name_candidates,
    resolve_in,
    split_name,
)
from cygnet.manager.store.repositories.images import AgentImages

GIB = 1024**3
MIB = 1024**2
PY_LABELS = {
    "ai.backend.resource.min.cpu": "1",
    "ai.backend.resource.min.mem": "256m",
    "ai.backend.runtime-type": "python",
    "ai.backend.runtime-path": "/usr/bin/python3",
}
PY_ID = "sha256:" + "ab12" * 16
BB_ID = "sha256:" + "cd34" * 16


def _info(
    name: str, digest: str, labels: dict[str, str], arch: str = "x86_64"
) -> dict[str, object]:
    return {"name": name, "id": digest, "size": 10, "labels": labels, "architecture": arch}


def _catalogue() -> list[ImageEntry]:
    return merge_entries(
        [
            AgentImages(
                "a1", "x86_64", "default", (_info("cygnet/python:3.11", PY_ID, PY_LABELS),)
            ),
            AgentImages(
                "a2",
                "x86_64",
                "default",
                (
                    _info("cygnet/python:3.11", PY_ID, PY_LABELS),
                    _info("cygnet/busybox:latest", BB_ID, {"ai.backend.resource.min.mem": "64m"}),
                ),
            ),
            AgentImages("a3", "aarch64", "default", (_info("cygnet/r:4.3", "", {}, "aarch64"),)),
        ]
    )


def test_min_slots_from_labels_with_defaults() -> None:
    assert min_slots_from_labels({}) == ResourceSlot({"cpu": "1", "mem": str(GIB)})
    slots = min_slots_from_labels(
        {"ai.backend.resource.min.mem": "256m", "ai.backend.resource.min.cuda.shares": "0.5"}
    )
    assert slots == ResourceSlot({"cpu": "1", "mem": str(256 * MIB), "cuda.shares": "0.5"})
    # An explicit zero drops the default; an unparsable label keeps it.
    assert min_slots_from_labels({"ai.backend.resource.min.cpu": "0"}) == ResourceSlot(
        {"mem": str(GIB)}
    )
    assert min_slots_from_labels({"ai.backend.resource.min.mem": "lots"})["mem"] == GIB


def test_merge_by_name_and_architecture() -> None:
    entries = _catalogue()
    assert [(e.name, e.architecture) for e in entries] == [
        ("cygnet/busybox:latest", "x86_64"),
        ("cygnet/python:3.11", "x86_64"),
        ("cygnet/r:4.3", "aarch64"),
    ]
    python = entries[1]
    assert python.agents == ("a1", "a2")
    assert (python.registry, python.repository, python.tag) == ("local", "cygnet/python", "3.11")
    assert python.runtime_type == "python" and python.runtime_path == "/usr/bin/python3"
    assert python.min_slots == ResourceSlot({"cpu": "1", "mem": str(256 * MIB)})
    assert entries[0].min_slots == ResourceSlot({"cpu": "1", "mem": str(64 * MIB)})


def test_reference_parsing() -> None:
    assert split_name("cygnet/python:3.11") == ("cygnet/python", "3.11")
    assert split_name("cygnet/python") == ("cygnet/python", "latest")
    assert split_name("localhost:5000/cygnet/python") == ("localhost:5000/cygnet/python", "latest")
    assert name_candidates("cygnet/busybox") == ["cygnet/busybox:latest"]
    assert name_candidates("local/cygnet/python:3.11") == [
        "local/cygnet/python:3.11",
        "cygnet/python:3.11",
    ]
    assert name_candidates("cr.backend.ai/cygnet/python:3.11")[1] == "cygnet/python:3.11"
    # A plain first component is a namespace, not a registry.
    assert name_candidates("cygnet/python:3.11") == ["cygnet/python:3.11"]
    assert matches_digest(PY_ID, PY_ID)
    assert matches_digest(PY_ID.removeprefix("sha256:")[:12], PY_ID)
    assert matches_digest(f"cygnet/python@{PY_ID}", PY_ID)
    assert not matches_digest("ab12ab12", PY_ID)  # too short
    assert not matches_digest("cygnet", PY_ID)


def test_resolve_forms() -> None:
    entries = _catalogue()
    assert resolve_in(entries, "cygnet/python:3.11").name == "cygnet/python:3.11"
    assert resolve_in(entries, "cygnet/busybox").name == "cygnet/busybox:latest"
    assert resolve_in(entries, "local/cygnet/python:3.11").name == "cygnet/python:3.11"
    assert resolve_in(entries, "cr.backend.ai/cygnet/busybox").name == "cygnet/busybox:latest"
    assert resolve_in(entries, BB_ID).name == "cygnet/busybox:latest"
    assert resolve_in(entries, "python").name == "cygnet/python:3.11"
    assert resolve_in(entries, "busybox", "x86_64").name == "cygnet/busybox:latest"
    with pytest.raises(ImageNotFound, match=r"cr\.backend\.ai/stable/python"):
        resolve_in(entries, "cr.backend.ai/stable/python:3.9")


def test_alias_only_when_no_exact_image() -> None:
    entries = [
        *_catalogue(),
        *merge_entries([AgentImages("a4", "x86_64", "default", (_info("python", "", {}),))]),
    ]
    assert resolve_in(entries, "python").name == "python:latest"
    with pytest.raises(ImageNotFound):
        resolve_in(_catalogue(), "python", aliases={})


def test_unknown_and_other_architecture() -> None:
    entries = _catalogue()
    with pytest.raises(ImageNotFound, match=r"did you mean: cygnet/python:3\.11") as caught:
        resolve_in(entries, "cygnet/pyton:3.11")
    assert caught.value.status == 404
    with pytest.raises(ImageNotFound, match="cygnet/python"):
        resolve_in(entries, "pythn")
    with pytest.raises(ImageNotFound, match="available: "):
        resolve_in(entries, "zzz/qqq")
    with pytest.raises(ImageNotFound, match=r"not available for architecture 'x86_64'.*aarch64"):
        resolve_in(entries, "cygnet/r:4.3", "x86_64")
    assert resolve_in(entries, "cygnet/r:4.3").architecture == "aarch64"
    with pytest.raises(ImageNotFound):
        resolve_in(entries, "  ")


def test_check_resources_minimums_and_shmem() -> None:
    python = resolve_in(_catalogue(), "cygnet/python:3.11")  # min cpu 1, mem 256m
    check_resources(python, ResourceSlot({"cpu": "1", "mem": "320m"}), 64 * MIB)
    check_resources(python, ResourceSlot({"cpu": "2", "mem": "1g"}))  # default shmem 64m
    with pytest.raises(
        InvalidAPIParameters, match=r"mem=320m \(256m \+ shmem\); requested mem=300m"
    ):
        check_resources(python, ResourceSlot({"cpu": "1", "mem": "300m"}), 64 * MIB)
    with pytest.raises(InvalidAPIParameters, match=r"cpu=1;.*requested cpu=0\.5"):
        check_resources(python, ResourceSlot({"cpu": "0.5", "mem": "1g"}))
    with pytest.raises(InvalidAPIParameters, match=r"shmem \(1g\) must be smaller.*\(1g\)") as c:
        check_resources(python, ResourceSlot({"cpu": "1", "mem": "1g"}), GIB)
    assert c.value.error_code == "api_generic_invalid-parameters"
    with pytest.raises(InvalidAPIParameters, match="negative"):
        check_resources(python, ResourceSlot({"cpu": "1", "mem": "1g"}), -1)


def test_check_resources_other_slots_and_default_mem() -> None:
    labels = {"ai.backend.resource.min.cuda.shares": "0.5"}
    gpu = merge_entries([AgentImages("a", "x86_64", "g", (_info("gpu/img:1", "", labels),))])[0]
    with pytest.raises(InvalidAPIParameters, match=r"cuda\.shares=0\.5; requested cuda\.shares=0"):
        check_resources(gpu, ResourceSlot({"cpu": "1", "mem": "2g"}))
    check_resources(gpu, ResourceSlot({"cpu": "1", "mem": "2g", "cuda.shares": "1"}))
    # Without a mem label the minimum is 1 GiB (+ shmem).
    with pytest.raises(InvalidAPIParameters, match=r"mem=1088m \(1g \+ shmem\)"):
        check_resources(gpu, ResourceSlot({"cpu": "1", "mem": "1g", "cuda.shares": "1"}))
