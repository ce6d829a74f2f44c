// Per WAN x vCPE: RTT, jitter and loss over time. History from
// GET /api/v1/paths?history=1 (so a reload keeps it), then live samples appended (not to a
// custom range, which is history only).
import { useEffect, useMemo, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { EventItem, get, PathItem, PathSample } from '../api';
import { Chart } from '../chart';
import { live, LiveState, pathKey } from '../live';
import { kRanges, Range, RangePicker, rangeKey, span } from '../range';
import { pathState } from '../state';
import { duration, kUptimeKinds, parseChange, uptime } from '../uptime';

const kPoints = 600; // downsampling hint (points=N); the daemon may ignore it
const kMaxLive = 20_000;

// Columns for uPlot: seconds, rtt, jitter, loss.
interface Buf {
  t: number[];
  rtt: (number | null)[];
  jitter: (number | null)[];
  loss: (number | null)[];
}
const empty = (): Buf => ({ t: [], rtt: [], jitter: [], loss: [] });

function push(b: Buf, ts_ms: number, p: { rtt_ms: number | null; jitter_ms: number | null; loss_pct: number | null }) {
  const t = ts_ms / 1000;
  if (b.t.length && t <= b.t[b.t.length - 1]) return; // keep x increasing
  b.t.push(t);
  b.rtt.push(p.rtt_ms);
  b.jitter.push(p.jitter_ms);
  b.loss.push(p.loss_pct);
}

function trim(b: Buf, from_s: number) {
  let i = 0;
  while (i < b.t.length && b.t[i] < from_s) i++;
  const cap = Math.max(i, b.t.length - kMaxLive);
  if (cap > 0) for (const k of ['t', 'rtt', 'jitter', 'loss'] as const) b[k].splice(0, cap);
}

export function Paths() {
  const [s, setS] = useState<LiveState>(live.state);
  const [range, setRange] = useState<Range>(kRanges[0]);
  const [bufs, setBufs] = useState<Map<string, Buf>>(new Map());
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<string | null>(null);
  // The path state changes of the range (uptime.ts), the live ones added at render; for a
  // custom range also each path's state when it starts (its last change before).
  const [changes, setChanges] = useState<{ from: number; events: EventItem[]; before: Map<string, string> }>(
    { from: Date.now() - kRanges[0].ms, events: [], before: new Map() });
  useEffect(() => live.subscribe(setS), []);
  const subjects = s.paths.map((p) => `${p.wan}/${p.vcpe}`).sort().join();
  useEffect(() => {
    let stop = false;
    const { from, to, live: isLive } = span(range);
    // Only the state changes uptime.ts reads, filtered by the daemon (in SQL), the newest
    // when there are more than the limit: not every event of the range.
    const kind = kUptimeKinds.join(',');
    const q = new URLSearchParams({ since: String(from), kind, newest: '1' });
    if (!isLive) q.set('until', String(to));
    const before = isLive ? [] : subjects.split(',').filter(Boolean).map(async (subject) => {
      const b = new URLSearchParams({ since: '0', until: String(from - 1), kind, subject, newest: '1', limit: '1' });
      const evs = await get<EventItem[]>(`/api/v1/events?${b}`);
      return [subject, evs.length ? parseChange(evs[0].detail).to : 'unknown'] as [string, string];
    });
    Promise.all([get<EventItem[]>(`/api/v1/events?${q}`), Promise.all(before)]).then(
      ([evs, b]) => !stop && setChanges({ from, events: evs, before: new Map(b) }),
      (e) => !stop && setError(`events: ${e instanceof Error ? e.message : String(e)}`));
    return () => {
      stop = true;
    };
  }, [rangeKey(range), range.id === 'custom' ? subjects : '']);

  const keys = useMemo(() => s.paths.map((p) => pathKey(p.wan, p.vcpe)).sort(), [s.paths.map((p) => p.wan + p.vcpe).join()]);

  // History for the range, then live samples on top.
  useEffect(() => {
    let stop = false;
    const map = new Map<string, Buf>();
    const { from, to, live: isLive } = span(range);
    const load = async () => {
      try {
        await Promise.all(
          keys.map(async (k) => {
            const [wan, vcpe] = k.split('|');
            const q = new URLSearchParams({ history: '1', wan, vcpe, from: String(from), to: String(to), points: String(kPoints) });
            const rows = await get<PathSample[]>(`/api/v1/paths?${q}`);
            const b = empty();
            rows.sort((a, c) => a.ts_ms - c.ts_ms).forEach((r) => push(b, r.ts_ms, r));
            map.set(k, b);
          }),
        );
        setError(null);
      } catch (e) {
        setError(`history: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (stop) return;
      setBufs(map);
      setVersion((v) => v + 1);
    };
    void load();
    const off = !isLive ? () => {} : live.onPath((p: PathItem, ts: number) => {
      const k = pathKey(p.wan, p.vcpe);
      let b = map.get(k);
      if (!b) map.set(k, (b = empty()));
      push(b, ts, p);
      trim(b, span(range).from / 1000);
      setVersion((v) => v + 1);
    });
    return () => {
      stop = true;
      off();
    };
  }, [rangeKey(range), keys.join()]);

  const byKey = new Map(s.paths.map((p) => [pathKey(p.wan, p.vcpe), p]));
  const now = Date.now();
  const sp = span(range, now);
  const rangeFrom = sp.live ? Math.max(changes.from, sp.from) : sp.from;
  const allChanges = !sp.live ? changes.events : [...changes.events, ...s.events.filter((e) => kUptimeKinds.includes(e.kind)
    && !changes.events.some((x) => x.ts_ms === e.ts_ms && x.subject === e.subject && x.kind === e.kind))];
  const fmt = (x: number | null | undefined, unit: string) => (x === null || x === undefined ? '–' : `${x.toFixed(2)} ${unit}`);
  return (
    <div class="paths">
      <section class="card">
        <h2>Paths</h2>
        <RangePicker id="paths-range" value={range} onChange={setRange}
                     note={s.mode === 'stream' ? 'live: stream' : s.mode === 'polling' ? 'live: polling every 1 s' : 'connecting'} />
        {error && <p class="error" role="alert">{error}</p>}
        <div class="scroll" tabIndex={0}>
        <table data-testid="paths-table">
          <thead><tr><th scope="col">WAN</th><th scope="col">vCPE</th><th scope="col">State</th><th scope="col">RTT</th>
            <th scope="col">Jitter</th><th scope="col">Loss</th><th scope="col">Flaps</th>
            <th scope="col">Up ({range.label})</th><th scope="col">Last change</th></tr></thead>
          <tbody>
            {keys.map((k) => {
              const p = byKey.get(k)!;
              const st = pathState(p, s.decisions);
              const subject = `${p.wan}/${p.vcpe}`;
              const u = uptime(allChanges, subject, rangeFrom, sp.to, sp.live ? p.state : changes.before.get(subject) ?? 'unknown');
              return (
                <tr data-path={k} key={k}>
                  <td>{p.wan}</td><td>{p.vcpe}</td>
                  <td><span class={`chip ${st}`}>{st}</span></td>
                  <td>{fmt(p.rtt_ms, 'ms')}</td><td>{fmt(p.jitter_ms, 'ms')}</td><td>{fmt(p.loss_pct, '%')}</td>
                  <td>{p.flaps ?? 0}</td>
                  <td data-field="uptime" data-pct-up={u.pct_up === null ? '' : u.pct_up.toFixed(2)} data-down-ms={u.down_ms}>
                    {u.pct_up === null ? '–' : `${u.pct_up.toFixed(u.pct_up === 100 ? 0 : 2)} %`}
                    {u.down_ms > 0 && <><br /><small class="muted">down {duration(u.down_ms)}</small></>}
                  </td>
                  <td data-field="last-change" data-to={u.last?.to ?? ''}>
                    {u.last ? <>{u.last.from} → {u.last.to}, {duration(now - u.last.ts_ms)} ago
                      {u.last.reason && <><br /><small class="muted">{u.last.reason}</small></>}</> : '–'}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        </div>
      </section>
      {keys.map((k) => {
        const b = bufs.get(k) ?? empty();
        const [wan, vcpe] = k.split('|');
        const d = (col: (number | null)[]) => [b.t, col] as uPlot.AlignedData;
        return (
          <section class="card path" data-path-card={k} key={k}>
            <h3>{wan} → {vcpe}</h3>
            <div class="charts" data-version={version}>
              <Chart id={`${k}|rtt`} title="RTT" series={[{ label: 'RTT', unit: ' ms', stroke: '#2563eb' }]} data={d(b.rtt)} />
              <Chart id={`${k}|jitter`} title="Jitter" series={[{ label: 'jitter', unit: ' ms', stroke: '#7c3aed' }]} data={d(b.jitter)} />
              <Chart id={`${k}|loss`} title="Loss" series={[{ label: 'loss', unit: ' %', stroke: '#dc2626' }]} data={d(b.loss)} />
            </div>
          </section>
        );
      })}
    </div>
  );
}
