"""A small HTTP/1.1 server for the client-facing ASGI app, with a zero-copy data path.

uvicorn hands a request body to an ASGI app in 64 KiB messages and cannot send a file with
``sendfile``, so every uploaded and downloaded byte crossed the event loop in Python objects
and was copied through user space twice. This server runs the same FastAPI app (routing,
validation, tokens and errors all stay there) and speaks the part of HTTP/1.1 that clients
use: keep-alive and pipelining, ``Content-Length`` and chunked request bodies,
``Expect: 100-continue``, ``Content-Length`` or chunked responses, ``HEAD``. It adds a
``Date`` header (and ``Connection: close`` when it will close), as uvicorn does.

The app may use two extensions (``scope["extensions"]``):

* ``http.response.zerocopysend`` (an ASGI extension): ``{"type": "http.response.zerocopysend",
  "file": <object with fileno()>, "offset": int, "count": int, "more_body": bool}`` sends
  ``count`` bytes of the file with ``os.sendfile``;
* ``cygnet.request.body_to_fd`` (ours, offered for ``Content-Length`` bodies):
  ``await scope["extensions"]["cygnet.request.body_to_fd"]["receive"](fd, offset, count)``
  writes the next ``count`` body bytes into ``fd`` at ``offset`` (``os.splice`` socket ->
  pipe -> file on Linux: one copy, into the page cache; elsewhere ``recv_into`` + ``pwrite``)
  and returns how many it wrote: fewer means the client went away.

Both run in a worker thread (a pool of ``IO_THREADS`` owned by the server) that has the
socket to itself meanwhile and waits for it with ``poll``: no event-loop hop per chunk. A
transfer that makes no progress for ``IO_TIMEOUT`` seconds is abandoned (the connection is
closed). Unread request bodies of up to ``DRAIN_LIMIT`` bytes are discarded after the response
so the connection can be reused, as uvicorn does; a larger one closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from cygnet.common.logging import get_logger

log = get_logger(__name__)

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

ZEROCOPY_SEND = "http.response.zerocopysend"
BODY_TO_FD = "cygnet.request.body_to_fd"
MAX_HEAD = 64 * 1024  # request line + headers
RECV_BYTES = 256 * 1024  # one read for heads and body messages
DRAIN_LIMIT = 64 * 1024 * 1024
KEEP_ALIVE_TIMEOUT = 15.0  # idle keep-alive connections are closed after this
HEAD_TIMEOUT = 60.0  # a request head must arrive within this once it has started
IO_TIMEOUT = 60.0  # a transfer that makes no progress for this long is abandoned
IO_THREADS = 64
PIPE_BYTES = 1024 * 1024
_SPLICE = hasattr(os, "splice")
_CRLF = b"\r\n"


class HTTPError(Exception):
    """A request this server answers itself (malformed, too large) and then closes."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status


class Disconnected(ConnectionError):
    """The client went away (or made no progress for ``IO_TIMEOUT``)."""


def _poll(fd: int, events: int, timeout: float) -> None:
    poller = select.poll()
    poller.register(fd, events | select.POLLERR | select.POLLHUP)
    if not poller.poll(timeout * 1000):
        raise TimeoutError(f"no progress for {timeout:.0f} s")


def _wait(fd: int, events: int, timeout: float) -> bool:
    try:
        _poll(fd, events, timeout)
    except TimeoutError:
        return False  # a stalled client is treated as gone
    return True


