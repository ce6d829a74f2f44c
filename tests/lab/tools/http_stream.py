#!/usr/bin/python3
"""A long-lived HTTP/1.1 keep-alive stream: one TCP connection, one request at a time,
a pause of --interval-ms after each reply. Records every reply (time, instance) and
every error, to measure gaps and check that the instance never changes.

  http_stream.py 10.255.0.1:80 [--interval-ms 15] [--timeout 10] [--duration 30]
                 [--reconnect] [--path /]

Output: JSON lines on stdout, flushed, times in CLOCK_MONOTONIC seconds (comparable with
time.monotonic() of any process on the host):

  {"ev": "connect", "t": T, "conn": K, "port": LOCAL_PORT}
  {"ev": "reply",   "t": T, "sent": T0, "conn": K, "instance": NAME}
  {"ev": "error",   "t": T, "sent": T0, "conn": K, "kind": KIND, "detail": "..."}
  {"ev": "end", "summary": {...}}

KIND as in httpc.py (reset, eof, timeout, refused, ...). --timeout bounds each reply
(connect included on a reconnect), so "fails fast" and "hangs" are told apart by the
error time. Without --reconnect the first error ends the stream; with it, a new
connection is opened (after --interval-ms) and the stream goes on. The summary: replies,
errors [{t, kind, conn}], connections, instances {name: replies}, instance_changes
(within one connection), max_gap_ms (longest time between two consecutive replies, or
from the start to the first), max_gap_at (the reply that ended it), first_t, last_t.
--quiet omits the reply lines (summary only). Ends on SIGTERM/SIGINT, --duration, or
--max-errors.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpc import Conn, HttpError, connect, parse_target  # noqa: E402

_stop = threading.Event()


def emit(obj) -> None:
    print(json.dumps(obj), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", help="HOST:PORT")
    ap.add_argument("--interval-ms", type=float, default=15.0)
    ap.add_argument("--timeout", type=float, default=10.0, help="per reply, seconds")
    ap.add_argument("--duration", type=float, default=0, help="seconds (0: until SIGTERM)")
    ap.add_argument("--reconnect", action="store_true", help="open a new connection after an error")
    ap.add_argument("--max-errors", type=int, default=0, help="with --reconnect: stop after N errors (0: never)")
    ap.add_argument("--path", default="/")
    ap.add_argument("--quiet", action="store_true", help="no reply lines")
    a = ap.parse_args()
    target = parse_target(a.target)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: _stop.set())
    t_start = time.monotonic()
    t_end = t_start + a.duration if a.duration > 0 else None
    pause = a.interval_ms / 1000.0

    replies = 0
    errors: list[dict] = []
    instances: dict[str, int] = {}
    changes = 0
    conns = 0
    last_reply = t_start
    first_t = last_t = None
    max_gap, max_gap_at = 0.0, None
    conn: Conn | None = None
    conn_instance = None

    def running() -> bool:
        return not _stop.is_set() and (t_end is None or time.monotonic() < t_end)

    while running():
        t0 = time.monotonic()
        try:
            if conn is None:
                conn = Conn(connect(target, a.timeout, _stop.is_set), target[0])
                conns += 1
                conn_instance = None
                emit({"ev": "connect", "t": round(time.monotonic(), 6), "conn": conns, "port": conn.local_port})
                t0 = time.monotonic()
            r = conn.request(a.path, a.timeout, keep_alive=True, stop=_stop.is_set)
        except HttpError as e:
            if e.kind == "stopped":
                break
            now = time.monotonic()
            err = {"t": round(now, 6), "sent": round(t0, 6), "conn": conns, "kind": e.kind, "detail": e.detail}
            errors.append(err)
            emit({"ev": "error", **err})
            if conn is not None:
                conn.close()
                conn = None
            if not a.reconnect or (a.max_errors and len(errors) >= a.max_errors):
                break
            _stop.wait(pause)
            continue
        now = time.monotonic()
        inst = r.instance or "?"
        replies += 1
        instances[inst] = instances.get(inst, 0) + 1
        if conn_instance is not None and inst != conn_instance:
            changes += 1
        conn_instance = inst
        gap = now - last_reply
        if gap > max_gap:
            max_gap, max_gap_at = gap, round(now, 6)
        last_reply = now
        first_t = first_t or round(now, 6)
        last_t = round(now, 6)
        if not a.quiet:
            emit({"ev": "reply", "t": round(now, 6), "sent": round(t0, 6), "conn": conns, "instance": inst})
        if pause > 0:
            _stop.wait(pause)
    if conn is not None:
        conn.close()
    emit({"ev": "end", "summary": {
        "target": a.target, "replies": replies, "errors": errors, "connections": conns,
        "instances": instances, "instance_changes": changes, "max_gap_ms": round(max_gap * 1000, 1),
        "max_gap_at": max_gap_at, "first_t": first_t, "last_t": last_t,
        "duration_s": round(time.monotonic() - t_start, 3)}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
