"""The image catalogue: the images the ALIVE agents have, resolving references, minimums.

There is no image table: an image exists while some live agent reports it. Entries are merged
by name and architecture. Minimum resources come from the ``ai.backend.resource.min.<slot>``
labels, with the intrinsic defaults cpu 1 and mem 1 GiB (wire notes, section 4); the session
request must cover them, with ``shmem`` added to the minimum mem.
"""

from __future__ import annotations

import difflib
import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cygnet.common.clock import Clock
from cygnet.common.errors import ImageNotFound, InvalidAPIParameters
from cygnet.common.images import split_name, with_tag
from cygnet.common.memo import Memo
from cygnet.common.resources import BinarySize, ResourceSlot, ResourceSlotError, is_bytes_slot
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import images as repo

MIN_LABEL = "ai.backend.resource.min."
RUNTIME_TYPE_LABEL = "ai.backend.runtime-type"
RUNTIME_PATH_LABEL = "ai.backend.runtime-path"
LOCAL_REGISTRY = "local"
DEFAULT_MIN_SLOTS = ResourceSlot({"cpu": "1", "mem": "1g"})
DEFAULT_SHMEM = 64 * 1024**2
DEFAULT_ALIASES: Mapping[str, str] = {
    "python": "cygnet/python:3.11",
    "busybox": "cygnet/busybox:latest",
}


@dataclass(frozen=True, slots=True)
class ImageEntry:
    name: str  # repository:tag, e.g. "cygnet/python:3.11"
    registry: str
    repository: str
    tag: str
    architecture: str
    labels: dict[str, str]
    size: int
    digest: str  # the engine's image id / digest ("" when the runtime has none)
    agents: tuple[str, ...]  # the ALIVE agents that have it
    min_slots: ResourceSlot
    runtime_type: str | None
    runtime_path: str | None

    @property
    def canonical(self) -> str:
        return f"{self.registry}/{self.name}"


def min_slots_from_labels(labels: Mapping[str, str]) -> ResourceSlot:
    """The image's minimum slots: its ``min.<slot>`` labels over the cpu/mem defaults.

    A label whose value does not parse is ignored (the default, if any, stays)."""
    slots = dict(DEFAULT_MIN_SLOTS)
    for key, value in labels.items():
        if not key.startswith(MIN_LABEL) or not key[len(MIN_LABEL) :]:
            continue
        slot = key[len(MIN_LABEL) :]
        try:
            slots[slot] = ResourceSlot({slot: value})[slot]
        except ResourceSlotError:
            continue
    return ResourceSlot(slots).normalised()


def name_candidates(reference: str) -> list[str]:
    """Image names a reference may mean, most literal first: itself (``:latest`` added when
    untagged), then without a registry prefix (``local/``, ``cr.backend.ai/`` …: a first path
    component that is ``local``/``localhost`` or contains a dot or a port)."""
    candidates = [with_tag(reference)]
    first, slash, rest = reference.partition("/")
    is_registry = first in (LOCAL_REGISTRY, "localhost") or "." in first or ":" in first
    if slash and rest and is_registry:
        candidates.append(with_tag(rest))
    return list(dict.fromkeys(candidates))


def _bare_digest(value: str) -> str:
    return value.removeprefix("sha256:").lower()


def matches_digest(reference: str, digest: str) -> bool:
    """Whether ``reference`` names this image id: the full id, with or without ``sha256:``,
    or an unambiguous-looking prefix of at least 12 hex digits."""
    if not digest:
        return False
    ref = _bare_digest(reference.rpartition("@")[2] if "@" in reference else reference)
    if len(ref) < 12 or any(c not in "0123456789abcdef" for c in ref):
        return False
    return _bare_digest(digest).startswith(ref)


def _format_quantity(slot: str, value: Decimal) -> str:
    if is_bytes_slot(slot) and value.is_finite() and value >= 0:
        return BinarySize(int(value)).format()
    return ResourceSlot({slot: value}).to_json()[slot]


def check_resources(image: ImageEntry, requested: ResourceSlot, shmem: int = DEFAULT_SHMEM) -> None:
    """Refuse a request below the image's minimums (mem minimum + ``shmem``), or with a
    ``shmem`` not strictly below the requested mem: ``InvalidAPIParameters``."""
    if shmem < 0:
        raise InvalidAPIParameters(f"shmem cannot be negative: {shmem}")
    mem = requested.get_or_zero("mem")
    if Decimal(shmem) >= mem:
        raise InvalidAPIParameters(
            f"shmem ({_format_quantity('mem', Decimal(shmem))}) must be smaller than the "
            f"requested mem ({_format_quantity('mem', mem)})"
        )
    order = sorted(image.min_slots, key=lambda s: (s not in ("cpu", "mem"), s))
    for slot in order:
        minimum = image.min_slots[slot]
        needed = minimum + Decimal(shmem) if slot == "mem" else minimum
        got = requested.get_or_zero(slot)
        if got < needed:
            extra = f" ({_format_quantity(slot, minimum)} + shmem)" if slot == "mem" else ""
            raise InvalidAPIParameters(
                f"image {image.name} needs at least {slot}={_format_quantity(slot, needed)}"
                f"{extra}; requested {slot}={_format_quantity(slot, got)}"
            )


