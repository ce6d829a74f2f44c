"""Scenario files (TOML): topology, impairment links and daemon parameters.

See tests/lab/scenarios/fig4.toml for the annotated format.
"""
from __future__ import annotations

import ipaddress
import re
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
class ServiceInstanceSpec:
    """One [[cpe.service]] instance: the vCPE it sits behind and its address:port (the
    DNAT target). `health` is lab-only (what the generated vCPE [[instance]] checks):
    "app" = the vCPE's cats-app health URL (default when the address is the app's),
    "tcp" = a TCP connect to the address."""
    vcpe: str
    address: str
    port: int
    health: str = "app"
    # Lab-only: written into the vCPE's [[instance]] as its configured (nominal)
    # service_time_ms; the CPE's config never carries it (it learns it from reports).
    service_time_ms: float | None = None
    # Lab-only: the vCPE [[instance]]'s health_timeout_ms (how long a silent instance takes
    # to be declared down; draft section 4.3 wants a fast failover).
    health_timeout_ms: int = 500
    # Lab-only: Prometheus presets (PROM_PRESETS) the vCPE's [[instance]] reads from its
    # app's GET /metrics, one [[instance.prometheus]] each; such an instance gets no
    # load_url (an inference server exports its load in Prometheus, not our JSON).
    prometheus: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass
class ServiceSpec:
    """A [[cpe.service]] of the scenario: written as a [[service]] into the CPE config
    (same keys) and as one [[instance]] per instance into the matching vCPE's config."""
    id: str
    vip: str
    protocol: str
    ports: list[int]
    affinity: str = "flow"
    sticky_timeout_s: int | None = None
    on_no_candidate: str = "reject"
    service_time_ms: float | None = None
    extra: dict = field(default_factory=dict)   # access_delay_ms, spread_pct, spread_power: copied as is
    sla: dict = field(default_factory=dict)     # [service.sla] keys: copied as is
    instances: list[ServiceInstanceSpec] = field(default_factory=list)


@dataclass
class CpeSpec:
    node: str
    name: str
    lan_interface: str
    address: str
    subnets: list[str]
    wans: list[Wan]
    # [[cpe.spare_wan]]: WAN links the lab builds but leaves out of every generated
    # config, for a WAN added later through the API; Lab.add_spare_wan() then gives each
    # vCPE its path (an operator's edit of vcpe.toml and reload).
    spare_wans: list[Wan] = field(default_factory=list)
    wireguard: str = "auto"
    wireguard_go: str = "wireguard-go"
    selection: dict = field(default_factory=dict)  # [selection] keys, copied as is
    probing: dict = field(default_factory=dict)    # [probing] keys, copied as is (none: defaults)
    management: dict = field(default_factory=dict)  # [management] keys, copied as is (none: HTTPS off)
    services: list[ServiceSpec] = field(default_factory=list)

    def service(self, sid: str) -> ServiceSpec:
        for sv in self.services:
            if sv.id == sid:
                return sv
        raise LabError(f"no service '{sid}' (have {', '.join(x.id for x in self.services) or 'none'})")


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
    iperf3_port: int | None = None  # also run `iperf3 -s` on this port (bulk service)
    # `llm = true`: cats-app --llm, an LLM-style server (tests/lab/app/llm_engine.hpp)
    # instead of workers: batch, prefill_ms, token_ms, tokens, gpus (0: CPU-only, no DCGM
    # series), gpu_memory_mib; None = cats-app's default.
    llm: bool = False
    llm_args: dict = field(default_factory=dict)

    @property
    def load_url(self) -> str:
        return f"http://{self.address}:{self.load_port}/load"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.address}:{self.load_port}/metrics"

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
        """Every tunnel the lab's daemons may create, the spare WANs' too (host-wide
        names: checked unique, their wireguard-go sockets removed by `down`)."""
        names: list[str] = []
        if self.cpe:
            wans = self.cpe.wans + self.cpe.spare_wans
            names += [w.tunnel_interface for w in wans]
            for v in self.vcpes:
                names += [v.tunnel_interface(w.name) for w in wans]
        return names


def _req(d: dict, key: str, where: str):
    if key not in d:
        raise LabError(f"{where}: missing '{key}'")
    return d[key]


