"""Scenario files (TOML): topology, impairment links and daemon parameters.

See tests/lab/scenarios/fig4.toml for the annotated format.
"""
from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .common import IFNAMSIZ, LAB_DIR, LabError, ns_name

DEFAULT_SCENARIO = LAB_DIR / "scenarios" / "fig4.toml"
ROLES = {"client", "cpe", "router", "vcpe", "app"}


@dataclass
class Node:
    name: str
    role: str
    routes: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    iptables: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)

    @property
    def ns(self) -> str:
        return ns_name(self.name)

    @property
    def forwards(self) -> bool:
        return self.role in ("cpe", "router", "vcpe")


@dataclass
class End:
    node: str
    ifname: str
    address: str | None = None
    bridge: str | None = None


@dataclass
class Link:
    a: End
    b: End


@dataclass
class Bridge:
    node: str
    name: str
    address: str | None = None


@dataclass
class ImpairLink:
    link: str
    node: str
    out_if: str
    queue: int
    in_if: str | None = None
    rate_on: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    rate: float = 0.0  # Mbit/s, 0 = unlimited


@dataclass
class Wan:
    name: str
    interface: str
    address: str
    gateway: str
    tunnel_interface: str
    listen_port: int
    weight: int = 1
    cost: int = 0


@dataclass
class CpeSpec:
    node: str
    name: str
    lan_interface: str
    address: str
    subnets: list[str]
    wans: list[Wan]
    wireguard: str = "auto"
    wireguard_go: str = "wireguard-go"


@dataclass
class AppSpec:
    """The synthetic app (tests/lab/app, cats-app) in front of which a vCPE sits; the vCPE
    samples it as instance "app1-<vcpe>" (C-SMA)."""
    node: str
    address: str
    port: int = 8080
    load_port: int = 8081
    workers: int = 4
    service_ms: float = 10
    background: float = 0  # percent 0..99 of each worker's time

    @property
    def load_url(self) -> str:
        return f"http://{self.address}:{self.load_port}/load"

    @property
    def health_url(self) -> str:
        return f"http://{self.address}:{self.load_port}/healthz"


@dataclass
class VcpeSpec:
    node: str
    name: str
    short: str
    endpoint: str
    address: str
    lan_interface: str
    uplink: str
    subnets: list[str]
    keepalive: int = 5
    port_base: int = 51811
    wireguard: str = "auto"
    wireguard_go: str = "wireguard-go"
    app: AppSpec | None = None

    def tunnel_interface(self, wan: str) -> str:
        return f"cats-{self.short}-{wan}"


@dataclass
class Scenario:
    path: Path
    name: str
    description: str
    nodes: dict[str, Node]
    bridges: list[Bridge]
    links: list[Link]
    impairs: list[ImpairLink]
    cpe: CpeSpec | None
    vcpes: list[VcpeSpec]

    def impair(self, link: str) -> ImpairLink:
        for i in self.impairs:
            if i.link == link:
                return i
        known = ", ".join(i.link for i in self.impairs) or "none"
        raise LabError(f"no impairable link '{link}' in scenario {self.name} (links: {known})")

    def namespaces(self) -> list[str]:
        return [n.ns for n in self.nodes.values()]

    def tunnel_interfaces(self) -> list[str]:
        names: list[str] = []
        if self.cpe:
            names += [w.tunnel_interface for w in self.cpe.wans]
            for v in self.vcpes:
                names += [v.tunnel_interface(w.name) for w in self.cpe.wans]
        return names


def _req(d: dict, key: str, where: str):
    if key not in d:
        raise LabError(f"{where}: missing '{key}'")
    return d[key]


def _check_ifname(name: str, where: str) -> None:
    if not name or len(name) > IFNAMSIZ or "/" in name or " " in name:
        raise LabError(f"{where}: bad interface name '{name}' (1..{IFNAMSIZ} chars)")


def _check_prefix(addr: str, where: str) -> None:
    try:
        ipaddress.ip_interface(addr)
    except ValueError as e:
        raise LabError(f"{where}: bad address '{addr}': {e}") from e


