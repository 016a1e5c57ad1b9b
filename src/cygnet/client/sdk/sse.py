"""Server-sent events, parsed incrementally (session events, background-task progress)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SSEMessage:
    """One dispatched server-sent event."""

    event: str
    data: str
    id: str | None = None
    retry: float | None = None

    def json(self) -> dict[str, Any]:
        """``data`` decoded as a JSON object (``{"raw": data}`` when it is not one)."""
        try:
            value = json.loads(self.data) if self.data else {}
        except json.JSONDecodeError:
            return {"raw": self.data}
        return value if isinstance(value, dict) else {"value": value}


@dataclass
class SSEParser:
    """Incremental SSE parser: feed lines (without their ending), get messages on blank lines.

    ``event:``, ``data:`` (several lines join with ``\\n``), ``id:`` and ``retry:`` (seconds)
    fields; lines starting with ``:`` are comments; one space after the colon is dropped.
    """

    retry: float | None = None
    last_id: str | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _has_fields: bool = False

    def feed(self, line: str) -> SSEMessage | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "retry":
            try:
                self.retry = float(value)
            except ValueError:
                return None
        else:
            return None
        self._has_fields = True
        return None

    def _dispatch(self) -> SSEMessage | None:
        if not self._has_fields or (not self._data and not self._event):
            self._reset()
            return None
        message = SSEMessage(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self.last_id,
            retry=self.retry,
        )
        self._reset()
        return message

    def _reset(self) -> None:
        self._event = ""
        self._data = []
        self._has_fields = False


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """``(event, data)`` pairs of a server-sent event stream, ``data`` decoded as a JSON
    object (comments and ``retry:`` skipped)."""
    parser = SSEParser()
    async for line in lines:
        message = parser.feed(line)
        if message is not None:
            yield message.event, message.json()