def _wan_spec(wd: dict, where: str) -> Wan:
    wan = Wan(name=_req(wd, "name", where), interface=_req(wd, "interface", where),
              address=_req(wd, "address", where), gateway=_req(wd, "gateway", where),
              tunnel_interface=_req(wd, "tunnel_interface", where),
              listen_port=int(_req(wd, "listen_port", where)),
              weight=int(wd.get("weight", 1)), cost=int(wd.get("cost", 0)))
    _check_ifname(wan.tunnel_interface, where)
    return wan


def _check_ifname(name: str, where: str) -> None:
    if not name or len(name) > IFNAMSIZ or "/" in name or " " in name:
        raise LabError(f"{where}: bad interface name '{name}' (1..{IFNAMSIZ} chars)")


def _check_prefix(addr: str, where: str) -> None:
    try:
        ipaddress.ip_interface(addr)
    except ValueError as e:
        raise LabError(f"{where}: bad address '{addr}': {e}") from e


# cats-app --llm options: scenario key -> (flag, min, max), as cats-app validates them.
LLM_APP_KEYS = {"batch": ("--batch", 1, 1024), "prefill_ms": ("--prefill-ms", 0, 60000),
                "token_ms": ("--token-ms", 0, 60000), "tokens": ("--tokens", 0, 4096),
                "gpus": ("--gpus", 0, 64), "gpu_memory_mib": ("--gpu-memory-mib", 1, 1048576)}
WORKER_APP_KEYS = {"workers", "service_ms", "background"}


def _app_spec(a, where: str, node_ref) -> AppSpec:
    if not isinstance(a, dict):
        raise LabError(f"{where}: must be a table")
    unknown = set(a) - {"node", "address", "port", "load_port", "iperf3_port", "llm"} - WORKER_APP_KEYS - set(LLM_APP_KEYS)
    if unknown:
        raise LabError(f"{where}: unknown keys {sorted(unknown)}")
    llm = a.get("llm", False)
    if not isinstance(llm, bool):
        raise LabError(f"{where}: llm must be true or false")
    if llm and set(a) & WORKER_APP_KEYS:
        raise LabError(f"{where}: {sorted(set(a) & WORKER_APP_KEYS)} do not apply with llm = true")
    if not llm and set(a) & set(LLM_APP_KEYS):
        raise LabError(f"{where}: {sorted(set(a) & set(LLM_APP_KEYS))} need llm = true")
    llm_args = {}
    for k, (_, lo, hi) in LLM_APP_KEYS.items():
        if k in a:
            x = a[k]
            if isinstance(x, bool) or not isinstance(x, int) or not lo <= x <= hi:
                raise LabError(f"{where}: {k} must be an integer {lo}..{hi}")
            llm_args[k] = x
    app = AppSpec(node=node_ref(_req(a, "node", where), where), address=_req(a, "address", where),
                  port=int(a.get("port", 8080)), load_port=int(a.get("load_port", 8081)),
                  workers=int(a.get("workers", 4)), service_ms=float(a.get("service_ms", 10)),
                  background=float(a.get("background", 0)),
                  iperf3_port=int(a["iperf3_port"]) if "iperf3_port" in a else None,
                  llm=llm, llm_args=llm_args)
    if app.iperf3_port is not None and (not 1 <= app.iperf3_port <= 65535
                                        or app.iperf3_port in (app.port, app.load_port)):
        raise LabError(f"{where}: bad iperf3_port")
    if not (1 <= app.port <= 65535 and 1 <= app.load_port <= 65535 and app.port != app.load_port):
        raise LabError(f"{where}: bad ports")
    if not (1 <= app.workers <= 1024 and 0 <= app.service_ms <= 60000 and 0 <= app.background <= 99):
        raise LabError(f"{where}: workers 1..1024, service_ms 0..60000, background 0..99 (percent)")
    return app


SERVICE_ID = re.compile(r"[a-z][a-z0-9_]{0,23}")
SERVICE_KEYS = {"id", "vip", "protocol", "ports", "affinity", "sticky_timeout_s", "on_no_candidate",
                "service_time_ms", "access_delay_ms", "spread_pct", "spread_power", "priority", "sla", "instance"}
PROM_PRESETS = {"node_exporter", "dcgm", "vllm", "triton"}  # common/sampler/prom_map.cpp
SLA_KEYS = {"max_rtt_ms", "max_jitter_ms", "max_loss_pct", "max_e2e_ms", "capability", "min_free_capacity_pct",
            "min_gpu_memory_free_pct"}
