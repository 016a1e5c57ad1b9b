"""Pure pieces of `cygnet session` / `cygnet run` and the compute SDK: option parsing, table
rendering, SSE parsing, multipart splitting, safe tar extraction; plus the SDK's REST execute,
upload, download and events requests against an ``httpx.MockTransport``."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import httpx
import pytest

from cygnet.client.cli.output import Output
from cygnet.client.cli.run import batch_options, parse_env, parse_resource_opts, parse_resources
from cygnet.client.cli.sessions import age, fmt_slots, format_event, render_sessions
from cygnet.client.sdk import APIConfig, AsyncAPISession, NotFound
from cygnet.client.sdk.compute import (
    ComputeSessions,
    RESTExecution,
    UnsafeArchive,
    extract_tar,
    parse_sse,
    split_multipart,
    upload_name,
)
from cygnet.client.sdk.models import ComputeSession, ExecutionResult, Page
from cygnet.client.sdk.sse import SSEParser

# --- option parsing ------------------------------------------------------------------------------


def test_mem_without_unit_means_mebibytes() -> None:
    assert parse_resources(["cpu=1", "mem=4"]) == {"cpu": "1", "mem": "4m"}
    assert parse_resources(["mem=1g", "cuda.shares=0.5"]) == {"mem": "1g", "cuda.shares": "0.5"}
    assert parse_resources(["mem=1.5"]) == {"mem": "1.5m"}


def test_resource_opts_follow_the_same_mem_rule() -> None:
    assert parse_resource_opts(["shmem=64m", "mem=4"]) == {"shmem": "64m", "mem": "4m"}
    assert parse_resource_opts(["shmem=64"]) == {"shmem": "64"}  # only the `mem` key


@pytest.mark.parametrize("bad", ["cpu", "=1", "cpu=abc", "cpu=-1", "mem=lots", "mem="])
def test_bad_resources_are_usage_errors(bad: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_resources([bad])


def test_env_values_may_hold_equals_signs_and_be_empty() -> None:
    assert parse_env(["A=1", "URL=a=b", "EMPTY="]) == {"A": "1", "URL": "a=b", "EMPTY": ""}
    with pytest.raises(click.BadParameter, match="KEY=VALUE"):
        parse_env(["NOVALUE"])


def test_batch_options_default_to_python_on_the_first_file() -> None:
    opts = batch_options(["main.py", "util.py"], None, None)
    assert opts == {"clean": "", "build": "", "buildLog": False, "exec": "python main.py"}
    built = batch_options([], "make run", "make")
    assert built["exec"] == "make run" and built["build"] == "make" and built["buildLog"] is True
    with pytest.raises(click.UsageError):
        batch_options([], None, None)


# --- rendering ------------------------------------------------------------------------------------

NOW = datetime(2025, 1, 2, 12, 0, tzinfo=UTC)


def _page() -> Page[ComputeSession]:
    rows = [
        {
            "id": "5b3a2c1e-0000-4000-8000-000000000001",
            "name": "train-1",
            "access_key": "AKIAALICE",
            "type": "INTERACTIVE",
            "image": "python:3.11",
            "status": "RUNNING",
            "status_info": None,
            "created_at": (NOW - timedelta(minutes=12)).isoformat(),
            "occupied_slots": json.dumps({"cpu": "1", "mem": "1073741824"}),
        },
        {
            "id": "7c4d3e2f-0000-4000-8000-000000000002",
            "name": "job-2",
            "access_key": "AKIABOB",
            "type": "BATCH",
            "image": "python:3.11",
            "status": "TERMINATED",
            "status_info": "task-finished",
            "created_at": (NOW - timedelta(hours=3)).isoformat(),
            "occupied_slots": "{}",
        },
    ]
    return Page[ComputeSession](
        items=[ComputeSession.model_validate(r) for r in rows], total_count=2
    )


def test_session_table_shows_readable_columns(capsys: pytest.CaptureFixture[str]) -> None:
    render_sessions(Output(), _page(), show_owner=True, now=NOW)
    out = capsys.readouterr().out
    for text in ("train-1", "5b3a2c1e", "interactive", "RUNNING", "12m", "cpu=1 mem=1g"):
        assert text in out
    assert "task-finished" in out and "3h" in out and "AKIABOB" in out
    assert "5b3a2c1e-0000" not in out  # ids are shortened


def test_session_table_hides_owner_and_json_keeps_everything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    render_sessions(Output(), _page(), show_owner=False, now=NOW)
    assert "AKIAALICE" not in capsys.readouterr().out
    render_sessions(Output(json_mode=True), _page(), show_owner=False, now=NOW)
    body = json.loads(capsys.readouterr().out)
    assert body["total_count"] == 2
    assert body["items"][0]["id"] == "5b3a2c1e-0000-4000-8000-000000000001"
    assert body["items"][0]["occupied_slots"] == {"cpu": "1", "mem": "1073741824"}


def test_small_formatters() -> None:
    assert age(NOW - timedelta(seconds=5), NOW) == "5s"
    assert age(NOW - timedelta(days=2, hours=1), NOW) == "2d"
    assert age(None, NOW) == "-"
    assert fmt_slots({"cpu": "2", "mem": "536870912", "cuda.shares": "0.5"}) == (
        "cpu=2 mem=512m cuda.shares=0.5"
    )
    line = format_event(
        "session_terminated",
        {"sessionName": "s1", "reason": "user-requested", "exitCode": 0},
        datetime(2025, 1, 1, 9, 30, 5),
    )
    assert line == "09:30:05  session_terminated  s1  reason=user-requested  exit=0"


# --- SSE ---------------------------------------------------------------------------------


def test_sse_multiline_data_comments_ids_and_retry() -> None:
    text = (
        ": keep-alive comment\r\n"
        "retry: 5\r\n"
        "event: session_started\r\n"
        'data: {"sessionName": "s1",\r\n'
        'data:  "reason": null}\r\n'
        "id: 7\r\n"
        "\r\n"
        "\n"  # a stray blank line dispatches nothing
        "data:plain\n"
        "unknown-field: x\n"
        "\n"
        "event: server_close\n"
        "data: {}\n"
        "\n"
        "event: never-finished\n"
        "data: 1\n"
    )
    messages = list(parse_sse(text.splitlines()))
    assert [m.event for m in messages] == ["session_started", "message", "server_close"]
    first = messages[0]
    assert first.data == '{"sessionName": "s1",\n "reason": null}'
    assert first.json() == {"sessionName": "s1", "reason": None}
    assert first.id == "7" and first.retry == 5.0
    assert messages[1].data == "plain" and messages[1].json() == {"raw": "plain"}
    assert messages[1].id == "7"  # the last event id carries over


def test_sse_parser_ignores_a_bad_retry() -> None:
    parser = SSEParser()
    assert parser.feed("retry: soon") is None
    assert parser.feed("data: x") is None
    message = parser.feed("")
    assert message is not None and message.retry is None and message.data == "x"


# --- files -------------------------------------------------------------------------------


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


def test_tar_extraction_writes_inside_dest(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    names = extract_tar(_tar({"result/a.txt": b"A", "b.txt": b"B"}, {"link": "b.txt"}), dest)
    assert sorted(names) == ["b.txt", "link", "result/a.txt"]
    assert (dest / "result" / "a.txt").read_bytes() == b"A"


@pytest.mark.parametrize(
    ("members", "links"),
    [
        ({"../evil.txt": b"x"}, None),
        ({"ok/../../evil.txt": b"x"}, None),
        ({"/etc/evil.txt": b"x"}, None),
        ({}, {"escape": "../../etc/passwd"}),
        ({}, {"abs": "/etc/passwd"}),
    ],
)
def test_tar_extraction_refuses_members_escaping_dest(
    tmp_path: Path, members: dict[str, bytes], links: dict[str, str] | None
) -> None:
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchive):
        extract_tar(_tar({"fine.txt": b"ok", **members}, links), dest)
    assert not (dest / "fine.txt").exists()  # nothing is extracted from a bad archive
    assert not (tmp_path / "evil.txt").exists()


def test_split_multipart_mixed() -> None:
    body = (
        b"--XyZ\r\nContent-Type: application/octet-stream\r\nContent-Encoding: identity\r\n\r\n"
        b"first\r\n--XyZ\r\nContent-Type: application/octet-stream\r\n\r\nsec\r\nond\r\n--XyZ--\r\n"
    )
    assert split_multipart(body, 'multipart/mixed; boundary="XyZ"') == [b"first", b"sec\r\nond"]


def test_upload_names_are_relative_to_the_base(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    inside = tmp_path / "pkg" / "mod.py"
    inside.write_text("x")
    assert upload_name(inside, tmp_path) == "pkg/mod.py"
    assert upload_name(inside, tmp_path / "elsewhere") == "mod.py"


# --- the SDK against a mock server ---------------------------------------------------------------


def _session(handler: Any) -> AsyncAPISession:
    config = APIConfig(endpoint="http://manager.test", access_key="AKIATEST", secret_key="SECRET")
    return AsyncAPISession(config, transport=httpx.MockTransport(handler))


async def test_rest_execution_follows_run_id_with_continue_and_input() -> None:
    seen: list[dict[str, Any]] = []
    answers = [
        {"status": "continued", "runId": "r1", "console": [["stdout", "a"]]},
        {"status": "waiting-input", "runId": "r1", "console": [], "options": {}},
        {"status": "finished", "runId": "r1", "exitCode": 3, "console": [["stderr", "b"]]},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(200, json={"version": "v9.20250722"})
        assert request.method == "POST" and request.url.path == "/session/s1"
        assert request.headers["Authorization"].startswith("BackendAI signMethod=HMAC-SHA256")
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"result": answers[len(seen) - 1]})

    async with _session(handler) as s:
        stream = await ComputeSessions(s).stream_execute("s1", "input()", transport="rest")
        assert isinstance(stream, RESTExecution)
        results: list[ExecutionResult] = []
        async for result in stream:
            results.append(result)
            if result.status == "waiting-input":
                await stream.send_input("hello")
    assert [r.status for r in results] == ["continued", "waiting-input", "finished"]
    assert results[-1].exit_code == 3 and results[-1].stderr == "b"
    assert [(b["mode"], b["code"], b["runId"]) for b in seen] == [
        ("query", "input()", None),
        ("continue", "", "r1"),
        ("input", "hello", "r1"),
    ]


async def test_upload_download_and_events_requests(tmp_path: Path) -> None:
    archive = _tar({"out.txt": b"result"})
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(200, json={"version": "v9.20250722"})
        requests.append(request)
        path = request.url.path
        if path.endswith("/upload"):
            return httpx.Response(204)
        if path.endswith("/download"):
            body = (
                b"--B\r\nContent-Type: application/octet-stream\r\n\r\n"
                + archive
                + b"\r\n--B--\r\n"
            )
            return httpx.Response(
                200, content=body, headers={"Content-Type": "multipart/mixed; boundary=B"}
            )
        if path == "/events/session":
            stream = (
                b'event: session_started\ndata: {"sessionName": "s1"}\n\n'
                b"event: server_close\ndata: {}\n\n"
            )
            return httpx.Response(200, content=stream)
        return httpx.Response(
            404,
            json={
                "type": "https://api.backend.ai/probs/object-not-found",
                "title": "No such session.",
            },
            headers={"Content-Type": "application/problem+json"},
        )

    source = tmp_path / "src"
    source.mkdir()
    (source / "main.py").write_text("print(1)")
    async with _session(handler) as s:
        api = ComputeSessions(s)
        assert await api.upload("s1", [source / "main.py"], basedir=tmp_path) == ["src/main.py"]
        dest = tmp_path / "dest"
        assert await api.download("s1", ["out.txt"], dest) == ["out.txt"]
        assert (dest / "out.txt").read_bytes() == b"result"
        events = [e async for e in api.events("s1")]
        with pytest.raises(NotFound):
            await api.info("nope")
    upload, download, sse = requests[:3]
    assert upload.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="src"; filename="src/main.py"' in upload.read()
    assert download.url.params.get_list("files") == ["out.txt"]
    assert events == [("session_started", {"sessionName": "s1"})]
    assert "Content-Type" not in sse.headers
    assert sse.url.params["sessionName"] == "s1" and sse.url.params["scope"] == "*"
