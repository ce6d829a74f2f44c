// Per service: its candidates (instance × WAN) with weight, cost, health, the reason of the
// last change, and flow counts (GET /api/v1/flows, counted by the daemon every 5 s, so
// read every 5 s). Weights are live from the `decisions` topic. Below, the history of its
// weights over the selected range and each publication's reason (weights_history.tsx).
import { useEffect, useState } from 'preact/hooks';
import { CostParts, DecisionItem, FlowCount, get } from '../api';
import { live, LiveState } from '../live';
import { kRanges, Range, RangePicker } from '../range';
import { colourAt } from '../weights';
import { WeightsHistory } from './weights_history';
import { clock } from '../time';

const kFlowsMs = 5000;
const candKey = (d: { service: string; instance: string; wan: string }) => `${d.service}|${d.instance}|${d.wan}`;

// The weights as one stacked bar (SVG attributes, no inline style), with the numbers in text.
function WeightBar(props: { cands: DecisionItem[]; total: number; colour: (c: DecisionItem) => string }) {
  let x = 0;
  const t = Math.max(1, props.total);
  return (
    <svg class="weights" viewBox="0 0 1000 24" preserveAspectRatio="none" role="img"
         aria-label={props.cands.map((c) => `${c.instance} via ${c.wan}: ${c.weight}`).join(', ')}>
      {props.cands.map((c) => {
        const w = (c.weight / t) * 1000;
        const r = <rect x={x} y={0} width={w} height={24} fill={props.colour(c)}><title>{`${c.instance} via ${c.wan}: ${c.weight}`}</title></rect>;
        x += w;
        return r;
      })}
    </svg>
  );
}

// A candidate's cost term by term as the selector added it (common/select CostParts, the
// decisions' cost_parts): RTT, the jitter and loss penalties (docs/SELECTION.md "Cost"),
// compute (reported or modelled), the WAN's configured cost and the service's access delay,
// each already multiplied by its cost weight, so they add up to the cost. Access delay and
// WAN cost are shown when not 0.
const ms = (x: number) => `${x.toFixed(1)} ms`;
const kParts: { key: keyof CostParts; part: string; label: string; always: boolean }[] = [
  { key: 'delay_ms', part: 'delay', label: 'RTT', always: true },
  { key: 'jitter_ms', part: 'jitter', label: 'jitter penalty', always: true },
  { key: 'loss_ms', part: 'loss', label: 'loss penalty', always: true },
  { key: 'compute_ms', part: 'compute', label: 'compute', always: true },
  { key: 'wan_cost_ms', part: 'wan', label: 'WAN cost', always: false },
  { key: 'access_ms', part: 'access', label: 'access', always: false },
];
function Breakdown({ c }: { c: DecisionItem }) {
  const p = c.cost_parts;
  if (c.cost_ms === null || !p || kParts.some(({ key }) => p[key] === null)) return <>–</>;
  const shown = kParts.filter(({ key, always }) => always || p[key]! !== 0);
  return (
    <span title="each term times its cost weight; jitter penalty = 2 × jitter, loss penalty = RTT × p / (1 − p)">
      {shown.map(({ key, part, label }, i) => (
        <span key={part}>{i > 0 && ' · '}{label} <span data-part={part}>{ms(p[key]!)}</span></span>
      ))}
    </span>
  );
}

export function Services() {
  const [s, setS] = useState<LiveState>(live.state);
  const [flows, setFlows] = useState<Map<string, number | null>>(new Map());
  const [counted, setCounted] = useState<number | null>(null);
  const [range, setRange] = useState<Range>(kRanges[0]);
  useEffect(() => live.subscribe(setS), []);
  useEffect(() => {
    let timer = 0;
    let stop = false;
    const tick = async () => {
      try {
        const r = await get<{ services: FlowCount[]; counted_ms: number | null }>('/api/v1/flows');
        if (stop) return;
        setFlows(new Map(r.services.map((f) => [candKey(f), f.flows])));
        setCounted(r.counted_ms);
      } catch {
        // shown as "–"; the next tick tries again
      }
      if (!stop) timer = window.setTimeout(tick, kFlowsMs);
    };
    void tick();
    return () => {
      stop = true;
      window.clearTimeout(timer);
    };
  }, []);

  const ids = [...new Set([...s.services.map((x) => x.id), ...s.decisions.map((d) => d.service)])].sort();
  return (
    <div class="services">
      <section class="card">
        <h2>Services</h2>
        <RangePicker id="svc-range" value={range} onChange={setRange} note="weights history range" />
        {counted !== null && <p class="muted">Flows counted {clock(counted)}.</p>}
      </section>
      {ids.map((id) => {
        const svc = s.services.find((x) => x.id === id);
        const cands = s.decisions.filter((d) => d.service === id).sort((a, b) => candKey(a).localeCompare(candKey(b)));
        const total = cands.reduce((a, c) => a + c.weight, 0);
        // One colour per candidate (its place among all of the service's), in the bar and the chart alike.
        const colour = (c: DecisionItem) => colourAt(cands.indexOf(c));
        const outcome = svc?.outcome ?? cands.find((c) => c.outcome)?.outcome ?? null;
        return (
          <section class="card" data-service={id} data-weight-sum={total} key={id}>
            <h2>{id} {svc && <small class="muted">{svc.vip} {svc.protocol} {svc.ports.join(', ')}</small>}</h2>
            {outcome && <p>Outcome: <strong>{outcome}</strong></p>}
            {total > 0 ? <WeightBar cands={cands.filter((c) => c.weight > 0)} total={total} colour={colour} />
              : <p class="error" role="status">No eligible candidate: no weight is published.</p>}
            <div class="scroll" tabIndex={0}>
              <table>
                <thead><tr><th scope="col">Instance</th><th scope="col">vCPE</th><th scope="col">WAN</th><th scope="col">Weight</th>
                  <th scope="col">Cost</th><th scope="col">Health</th><th scope="col">Excluded</th><th scope="col">Reason</th><th scope="col">Flows</th></tr></thead>
                <tbody>
                  {cands.map((c) => {
                    const f = flows.get(candKey(c));
                    return (
                      <tr data-candidate={candKey(c)} key={candKey(c)}>
                        <td>{c.instance}</td><td>{c.vcpe}</td><td>{c.wan}</td>
                        <td><span data-field="weight">{c.weight}</span>
                          {c.weight > 0 && <svg class="swatch" viewBox="0 0 10 10" aria-hidden="true">
                            <rect width={10} height={10} fill={colour(c)} /></svg>}</td>
                        <td data-field="cost">{c.cost_ms === null ? '–' : `${c.cost_ms.toFixed(1)} ms`}
                          {!!c.wan_cost_ms && <small class="muted"> incl. WAN cost {c.wan_cost_ms.toFixed(0)}</small>}
                          <br /><small class="muted" data-field="breakdown"><Breakdown c={c} /></small></td>
                        <td><span class={`chip ${c.health === 'ok' ? 'up' : 'down'}`}>{c.health}</span></td>
                        <td>{c.excluded && c.excluded !== 'none' ? c.excluded : '–'}</td>
                        <td>{c.reason || '–'}</td>
                        <td data-field="flows">{f === undefined || f === null ? '–' : f}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
            <WeightsHistory id={id} cands={cands} range={range} events={s.events} />
          </section>
        );
      })}
      {!ids.length && <section class="card"><p class="muted">No service is configured.</p></section>}
    </div>
  );
}
