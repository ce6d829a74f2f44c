// Clients -> CPE -> WANs -> vCPEs -> instances, each coloured and labelled by its live
// state, the services' current outcome and the recent events.
import { useEffect, useState } from 'preact/hooks';
import { FlowCount, get } from '../api';
import { live, LiveState, pathKey } from '../live';
import { combine, instanceState, pathState, State, unique } from '../state';
import { clock } from '../time';

// Column centres in a 900-wide viewBox; nodes are 150 wide.
const kCol = [80, 255, 430, 610, 815];
const kRow = 64;
const kTop = 40;

function Node(props: { x: number; y: number; label: string; sub?: string; state?: State; id: string }) {
  const st = props.state ?? 'neutral';
  return (
    <g class={`node ${st}`} data-node={props.id} data-state={st}>
      <title>{`${props.label}: ${st}`}</title>
      <rect x={props.x - 75} y={props.y - 22} width="150" height="44" rx="6" />
      <text x={props.x} y={props.y - 4} text-anchor="middle" class="name">{props.label}</text>
      <text x={props.x} y={props.y + 13} text-anchor="middle" class="sub">{props.sub ?? st}</text>
    </g>
  );
}

// A link: its state by colour and by dash pattern, and named in its title (read out, and
// shown on hover) so it is never colour alone.
function Edge(props: { x1: number; y1: number; x2: number; y2: number; state?: State; id?: string; name?: string }) {
  const st = props.state ?? 'neutral';
  return (
    <line class={`edge ${st}`} data-edge={props.id} data-state={st}
          x1={props.x1 + 75} y1={props.y1} x2={props.x2 - 75} y2={props.y2}>
      {props.name && st !== 'neutral' && <title>{`${props.name}: ${st}`}</title>}
    </line>
  );
}

const rowY = (i: number, n: number, rows: number) => kTop + ((rows - n) * kRow) / 2 + i * kRow;

function Topology({ s }: { s: LiveState }) {
  const wans = unique(s.paths.map((p) => p.wan));
  const vcpes = unique(s.paths.map((p) => p.vcpe));
  const insts = [...s.instances].sort((a, b) => (a.vcpe + a.instance).localeCompare(b.vcpe + b.instance));
  const rows = Math.max(1, wans.length, vcpes.length, insts.length);
  const height = kTop + rows * kRow;
  const byKey = new Map(s.paths.map((p) => [pathKey(p.wan, p.vcpe), p]));
  const ps = (w: string, v: string) => pathState(byKey.get(pathKey(w, v)), s.decisions);
  const wanState = (w: string) => combine(vcpes.map((v) => ps(w, v)));
  const vcpeState = (v: string) => combine(wans.map((w) => ps(w, v)));
  const cpeY = rowY(0, 1, rows);
  const fmt = (x: number | null | undefined, unit: string) => (x === null || x === undefined ? '–' : `${x.toFixed(1)}${unit}`);
  return (
    <svg class="topology" viewBox={`0 0 900 ${height}`} role="img" aria-label="Topology: clients, CPE, WANs, vCPEs, instances">
      {['Clients', 'CPE', 'WANs', 'vCPEs', 'Instances'].map((h, i) => (
        <text x={kCol[i]} y="16" text-anchor="middle" class="col">{h}</text>
      ))}
      <Edge x1={kCol[0]} y1={cpeY} x2={kCol[1]} y2={cpeY} />
      {wans.map((w, i) => (
        <Edge id={`cpe|${w}`} name={`CPE → ${w}`} x1={kCol[1]} y1={cpeY} x2={kCol[2]} y2={rowY(i, wans.length, rows)} state={wanState(w)} />
      ))}
      {wans.map((w, i) =>
        vcpes.map((v, j) => (
          <Edge id={pathKey(w, v)} name={`path ${w} → ${v}`} x1={kCol[2]} y1={rowY(i, wans.length, rows)} x2={kCol[3]}
                y2={rowY(j, vcpes.length, rows)} state={ps(w, v)} />
        )),
      )}
      {insts.map((inst, k) => (
        <Edge id={`${inst.vcpe}|${inst.instance}`} name={`${inst.vcpe} → ${inst.instance}`} x1={kCol[3]} y1={rowY(vcpes.indexOf(inst.vcpe), vcpes.length, rows)}
              x2={kCol[4]} y2={rowY(k, insts.length, rows)} state={instanceState(inst)} />
      ))}
      <Node id="clients" x={kCol[0]} y={cpeY} label="LAN clients" sub="" />
      <Node id="cpe" x={kCol[1]} y={cpeY} label={s.status?.name ?? 'CPE'} sub="CPE" />
      {wans.map((w, i) => (
        <Node id={`wan:${w}`} x={kCol[2]} y={rowY(i, wans.length, rows)} label={w} state={wanState(w)} />
      ))}
      {vcpes.map((v, j) => (
        <Node id={`vcpe:${v}`} x={kCol[3]} y={rowY(j, vcpes.length, rows)} label={v} state={vcpeState(v)} />
      ))}
      {insts.map((inst, k) => (
        <Node id={`instance:${inst.vcpe}/${inst.instance}`} x={kCol[4]} y={rowY(k, insts.length, rows)}
              label={inst.instance}
              sub={`${inst.service} · ${instanceState(inst)} · ${fmt(inst.utilization === null ? null : inst.utilization * 100, '%')}`}
              state={instanceState(inst)} />
      ))}
    </svg>
  );
}

