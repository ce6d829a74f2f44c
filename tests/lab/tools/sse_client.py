#!/usr/bin/env python3
"""Reads a cats daemon's GET /api/v1/stream (Server-Sent Events) over HTTPS, as a script
or a browser's EventSource would, and records what arrives.

Usage: sse_client.py HOST PORT PIN [--token T] [--last-event-id N] [--query 'topics=paths']
                     [--duration S] [--max-messages N]
PIN is the server certificate's SHA-256 ("AB:CD:..."), checked before any request byte is
sent. Output: JSON lines on stdout, flushed; t in seconds since the connection was made:
  {"ev": "head", "t", "status", "headers": {lower-case name: value}, "body"?: text (non-200)}
  {"ev": "msg", "t", "id", "event", "data"}     (data parsed as JSON)
  {"ev": "comment", "t", "text"}
  {"ev": "end", "t", "reason": "duration" | "max" | "eof" | "error: ..."}
Parsing follows WHATWG HTML 9.2.6 for the fields we emit (id, event, data, retry, comments).
"""
import argparse
import hashlib
import json
import socket
import ssl
import sys
import time


def out(obj):
    print(json.dumps(obj), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("pin")
    ap.add_argument("--token")
    ap.add_argument("--last-event-id")
    ap.add_argument("--query", default="")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--max-messages", type=int, default=0)
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # replaced by the pin below
    raw = socket.create_connection((a.host, a.port), timeout=10)
    tls = ctx.wrap_socket(raw, server_hostname=a.host)
    if hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest() != a.pin.replace(":", "").lower():
        out({"ev": "end", "t": 0, "reason": "error: certificate pin mismatch"})
        return 2
    t0 = time.monotonic()
    path = "/api/v1/stream" + ("?" + a.query if a.query else "")
    req = f"GET {path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\nAccept: text/event-stream\r\n"
    if a.token:
        req += f"Authorization: Bearer {a.token}\r\n"
    if a.last_event_id is not None:
        req += f"Last-Event-ID: {a.last_event_id}\r\n"
    tls.sendall((req + "\r\n").encode())

    buf = b""
    head = None
    msgs = 0
    cur: dict = {}
    deadline = t0 + a.duration
    reason = "duration"
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        tls.settimeout(max(0.05, deadline - now))
        try:
            chunk = tls.recv(65536)
        except socket.timeout:
            continue
        except (OSError, ssl.SSLError) as e:
            reason = f"error: {e}"
            break
        if not chunk:
            reason = "eof"
            break
        buf += chunk
        t = round(time.monotonic() - t0, 4)
        if head is None:
            if b"\r\n\r\n" not in buf:
                continue
            h, buf = buf.split(b"\r\n\r\n", 1)
            lines = h.decode(errors="replace").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                headers[k.strip().lower()] = v.strip()
            head = {"ev": "head", "t": t, "status": status, "headers": headers}
            if status != 200:
                # A JSON error with Content-Length: read it whole.
                n = int(headers.get("content-length", "0"))
                while len(buf) < n:
                    more = tls.recv(65536)
                    if not more:
                        break
                    buf += more
                head["body"] = buf[:n].decode(errors="replace")
                out(head)
                reason = "eof"
                break
            out(head)
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            s = line.decode(errors="replace").rstrip("\r")
            if s == "":
                if "data" in cur or "event" in cur:
                    data = cur.get("data", "")
                    try:
                        data = json.loads(data)
                    except ValueError:
                        pass
                    out({"ev": "msg", "t": t, "id": cur.get("id"), "event": cur.get("event", "message"), "data": data})
                    msgs += 1
                cur = {}
                if a.max_messages and msgs >= a.max_messages:
                    reason = "max"
                    break
                continue
            if s.startswith(":"):
                out({"ev": "comment", "t": t, "text": s[1:].strip()})
                continue
            field, _, value = s.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "id":
                cur["id"] = int(value)
            elif field == "event":
                cur["event"] = value
            elif field == "data":
                cur["data"] = value if "data" not in cur else cur["data"] + "\n" + value
        if reason == "max":
            break
    if head is None and reason == "duration":
        reason = "error: no response head"
    out({"ev": "end", "t": round(time.monotonic() - t0, 4), "reason": reason})
    try:
        tls.close()
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
