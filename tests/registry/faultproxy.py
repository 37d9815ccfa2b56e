"""A fault-injecting HTTP/1.1 proxy on loopback, to put in front of a real registry in tests.

It is a real server misbehaving, not a patched function: clients connect to it over TCP and
it forwards each request to the upstream server, unless a fault says otherwise::

    proxy.add(Fault("drop", every=3))                  # close the connection at every 3rd request
    proxy.add(Fault("stall", seconds=2, times=1))      # wait 2 s before forwarding, once
    proxy.add(Fault("respond", status=503, times=4))   # a burst of four 503 answers
    proxy.add(Fault("truncate", path="/blobs/", after=1000, times=1))  # cut a body short
    proxy.add(Fault("flip", path="/blobs/sha256:", after=10))           # alter one body byte
    proxy.add(Fault("handle", handler=fn))             # answer locally (fn returns None: forward)

Faults match on a path substring and method, act on every Nth matching request, and at most
``times`` times. ``proxy.log`` records (method, path, fault kind or "") per request.
Only loopback: it listens on 127.0.0.1 and forwards to a loopback upstream.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import pytest

__all__ = ["Fault", "FaultProxy", "ProxyRequest", "ProxyResponse", "fault_proxy"]


@dataclass(frozen=True)
class ProxyRequest:
    method: str
    path: str  # with query string
    headers: dict[str, str]  # keys lowercased


@dataclass(frozen=True)
class ProxyResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[ProxyRequest], "ProxyResponse | None"]


@dataclass
class Fault:
    """One misbehaviour; see the module docstring."""

    kind: str  # drop | stall | respond | truncate | flip | handle
    path: str = ""
    method: str | None = None
    every: int = 1
    times: int | None = None
    seconds: float = 0.0  # stall
    after: int = 0  # truncate/flip/stall: body byte offset (stall: 0 = before forwarding)
    status: int = 503  # respond
    body: bytes = b'{"errors":[{"code":"UNAVAILABLE","message":"injected by the proxy"}]}'
    headers: dict[str, str] = field(default_factory=dict)
    handler: Handler | None = None
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in {"drop", "stall", "respond", "truncate", "flip", "handle"}:
            raise ValueError(f"unknown fault kind {self.kind!r}")


class _ClosedError(Exception):
    """A peer closed its side."""


def _read_head(reader: BinaryIO) -> bytes | None:
    lines = []
    while True:
        line = reader.readline(65537)
        if not line:
            if lines:
                raise _ClosedError
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)
        if len(lines) > 200:
            raise _ClosedError


def _parse_headers(head: bytes) -> tuple[str, dict[str, str]]:
    text = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in text[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    return text[0], headers


def _copy_exact(reader: BinaryIO, length: int, out: Callable[[bytes], None]) -> None:
    left = length
    while left > 0:
        data = reader.read(min(left, 65536))
        if not data:
            raise _ClosedError
        left -= len(data)
        out(data)


def _copy_chunked(reader: BinaryIO, out: Callable[[bytes], None]) -> None:
    while True:
        line = reader.readline(1024)
        if not line:
            raise _ClosedError
        out(line)
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, up to the empty line
                trailer = reader.readline(65537)
                if not trailer:
                    raise _ClosedError
                out(trailer)
                if trailer in (b"\r\n", b"\n"):
                    return
        _copy_exact(reader, size + 2, out)


def _copy_body(
    reader: BinaryIO, headers: dict[str, str], out: Callable[[bytes], None], *, to_eof: bool
) -> None:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        _copy_chunked(reader, out)
    elif "content-length" in headers:
        _copy_exact(reader, int(headers["content-length"]), out)
    elif to_eof:
        while data := reader.read(65536):
            out(data)


class _AbortError(Exception):
    """Stop forwarding and close the client connection (truncation)."""


class FaultProxy:
    """Forwards HTTP/1.1 from 127.0.0.1:<port> to ``upstream`` ("127.0.0.1:5000"), with faults."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("the fault proxy only forwards to loopback")
        self._upstream = (host, int(port))
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)  # so the acceptor notices stop() quickly
        self.port: int = self._listener.getsockname()[1]
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="faultproxy", daemon=True)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the registry host to give clients."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self._acceptor.join(timeout=5)
        for thread in list(self._threads):
            thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def count(self, kind: str = "", path: str = "", method: str = "") -> int:
        """Requests seen (of ``method``, whose path contains ``path``) that ``kind`` hit."""
        with self._lock:
            return sum(
                1
                for m, p, k in self.log
                if path in p and (not kind or k == kind) and (not method or m == method)
            )

    # -- internals -----------------------------------------------------------------------------

    def _match(self, method: str, path: str) -> Fault | None:
        with self._lock:
            chosen = None
            for fault in self.faults:
                if fault.path not in path or (fault.method and fault.method != method):
                    continue
                if fault.times is not None and fault.fired >= fault.times:
                    continue
                fault.seen += 1
                if fault.seen % max(fault.every, 1) == 0 and chosen is None:
                    fault.fired += 1
                    chosen = fault
            self.log.append((method, path, chosen.kind if chosen else ""))
            return chosen

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            with self._lock:
                self._sockets.add(client)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _forget(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        up_reader: BinaryIO | None = None
        reader = client.makefile("rb")
        try:
            while not self._stopped.is_set():
                head = _read_head(reader)
                if head is None:
                    return
                request_line, headers = _parse_headers(head)
                parts = request_line.split(" ")
                if len(parts) < 3:
                    return
                method, path = parts[0], parts[1]
                fault = self._match(method, path)
                if fault is not None and fault.kind == "drop":
                    return
                local: ProxyResponse | None = None
                if fault is not None and fault.kind == "respond":
                    local = ProxyResponse(fault.status, fault.body, dict(fault.headers))
                elif fault is not None and fault.kind == "handle" and fault.handler is not None:
                    local = fault.handler(ProxyRequest(method, path, headers))
                if local is not None:
                    _copy_body(reader, headers, lambda _data: None, to_eof=False)
                    self._answer(client, local, head_only=method == "HEAD")
                    continue
                if fault is not None and fault.kind == "stall" and fault.after == 0:
                    time.sleep(fault.seconds)
                if upstream is None:
                    upstream = socket.create_connection(self._upstream, timeout=60)
                    self._track(upstream)
                    up_reader = upstream.makefile("rb")
                assert up_reader is not None
                upstream.sendall(head)
                _copy_body(reader, headers, upstream.sendall, to_eof=False)
                response_head = _read_head(up_reader)
                if response_head is None:
                    return
                status_line, response_headers = _parse_headers(response_head)
                client.sendall(response_head)
                status = int(status_line.split(" ")[1])
                if method != "HEAD" and status not in (204, 304) and status >= 200:
                    out = self._body_writer(client, fault)
                    _copy_body(up_reader, response_headers, out, to_eof=True)
                if response_headers.get("connection", "").lower() == "close":
                    return
        except (_ClosedError, _AbortError, OSError, ValueError):
            return
        finally:
            self._forget(upstream)
            self._forget(client)

    def _body_writer(self, client: socket.socket, fault: Fault | None) -> Callable[[bytes], None]:
        if fault is None or fault.kind not in {"truncate", "flip", "stall"}:
            return client.sendall
        position = 0

        def write(data: bytes) -> None:
            nonlocal position
            start, end = position, position + len(data)
            position = end
            assert fault is not None
            if fault.kind == "truncate" and end > fault.after:
                client.sendall(data[: max(fault.after - start, 0)])
                raise _AbortError
            if fault.kind == "flip" and start <= fault.after < end:
                buf = bytearray(data)
                buf[fault.after - start] ^= 0xFF
                data = bytes(buf)
            if fault.kind == "stall" and fault.after and start <= fault.after < end:
                client.sendall(data[: fault.after - start])
                time.sleep(fault.seconds)
                data = data[fault.after - start :]
            client.sendall(data)

        return write

    @staticmethod
    def _answer(client: socket.socket, response: ProxyResponse, *, head_only: bool) -> None:
        reasons = {200: "OK", 401: "Unauthorized", 429: "Too Many Requests", 503: "Unavailable"}
        headers = {"Content-Type": "application/json", **response.headers}
        headers["Content-Length"] = str(len(response.body))
        lines = [f"HTTP/1.1 {response.status} {reasons.get(response.status, 'Injected')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        body = b"" if head_only else response.body
        client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


@pytest.fixture
def fault_proxy(registry: object) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the session's real registry (``registry`` fixture)."""
    proxy = FaultProxy(registry.host)  # type: ignore[attr-defined]
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