// Flows per service: the daemon's conntrack counts per candidate (GET /api/v1/flows,
// counted every 5 s, so read every 5 s), summed; null when no count is known.
const kFlowsMs = 5000;
function useServiceFlows(): Map<string, number | null> | null {
  const [flows, setFlows] = useState<Map<string, number | null> | null>(null);
  useEffect(() => {
    let stop = false;
    let timer = 0;
    const tick = async () => {
      try {
        const r = await get<{ services: FlowCount[]; counted_ms: number | null }>('/api/v1/flows');
        const m = new Map<string, number | null>();
        for (const f of r.services) {
          const was = m.has(f.service) ? m.get(f.service)! : 0;
          m.set(f.service, was === null || f.flows === null ? null : was + f.flows);
        }
        if (!stop) setFlows(r.counted_ms === null ? new Map() : m);
      } catch {
        // kept as it was; the next tick tries again
      }
      if (!stop) timer = window.setTimeout(tick, kFlowsMs);
    };
    void tick();
    return () => {
      stop = true;
      window.clearTimeout(timer);
    };
  }, []);
  return flows;
}

export function Overview() {
  const [s, setS] = useState<LiveState>(live.state);
  useEffect(() => live.subscribe(setS), []);
  const flows = useServiceFlows();
  useEffect(() => {
    // For the browser test and BENCHMARKS.md: the first render with data.
    if (s.loaded && !document.documentElement.dataset.ready) {
      performance.mark('cats-data-ready');
      document.documentElement.dataset.ready = '1';
    }
  }, [s.loaded]);
  if (!s.loaded) return <p aria-busy="true">Loading…</p>;
  const services = s.services;
  const weightOf = (svc: string) => s.decisions.filter((d) => d.service === svc && d.weight > 0);
  return (
    <div class="overview" data-loaded="1">
      <section class="card">
        <h2>Topology <small class="muted" data-testid="live-mode">{s.mode}</small></h2>
        <Topology s={s} />
        <p class="legend"><span class="chip up">up</span> <span class="chip degraded">degraded</span>{' '}
          <span class="chip down">down</span> <span class="chip unknown">unknown</span></p>
      </section>
      <div class="cols">
        <section class="card">
          <h2>Services</h2>
          {services.length === 0 ? <p class="muted">No services configured.</p> : (
            <table>
              <thead><tr><th scope="col">Service</th><th scope="col">VIP</th><th scope="col">Outcome</th><th scope="col">Flows</th><th scope="col">Carrying</th></tr></thead>
              <tbody>
                {services.map((sv) => (
                  <tr data-overview-service={sv.id} key={sv.id}>
                    <td>{sv.id}</td>
                    <td>{sv.vip}:{sv.ports.join(',')}</td>
                    <td>{sv.outcome ?? 'no decision yet'}</td>
                    <td data-field="flows">{flows?.get(sv.id) ?? '–'}</td>
                    <td>{weightOf(sv.id).map((d) => `${d.instance}/${d.wan} ${(d.weight / 10).toFixed(0)}%`).join(', ') || '–'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section class="card">
          <h2>Recent events</h2>
          <ol class="events" data-testid="events">
            {s.events.slice(-12).reverse().map((e) => (
              <li data-kind={e.kind} data-subject={e.subject} data-ts={e.ts_ms}><time dateTime={new Date(e.ts_ms).toISOString()}>{clock(e.ts_ms)}</time>{' '}
                <strong>{e.kind}</strong> {e.subject} <span class="muted">{e.detail}</span></li>
            ))}
          </ol>
        </section>
      </div>
    </div>
  );
}