def _recv_to_fd(sock: int, fd: int, pos: int, count: int, timeout: float, first: bytes) -> int:
    """Write ``first`` (body bytes already read) and then up to ``count`` bytes in all from
    socket ``sock`` to ``fd`` at ``pos`` (blocking, in a worker thread); how many were written
    before the end of the stream."""
    done = 0
    view = memoryview(first)
    while view:
        n = os.pwrite(fd, view, pos + done)
        view, done = view[n:], done + n
    if _SPLICE:
        rpipe, wpipe = os.pipe()
        try:
            with contextlib.suppress(OSError):
                import fcntl

                fcntl.fcntl(wpipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            flags = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
            while done < count:
                try:
                    n = os.splice(sock, wpipe, min(PIPE_BYTES, count - done), flags=flags)
                except BlockingIOError:
                    if not _wait(sock, select.POLLIN, timeout):
                        break
                    continue
                except ConnectionError:
                    break
                if n == 0:
                    break
                while n:
                    m = os.splice(rpipe, fd, n, offset_dst=pos + done)
                    done += m
                    n -= m
        finally:
            os.close(rpipe)
            os.close(wpipe)
        return done
    buf = memoryview(bytearray(min(count, PIPE_BYTES)))
    while done < count:
        try:
            n = os.readv(sock, [buf[: count - done]])
        except BlockingIOError:
            if not _wait(sock, select.POLLIN, timeout):
                break
            continue
        except ConnectionError:
            break
        if n == 0:
            break
        written = 0
        while written < n:
            written += os.pwrite(fd, buf[written:n], pos + done + written)
        done += n
    return done


def _sendfile(sock: int, fd: int, offset: int, count: int, timeout: float) -> None:
    """Send ``count`` bytes of ``fd`` from ``offset`` to socket ``sock`` (in a worker thread)."""
    end = offset + count
    while offset < end:
        try:
            n = os.sendfile(sock, fd, offset, end - offset)
        except BlockingIOError:
            try:
                _poll(sock, select.POLLOUT, timeout)
            except TimeoutError as exc:
                raise Disconnected(str(exc)) from None
            continue
        if n == 0:
            raise OSError(f"the file ended while it was being sent (at {offset} of {end})")
        offset += n


_DATE: tuple[int, bytes] = (0, b"")


def _date() -> bytes:
    global _DATE
    now = int(time.time())
    if _DATE[0] != now:
        _DATE = (now, formatdate(now, usegmt=True).encode())
    return _DATE[1]


def _parse_head(head: bytes) -> tuple[str, bytes, str, list[tuple[bytes, bytes]]]:
    lines = head.split(_CRLF)
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
        raise HTTPError(400, "malformed request line")
    method, target, version = parts
    if not version.startswith(b"HTTP/"):
        raise HTTPError(400, "malformed request line")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise HTTPError(505)
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or b" " in name or b"\t" in name:
            raise HTTPError(400, "malformed header line")
        value = value.strip(b" \t")
        if b"\r" in value or b"\n" in value or b"\0" in value:
            raise HTTPError(400, "malformed header value")
        headers.append((name.lower(), value))
    return method.decode("ascii"), target, version[5:].decode("ascii"), headers


class _Connection:
    def __init__(self, server: HTTPServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buf = bytearray()
        self.idle = True
        try:
            self.client: tuple[str, int] | None = sock.getpeername()[:2]
        except OSError:
            self.client = None
        self.local = sock.getsockname()[:2]

    async def _recv(self, timeout: float) -> bool:
        """Read what has arrived into ``buf``; ``False`` at end of stream."""
        try:
            data = await asyncio.wait_for(self.loop.sock_recv(self.sock, RECV_BYTES), timeout)
        except (ConnectionError, TimeoutError):
            return False
        self.buf += data
        return bool(data)

    async def serve(self) -> None:
        try:
            while not self.server.stopping:
                self.idle = True
                head = await self._read_head()
                if head is None:
                    return
                self.idle = False
                try:
                    request = _parse_head(head)
                except HTTPError as exc:
                    await self._error(exc)
                    return
                if not await _Exchange(self, *request).run():
                    return
        except HTTPError as exc:
            await self._error(exc)
        except (OSError, TimeoutError):
            pass
        finally:
            self.close()

    async def _read_head(self) -> bytes | None:
        timeout = KEEP_ALIVE_TIMEOUT
        while True:
            while self.buf.startswith(_CRLF):
                del self.buf[:2]
            end = self.buf.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
            if end >= 0:
                head = bytes(self.buf[:end])
                del self.buf[: end + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise HTTPError(431)
            if self.buf:
                timeout = HEAD_TIMEOUT
            if not await self._recv(timeout):
                return None

    async def _error(self, exc: HTTPError) -> None:
        body = f"{exc}\n".encode()
        head = (
            f"HTTP/1.1 {exc.status} {HTTPStatus(exc.status).phrase}\r\n"
            f"content-type: text/plain; charset=utf-8\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n"
        ).encode()
        with contextlib.suppress(OSError):
            await self.loop.sock_sendall(self.sock, head + b"date: " + _date() + b"\r\n\r\n" + body)

    async def in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a transfer in the server's pool; if cancelled, end it (by shutting the socket
        down) and wait for it: the thread must be done with the descriptors it was given."""
        future = self.loop.run_in_executor(self.server.executor, fn, self.sock.fileno(), *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            await asyncio.wait([future])
            raise

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class _Exchange:
    """One request and its response."""

    def __init__(
        self,
        conn: _Connection,
        method: str,
        target: bytes,
        version: str,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.conn = conn
        self.method = method
        self.headers = headers
        self.version = version
        self.chunked = False
        self.left = 0  # body bytes still to read (Content-Length), or of the current chunk
        self.body_done = False
        self.expect_continue = False
        connection: list[bytes] = []
        lengths: set[bytes] = set()
        for name, value in headers:
            if name == b"content-length":
                lengths.add(value)
            elif name == b"transfer-encoding":
                codings = [c.strip().lower() for c in value.split(b",")]
                if codings[-1] != b"chunked":
                    raise HTTPError(501, "unsupported Transfer-Encoding")
                self.chunked = True
            elif name == b"connection":
                connection += [c.strip().lower() for c in value.split(b",")]
            elif name == b"expect" and value.lower() == b"100-continue":
                self.expect_continue = version == "1.1"
        self.keep_alive = b"close" not in connection and (
            version == "1.1" or b"keep-alive" in connection
        )
        if self.chunked:
            self.keep_alive = self.keep_alive and not lengths  # both framings: no reuse
        elif lengths:
            if len(lengths) > 1 or not lengths.copy().pop().isdigit():
                raise HTTPError(400, "invalid Content-Length")
            self.left = int(lengths.pop())
        self.body_done = not self.chunked and self.left == 0
        if target.startswith(b"/"):
            raw_path, _, query = target.partition(b"?")
        elif target == b"*":
            raw_path, query = target, b""
        elif b"://" in target:
            rest = target.split(b"://", 1)[1]
            raw_path, _, query = (b"/" + rest.partition(b"/")[2]).partition(b"?")
        else:
            raise HTTPError(400, "malformed request target")
        raw_path = raw_path.partition(b"#")[0]
        try:
            path = raw_path.decode("ascii")
        except UnicodeDecodeError:
            raise HTTPError(400, "non-ASCII request target") from None
        extensions: dict[str, Any] = {ZEROCOPY_SEND: {}}
        if not self.chunked and self.left:
            extensions[BODY_TO_FD] = {"receive": self.body_to_fd}
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": version,
            "server": conn.local,
            "client": conn.client,
            "scheme": "http",
            "method": method,
            "root_path": "",
            "path": unquote(path) if "%" in path else path,
            "raw_path": raw_path,
            "query_string": query,
            "headers": headers,
            "extensions": extensions,
            "state": {},
        }
        self.final_sent = False  # the last http.request message
        self.started = False
        self.complete = False
        self.head: list[bytes] = []
        self.out_chunked = False
        self.out_left = 0
        self.status = 0

    # -- the request body -----------------------------------------------------------------

    async def _continue(self) -> None:
        if self.expect_continue and not self.started:
            self.expect_continue = False
            await self.conn.loop.sock_sendall(self.conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")

    async def _more(self) -> None:
        if not await self.conn._recv(IO_TIMEOUT):
            raise Disconnected("the client went away")

    async def _line(self) -> bytes:
        while (end := self.conn.buf.find(_CRLF)) < 0:
            if len(self.conn.buf) > MAX_HEAD:
                raise HTTPError(400, "malformed chunked body")
            await self._more()
        line = bytes(self.conn.buf[:end])
        del self.conn.buf[: end + 2]
        return line

    async def read_body(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the body (``b""`` at its end)."""
        await self._continue()
        buf = self.conn.buf
        while not self.body_done:
            if self.left == 0:  # chunked: the next chunk's size line
                size_text = (await self._line()).partition(b";")[0].strip()
                try:
                    self.left = int(size_text, 16)
                except ValueError:
                    raise HTTPError(400, "malformed chunk size") from None
                if self.left == 0:
                    while await self._line():  # trailers
                        pass
                    self.body_done = True
                    break
            if not buf:
                await self._more()
            n = min(self.left, limit, len(buf))
            data = bytes(buf[:n])
            del buf[:n]
            self.left -= n
            if self.left == 0:
                if self.chunked:
                    while len(buf) < 2:
                        await self._more()
                    if buf[:2] != _CRLF:
                        raise HTTPError(400, "malformed chunked body")
                    del buf[:2]
                else:
                    self.body_done = True
            return data
        return b""

    async def receive(self) -> Message:
        if self.final_sent or self.complete:
            await asyncio.Future()  # nothing more to say: wait to be cancelled
        try:
            data = await self.read_body(RECV_BYTES * 4)
        except (HTTPError, OSError, TimeoutError):
            self.keep_alive = False
            self.final_sent = True
            return {"type": "http.disconnect"}
        self.final_sent = self.body_done
        return {"type": "http.request", "body": data, "more_body": not self.body_done}

    async def body_to_fd(self, fd: int, offset: int, count: int) -> int:
        """Write the next ``count`` bytes of a Content-Length body to ``fd`` at ``offset``."""
        if self.chunked or count > self.left:
            raise ValueError("body_to_fd: no such Content-Length body left")
        await self._continue()
        buf, done = self.conn.buf, 0
        first = bytes(buf[:count])
        del buf[:count]
        try:
            done = int(await self.conn.in_thread(_recv_to_fd, fd, offset, count, IO_TIMEOUT, first))
        except BaseException:
            done = len(first)  # at least (the bytes the thread got are lost with the connection)
            self.keep_alive = False  # where the body stands is unknown
            raise
        finally:
            self.left -= done
            self.body_done = self.left == 0
        if done < count:
            self.keep_alive = False
        return done

    # -- the response ---------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected http.response.start, not {kind}")
            self._start(message)
            return
        if self.complete:
            raise RuntimeError(f"{kind} sent after the response was complete")
        more = bool(message.get("more_body", False))
        if kind == "http.response.body":
            body = bytes(message.get("body", b""))
            out = self._frame(len(body))
            if body and self.method != "HEAD":
                out.append(body)
                if self.out_chunked:
                    out.append(_CRLF)
            if not more:
                out += self._finish()
            if out:
                await self._write(b"".join(out))
        elif kind == ZEROCOPY_SEND:
            count = int(message.get("count", -1))
            offset = int(message.get("offset", 0))
            fd = message["file"].fileno()
            if count < 0:
                count = os.fstat(fd).st_size - offset
            out = self._frame(count)
            if out:
                await self._write(b"".join(out))
            if count and self.method != "HEAD":
                try:
                    await self.conn.in_thread(_sendfile, fd, offset, count, IO_TIMEOUT)
                except BaseException:
                    self.keep_alive = False
                    raise
            tail = [_CRLF] if self.out_chunked and count else []
            if not more:
                tail += self._finish()
            if tail:
                await self._write(b"".join(tail))
        else:
            raise RuntimeError(f"unexpected ASGI message {kind}")

    def _start(self, message: Message) -> None:
        self.started = True
        if not self.body_done and not self._drainable():
            self.keep_alive = False
        self.expect_continue = False
        self.status = int(message["status"])
        has_length = False
        out = [f"HTTP/1.1 {self.status} {_phrase(self.status)}\r\n".encode()]
        for name, value in message.get("headers", []):
            name = bytes(name).lower()
            if name == b"content-length":
                has_length = True
                self.out_left = int(value)
            elif name == b"connection" and b"close" in bytes(value).lower():
                self.keep_alive = False
                continue
            out.append(b"%s: %s\r\n" % (name, bytes(value)))
        out.append(b"date: " + _date() + _CRLF)
        bodiless = self.method == "HEAD" or self.status in (204, 304) or self.status < 200
        if bodiless:
            self.out_left = 0
        elif not has_length:
            if self.version == "1.1":
                self.out_chunked = True
                out.append(b"transfer-encoding: chunked\r\n")
            else:
                self.keep_alive = False
        if not self.keep_alive:
            out.append(b"connection: close\r\n")
        out.append(_CRLF)
        self.head = out

    def _drainable(self) -> bool:
        return not self.chunked and self.left <= DRAIN_LIMIT and not self.expect_continue

    def _frame(self, n: int) -> list[bytes]:
        """The pending head, and the framing that goes before ``n`` body bytes."""
        out, self.head = self.head, []
        if self.method == "HEAD" or n == 0:
            return out
        if self.out_chunked:
            out.append(b"%x\r\n" % n)
        elif n > self.out_left:
            self.keep_alive = False
            raise RuntimeError("response body longer than its Content-Length")
        else:
            self.out_left -= n
        return out

    def _finish(self) -> list[bytes]:
        self.complete = True
        if self.out_chunked and self.method != "HEAD":
            return [b"0\r\n\r\n"]
        if self.out_left and self.method != "HEAD":
            self.keep_alive = False
            raise RuntimeError("response body shorter than its Content-Length")
        return []

    async def _write(self, data: bytes) -> None:
        try:
            await self.conn.loop.sock_sendall(self.conn.sock, data)
        except OSError:
            self.keep_alive = False
            raise

    # -- the exchange ---------------------------------------------------------------------

    async def run(self) -> bool:
        """Serve the request; whether the connection can carry another."""
        try:
            await self.conn.server.app(self.scope, self.receive, self.send)
        except Exception as exc:
            # the app's own handlers answer (and log) errors; what gets here is a client
            # that went away, or a failure after the response started
            if not self.started and not isinstance(exc, OSError):
                log.exception("the client-facing app failed on %s", self.scope["path"])
                await self.conn._error(HTTPError(500))
            else:
                log.debug("the response to %s ended early: %r", self.scope["path"], exc)
            return False
        if not self.complete:
            if self.started:
                return False
            self.keep_alive = False
            await self.conn._error(HTTPError(500, "the app sent no response"))
            return False
        if not self.keep_alive:
            return False
        while not self.body_done:  # drain what the app did not read
            if not await self.read_body(RECV_BYTES * 4):
                break
        return True


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class HTTPServer:
    """Serves ``app`` on a listening socket until ``stop``."""

    def __init__(self, app: ASGIApp, *, io_threads: int = IO_THREADS, send_buffer: int = 0) -> None:
        self.app = app
        # A fixed send buffer (0: the kernel's autotuning, which starts small): on the VM this
        # was measured on, 8 MiB made 1 GiB downloads over loopback 1.5-1.7x faster and much
        # steadier (benchmarks/storage_io.py, 3 paired runs).
        self.send_buffer = send_buffer
        self.executor = ThreadPoolExecutor(io_threads, thread_name_prefix="storage-io")
        self.stopping = False
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: dict[asyncio.Task[None], _Connection] = {}

    async def start(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        sock.listen(1024)
        self._listener = sock
        self._accepting = asyncio.create_task(self._accept(sock), name="storage-client-http")

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(listener)
            except OSError as exc:
                if self.stopping:
                    return
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.send_buffer:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
            conn = _Connection(self, sock)
            task = asyncio.create_task(conn.serve())
            self._connections[task] = conn
            task.add_done_callback(self._connections.pop)

    async def stop(self, grace: float = 2.0) -> None:
        """Stop accepting, let requests in progress finish for ``grace`` seconds, then
        close every connection."""
        self.stopping = True
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        if self._listener is not None:
            self._listener.close()
        for task, conn in list(self._connections.items()):
            if conn.idle:
                task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=grace)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections))
        self.executor.shutdown(wait=False)
