"""The SDK signs requests exactly like the official client (wire notes 1.3-1.4), negotiates the
API version, and turns error answers into typed exceptions. The server side is an
``httpx.MockTransport`` here; the integration tests run the same code against a real manager."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from cygnet.client.sdk import (
    APIConfig,
    APIError,
    APISession,
    AsyncAPISession,
    ClientError,
    ConfigError,
    GraphQLError,
    MutationFailed,
    NotFound,
)
from cygnet.client.sdk.session import negotiated, sign_request
from cygnet.common.auth import API_VERSION, parse_authorization, sign

VECTOR_DATE = "2025-01-02T03:04:05.123456+00:00"
VECTOR_SIGNATURE = "88ad14e19331b813af22fc4e68be0ebbf08ea4a705daea57f9064150eac03345"
SECRET = "SECRETEXAMPLE"
ACCESS = "AKIAEXAMPLE"

Handler = Callable[[httpx.Request], httpx.Response]


def test_sign_request_matches_the_reference_vector() -> None:
    request = httpx.Request(
        "GET", "http://127.0.0.1:8091/session/mysess?owner_access_key=AKIAEXAMPLE"
    )
    sign_request(
        request,
        access_key=ACCESS,
        secret_key=SECRET,
        version="v9.20250722",
        content_type="text/plain",
        now=datetime.fromisoformat(VECTOR_DATE),
    )
    assert request.headers["Date"] == VECTOR_DATE
    assert request.headers["X-BackendAI-Version"] == "v9.20250722"
    assert request.headers["Authorization"] == (
        f"BackendAI signMethod=HMAC-SHA256, credential={ACCESS}:{VECTOR_SIGNATURE}"
    )


def test_anonymous_requests_carry_date_and_version_but_no_signature() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:8091/auth/authorize")
    sign_request(
        request, access_key=None, secret_key=None, version=API_VERSION, content_type="text/plain"
    )
    assert "Authorization" not in request.headers
    assert datetime.fromisoformat(request.headers["Date"]).tzinfo is not None


class Recorder:
    """A fake manager: answers ``GET /`` with a version and everything else via ``respond``."""

    def __init__(self, respond: Handler | None = None, server_version: Any = "v9.20250722"):
        self.requests: list[httpx.Request] = []
        self.respond = respond or (lambda r: httpx.Response(200, json={"ok": True}))
        self.server_version = server_version

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET" and request.url.path in ("/", "/prefix/"):
            if isinstance(self.server_version, Exception):
                raise self.server_version
            if isinstance(self.server_version, int):
                return httpx.Response(self.server_version, text="nope")
            return httpx.Response(200, json={"version": self.server_version, "manager": "x"})
        return self.respond(request)


def config(endpoint: str = "http://127.0.0.1:8091") -> APIConfig:
    return APIConfig(endpoint=endpoint, access_key=ACCESS, secret_key=SECRET, domain="research")


def assert_signed_like_the_official_client(request: httpx.Request, content_type: str) -> None:
    auth = parse_authorization(request.headers["Authorization"])
    assert auth is not None and auth.access_key == ACCESS
    date = request.headers["Date"]
    expected = sign(
        SECRET,
        method=request.method,
        rel_url=request.url.raw_path.decode(),
        date=date,
        day=datetime.fromisoformat(date),
        host=request.headers["Host"],
        content_type=content_type,
        version=request.headers["X-BackendAI-Version"],
    )
    assert auth.signature == expected
    assert request.headers["Content-Type"] == content_type


async def test_session_signs_json_and_empty_bodies() -> None:
    fake = Recorder()
    async with AsyncAPISession(config(), transport=httpx.MockTransport(fake)) as session:
        await session.request("POST", "/admin/gql", json={"query": "{ x }"})
        await session.request("GET", "/folders", params={"files": ["a", "b"], "q": "x y"})
    post, get = fake.requests[1], fake.requests[2]
    assert_signed_like_the_official_client(post, "application/json")
    assert json.loads(post.content) == {"query": "{ x }"}
    assert_signed_like_the_official_client(get, "text/plain")
    assert get.url.raw_path.decode() == "/folders?files=a&files=b&q=x+y"
    assert get.headers["Content-Length"] == "0"
    for request in (post, get):
        assert request.headers["X-BackendAI-Version"] == "v9.20250722"
        assert request.headers["X-BackendAI-Domain"] == "research"
        assert request.headers["User-Agent"].startswith("Cygnet Client for Python")
        assert datetime.fromisoformat(request.headers["Date"]).tzinfo is not None


async def test_endpoint_path_prefix_is_part_of_the_signed_url() -> None:
    fake = Recorder()
    async with AsyncAPISession(
        config("http://127.0.0.1:8091/prefix/"), transport=httpx.MockTransport(fake)
    ) as session:
        await session.request("GET", "/manager/announcement")
    assert fake.requests[0].url.path == "/prefix/"
    assert fake.requests[1].url.raw_path == b"/prefix/manager/announcement"
    assert_signed_like_the_official_client(fake.requests[1], "text/plain")


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("v9.20250722", "v9.20250722"),
        ("v8.20240915", "v8.20240915"),
        ("v10.20300101", API_VERSION),
        ("garbage", API_VERSION),
        (None, API_VERSION),
    ],
)
def test_negotiation_takes_the_older_version(server: str | None, expected: str) -> None:
    assert negotiated(server, API_VERSION) == expected


@pytest.mark.parametrize(
    "server_version",
    ["v8.20240915", 503, httpx.ConnectError("refused"), "not-a-version"],
)
async def test_version_negotiation_falls_back_silently(server_version: Any) -> None:
    fake = Recorder(server_version=server_version)
    async with AsyncAPISession(config(), transport=httpx.MockTransport(fake)) as session:
        await session.request("GET", "/x")
    expected = "v8.20240915" if server_version == "v8.20240915" else API_VERSION
    assert fake.requests[-1].headers["X-BackendAI-Version"] == expected


async def test_problem_json_becomes_api_error() -> None:
    body = {
        "type": "https://api.backend.ai/probs/object-not-found",
        "title": "No such session.",
        "error_code": "session_read_not-found",
        "msg": "Session 'x' not found.",
        "data": {"id": "x"},
    }

    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/missing":
            return httpx.Response(
                404, json=body, headers={"content-type": "application/problem+json"}
            )
        return httpx.Response(500, text="<html>boom</html>")

    async with AsyncAPISession(
        config(), transport=httpx.MockTransport(Recorder(respond))
    ) as session:
        with pytest.raises(NotFound) as caught:
            await session.request("GET", "/missing")
        assert caught.value.status == 404
        assert caught.value.error_code == "session_read_not-found"
        assert caught.value.data == {"id": "x"}
        assert "Session 'x' not found." in str(caught.value)
        with pytest.raises(APIError) as failed:
            await session.request("GET", "/broken")
        assert failed.value.status == 500
        assert "boom" in (failed.value.msg or "")


async def test_graphql_errors_and_failed_mutations() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        query = json.loads(request.content)["query"]
        if " domain(name" in query:
            error = {
                "message": "Domain 'nope' not found.",
                "extensions": {"error_code": "domain_read_not-found", "status": 404},
            }
            return httpx.Response(200, json={"data": None, "errors": [error]})
        if "create_domain" in query:
            payload = {
                "ok": False,
                "msg": "Domain 'dup' already exists.",
                "error_code": "api_generic_invalid-parameters",
            }
            return httpx.Response(200, json={"data": {"create_domain": payload}, "errors": None})
        slots = json.dumps({"cpu": "4", "mem": "17179869184"})
        item = {"name": "d", "total_resource_slots": slots, "allowed_vfolder_hosts": "{}"}
        return httpx.Response(200, json={"data": {"domains": [item]}, "errors": None})

    async with AsyncAPISession(
        config(), transport=httpx.MockTransport(Recorder(respond))
    ) as session:
        with pytest.raises(GraphQLError) as caught:
            await session.admin.domains.get("nope")
        assert caught.value.error_code == "domain_read_not-found"
        assert caught.value.status == 404
        assert str(caught.value) == "Domain 'nope' not found."
        with pytest.raises(MutationFailed) as failed:
            await session.admin.domains.create("dup")
        assert failed.value.error_code == "api_generic_invalid-parameters"
        assert "already exists" in str(failed.value)
        [domain] = await session.admin.domains.list()
        assert domain.total_resource_slots == {"cpu": "4", "mem": "17179869184"}
        assert domain.allowed_vfolder_hosts == {}


async def test_json_string_inputs_are_encoded() -> None:
    seen: list[dict[str, Any]] = []

    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        item = {"name": "d", "total_resource_slots": "{}", "allowed_vfolder_hosts": "{}"}
        return httpx.Response(
            200, json={"data": {"create_domain": {"ok": True, "msg": "", "domain": item}}}
        )

    async with AsyncAPISession(
        config(), transport=httpx.MockTransport(Recorder(respond))
    ) as session:
        await session.admin.domains.create("d", total_resource_slots={"cpu": 4, "mem": "16g"})
    props = seen[0]["variables"]["input"]
    assert props == {"total_resource_slots": json.dumps({"cpu": 4, "mem": "16g"})}


async def test_unreachable_server_is_a_client_error_naming_the_endpoint() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    async with AsyncAPISession(config(), transport=httpx.MockTransport(refuse)) as session:
        with pytest.raises(ClientError) as caught:
            await session.announcement()
    assert "http://127.0.0.1:8091" in str(caught.value)
    assert "cygnet up" in str(caught.value)


async def test_requests_without_keys_say_how_to_configure() -> None:
    bare = APIConfig(endpoint="http://127.0.0.1:8091")
    async with AsyncAPISession(bare, transport=httpx.MockTransport(Recorder())) as session:
        with pytest.raises(ConfigError) as caught:
            await session.admin.domains.list()
    assert "cygnet login" in str(caught.value)
    assert "cygnet up" in str(caught.value)


def test_blocking_session_runs_the_async_code() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/manager/announcement":
            return httpx.Response(200, json={"enabled": True, "message": "hi"})
        item = {"name": "d", "is_active": True}
        return httpx.Response(200, json={"data": {"domains": [item]}})

    with APISession(config(), transport=httpx.MockTransport(Recorder(respond))) as session:
        assert session.announcement().message == "hi"
        assert [d.name for d in session.admin.domains.list()] == ["d"]
        assert session.run(lambda s: s.admin.domains.list())[0].is_active is True
        assert session.api_version() == "v9.20250722"


def test_config_rejects_bad_endpoints() -> None:
    with pytest.raises(ConfigError):
        APIConfig(endpoint="ftp://example.com")
    with pytest.raises(ConfigError):
        APIConfig(endpoint="not a url")
    assert APIConfig(endpoint=" http://h:1/api/ ").endpoint == "http://h:1/api"
