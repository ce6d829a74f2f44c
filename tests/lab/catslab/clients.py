"""Test-side drivers for the lab's HTTP client tools (tests/lab/tools/http_count.py,
http_stream.py), run inside a client namespace.

    r = count_instances(lab, "c1", "10.255.0.1:80", 100)      # {"counts": {...}, ...}
    with Stream(lab, "c2", "10.255.0.1:80") as st:            # one keep-alive connection
        st.wait_replies(5, 5)
        ...
    summary = st.summary                                      # after the with block

Background tools are read line by line on a thread, so a test can poll what has
happened so far (replies, errors, connects) while it changes the lab. Exiting the `with`
block (also on an exception) stops the tool (SIGTERM, then SIGKILL) and collects the
summary.
"""
from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time

from .common import LAB_DIR, LabError

TOOLS = LAB_DIR / "tools"
PYTHON = "/usr/bin/python3"


def count_instances(lab, node: str, target: str, n: int, parallel: int = 1, timeout: float = 3.0,
                    path: str = "/", records: bool = False, interval_ms: float = 0) -> dict:
    """N short connections from `node` to `target`; the tool's JSON summary (counts per
    instance, errors per kind, rate, latency, and with `records` every connection)."""
    argv = [PYTHON, str(TOOLS / "http_count.py"), target, "-n", str(n), "--parallel", str(parallel),
            "--timeout", str(timeout), "--path", path, "--json"]
    if records:
        argv.append("--records")
    if interval_ms:
        argv += ["--interval-ms", str(interval_ms)]
    budget = n * (timeout + interval_ms / 1000.0) / max(1, parallel) + 30
    cp = lab.run_in(node, argv, timeout=budget)
    if cp.returncode != 0:
        raise LabError(f"http_count in {node} -> {target}: exit {cp.returncode}: {cp.stderr.strip()}")
    try:
        return json.loads(cp.stdout)
    except ValueError as e:
        raise LabError(f"http_count in {node}: not JSON: {cp.stdout[:200]!r} {cp.stderr[:400]!r}") from e


class ToolProcess:
    """A JSON-lines tool running in a namespace, read on a thread."""

    def __init__(self, lab, node: str, argv: list[str]):
        self.lab, self.node, self.argv = lab, node, argv
        self.lines: list[dict] = []
        self.stderr = ""
        self.summary: dict | None = None
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self):
        self._proc = subprocess.Popen(self.lab.exec_argv(self.node, self.argv), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self):
        for line in self._proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.lines.append(obj)
                if "summary" in obj:
                    self.summary = obj["summary"]

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.lines)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 15.0) -> dict | None:
        """SIGTERM, wait for the summary; SIGKILL if it does not come. Idempotent."""
        p = self._proc
        if p is None:
            return self.summary
        if p.poll() is None:
            p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        if self._reader:
            self._reader.join(5)
        try:
            self.stderr = p.stderr.read() if p.stderr else ""
        except (OSError, ValueError):
            pass
        for f in (p.stdout, p.stderr):
            try:
                f and f.close()
            except OSError:
                pass
        self._proc = None
        return self.summary

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class Stream(ToolProcess):
    """tools/http_stream.py: one keep-alive connection, a request every `interval_ms`."""

    def __init__(self, lab, node: str, target: str, interval_ms: float = 15, timeout: float = 10,
                 reconnect: bool = False, path: str = "/", max_errors: int = 0):
        argv = [PYTHON, str(TOOLS / "http_stream.py"), target, "--interval-ms", str(interval_ms),
                "--timeout", str(timeout), "--path", path]
        if reconnect:
            argv.append("--reconnect")
        if max_errors:
            argv += ["--max-errors", str(max_errors)]
        super().__init__(lab, node, argv)
        self.target = target

    def events(self, ev: str) -> list[dict]:
        return [x for x in self.snapshot() if x.get("ev") == ev]

    def replies(self) -> list[dict]:
        return self.events("reply")

    def errors(self) -> list[dict]:
        return self.events("error")

    def connects(self) -> list[dict]:
        return self.events("connect")

    def wait_replies(self, n: int, timeout: float) -> list[dict]:
        """Until `n` replies (raises AssertionError with what was seen on timeout, or at
        once if the stream failed or ended)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.replies()
            if len(r) >= n:
                return r
            errs = self.errors()
            if errs and "--reconnect" not in self.argv:
                raise AssertionError(f"stream to {self.target} failed: {errs[0]} (after {len(r)} replies)")
            if self._proc is not None and self._proc.poll() is not None:
                if self._reader:
                    self._reader.join(2)  # what it printed last
                if len(self.replies()) < n:
                    raise AssertionError(f"stream to {self.target} ended after {len(self.replies())} replies: "
                                         f"exit {self._proc.returncode}, summary {self.summary}")
                continue
            if time.monotonic() >= deadline:
                raise AssertionError(f"stream to {self.target}: {len(r)} of {n} replies within {timeout:g}s; "
                                     f"errors {errs}")
            time.sleep(0.02)

    def wait_replies_after(self, t: float, n: int, timeout: float) -> list[dict]:
        """Until `n` replies with time > t (monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            r = [x for x in self.replies() if x["t"] > t]
            if len(r) >= n:
                return r
            if time.monotonic() >= deadline:
                raise AssertionError(f"stream to {self.target}: {len(r)} of {n} replies after t={t:.3f} within "
                                     f"{timeout:g}s; errors {self.errors()}")
            time.sleep(0.02)


def gaps(replies: list[dict], t_from: float | None = None, t_to: float | None = None) -> list[tuple[float, float]]:
    """(gap_s, t_end) between consecutive replies, largest first, limited to gaps that end
    after t_from / start before t_to."""
    out = []
    for a, b in zip(replies, replies[1:]):
        if t_from is not None and b["t"] < t_from:
            continue
        if t_to is not None and a["t"] > t_to:
            continue
        out.append((b["t"] - a["t"], b["t"]))
    return sorted(out, reverse=True)


class Series(ToolProcess):
    """tools/http_count.py --jsonl: new connections one after another (paced by
    `interval_ms`) until stopped or `duration` s; each completed one is a line
    {t0, t1, instance, error, port}."""

    def __init__(self, lab, node: str, target: str, interval_ms: float = 20, timeout: float = 3,
                 duration: float = 600, parallel: int = 1, path: str = "/"):
        argv = [PYTHON, str(TOOLS / "http_count.py"), target, "--duration", str(duration), "--interval-ms",
                str(interval_ms), "--timeout", str(timeout), "--parallel", str(parallel), "--path", path, "--jsonl"]
        super().__init__(lab, node, argv)
        self.target = target

    def records(self) -> list[dict]:
        return [x for x in self.snapshot() if "t0" in x]


class UnixHTTP(http.client.HTTPConnection):
    """HTTP over a daemon's Unix control socket (its root-only local API)."""

    def __init__(self, path: str, timeout: float = 30):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)
