"""Rendering shared by every command group: Rich tables for people, JSON for machines.

JSON output is the SDK models dumped as JSON: one object for ``info``/``add``/``update``,
``{"items": [...], "total_count": N}`` for lists, ``{"ok": true, "msg": ...}`` for actions that
return nothing. Tables use readable column names and show ``-`` for empty values.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its header and the model attribute (or a function) it shows."""

    header: str
    key: str | Callable[[Any], Any]
    no_wrap: bool = False

    def value(self, item: Any) -> Any:
        if callable(self.key):
            return self.key(item)
        return getattr(item, self.key, None)


def col(header: str, key: str | Callable[[Any], Any], *, no_wrap: bool = False) -> Column:
    return Column(header, key, no_wrap)


def fmt(value: Any) -> str:
    """A value as a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, BaseModel):
        name = getattr(value, "name", None)
        return str(name) if name is not None else json.dumps(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        if not value:
            return "-"
        return ", ".join(f"{k}={_fmt_inner(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value) if value else "-"
    return str(value)


def _fmt_inner(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


class Output:
    """Where a command's results go (stdout), as tables or as JSON."""

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = make_console(stderr=False)
        return self._console

    def json(self, value: Any) -> None:
        click.echo(json.dumps(_dump(value), indent=2, ensure_ascii=False, default=str))

    def items(
        self,
        items: Sequence[BaseModel],
        columns: Sequence[Column],
        *,
        total_count: int | None = None,
        offset: int = 0,
        noun: str = "item",
    ) -> None:
        """A list: a table (with a paging footer when ``total_count`` exceeds the page)."""
        total = len(items) if total_count is None else total_count
        if self.json_mode:
            self.json({"items": [_dump(i) for i in items], "total_count": total})
            return
        if not items:
            self.console.print(Text(f"No {noun}s found.", style="dim"), soft_wrap=True)
            return
        table = Table(show_edge=False, header_style="bold", pad_edge=False)
        for column in columns:
            table.add_column(column.header, no_wrap=column.no_wrap, overflow="fold")
        for item in items:
            table.add_row(*(Text(fmt(c.value(item))) for c in columns))
        self.console.print(table)
        if total_count is not None and (offset > 0 or len(items) < total):
            first, last = offset + 1, offset + len(items)
            footer = f"Showing {noun}s {first}-{last} of {total}."
            if last < total:
                footer += f" Use --offset {last} for the next page."
            self.console.print(Text(footer, style="dim"), soft_wrap=True)

    def item(self, item: BaseModel, rows: Sequence[Column], *, title: str | None = None) -> None:
        """One object: a two-column table of its fields."""
        if self.json_mode:
            self.json(item)
            return
        table = Table(show_header=False, show_edge=False, box=None, title=title, pad_edge=False)
        table.add_column("Field", style="bold", no_wrap=True)
        table.add_column("Value", overflow="fold")
        for row in rows:
            table.add_row(Text(row.header), Text(fmt(row.value(item))))
        self.console.print(table)

    def done(
        self,
        message: str,
        item: BaseModel | None = None,
        rows: Sequence[Column] = (),
        **extra: Any,
    ) -> None:
        """The outcome of an action: a message, and the object it produced when there is one."""
        if self.json_mode:
            if item is not None:
                self.json(item)
            else:
                self.json({"ok": True, "msg": message, **extra})
            return
        self.console.print(Text(message, style="green"), soft_wrap=True)
        if item is not None and rows:
            self.item(item, rows)

    def note(self, message: str) -> None:
        """A remark for people (not printed in JSON mode)."""
        if not self.json_mode:
            make_console(stderr=True).print(Text(message, style="yellow"), soft_wrap=True)


def make_console(*, stderr: bool) -> Console:
    """A console on the current stdout/stderr; wide when not a terminal (pipes, tests)."""
    stream = sys.stderr if stderr else sys.stdout
    width: int | None = None
    if not stream.isatty() and not os.environ.get("COLUMNS"):
        width = 200
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)
