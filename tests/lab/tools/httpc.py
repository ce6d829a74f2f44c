"""Minimal blocking HTTP/1.1 client for the lab's client tools (stdlib only).

Just what cats-app answers: a status line, headers with Content-Length, a body. Every
wait is bounded by a deadline and sliced (0.1 s) so a stop flag is honoured promptly.
Failures are HttpError with a short `kind`:

  refused      connect got RST (ECONNREFUSED): nothing listens, or a reject rule
  reset        ECONNRESET / EPIPE on an open connection
  timeout      no (complete) answer before the deadline
  eof          the server closed the connection before a complete answer
  unreachable  EHOSTUNREACH / ENETUNREACH (ICMP)
  http         a reply that is not 200 (detail: the status)
  bad          not HTTP, or too large
  stopped      the stop flag was raised while waiting (not a failure of the server)
  oserror      anything else (detail: errno name)
"""
from __future__ import annotations

import errno
import socket
import time

SLICE = 0.1
MAX_HEAD = 16 * 1024
MAX_BODY = 1024 * 1024


class HttpError(Exception):
    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


def _classify(e: OSError) -> HttpError:
    if isinstance(e, ConnectionRefusedError):
        return HttpError("refused", "connection refused")
    if isinstance(e, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return HttpError("reset", e.strerror or type(e).__name__)
    if isinstance(e, (socket.timeout, TimeoutError)):
        return HttpError("timeout", "socket timeout")
    if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return HttpError("unreachable", e.strerror or "")
    if e.errno == errno.ETIMEDOUT:
        return HttpError("timeout", "ETIMEDOUT")
    return HttpError("oserror", errno.errorcode.get(e.errno or 0, str(e)))


def parse_target(s: str) -> tuple[str, int]:
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"target must be HOST:PORT, got {s!r}")
    return host, int(port)


def connect(target: tuple[str, int], timeout: float, stop=lambda: False) -> socket.socket:
    """TCP connect with a deadline (sliced, so `stop()` aborts it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    deadline = time.monotonic() + timeout
    try:
        err = s.connect_ex(target)
        if err not in (0, errno.EINPROGRESS):
            raise _classify(OSError(err, errno.errorcode.get(err, str(err))))
        import select
        while err:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HttpError("timeout", f"connect {timeout:g}s")
            if stop():
                raise HttpError("stopped")
            _, w, _ = select.select([], [s], [], min(SLICE, left))
            if w:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    cls = {errno.ECONNREFUSED: ConnectionRefusedError, errno.ECONNRESET: ConnectionResetError}
                    raise _classify(cls.get(err, OSError)(err, errno.errorcode.get(err, str(err))))
                break
        s.setblocking(True)
        return s
    except HttpError:
        s.close()
        raise
    except OSError as e:
        s.close()
        raise _classify(e) from e


class Reply:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def instance(self) -> str | None:
        return self.headers.get("x-cats-instance")


class Conn:
    """One TCP connection carrying requests one after another (keep-alive)."""

    def __init__(self, sock: socket.socket, host: str):
        self.sock = sock
        self.host = host
        self.buf = b""

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv(self, deadline: float, stop) -> bytes:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HttpError("timeout", "no reply")
            if stop():
                raise HttpError("stopped")
            self.sock.settimeout(min(SLICE, left))
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            except OSError as e:
                raise _classify(e) from e
            if not data:
                raise HttpError("eof", "connection closed by peer")
            return data

    def request(self, path: str = "/", timeout: float = 5.0, keep_alive: bool = True,
                stop=lambda: False) -> Reply:
        deadline = time.monotonic() + timeout
        req = (f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: cats-lab\r\n"
               f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n").encode()
        try:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            self.sock.sendall(req)
        except OSError as e:
            raise _classify(e) from e
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise HttpError("bad", "header too large")
            self.buf += self._recv(deadline, stop)
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise HttpError("bad", f"status line {lines[0][:60]!r}")
        headers = {}
        for ln in lines[1:]:
            k, sep, v = ln.partition(":")
            if sep:
                headers[k.strip().lower()] = v.strip()
        try:
            n = int(headers.get("content-length", "0"))
        except ValueError:
            raise HttpError("bad", "content-length")
        if n > MAX_BODY:
            raise HttpError("bad", "body too large")
        while len(rest) < n:
            rest += self._recv(deadline, stop)
        self.buf = rest[n:]
        reply = Reply(int(parts[1]), headers, rest[:n])
        if reply.status != 200:
            raise HttpError("http", str(reply.status))
        return reply


def get_once(target: tuple[str, int], path: str = "/", timeout: float = 5.0, stop=lambda: False):
    """One request on a fresh connection (Connection: close). Returns (Reply, local_port)."""
    deadline = time.monotonic() + timeout
    c = Conn(connect(target, timeout, stop), target[0])
    try:
        port = c.local_port
        return c.request(path, max(0.001, deadline - time.monotonic()), keep_alive=False, stop=stop), port
    finally:
        c.close()


def quantile(values, p):
    v = sorted(values)
    if not v:
        return None
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]
