"""Impairment control: the cats-impair control socket and tc rate limits."""
from __future__ import annotations

import socket
from pathlib import Path

from .common import LabError, RUN_DIR, run
from .scenario import ImpairLink


def socket_path(link: str) -> Path:
    return RUN_DIR / f"impair-{link}.sock"


def command(link: str, line: str, timeout: float = 3.0) -> str:
    """Sends one command line to a link's cats-impair, returns its one-line reply."""
    path = socket_path(link)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(line.strip().encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
    except OSError as e:
        raise LabError(f"impair {link}: cannot talk to {path}: {e} (is the lab up?)") from e
    reply = buf.decode().strip()
    if reply.startswith("error"):
        raise LabError(f"impair {link}: {reply}")
    return reply


def parse_kv(reply: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for tok in reply.split():
        k, eq, v = tok.partition("=")
        if eq:
            try:
                out[k] = float(v) if "." in v or "e" in v else int(v)
            except ValueError:
                pass
    return out


def stats(link: str) -> dict[str, float]:
    return parse_kv(command(link, "stats"))


def get(link: str) -> dict[str, float]:
    return parse_kv(command(link, "get"))


def set_params(link: str, **kw: float) -> dict[str, float]:
    items = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in kw.items() if v is not None)
    if not items:
        return get(link)
    return parse_kv(command(link, "set " + items))


def _burst_bytes(mbit: float) -> int:
    # ~5 ms worth of traffic, at least 32 KB (GSO packets are large on veth).
    return max(32 * 1024, int(mbit * 1e6 / 8 * 0.005))


def set_rate(il: ImpairLink, mbit: float | None) -> None:
    """Rate-limits both directions with tbf on the egress of each `rate_on` interface;
    None or 0 removes the limit."""
    for node, ifname in il.rate_on:
        ns = "cats-" + node
        if not mbit:
            run(["tc", "-n", ns, "qdisc", "del", "dev", ifname, "root"], check=False)
        else:
            run(["tc", "-n", ns, "qdisc", "replace", "dev", ifname, "root", "tbf",
                 "rate", f"{mbit:g}mbit", "burst", str(_burst_bytes(mbit)), "latency", "50ms"])


def get_rate(il: ImpairLink) -> dict[str, str]:
    out = {}
    for node, ifname in il.rate_on:
        cp = run(["tc", "-n", "cats-" + node, "qdisc", "show", "dev", ifname, "root"], check=False)
        line = (cp.stdout or "").strip().splitlines()
        out[f"{node}:{ifname}"] = line[0] if line else "(none)"
    return out


def iptables_rule(il: ImpairLink) -> list[str]:
    rule = ["-A", "FORWARD"]
    if il.in_if:
        rule += ["-i", il.in_if]
    rule += ["-o", il.out_if, "-j", "NFQUEUE", "--queue-num", str(il.queue)]
    return rule
