"""``cygnet vfolder mkdir|files|upload|download|mv|rename-file|rm-files``: the files in a folder.

Uploads and downloads go straight to the storage proxy with a progress bar, and resume when
re-run: what they need for that is kept under ``<config dir>/transfers`` (an upload's tus URL,
a download's ETag); a download is written to ``<name>.part`` until it is complete.
"""

from __future__ import annotations

import stat
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from cygnet.client.cli.context import CLIFailure, CLIState, json_option, pass_state
from cygnet.client.cli.output import col, make_console
from cygnet.client.sdk.models import VFolderFile
from cygnet.client.sdk.profiles import config_dir
from cygnet.client.sdk.session import AsyncAPISession
from cygnet.client.sdk.vfolder_transfers import (
    ProgressFn,
    TransferJournal,
    TransferResult,
    UploadItem,
)

EXIT_INTERRUPTED = 130
T = TypeVar("T")


def human_bytes(n: int | float | None) -> str:
    """``0 B``, ``512 B``, ``1.5 KiB``, ``5.2 MiB``, ``3.0 GiB``."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover - unreachable


# --- progress bars -----------------------------------------------------------------------------


@contextmanager
def progress_bar(state: CLIState, verb: str) -> Iterator[tuple[ProgressFn, Callable[[str], None]]]:
    """A Rich progress bar on stderr (bytes, rate, ETA): ``(update(done, total), name(text))``.
    Nothing is drawn in ``--json`` mode."""
    if state.json_output:
        yield (lambda _done, _total: None), (lambda _name: None)
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=make_console(stderr=True),
    )
    task = bar.add_task(verb, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    def name(text: str) -> None:
        bar.update(task, description=f"{verb} {text}")

    with bar:
        yield update, name
        bar.update(task, description=verb)


@contextmanager
def resumable(state: CLIState) -> Iterator[None]:
    """Ctrl-C ends a transfer with exit code 130 and says how to resume it."""
    try:
        yield
    except KeyboardInterrupt:
        make_console(stderr=True).print(
            Text(
                "Interrupted. Run the same command again to resume where it stopped.",
                style="yellow",
            ),
            soft_wrap=True,
        )
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


NOT_FOUND_HINTS = {
    "vfolder_read_not-found": "See your folders with `cygnet vfolder ls` (names are "
    "case-sensitive).",
}


def api(state: CLIState, fn: Callable[[AsyncAPISession], Awaitable[T]]) -> T:
    """``state.run_api`` with a hint on how to fix the common errors."""
    try:
        return state.run_api(fn)
    except CLIFailure as exc:
        hint = NOT_FOUND_HINTS.get(exc.error_code or "")
        if hint:
            raise CLIFailure(f"{exc.message} {hint}", exc.error_code) from None
        raise


def journal() -> TransferJournal:
    return TransferJournal(config_dir() / "transfers")


FILE_COLUMNS = [
    col("Name", "name", no_wrap=True),
    col("Type", lambda f: f.type.lower()),
    col("Size", lambda f: "-" if f.is_dir else human_bytes(f.size)),
    col("Mode", lambda f: stat.filemode(f.mode) if f.mode is not None else "-", no_wrap=True),
    col("Modified", "modified"),
]


def _report(
    state: CLIState, verb: str, name: str, results: list[TransferResult], **extra: Any
) -> None:
    total = sum(r.size for r in results)
    if state.json_output:
        state.out.json(
            {"ok": True, "folder": name, "files": [asdict(r) for r in results], "bytes": total}
            | extra
        )
        return
    noun = "file" if len(results) == 1 else "files"
    state.out.done(f"{verb} {len(results)} {noun} ({human_bytes(total)}).")
    for r in results:
        if r.resumed_from:
            state.out.console.print(
                Text(f"  {r.remote}: resumed at {human_bytes(r.resumed_from)}", style="dim")
            )


@click.command()
@click.argument("name")
@click.argument("paths", nargs=-1, required=True)
@click.option("-p", "--parents", is_flag=True, help="Make parent directories as needed.")
@click.option("--exist-ok", is_flag=True, help="No error if a directory exists.")
@json_option
@pass_state
def mkdir(
    state: CLIState, name: str, paths: tuple[str, ...], parents: bool, exist_ok: bool
) -> None:
    """Make directories in a folder.

    \b
    Example:
      cygnet vfolder mkdir data images/train images/test --parents
    """
    results = api(
        state, lambda s: s.vfolders.mkdir(name, list(paths), parents=parents, exist_ok=exist_ok)
    )
    if state.json_output:
        state.out.json(results)
    else:
        made = ", ".join(str(r.get("item")) for r in results.success)
        state.out.done(f"Made {made or 'nothing'} in {name}.")
    for failure in results.failed:
        state.out.note(f"Not made: {failure.get('item')}: {failure.get('msg')}")
    if results.failed:
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("name")
@click.argument("path", default="")
@json_option
@pass_state
def files(state: CLIState, name: str, path: str) -> None:
    """List the files of a directory in a folder (default: its top)."""
    found: list[VFolderFile] = api(state, lambda s: s.vfolders.list_files(name, path))
    ordered = sorted(found, key=lambda f: (not f.is_dir, f.name))
    state.out.items(ordered, FILE_COLUMNS, noun="file")


@click.command()
@click.argument("name")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--dest",
    "-d",
    default="",
    metavar="DIR",
    help="Directory in the folder to upload into (default: its top).",
)
@click.option("-r", "--recursive", is_flag=True, help="Upload directories and what they hold.")
@json_option
@pass_state
def upload(state: CLIState, name: str, paths: tuple[Path, ...], dest: str, recursive: bool) -> None:
    """Upload local files (and, with -r, directories) into folder NAME.

    A file lands as DIR/<its name>, a directory as DIR/<its name>/... . An interrupted upload
    continues where it stopped when you run the same command again.

    \b
    Examples:
      cygnet vfolder upload data ./train.csv
      cygnet vfolder upload data ./images --recursive --dest datasets
    """
    for path in paths:
        if path.is_dir() and not recursive:
            raise click.UsageError(
                f"{str(path)!r} is a directory; add --recursive (-r) to upload it and what "
                "it holds."
            )
    with resumable(state), progress_bar(state, "Uploading") as (update, show):

        def on_file(item: UploadItem) -> None:
            show(item.remote)

        results = api(
            state,
            lambda s: s.vfolders.upload(
                name,
                list(paths),
                dest=dest,
                recursive=recursive,
                progress=update,
                on_file=on_file,
                journal=journal(),
            ),
        )
    _report(state, "Uploaded", name, results)


@click.command()
@click.argument("name")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--dest",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Local directory to download into (made if missing).",
)
@click.option("-r", "--recursive", is_flag=True, help="Download directories and what they hold.")
@click.option(
    "--archive",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE.zip",
    help="Get all PATHS (files and directories) as one ZIP file instead.",
)
@json_option
@pass_state
def download(
    state: CLIState,
    name: str,
    paths: tuple[str, ...],
    dest: Path,
    recursive: bool,
    archive: Path | None,
) -> None:
    """Download files (and, with -r, directories) of folder NAME.

    Each file is written to <name>.part and renamed when complete; running the same command
    again after an interruption continues the .part file.

    \b
    Examples:
      cygnet vfolder download data train.csv
      cygnet vfolder download data images --recursive --dest ./local-copy
      cygnet vfolder download data images train.csv --archive data.zip
    """
    if archive is not None:
        with resumable(state), progress_bar(state, f"Downloading {archive.name}") as (update, _):
            result = api(
                state,
                lambda s: s.vfolders.download_archive(name, list(paths), archive, progress=update),
            )
        _report(state, "Downloaded an archive of", name, [result])
        return
    with resumable(state), progress_bar(state, "Downloading") as (update, show):
        results = api(
            state,
            lambda s: s.vfolders.download(
                name,
                list(paths),
                dest,
                recursive=recursive,
                progress=update,
                on_file=show,
                journal=journal(),
            ),
        )
    _report(state, "Downloaded", name, results)


@click.command(name="mv")
@click.argument("name")
@click.argument("src")
@click.argument("dst")
@json_option
@pass_state
def mv(state: CLIState, name: str, src: str, dst: str) -> None:
    """Move SRC to DST inside a folder (into DST when it is a directory)."""
    api(state, lambda s: s.vfolders.move_file(name, src, dst))
    state.out.done(f"Moved {src} to {dst} in {name}.")


@click.command(name="rename-file")
@click.argument("name")
@click.argument("path")
@click.argument("new_name")
@json_option
@pass_state
def rename_file(state: CLIState, name: str, path: str, new_name: str) -> None:
    """Rename a file or directory in place (NEW_NAME is a name, not a path)."""
    if "/" in new_name:
        raise click.UsageError(
            f"NEW_NAME {new_name!r} must be a plain name; use `cygnet vfolder mv` to move files."
        )
    api(state, lambda s: s.vfolders.rename_file(name, path, new_name))
    state.out.done(f"Renamed {path} to {new_name} in {name}.")


@click.command(name="rm-files")
@click.argument("name")
@click.argument("paths", nargs=-1, required=True)
@click.option("-r", "--recursive", is_flag=True, help="Delete directories and what they hold.")
@json_option
@pass_state
def rm_files(state: CLIState, name: str, paths: tuple[str, ...], recursive: bool) -> None:
    """Delete files (and, with -r, directories) from a folder. There is no undo."""
    api(state, lambda s: s.vfolders.delete_files(name, list(paths), recursive=recursive))
    state.out.done(f"Deleted {', '.join(paths)} from {name}.")