SELECTION_KEYS = {"hysteresis_pct", "hold_down_ms", "deadband_sigmas", "settle_mean_ms", "low_priority_reserve_pct"}
PROBING_KEYS = {"interval_ms", "timeout_ms", "min_timeout_ms", "down_after", "hold_down", "flap_half_life_ms",
                "flap_suppress", "flap_reuse", "flap_max_hold_ms"}
MANAGEMENT_KEYS = {"listen", "allowed_hosts", "metrics_allow", "session_idle_s", "session_max_s",
                   "max_connections", "max_connections_per_client", "webui_dir"}


def _endpoint(s, where: str) -> tuple[str, int]:
    host, sep, port = str(s).rpartition(":")
    try:
        ipaddress.IPv4Address(host)
        p = int(port)
    except ValueError as e:
        raise LabError(f"{where}: address must be IPv4:port, got '{s}'") from e
    if not sep or not 1 <= p <= 65535:
        raise LabError(f"{where}: address must be IPv4:port, got '{s}'")
    return host, p


def _service_spec(d, where: str, vcpe_names: set[str]) -> ServiceSpec:
    """[[cpe.service]]: the CPE's [[service]] keys (validated lightly here: the daemon is
    the judge of the rest) plus `instance = [{vcpe, address, health?}]`."""
    if not isinstance(d, dict):
        raise LabError(f"{where}: must be a table")
    unknown = set(d) - SERVICE_KEYS
    if unknown:
        raise LabError(f"{where}: unknown keys {sorted(unknown)}")
    sid = str(_req(d, "id", where))
    if not SERVICE_ID.fullmatch(sid):
        raise LabError(f"{where}: id '{sid}' must be [a-z][a-z0-9_]*, at most 24 characters")
    try:
        ipaddress.IPv4Address(_req(d, "vip", where))
    except ValueError as e:
        raise LabError(f"{where}: bad vip: {e}") from e
    ports = [int(p) for p in _req(d, "ports", where)]
    if not ports or len(set(ports)) != len(ports) or not all(1 <= p <= 65535 for p in ports):
        raise LabError(f"{where}: ports must be distinct 1..65535, at least one")
    sv = ServiceSpec(id=sid, vip=d["vip"], protocol=d.get("protocol", "tcp"), ports=ports,
                     affinity=d.get("affinity", "flow"), on_no_candidate=d.get("on_no_candidate", "reject"),
                     sticky_timeout_s=int(d["sticky_timeout_s"]) if "sticky_timeout_s" in d else None,
                     service_time_ms=float(d["service_time_ms"]) if "service_time_ms" in d else None,
                     extra={k: d[k] for k in ("access_delay_ms", "spread_pct", "spread_power", "priority") if k in d},
                     sla=dict(d.get("sla", {})))
    if sv.protocol not in ("tcp", "udp"):
        raise LabError(f"{where}: protocol must be tcp or udp")
    if sv.affinity not in ("flow", "sticky"):
        raise LabError(f"{where}: affinity must be flow or sticky")
    if (sv.affinity == "sticky") != (sv.sticky_timeout_s is not None and sv.sticky_timeout_s > 0):
        raise LabError(f"{where}: sticky_timeout_s (> 0) goes with affinity = \"sticky\" and only with it")
    if sv.on_no_candidate not in ("reject", "best_effort"):
        raise LabError(f"{where}: on_no_candidate must be reject or best_effort")
    bad_sla = set(sv.sla) - SLA_KEYS
    if bad_sla:
        raise LabError(f"{where}.sla: unknown keys {sorted(bad_sla)}")
    for j, inst in enumerate(_req(d, "instance", where)):
        wi = f"{where}.instance[{j}]"
        extra = set(inst) - {"vcpe", "address", "health", "service_time_ms", "health_timeout_ms", "prometheus"}
        if extra:
            raise LabError(f"{wi}: unknown keys {sorted(extra)}")
        v = str(_req(inst, "vcpe", wi))
        if v not in vcpe_names:
            raise LabError(f"{wi}: unknown vcpe '{v}' (have {', '.join(sorted(vcpe_names))})")
        host, port = _endpoint(_req(inst, "address", wi), wi)
        health = inst.get("health", "app")
        if health not in ("app", "tcp"):
            raise LabError(f"{wi}: health must be app or tcp")
        st = inst.get("service_time_ms")
        if st is not None and (isinstance(st, bool) or not isinstance(st, (int, float)) or not 0 < st <= 60000):
            raise LabError(f"{wi}: service_time_ms must be a number > 0 and <= 60000")
        ht = inst.get("health_timeout_ms", 500)
        if isinstance(ht, bool) or not isinstance(ht, int) or not 10 <= ht <= 60000:
            raise LabError(f"{wi}: health_timeout_ms must be an integer in 10..60000")
        prom = inst.get("prometheus", [])
        if (not isinstance(prom, list) or len(prom) > 4 or len(set(map(str, prom))) != len(prom)
                or not set(map(str, prom)) <= PROM_PRESETS):
            raise LabError(f"{wi}: prometheus must be a list of 0..4 distinct presets of {sorted(PROM_PRESETS)}")
        sv.instances.append(ServiceInstanceSpec(vcpe=v, address=host, port=port, health=health,
                                                service_time_ms=float(st) if st is not None else None,
                                                health_timeout_ms=ht, prometheus=[str(x) for x in prom]))
    if not sv.instances:
        raise LabError(f"{where}: no instance")
    return sv


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
        wans = [_wan_spec(wd, f"cpe.wan[{j}]") for j, wd in enumerate(_req(c, "wan", w))]
        spare = [_wan_spec(wd, f"cpe.spare_wan[{j}]") for j, wd in enumerate(c.get("spare_wan", []))]
        names = [x.name for x in wans + spare]
        if len(set(names)) != len(names):
            raise LabError(f"{where}: cpe: WAN names are not unique: {names}")
        for x in spare:
            if (_req(c, "node", w), x.interface) not in seen_ifs:
                raise LabError(f"{where}: cpe.spare_wan {x.name}: no link end {x.interface} in node {c['node']}")
        cpe = CpeSpec(node=node_ref(_req(c, "node", w), w), name=_req(c, "name", w),
                      lan_interface=_req(c, "lan_interface", w), address=_req(c, "address", w),
                      subnets=list(_req(c, "subnets", w)), wans=wans, spare_wans=spare,
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
    if cpe:
        c = data["cpe"]
        sel = dict(c.get("selection", {}))
        if set(sel) - SELECTION_KEYS:
            raise LabError(f"{where}: cpe.selection: unknown keys {sorted(set(sel) - SELECTION_KEYS)}")
        cpe.selection = sel
        prb = dict(c.get("probing", {}))
        if set(prb) - PROBING_KEYS:
            raise LabError(f"{where}: cpe.probing: unknown keys {sorted(set(prb) - PROBING_KEYS)}")
        cpe.probing = prb
        mgmt = dict(c.get("management", {}))
        if set(mgmt) - MANAGEMENT_KEYS:
            raise LabError(f"{where}: cpe.management: unknown keys {sorted(set(mgmt) - MANAGEMENT_KEYS)}")
        cpe.management = mgmt
        names = {v.name for v in vcpes}
        seen_ids, seen_vips = set(), set()
        for j, sd in enumerate(c.get("service", [])):
            sv = _service_spec(sd, f"{where}: cpe.service[{j}]", names)
            if sv.id in seen_ids:
                raise LabError(f"{where}: service id '{sv.id}' used twice")
            for port in sv.ports:
                if (sv.vip, sv.protocol, port) in seen_vips:
                    raise LabError(f"{where}: {sv.vip}:{port}/{sv.protocol} used by two services")
                seen_vips.add((sv.vip, sv.protocol, port))
            seen_ids.add(sv.id)
            for inst in sv.instances:
                v = next(x for x in vcpes if x.name == inst.vcpe)
                if inst.health == "app" and not (v.app and v.app.address == inst.address):
                    raise LabError(f"{where}: service {sv.id}: {inst.endpoint} is not vCPE {v.name}'s app "
                                   f"address; give health = \"tcp\"")
                if inst.prometheus and not (v.app and v.app.address == inst.address):
                    raise LabError(f"{where}: service {sv.id}: {inst.endpoint}: prometheus is read from vCPE "
                                   f"{v.name}'s app, and this is not its address")
            cpe.services.append(sv)

    sc = Scenario(path=p, name=lab.get("name", p.stem), description=lab.get("description", ""),
                  nodes=nodes, bridges=bridges, links=links, impairs=impairs, cpe=cpe, vcpes=vcpes)
    tun = sc.tunnel_interfaces()
    for t in tun:
        _check_ifname(t, f"{where}: tunnel interface")
    if len(set(tun)) != len(tun):
        raise LabError(f"{where}: tunnel interface names are not unique: {tun}")
    return sc
