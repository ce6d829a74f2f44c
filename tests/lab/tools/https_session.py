#!/usr/bin/env python3
"""Runs a scripted HTTPS conversation with a cats daemon, as a browser or script would.

Usage: https_session.py HOST PORT PIN < steps.json > results.json
PIN is the server certificate's SHA-256 ("AB:CD:..."): checked before any request is sent
(the lab's certificate is self-signed). Steps: [{"method", "path", "body"?, "headers"?,
"csrf"?: true, "bearer"?: "..."}]. A cookie jar and the last csrf_token seen carry over
between steps. Prints [{"status", "headers", "body", "wire_bytes"}] (body inflated when
Content-Encoding is gzip, then parsed when JSON; wire_bytes: the body as sent)."""
import gzip
import hashlib
import http.client
import json
import socket
import ssl
import sys


def main() -> int:
    host, port, pin = sys.argv[1], int(sys.argv[2]), sys.argv[3].replace(":", "").lower()
    steps = json.load(sys.stdin)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # replaced by the pin below
    cookies: dict[str, str] = {}
    csrf = None
    out = []
    for st in steps:
        raw = socket.create_connection((host, port), timeout=10)
        tls = ctx.wrap_socket(raw, server_hostname=host)
        seen = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
        if seen != pin:
            print(json.dumps({"error": f"certificate pin mismatch: {seen}"}))
            return 2
        conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
        conn.sock = tls
        headers = {"Host": f"{host}:{port}"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if st.get("csrf") and csrf:
            headers["X-CSRF-Token"] = csrf
        if st.get("bearer"):
            headers["Authorization"] = "Bearer " + st["bearer"]
        headers.update(st.get("headers", {}))
        body = st.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn.request(st["method"], st["path"], body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        wire = len(data)
        if (r.headers.get("Content-Encoding") or "").lower() == "gzip":
            data = gzip.decompress(data)  # fails on a malformed member: the step then errors
        text = data.decode(errors="replace")
        for v in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = v.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in v:
                cookies.pop(name, None)
            else:
                cookies[name] = value
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        if isinstance(parsed, dict) and isinstance(parsed.get("csrf_token"), str):
            csrf = parsed["csrf_token"]
        out.append({"status": r.status, "headers": {k.lower(): v for k, v in r.headers.items()},
                    "set_cookie": r.headers.get_all("Set-Cookie") or [], "body": parsed, "wire_bytes": wire})
        conn.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
