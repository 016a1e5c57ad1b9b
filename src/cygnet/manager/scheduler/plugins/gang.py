"""``gang`` permit: a session is bound only when every one of its kernels has been reserved;
otherwise everything reserved for it is given back (all or nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygnet.manager.scheduler.framework import (
    SUCCESS,
    CycleState,
    Reservation,
    Status,
    unschedulable,
)


class Gang:
    name = "gang"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def permit(self, reservation: Reservation, state: CycleState) -> Status:
        want = len(reservation.session.kernels)
        got = {k.kernel_id for k in reservation.kernels}
        if len(got) == want and got == {k.id for k in reservation.session.kernels}:
            return SUCCESS
        return unschedulable(self.name, f"only {len(got)} of {want} kernels could be placed")
