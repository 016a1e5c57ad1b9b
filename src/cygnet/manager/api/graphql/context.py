"""What every resolver receives: the authenticated caller and the services."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

from cygnet.manager.entities import Caller
from cygnet.manager.services.container import Services


@dataclass(frozen=True, slots=True)
class GQLContext:
    caller: Caller
    services: Services


Info = strawberry.Info[GQLContext, None]
