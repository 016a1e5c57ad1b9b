"""The RPC transport: signatures, in-process dispatch, errors that cross the wire."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from pydantic import TypeAdapter

from cygnet.common import rpc
from cygnet.common.errors import (
    AgentUnreachable,
    ImageNotFound,
    InternalError,
    KernelNotFound,
    MalformedBody,
    RPCAuthFailed,
    error_from_code,
)
from cygnet.common.transport import (
    DATE_HEADER,
    SIGNATURE_HEADER,
    InProcNetwork,
    RPCClient,
    check_signature,
    rpc_signature,
    serve_http,
)

AGENT_REQUEST: TypeAdapter[Any] = TypeAdapter(rpc.AgentRequest)
KID = uuid.UUID(int=7)


async def _handler(request: Any) -> rpc.Message:
    if isinstance(request, rpc.GetLogs):
        if request.kernel_id != KID:
            raise KernelNotFound(f"kernel {request.kernel_id} is not here")
        return rpc.KernelLogs(logs="hello\n")
    if isinstance(request, rpc.ListKernels):
        raise RuntimeError("boom")
    return rpc.Ack()


def _signed(
    secret: str, body: bytes, path: str = "/rpc", at: float | None = None
) -> dict[str, str]:
    date = f"{time.time() if at is None else at:.3f}"
    return {DATE_HEADER: date, SIGNATURE_HEADER: rpc_signature(secret, date, path, body)}


def test_signature_checks() -> None:
    body = b'{"kind":"list_kernels"}'
    check_signature("s3cret", "/rpc", _signed("s3cret", body), body)
    with pytest.raises(RPCAuthFailed, match="bad RPC signature"):
        check_signature("other", "/rpc", _signed("s3cret", body), body)
    with pytest.raises(RPCAuthFailed, match="bad RPC signature"):
        check_signature("s3cret", "/rpc", _signed("s3cret", body), body + b" ")
    with pytest.raises(RPCAuthFailed, match="bad RPC signature"):
        check_signature("s3cret", "/other", _signed("s3cret", body), body)
    with pytest.raises(RPCAuthFailed, match="too far"):
        check_signature("s3cret", "/rpc", _signed("s3cret", body, at=time.time() - 600), body)
    with pytest.raises(RPCAuthFailed, match="malformed"):
        check_signature("s3cret", "/rpc", {}, body)


async def test_serve_http_answers_errors_as_rpc_errors() -> None:
    body = rpc.GetLogs(kernel_id=uuid.uuid4()).model_dump_json().encode()
    status, reply = await serve_http(AGENT_REQUEST, _handler, "k", "/rpc", _signed("k", body), body)
    assert status == 404
    error = rpc.RPCError.model_validate_json(reply)
    assert error.error_code == KernelNotFound.error_code
    status, reply = await serve_http(AGENT_REQUEST, _handler, "k", "/rpc", {}, body)
    assert status == 401
    bad = b'{"kind":"nope"}'
    status, reply = await serve_http(AGENT_REQUEST, _handler, "k", "/rpc", _signed("k", bad), bad)
    assert status == 400
    assert rpc.RPCError.model_validate_json(reply).error_code == MalformedBody.error_code


async def test_inproc_round_trip_and_error_types() -> None:
    network = InProcNetwork()
    address = network.bind("agent-a", AGENT_REQUEST, _handler)
    client = RPCClient(address, "unused", network=network)
    reply = await client.call(rpc.GetLogs(kernel_id=KID), rpc.KernelLogs)
    assert reply.logs == "hello\n"
    with pytest.raises(KernelNotFound, match="is not here"):
        await client.call(rpc.GetLogs(kernel_id=uuid.uuid4()), rpc.KernelLogs)
    with pytest.raises(InternalError, match="RuntimeError: boom"):
        await client.call(rpc.ListKernels(), rpc.KernelList)
    with pytest.raises(AgentUnreachable, match="answered ack"):
        await client.call(rpc.GetAgentStatus(), rpc.AgentStatusReply)
    with pytest.raises(ValueError, match="already bound"):
        network.bind("agent-a", AGENT_REQUEST, _handler)
    network.unbind("agent-a")
    with pytest.raises(AgentUnreachable, match="nothing listens"):
        await client.call(rpc.ListKernels(), rpc.KernelList)


async def test_timeouts_and_unreachable_http_peers() -> None:
    network = InProcNetwork()

    async def slow(request: Any) -> rpc.Message:
        import asyncio

        await asyncio.sleep(5)
        return rpc.Ack()

    client = RPCClient(network.bind("slow", AGENT_REQUEST, slow), "x", network=network)
    with pytest.raises(AgentUnreachable, match=r"within 0\.05 s"):
        await client.call(rpc.ListKernels(), rpc.KernelList, timeout=0.05)
    http = RPCClient("http://127.0.0.1:9", "x")
    try:
        with pytest.raises(AgentUnreachable):
            await http.call(rpc.ListKernels(), rpc.KernelList, timeout=2)
    finally:
        await http.aclose()
    with pytest.raises(ValueError, match="unsupported RPC address"):
        RPCClient("tcp://x:1", "x")


def test_error_codes_map_back_to_classes() -> None:
    assert isinstance(error_from_code(ImageNotFound.error_code, "m"), ImageNotFound)
    assert isinstance(error_from_code("no-such-code", "m"), InternalError)


async def test_fields_a_peer_does_not_know_are_ignored() -> None:
    """A newer manager may send a field an older agent lacks (and an agent may answer with
    one): each side reads what it knows, so neighbouring versions keep talking."""
    network = InProcNetwork()
    seen: list[Any] = []

    async def handler(request: Any) -> rpc.Message:
        seen.append(request)
        return rpc.Ack()

    network.bind("agent-b", AGENT_REQUEST, handler)
    payload = rpc.GetLogs(kernel_id=KID).model_dump(mode="json")
    payload["added_in_a_later_version"] = {"anything": [1, 2]}
    answer = await network.call("agent-b", json.dumps(payload).encode())
    assert json.loads(answer)["kind"] == "ack"
    assert seen == [rpc.GetLogs(kernel_id=KID)]
    newer_reply = {**rpc.KernelLogs(logs="x").model_dump(mode="json"), "later": True}
    assert rpc.KernelLogs.model_validate(newer_reply) == rpc.KernelLogs(logs="x")
