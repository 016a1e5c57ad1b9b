"""Small cluster-wide settings (the announcement, ...), one JSON value per key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from cygnet.manager.store.models.base import Base, JSONType, UTCDateTime


class SystemConfigRow(Base):
    __tablename__ = "system_config"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime)