def _app_spec(a, where: str, node_ref) -> AppSpec:
    if not isinstance(a, dict):
        raise LabError(f"{where}: must be a table")
    unknown = set(a) - {"node", "address", "port", "load_port", "workers", "service_ms", "background"}
    if unknown:
        raise LabError(f"{where}: unknown keys {sorted(unknown)}")
    app = AppSpec(node=node_ref(_req(a, "node", where), where), address=_req(a, "address", where),
                  port=int(a.get("port", 8080)), load_port=int(a.get("load_port", 8081)),
                  workers=int(a.get("workers", 4)), service_ms=float(a.get("service_ms", 10)),
                  background=float(a.get("background", 0)))
    if not (1 <= app.port <= 65535 and 1 <= app.load_port <= 65535 and app.port != app.load_port):
        raise LabError(f"{where}: bad ports")
    if not (1 <= app.workers <= 1024 and 0 <= app.service_ms <= 60000 and 0 <= app.background <= 99):
        raise LabError(f"{where}: workers 1..1024, service_ms 0..60000, background 0..99 (percent)")
    return app


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Loads and validates a scenario; a bare name ("fig3") means scenarios/<name>.toml."""
    p = Path(path) if path else DEFAULT_SCENARIO
    if not p.exists() and not p.suffix:
        p = LAB_DIR / "scenarios" / f"{p}.toml"
    if not p.exists():
        raise LabError(f"scenario file not found: {p}")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise LabError(f"{p}: {e}") from e
    where = str(p)
    lab = data.get("lab", {})

    nodes: dict[str, Node] = {}
    for name, nd in _req(data, "nodes", where).items():
        role = nd.get("role", "router")
        if role not in ROLES:
            raise LabError(f"{where}: node {name}: unknown role '{role}'")
        if len(ns_name(name)) > 64:
            raise LabError(f"{where}: node name too long: {name}")
        nodes[name] = Node(name=name, role=role, routes=list(nd.get("routes", [])),
                           rules=list(nd.get("rules", [])), iptables=list(nd.get("iptables", [])),
                           sysctls={str(k): str(v) for k, v in nd.get("sysctls", {}).items()})

    def node_ref(n: str, w: str) -> str:
        if n not in nodes:
            raise LabError(f"{where}: {w}: unknown node '{n}'")
        return n

    bridges = []
    for i, b in enumerate(data.get("bridges", [])):
        w = f"bridges[{i}]"
        br = Bridge(node=node_ref(_req(b, "node", w), w), name=_req(b, "name", w), address=b.get("address"))
        _check_ifname(br.name, w)
        if br.address:
            _check_prefix(br.address, w)
        bridges.append(br)

    seen_ifs: set[tuple[str, str]] = {(b.node, b.name) for b in bridges}
    links = []
    for i, lk in enumerate(data.get("links", [])):
        w = f"links[{i}]"
        ends = []
        for side in ("a", "b"):
            e = _req(lk, side, w)
            end = End(node=node_ref(_req(e, "node", w), w), ifname=_req(e, "if", w),
                      address=e.get("address"), bridge=e.get("bridge"))
            _check_ifname(end.ifname, w)
            if end.address:
                _check_prefix(end.address, w)
            if end.bridge and (end.node, end.bridge) not in {(b.node, b.name) for b in bridges}:
                raise LabError(f"{w}: bridge '{end.bridge}' not defined in node {end.node}")
            if (end.node, end.ifname) in seen_ifs:
                raise LabError(f"{w}: interface {end.ifname} defined twice in node {end.node}")
            seen_ifs.add((end.node, end.ifname))
            ends.append(end)
        links.append(Link(a=ends[0], b=ends[1]))

    impairs = []
    queues: set[int] = set()
    for i, im in enumerate(data.get("impair", [])):
        w = f"impair[{i}]"
        rate_on = []
        for r in im.get("rate_on", []):
            n, _, ifn = r.partition(":")
            if (node_ref(n, w), ifn) not in seen_ifs:
                raise LabError(f"{w}: rate_on '{r}': no such interface")
            rate_on.append((n, ifn))
        il = ImpairLink(link=_req(im, "link", w), node=node_ref(_req(im, "node", w), w),
                        out_if=_req(im, "out", w), in_if=im.get("in"), queue=int(_req(im, "queue", w)),
                        rate_on=rate_on, delay=float(im.get("delay", 0)), jitter=float(im.get("jitter", 0)),
                        loss=float(im.get("loss", 0)), rate=float(im.get("rate", 0)))
        if il.queue in queues:
            raise LabError(f"{w}: queue {il.queue} used twice")
        queues.add(il.queue)
        if any(x.link == il.link for x in impairs):
            raise LabError(f"{w}: link '{il.link}' defined twice")
        impairs.append(il)

    cpe = None
    if "cpe" in data:
        c = data["cpe"]
        w = "cpe"
        wans = []
        for j, wd in enumerate(_req(c, "wan", w)):
            ww = f"cpe.wan[{j}]"
            wan = Wan(name=_req(wd, "name", ww), interface=_req(wd, "interface", ww),
                      address=_req(wd, "address", ww), gateway=_req(wd, "gateway", ww),
                      tunnel_interface=_req(wd, "tunnel_interface", ww),
                      listen_port=int(_req(wd, "listen_port", ww)),
                      weight=int(wd.get("weight", 1)), cost=int(wd.get("cost", 0)))
            _check_ifname(wan.tunnel_interface, ww)
            wans.append(wan)
        cpe = CpeSpec(node=node_ref(_req(c, "node", w), w), name=_req(c, "name", w),
                      lan_interface=_req(c, "lan_interface", w), address=_req(c, "address", w),
                      subnets=list(_req(c, "subnets", w)), wans=wans,
                      wireguard=c.get("wireguard", "auto"), wireguard_go=c.get("wireguard_go", "wireguard-go"))

    vcpes = []
    for j, vd in enumerate(data.get("vcpe", [])):
        w = f"vcpe[{j}]"
        v = VcpeSpec(node=node_ref(_req(vd, "node", w), w), name=_req(vd, "name", w), short=_req(vd, "short", w),
                     endpoint=_req(vd, "endpoint", w), address=_req(vd, "address", w),
                     lan_interface=_req(vd, "lan_interface", w), uplink=_req(vd, "uplink", w),
                     subnets=list(_req(vd, "subnets", w)), keepalive=int(vd.get("keepalive", 5)),
                     port_base=int(vd.get("port_base", 51811)), wireguard=vd.get("wireguard", "auto"),
                     wireguard_go=vd.get("wireguard_go", "wireguard-go"))
        if "app" in vd:
            v.app = _app_spec(vd["app"], f"{w}.app", node_ref)
        vcpes.append(v)
    if vcpes and not cpe:
        raise LabError(f"{where}: [[vcpe]] without [cpe]")

    sc = Scenario(path=p, name=lab.get("name", p.stem), description=lab.get("description", ""),
                  nodes=nodes, bridges=bridges, links=links, impairs=impairs, cpe=cpe, vcpes=vcpes)
    tun = sc.tunnel_interfaces()
    for t in tun:
        _check_ifname(t, f"{where}: tunnel interface")
    if len(set(tun)) != len(tun):
        raise LabError(f"{where}: tunnel interface names are not unique: {tun}")
    return sc
