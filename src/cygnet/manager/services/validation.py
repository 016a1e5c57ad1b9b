"""Validation of the JSON values that several resources share: resource-slot maps and
storage-host permission maps."""

from __future__ import annotations

from collections.abc import Mapping

from cygnet.common.errors import InvalidAPIParameters
from cygnet.common.resources import ResourceSlot, ResourceSlotError, SlotType

_COUNT = SlotType.COUNT.value
KNOWN_SLOTS: Mapping[str, str] = {
    "cpu": _COUNT,
    "mem": SlotType.BYTES.value,
    "cuda.device": _COUNT,
    "cuda.shares": _COUNT,
    "rocm.device": _COUNT,
    "tpu.device": _COUNT,
    "ipu.device": _COUNT,
    "atom.device": _COUNT,
    "atom-plus.device": _COUNT,
    "atom-max.device": _COUNT,
    "warboy.device": _COUNT,
    "rngd.device": _COUNT,
    "hyperaccel-lpu.device": _COUNT,
    "gaudi2.device": _COUNT,
}
"""Slot names (and their types) a resource-slot map may use (wire notes, section 4)."""


def validate_slots(value: object, field: str) -> dict[str, str]:
    """A resource-slot map from user input, normalised for storage (``{slot: "<decimal>"}``)."""
    if not isinstance(value, Mapping):
        raise InvalidAPIParameters(f"{field} must be a JSON object of slot quantities.")
    try:
        return ResourceSlot.from_user_input(value, KNOWN_SLOTS).to_json()
    except ResourceSlotError as exc:
        raise InvalidAPIParameters(f"Invalid {field}: {exc}") from None


def validate_vfolder_hosts(value: object) -> dict[str, list[str]]:
    """``{host: [permission, ...]}``."""
    if isinstance(value, Mapping) and all(
        isinstance(host, str)
        and isinstance(perms, list)
        and all(isinstance(perm, str) for perm in perms)
        for host, perms in value.items()
    ):
        return {host: list(perms) for host, perms in value.items()}
    raise InvalidAPIParameters(
        "allowed_vfolder_hosts must be a JSON object mapping host names to lists of permissions."
    )
