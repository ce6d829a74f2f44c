#!/usr/bin/env python3
"""Holds one TCP connection to URL's /stream (tests/vm/guest/app.py) and keeps STATUS
up to date: "<lines received> <largest gap between lines, s> <state>", state "open",
then "closed" or "error: ...". The upgrade test reads it: the flow survived when the
count kept growing, the gap stayed small and the state is still "open"."""
import os
import socket
import sys
import time

host, port, status = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n, gap, state = 0, 0.0, "open"


def write():
    tmp = status + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{n} {gap:.2f} {state}\n")
    os.replace(tmp, status)


try:
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"GET /stream HTTP/1.0\r\nHost: vip\r\n\r\n")
    s.settimeout(30)
    f = s.makefile("rb")
    last = time.monotonic()
    while True:
        line = f.readline()
        if not line:
            state = "closed"
            break
        now = time.monotonic()
        if line.strip().isdigit():
            n += 1
            gap = max(gap, now - last) if n > 1 else 0.0
        last = now
        write()
except Exception as e:  # noqa: BLE001 -- any failure is the result
    state = f"error: {e}"
write()
