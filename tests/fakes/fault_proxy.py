"""A loopback HTTP proxy that forwards to one upstream (an emulator) and injects scripted faults.

Tests point a store's endpoint at ``proxy.url``; every request is recorded, and armed faults replace
the upstream's answer for matching requests: an error status with a provider-style body (S3
``SlowDown``, Azure ``ServerBusy``, plain), or a dropped connection without any answer. A fault with
``forward=True`` lets the request reach the upstream first and then loses the upstream's answer
(``lost_response()``: the write committed, the client sees a dropped connection or an error). Bodies are
streamed in both directions (``Content-Length`` or chunked) and every end-to-end header (``Range``,
``ETag``, ``x-ms-*``, ``x-goog-*``, ...) passes through unchanged; a ``Location`` header naming the
upstream (GCS resumable upload sessions) is rewritten to the proxy so later requests come back here.

    with FaultProxy(emulators.s3_endpoint) as proxy:
        proxy.inject(slowdown_503(), times=2)           # the next two requests get 503 SlowDown
        store = rig.make(ctx, via=proxy.url)
        store.put("k", b"v")
        assert proxy.count() == 3
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "proxy-connection",
}
STREAM_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fault:
    """What to answer instead of the upstream: ``status`` with ``body``, or ``drop`` the connection;
    with ``forward`` the request is first sent upstream (and committed there), its answer discarded.
    ``cut_after`` relays the upstream's answer but closes the connection after that many body bytes
    (a response cut mid-body)."""

    status: int = 503
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False
    forward: bool = False
    cut_after: int | None = None

    @property
    def label(self) -> str:
        if self.cut_after is not None:
            return f"cut:{self.cut_after}"
        text = "drop" if self.drop else str(self.status)
        return f"lost:{text}" if self.forward else text


def cut(after: int) -> Fault:
    """The upstream's answer, its connection closed after ``after`` body bytes."""
    return Fault(cut_after=after)


def slowdown_503() -> Fault:
    """S3's throttling answer."""
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        b"<Message>Please reduce your request rate.</Message><RequestId>FAULTPROXY</RequestId></Error>"
    )
    return Fault(503, body, (("Content-Type", "application/xml"), ("x-amz-request-id", "FAULTPROXY")))


def server_busy_503() -> Fault:
    """Azure Storage's throttling answer."""
    body = (
        b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
        b"<Message>The server is currently unable to receive requests. Please retry your request."
        b"</Message></Error>"
    )
    return Fault(
        503,
        body,
        (("Content-Type", "application/xml"), ("x-ms-error-code", "ServerBusy"), ("x-ms-request-id", "FAULTPROXY")),
    )


def status(code: int, message: str = "injected by the fault proxy") -> Fault:
    """A plain error status; a JSON body in the shape GCS uses (other SDKs only read the status)."""
    body = json.dumps({"error": {"code": code, "message": message, "errors": [{"message": message}]}}).encode()
    return Fault(code, body, (("Content-Type", "application/json"),))


def drop() -> Fault:
    """Read the request, then close the connection without answering."""
    return Fault(drop=True)


def lost_response(fault: Fault | None = None) -> Fault:
    """Let the request reach the upstream (which commits it), then lose the answer: drop the connection,
    or answer ``fault`` (e.g. ``status(500)``) instead of what the upstream said."""
    base = fault or drop()
    return Fault(base.status, base.body, base.headers, drop=base.drop, forward=True)


def conditional_conflict_409() -> Fault:
    """S3's answer to concurrent conditional writes on one key, which AWS says to retry."""
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ConditionalRequestConflict</Code>'
        b"<Message>A conflicting conditional operation is currently in progress against this resource."
        b"</Message><RequestId>FAULTPROXY</RequestId></Error>"
    )
    return Fault(409, body, (("Content-Type", "application/xml"), ("x-amz-request-id", "FAULTPROXY")))


def precondition_failed_412() -> Fault:
    """S3's answer to a conditional request whose condition failed (``If-None-Match: *`` on an existing
    key, ``If-Match`` on another ETag). Answered without forwarding, it makes a re-sent request meet the
    condition the real service would enforce where the emulator does not (moto ignores ``If-None-Match``
    on CopyObject)."""
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>'
        b"<Message>At least one of the pre-conditions you specified did not hold</Message>"
        b"<Condition>If-None-Match</Condition><RequestId>FAULTPROXY</RequestId></Error>"
    )
    return Fault(412, body, (("Content-Type", "application/xml"), ("x-amz-request-id", "FAULTPROXY")))


@dataclass
class Seen:
    """One request as the proxy received it, and the fault answered instead (None if forwarded)."""

    method: str
    path: str
    headers: dict[str, str]
    fault: str | None = None
    status: int | None = None
    upstream_status: int | None = None  # what the upstream answered to a request whose answer was lost


Match = Callable[[Seen], bool]


