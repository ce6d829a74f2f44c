#!/usr/bin/python3
"""Minimal ICMP echo (stdlib only, needs root): the lab does not depend on iputils.

  icmp_ping.py DST [-c COUNT] [-i INTERVAL_S] [-W TIMEOUT_S] [-I SRC_ADDR] [--json]

Sends COUNT echo requests INTERVAL apart, waits up to TIMEOUT after the last one, and
prints a summary (or JSON: sent, received, loss_pct, rtt_ms list, min/avg/max). Exit
code 0 if at least one reply came back, 1 otherwise.
"""
import argparse
import json
import os
import select
import socket
import struct
import sys
import time


def checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dst")
    ap.add_argument("-c", type=int, default=3)
    ap.add_argument("-i", type=float, default=0.2)
    ap.add_argument("-W", type=float, default=1.0)
    ap.add_argument("-I", dest="src", help="source address or interface name (as iputils ping)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    if a.src:
        try:
            socket.inet_aton(a.src)
            s.bind((a.src, 0))
        except OSError:
            # An interface: bind to the device, as `ping -I IFNAME` does.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, a.src.encode())
    ident = (os.getpid() ^ int(time.time() * 1000)) & 0xFFFF
    payload = b"cats-lab-ping" + b"\0" * 19
    sent_at: dict[int, int] = {}
    rtts: dict[int, float] = {}
    next_send = time.monotonic()
    seq = 0
    deadline = None
    while True:
        now = time.monotonic()
        if seq < a.c and now >= next_send:
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, seq) + payload
            sent_at[seq] = time.monotonic_ns()
            try:
                s.sendto(pkt, (a.dst, 0))
            except OSError:
                pass
            seq += 1
            next_send = now + a.i
            if seq == a.c:
                deadline = now + a.W
        if deadline is not None and (now >= deadline or len(rtts) == a.c):
            break
        wait = (deadline - now) if seq >= a.c else max(0.0, next_send - now)
        r, _, _ = select.select([s], [], [], max(0.0, wait))
        if not r:
            continue
        data, _ = s.recvfrom(2048)
        t = time.monotonic_ns()
        ihl = (data[0] & 0x0F) * 4
        if len(data) < ihl + 8:
            continue
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ == 0 and rid == ident and rseq in sent_at and rseq not in rtts:
            rtts[rseq] = (t - sent_at[rseq]) / 1e6
    vals = [rtts[k] for k in sorted(rtts)]
    res = {"dst": a.dst, "src": a.src, "sent": a.c, "received": len(vals),
           "loss_pct": 100.0 * (a.c - len(vals)) / a.c if a.c else 0.0, "rtt_ms": vals,
           "min": min(vals) if vals else None, "avg": sum(vals) / len(vals) if vals else None,
           "max": max(vals) if vals else None}
    if a.json:
        print(json.dumps(res))
    else:
        rt = f"rtt min/avg/max = {res['min']:.3f}/{res['avg']:.3f}/{res['max']:.3f} ms" if vals else "no replies"
        print(f"{a.dst}: {a.c} sent, {len(vals)} received, {res['loss_pct']:.0f}% loss, {rt}")
    return 0 if vals else 1


if __name__ == "__main__":
    sys.exit(main())