def merge_entries(agents: Iterable[repo.AgentImages]) -> list[ImageEntry]:
    """One entry per (name, architecture) over the agents' reports, sorted."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    holders: dict[tuple[str, str], list[str]] = {}
    for agent in agents:
        for info in agent.images:
            name = str(info.get("name") or "")
            if not name:
                continue
            arch = str(info.get("architecture") or agent.architecture)
            key = (with_tag(name), arch)
            seen.setdefault(key, info)
            holders.setdefault(key, []).append(agent.agent_id)
    entries = []
    for (name, arch), info in sorted(seen.items()):
        labels = {str(k): str(v) for k, v in (info.get("labels") or {}).items()}
        repository, tag = split_name(name)
        entries.append(
            ImageEntry(
                name=name,
                registry=LOCAL_REGISTRY,
                repository=repository,
                tag=tag,
                architecture=arch,
                labels=labels,
                size=int(info.get("size") or 0),
                digest=str(info.get("id") or ""),
                agents=tuple(sorted(set(holders[(name, arch)]))),
                min_slots=min_slots_from_labels(labels),
                runtime_type=labels.get(RUNTIME_TYPE_LABEL),
                runtime_path=labels.get(RUNTIME_PATH_LABEL),
            )
        )
    return entries


def _basename(reference: str) -> str:
    return split_name(reference)[0].rpartition("/")[2]


def _close_matches(reference: str, names: list[str]) -> list[str]:
    """Up to five names like ``reference``: by full name, then by repository basename."""
    close = difflib.get_close_matches(with_tag(reference), names, n=5, cutoff=0.6)
    wanted = _basename(reference)
    bases = {name: _basename(name) for name in names}
    similar = set(difflib.get_close_matches(wanted, list(bases.values()), n=5, cutoff=0.6))
    close += [n for n in names if n not in close and (bases[n] in similar or wanted in n)]
    return close[:5]


def resolve_in(
    entries: list[ImageEntry],
    reference: str,
    architecture: str | None = None,
    aliases: Mapping[str, str] = DEFAULT_ALIASES,
) -> ImageEntry:
    """Find ``reference`` among ``entries`` (pure; see ``ImageService.resolve``)."""
    ref = reference.strip()
    if not ref:
        raise ImageNotFound("an image reference cannot be empty")
    by_name: dict[str, list[ImageEntry]] = {}
    for entry in entries:
        by_name.setdefault(entry.name, []).append(entry)
    found: list[ImageEntry] = []
    for candidate in name_candidates(ref):
        if candidate in by_name:
            found = by_name[candidate]
            break
    if not found:
        found = [e for e in entries if matches_digest(ref, e.digest)]
        if len({e.name for e in found}) > 1:
            which = ", ".join(sorted({e.name for e in found}))
            raise ImageNotFound(f"image id {ref!r} is ambiguous: {which}")
    if not found and ref in aliases and aliases[ref] != ref:
        return resolve_in(entries, aliases[ref], architecture, aliases={})
    if not found:
        names = sorted(by_name)
        close = _close_matches(ref, names)
        hint = f"; did you mean: {', '.join(close[:5])}?" if close else ""
        known = "" if close else f"; available: {', '.join(names) or 'none'}"
        raise ImageNotFound(f"no image {ref!r} on any live agent{hint}{known}")
    if architecture is not None:
        for entry in found:
            if entry.architecture == architecture:
                return entry
        others = ", ".join(sorted({e.architecture for e in found}))
        raise ImageNotFound(
            f"image {found[0].name} is not available for architecture {architecture!r}; "
            f"only for: {others}"
        )
    host = platform.machine()
    return next((e for e in found if e.architecture == host), found[0])


CATALOGUE_TTL = 2.0


class ImageService:
    """Read-only catalogue of the images on ALIVE agents."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        aliases: Mapping[str, str] | None = None,
        *,
        agents_generation: Callable[[], int] = lambda: 0,
    ) -> None:
        self.db = db
        self._generation = agents_generation
        self.clock = clock
        self.aliases: Mapping[str, str] = dict(DEFAULT_ALIASES if aliases is None else aliases)
        # Session creation resolves an image on every request: the catalogue is read from
        # the agents at most every CATALOGUE_TTL seconds (and again on a miss).
        self._catalogue: Memo[tuple[str | None, int], list[ImageEntry]] = Memo(clock, CATALOGUE_TTL)

    async def list_images(
        self, *, resource_group: str | None = None, architecture: str | None = None
    ) -> list[ImageEntry]:
        """The images present on ALIVE agents (of ``resource_group``), merged by name and
        architecture, sorted by name then architecture."""
        async with self.db.read() as session:
            agents = await repo.alive_agent_images(session, resource_group=resource_group)
        entries = merge_entries(agents)
        if architecture is not None:
            entries = [e for e in entries if e.architecture == architecture]
        return entries

    async def resolve(
        self, reference: str, architecture: str | None = None, *, resource_group: str | None = None
    ) -> ImageEntry:
        """The image ``reference`` names: ``name:tag``, ``name`` (``:latest``), a registry-
        qualified name (the prefix dropped when the rest matches), an image id or digest, or
        an alias (only when no image has that exact name). Without ``architecture``, the
        manager host's architecture is preferred. Unknown: ``ImageNotFound`` with close
        matches; present only for other architectures: ``ImageNotFound`` saying which."""
        key = (resource_group, self._generation())
        entries, kept = await self._catalogue.get(
            key, lambda: self.list_images(resource_group=resource_group)
        )
        try:
            return resolve_in(entries, reference, architecture, self.aliases)
        except ImageNotFound:
            if not kept:
                raise
        self._catalogue.forget()  # an agent may have brought it since: look again
        entries, _ = await self._catalogue.get(
            key, lambda: self.list_images(resource_group=resource_group)
        )
        return resolve_in(entries, reference, architecture, self.aliases)

    def check_resources(
        self, image: ImageEntry, requested: ResourceSlot, shmem: int = DEFAULT_SHMEM
    ) -> None:
        """See ``check_resources`` (module level); pure."""
        check_resources(image, requested, shmem)
