// Per service: the weights it published over the selected range, as a stacked step chart
// of its candidates (instance × WAN), and the publications with their reasons, newest
// first. History from GET /api/v1/events?kind=weights&subject=<service>, filtered in SQL:
// the chart asks for points=N (per bucket only the newest publication: the weights in
// force at the bucket's end) plus the last publication before the range (the weights at
// its start); the list asks for the newest kList. Publications that arrive live (the
// stream's `events` topic, or the poll) are added to both.
import { useEffect, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { DecisionItem, EventItem, get } from '../api';
import { Chart, Series } from '../chart';
import { Range, rangeKey, span } from '../range';
import { colourAt, parseWeights, Publication } from '../weights';
import { clock } from '../time';

const kPoints = 600;
const kList = 50;
const evKey = (e: EventItem) => `${e.ts_ms}|${e.kind}|${e.subject}|${e.detail}`;

interface History {
  from: number;
  to: number;
  live: boolean;
  before: EventItem | null; // the publication in force when the range starts
  points: EventItem[]; // oldest first, at most one per bucket
  list: EventItem[]; // the newest kList of the range, oldest first
}

// "cloud1/10.2.1.10:8080/wan1" -> the service's candidate (GET /api/v1/decisions: vCPE,
// address and WAN; the name can change while an instance has not reported yet), if any.
export function candidateOf(cands: DecisionItem[], key: string): DecisionItem | undefined {
  const a = key.indexOf('/');
  const b = key.lastIndexOf('/');
  if (a < 0 || b <= a) return undefined;
  const [vcpe, address, wan] = [key.slice(0, a), key.slice(a + 1, b), key.slice(b + 1)];
  return cands.find((c) => c.vcpe === vcpe && c.address === address && c.wan === wan);
}

// The service's candidates in the order of its table (their colours are their places).
export function WeightsHistory(props: { id: string; cands: DecisionItem[]; range: Range; events: EventItem[] }) {
  const [hist, setHist] = useState<History | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stop = false;
    const { from, to, live } = span(props.range);
    const ask = (q: Record<string, string>) =>
      get<EventItem[]>(`/api/v1/events?${new URLSearchParams({ kind: 'weights', subject: props.id, newest: '1', ...q })}`);
    const range = { since: String(from), until: String(to) };
    Promise.all([
      from > 0 ? ask({ since: '0', until: String(from - 1), limit: '1' }) : Promise.resolve([]),
      ask({ ...range, points: String(kPoints), limit: '1000' }),
      ask({ ...range, limit: String(kList) }),
    ]).then(([before, points, list]) => {
      if (stop) return;
      setHist({ from, to, live, before: before[0] ?? null, points, list });
      setError(null);
    }, (e) => !stop && setError(`weights history: ${e instanceof Error ? e.message : String(e)}`));
    return () => {
      stop = true;
    };
  }, [props.id, rangeKey(props.range)]);

  if (error) return <p class="error" role="alert">{error}</p>;
  if (!hist) return <p class="muted">Loading the weights history…</p>;
  const known = new Set([...hist.points, ...hist.list].map(evKey));
  const fresh = hist.live
    ? props.events.filter((e) => e.kind === 'weights' && e.subject === props.id && e.ts_ms >= hist.from && !known.has(evKey(e)))
    : [];
  const now = Date.now();
  // A range up to now slides: it starts ms before now, not before the read.
  const start = hist.live ? Math.max(hist.from, now - props.range.ms) : hist.from;

  // The chart: one row per publication, plus the weights in force at the start and now.
  let rows: { t: number; p: Publication }[] = [];
  const bp = hist.before && parseWeights(hist.before.detail);
  if (bp) rows.push({ t: hist.from, p: bp });
  for (const e of [...hist.points, ...fresh].sort((a, b) => a.ts_ms - b.ts_ms)) {
    const p = parseWeights(e.detail);
    if (p) rows.push({ t: e.ts_ms, p });
  }
  const earlier = rows.filter((r) => r.t <= start);
  if (earlier.length) rows = [{ t: start, p: earlier[earlier.length - 1].p }, ...rows.filter((r) => r.t > start)];
  if (rows.length) rows.push({ t: hist.live ? Math.max(now, rows[rows.length - 1].t) : hist.to, p: rows[rows.length - 1].p });
  // A candidate by its key: its name and colour from the table, or (gone from the
  // configuration, not yet named) the key's own vCPE/address and a colour after theirs.
  const place = (k: string) => {
    const c = candidateOf(props.cands, k);
    return c ? props.cands.indexOf(c) : props.cands.length;
  };
  const keys = [...new Set(rows.flatMap((r) => [...r.p.weights.keys()]))].sort((a, b) => place(a) - place(b) || a.localeCompare(b));
  const name = (k: string) => {
    const c = candidateOf(props.cands, k);
    return c ? `${c.instance} via ${c.wan}` : `${k.slice(0, k.lastIndexOf('/'))} via ${k.slice(k.lastIndexOf('/') + 1)}`;
  };
  const colour = (k: string) => colourAt(place(k) < props.cands.length ? place(k) : props.cands.length + keys.indexOf(k));
  const x: number[] = [];
  const raw = keys.map(() => [] as number[]);
  for (const r of rows) {
    const t = r.t / 1000;
    if (x.length && t <= x[x.length - 1]) {
      // Same millisecond bucket after rounding: the later publication wins (x increasing).
      keys.forEach((k, i) => (raw[i][raw[i].length - 1] = r.p.weights.get(k) ?? 0));
      continue;
    }
    x.push(t);
    keys.forEach((k, i) => raw[i].push(r.p.weights.get(k) ?? 0));
  }
  // Stacked: series i is the sum of candidates 0..i, drawn top first so each band's fill
  // shows above the one below it; the legend shows the candidate's own weight.
  const cum = raw.map((_, i) => raw[0].map((_v, j) => raw.slice(0, i + 1).reduce((a, c) => a + c[j], 0)));
  const order = keys.map((_, i) => keys.length - 1 - i);
  const series: Series[] = order.map((i) => {
    const c = colour(keys[i]);
    return { label: name(keys[i]), unit: '', stroke: c, fill: `${c}b3`, step: true, value: (j: number) => String(raw[i][j]) };
  });
  const data = [x, ...order.map((i) => cum[i])] as uPlot.AlignedData;

  const list = [...hist.list, ...fresh].filter((e) => e.ts_ms >= start).sort((a, b) => b.ts_ms - a.ts_ms).slice(0, kList);
  const weightsText = (p: Publication) => [...p.weights].map(([k, w]) => `${name(k)} ${w}`).join(', ') || 'none';
  return (
    <div class="weights-history" data-testid="weights-history">
      {keys.length ? <Chart id={`${props.id}|weights|${keys.join()}`} title="Weights over time (stacked, of 1000)" series={series}
                            data={data} yMax={1000} height={160} />
        : <p class="muted" data-chart={`${props.id}|weights`} data-points={0}>No publication in this range.</p>}
      <h3>Publications, newest first</h3>
      <div class="scroll pubs" tabIndex={0} role="region" aria-label={`Weight publications of ${props.id}`}>
        <ol data-testid="publications" data-service={props.id}>
          {list.map((e) => {
            const p = parseWeights(e.detail);
            return (
              <li key={evKey(e)} data-publication={e.ts_ms} data-outcome={p?.outcome ?? ''}>
                <time dateTime={new Date(e.ts_ms).toISOString()}>{clock(e.ts_ms)}</time>{' '}
                {p ? <><strong>{p.outcome}</strong>: <span data-field="reason">{p.reason}</span>
                  <br /><small class="muted">weights: {weightsText(p)}</small></>
                  : <span data-field="reason">{e.detail}</span>}
              </li>
            );
          })}
        </ol>
        {!list.length && <p class="muted">No publication in this range.</p>}
        {hist.list.length >= kList && <p class="muted">The newest {kList} of the range; the Events page has them all.</p>}
      </div>
    </div>
  );
}
