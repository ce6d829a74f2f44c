"""Process manager: long-running programs inside lab namespaces.

Processes are started detached (own session, stdin /dev/null, output to a log file) so
they outlive the `cats-lab up` command; their pids go to the lab state. When the lab is
driven from one Python process (tests), the Popen objects are kept to reap them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from .common import LabError, ns_name

_children: dict[int, subprocess.Popen] = {}


def start(node: str, argv: list[str], log_path: Path) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        try:
            p = subprocess.Popen(["ip", "netns", "exec", ns_name(node), *argv],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True, close_fds=True)
        except OSError as e:
            raise LabError(f"cannot start {argv[0]} in {ns_name(node)}: {e}") from e
    _children[p.pid] = p
    return p.pid


def alive(pid: int) -> bool:
    p = _children.get(pid)
    if p is not None:
        return p.poll() is None
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _reap(pid: int) -> None:
    p = _children.pop(pid, None)
    if p is not None:
        try:
            p.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass


def stop(pids: list[int], grace: float = 3.0) -> list[int]:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL. Returns pids that survived."""
    pids = [p for p in pids if p > 1 and p != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        _reap(pid)
    return [p for p in pids if alive(p)]


def wait_exit(pid: int, timeout: float) -> int:
    """Waits for `pid` to exit; returns its exit status (-1 if unknown or still running)."""
    p = _children.get(pid)
    if p is not None:
        try:
            code = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return -1
        _children.pop(pid, None)
        return code
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    return -1


def wait_for_path(path: Path, pid: int, what: str, log_path: Path, timeout: float) -> None:
    """Polls until `path` exists; fails early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        if not alive(pid):
            raise LabError(f"{what} exited before creating {path}; last log lines:\n{tail(log_path)}")
        time.sleep(0.05)
    raise LabError(f"{what} did not create {path} within {timeout:.0f}s; last log lines:\n{tail(log_path)}")


def tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "  (no log)"
    return "\n".join("  " + ln for ln in lines[-n:]) or "  (empty log)"
