"""Topology builder: namespaces, veth pairs, bridges, addresses, routes, NAT.

Everything is created directly inside the lab's namespaces (`ip -n NS link add ... peer
name X netns NS2`), never in the host namespace, so deleting the namespaces removes every
link, address, route and iptables rule the lab made.
"""
from __future__ import annotations

import shlex

from .common import LabError, list_lab_namespaces, nsrun, run
from .scenario import Scenario

BASE_SYSCTLS = {
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
}


def _sysctl(ns: str, key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    nsrun(ns, ["sh", "-c", f"echo {shlex.quote(value)} > {path}"])


def build(sc: Scenario, log=print) -> None:
    """Creates the scenario's topology. Raises LabError on the first failure (the caller
    tears the half-built lab down)."""
    for node in sc.nodes.values():
        run(["ip", "netns", "add", node.ns])
        run(["ip", "-n", node.ns, "link", "set", "lo", "up"])
        sysctls = dict(BASE_SYSCTLS)
        if node.forwards:
            sysctls["net.ipv4.ip_forward"] = "1"
        sysctls.update(node.sysctls)
        for k, v in sysctls.items():
            _sysctl(node.name, k, v)
    log(f"  {len(sc.nodes)} namespaces")

    for br in sc.bridges:
        ns = sc.nodes[br.node].ns
        run(["ip", "-n", ns, "link", "add", br.name, "type", "bridge"])
        if br.address:
            run(["ip", "-n", ns, "addr", "add", br.address, "dev", br.name])
        run(["ip", "-n", ns, "link", "set", br.name, "up"])

    for lk in sc.links:
        na, nb = sc.nodes[lk.a.node].ns, sc.nodes[lk.b.node].ns
        run(["ip", "-n", na, "link", "add", lk.a.ifname, "type", "veth",
             "peer", "name", lk.b.ifname, "netns", nb])
        for end, ns in ((lk.a, na), (lk.b, nb)):
            if end.bridge:
                run(["ip", "-n", ns, "link", "set", end.ifname, "master", end.bridge])
            if end.address:
                run(["ip", "-n", ns, "addr", "add", end.address, "dev", end.ifname])
            run(["ip", "-n", ns, "link", "set", end.ifname, "up"])
    log(f"  {len(sc.links)} veth links, {len(sc.bridges)} bridges")

    for node in sc.nodes.values():
        for r in node.routes:
            run(["ip", "-n", node.ns, "route", "add", *shlex.split(r)])
        for r in node.rules:
            run(["ip", "-n", node.ns, "rule", "add", *shlex.split(r)])
        for r in node.iptables:
            nsrun(node.name, ["iptables", "-w", *shlex.split(r)])


def remove_namespaces(names: list[str] | None = None, log=print) -> list[str]:
    """Deletes the given namespaces (default: every cats-* namespace). Returns failures."""
    failed = []
    targets = set(names or []) | set(list_lab_namespaces())
    for ns in sorted(targets):
        if not ns.startswith("cats-"):
            continue
        cp = run(["ip", "netns", "del", ns], check=False)
        if cp.returncode != 0 and ns in list_lab_namespaces():
            failed.append(f"{ns}: {cp.stderr.strip()}")
    return failed


def namespace_pids(ns: str) -> list[int]:
    cp = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in (cp.stdout or "").split() if x.isdigit()]


def check_built(sc: Scenario) -> None:
    existing = set(list_lab_namespaces())
    missing = [n for n in sc.namespaces() if n not in existing]
    if missing:
        raise LabError(f"namespaces missing: {', '.join(missing)}")