@dataclass
class _Rule:
    fault: Fault
    match: Match
    skip: int  # matching requests to let through before faulting
    times: int | None  # faults left; None = forever

    def take(self, seen: Seen) -> Fault | None:
        if not self.match(seen) or self.times == 0:
            return None
        if self.skip > 0:
            self.skip -= 1
            return None
        if self.times is not None:
            self.times -= 1
        return self.fault


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    rules: list[_Rule] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)


class FaultProxy:
    """Threaded loopback forwarder with scripted faults and a request log."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the fault proxy forwards to http://host:port upstreams, not {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self._state = _State()
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripting ------------------------------------------------------------------------------------
    def inject(
        self,
        fault: Fault,
        *,
        times: int | None = 1,
        skip: int = 0,
        method: str | None = None,
        path_contains: str | None = None,
        match: Match | None = None,
    ) -> None:
        """Answer ``fault`` to the next ``times`` matching requests (``None``: all of them) after letting
        ``skip`` matching ones through. Rules are consulted in the order they were added."""

        def matches(seen: Seen) -> bool:
            return (
                (method is None or seen.method == method)
                and (path_contains is None or path_contains in seen.path)
                and (match is None or match(seen))
            )

        with self._state.lock:
            self._state.rules.append(_Rule(fault, matches, skip, times))

    def clear(self) -> None:
        """Disarm every fault and forget the request log."""
        with self._state.lock:
            self._state.rules.clear()
            self._state.seen.clear()

    # -- inspection -----------------------------------------------------------------------------------
    @property
    def requests(self) -> list[Seen]:
        with self._state.lock:
            return list(self._state.seen)

    def count(self, *, method: str | None = None, faulted: bool | None = None) -> int:
        return sum(
            1
            for s in self.requests
            if (method is None or s.method == method) and (faulted is None or (s.fault is not None) == faulted)
        )

    # -- lifecycle ------------------------------------------------------------------------------------
    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _admit(self, seen: Seen) -> Fault | None:
        with self._state.lock:
            self._state.seen.append(seen)
            for rule in self._state.rules:
                fault = rule.take(seen)
                if fault is not None:
                    seen.fault = fault.label
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; the proxy's request log is the record

    def _body(self) -> Iterator[bytes]:
        """The request body as it arrives (de-chunked), without buffering it whole."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                remaining = size
                while remaining:
                    piece = self.rfile.read(min(remaining, STREAM_CHUNK))
                    if not piece:
                        raise ConnectionError("client closed mid-chunk")
                    remaining -= len(piece)
                    yield piece
                self.rfile.readline(3)
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining:
                piece = self.rfile.read(min(remaining, STREAM_CHUNK))
                if not piece:
                    raise ConnectionError("client closed mid-body")
                remaining -= len(piece)
                yield piece

    def _handle(self) -> None:
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
        fault = self.proxy._admit(seen)
        if fault is not None and fault.cut_after is not None:
            self._forward(seen, cut_after=fault.cut_after)
            return
        if fault is not None and fault.forward:
            self._forward(seen, relay=False)
            seen.upstream_status, seen.status = seen.status, None if fault.drop else fault.status
            self._answer_fault(fault)
            return
        if fault is not None:
            for _ in self._body():
                pass
            seen.status = None if fault.drop else fault.status
            self._answer_fault(fault)
            return
        self._forward(seen)

    def _answer_fault(self, fault: Fault) -> None:
        if fault.drop:
            self.close_connection = True
            return
        self.send_response_only(fault.status)
        for name, value in fault.headers:
            self.send_header(name, value)
        body = b"" if self.command == "HEAD" else fault.body
        self.send_header("Content-Length", str(len(fault.body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _forward(self, seen: Seen, *, relay: bool = True, cut_after: int | None = None) -> None:
        up = urlsplit(self.proxy.upstream)
        conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port or 80, timeout=120)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    conn.putheader(name, value)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for piece in self._body():
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                conn.send(b"0\r\n\r\n")
            response = conn.getresponse()
            seen.status = response.status
            if relay:
                self._relay(response, cut_after)
            else:
                response.read()  # the upstream has answered (and committed); the answer is lost
        finally:
            conn.close()

    def _relay(self, response: http.client.HTTPResponse, cut_after: int | None = None) -> None:
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in HOP_BY_HOP:
                continue
            if lower == "location" and value.startswith(self.proxy.upstream):
                value = self.proxy.url + value[len(self.proxy.upstream) :]
            self.send_header(name, value)
        chunked = length is None and not no_body
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if no_body:
            self.wfile.flush()
            return
        sent = 0
        while piece := response.read(STREAM_CHUNK):
            if cut_after is not None and sent + len(piece) > cut_after:
                self.wfile.write(piece[: cut_after - sent])  # a body cut short: the connection closes
                self.wfile.flush()
                self.close_connection = True
                return
            sent += len(piece)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _handle
