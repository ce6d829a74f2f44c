// Per instance (vCPE × service × instance): vCPUs, utilisation, processing delay, GPU where
// reported, availability, each with a sparkline. History from
// GET /api/v1/instances?history=1&from&to&points=N (a reload keeps it), then every live
// sample (the `instances` topic, or the poll) appended.
import { useEffect, useState } from 'preact/hooks';
import { get, InstanceBucket, InstanceItem } from '../api';
import { instanceKey, live, LiveState } from '../live';
import { Spark } from '../spark';

const kWindowMs = 15 * 60_000;
const kPoints = 90;
const kMax = 300;

interface Series {
  vcpus: (number | null)[];
  util: (number | null)[];
  delay: (number | null)[];
  gpu: (number | null)[];
  avail: (number | null)[];
  last_ms: number;
}
const empty = (): Series => ({ vcpus: [], util: [], delay: [], gpu: [], avail: [], last_ms: 0 });
function push(s: Series, ts: number, x: { vcpus: number | null; utilization: number | null; processing_delay_ms: number | null;
  gpu_utilization?: number | null; available: boolean | null }) {
  if (ts <= s.last_ms) return;
  s.last_ms = ts;
  s.vcpus.push(x.vcpus);
  s.util.push(x.utilization === null ? null : x.utilization * 100);
  s.delay.push(x.processing_delay_ms);
  s.gpu.push(x.gpu_utilization == null ? null : x.gpu_utilization * 100);
  s.avail.push(x.available === null ? null : x.available ? 1 : 0);
  for (const k of ['vcpus', 'util', 'delay', 'gpu', 'avail'] as const) if (s[k].length > kMax) s[k].splice(0, s[k].length - kMax);
}

const num = (x: number | null | undefined, digits: number, unit = '') => (x === null || x === undefined ? '–' : `${x.toFixed(digits)}${unit}`);

// Without a reported delay in this sample: the last measured one and its age, or the
// service time the selector uses (configured or learned).
function DelayNote(props: { i: InstanceItem }) {
  const i = props.i;
  if (i.last_processing_delay_ms != null)
    return <small class="muted"> last measured {i.last_processing_delay_ms.toFixed(1)} ms,
      {' '}{Math.round((i.last_processing_delay_age_ms ?? 0) / 1000)} s ago</small>;
  if (i.service_time_ms != null)
    return <small class="muted"> service time {i.service_time_ms.toFixed(1)} ms ({i.service_time_source ?? '?'})</small>;
  return null;
}

export function Instances() {
  const [s, setS] = useState<LiveState>(live.state);
  const [series, setSeries] = useState<Map<string, Series>>(new Map());
  const [, setVersion] = useState(0);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => live.subscribe(setS), []);

  useEffect(() => {
    let stop = false;
    const map = new Map<string, Series>();
    const pending: [InstanceItem, number][] = [];
    let loaded = false;
    const off = live.onInstance((i, ts) => {
      if (!loaded) return void pending.push([i, ts]);
      const k = instanceKey(i);
      if (!map.has(k)) map.set(k, empty());
      push(map.get(k)!, ts, i);
      setVersion((v) => v + 1);
    });
    const to = Date.now();
    const q = new URLSearchParams({ history: '1', from: String(to - kWindowMs), to: String(to), points: String(kPoints) });
    get<InstanceBucket[]>(`/api/v1/instances?${q}`)
      .then((rows) => {
        rows.sort((a, b) => a.ts_ms - b.ts_ms);
        for (const r of rows) {
          const k = instanceKey(r);
          if (!map.has(k)) map.set(k, empty());
          push(map.get(k)!, r.ts_ms, r);
        }
        setError(null);
      }, (e) => setError(`history: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        if (stop) return;
        loaded = true;
        for (const [i, ts] of pending) {
          const k = instanceKey(i);
          if (!map.has(k)) map.set(k, empty());
          push(map.get(k)!, ts, i);
        }
        setSeries(map);
        setVersion((v) => v + 1);
      });
    return () => {
      stop = true;
      off();
    };
  }, []);

  const rows = [...s.instances].sort((a, b) => instanceKey(a).localeCompare(instanceKey(b)));
  const anyGpu = rows.some((i) => i.gpu_count != null || i.gpu_utilization != null);
  return (
    <section class="card">
      <h2>Instances</h2>
      <p class="muted">Last 15 min of history, then live ({s.mode === 'stream' ? 'stream' : s.mode === 'polling' ? 'polling every 1 s' : 'connecting'}).</p>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="scroll" tabIndex={0}>
        <table data-testid="instances-table">
          <thead><tr><th scope="col">Instance</th><th scope="col">vCPUs</th><th scope="col">Utilisation</th>
            <th scope="col">Processing delay</th>{anyGpu && <th scope="col">GPU</th>}<th scope="col">Available</th></tr></thead>
          <tbody>
            {rows.map((i) => {
              const k = instanceKey(i);
              const sr = series.get(k) ?? empty();
              return (
                <tr data-instance={k} key={k}>
                  <th scope="row">{i.instance}<br /><small class="muted">{i.service} on {i.vcpe} · {i.address}</small></th>
                  <td><span data-field="vcpus">{num(i.vcpus, 0)}</span><Spark values={sr.vcpus} label="vCPUs" min={0} /></td>
                  <td><span data-field="utilization">{num(i.utilization === null ? null : i.utilization * 100, 1, ' %')}</span>
                    <Spark values={sr.util} label="utilisation" min={0} max={100} /></td>
                  <td><span data-field="delay">{num(i.processing_delay_ms, 1, ' ms')}</span>
                    {i.processing_delay_ms === null && <DelayNote i={i} />}
                    <Spark values={sr.delay} label="processing delay" min={0} /></td>
                  {anyGpu && <td><span data-field="gpu">{i.gpu_utilization == null ? (i.gpu_count ? `${i.gpu_count} GPU` : '–')
                    : `${(i.gpu_utilization * 100).toFixed(1)} % of ${i.gpu_count ?? '?'}`}</span>
                    <Spark values={sr.gpu} label="GPU utilisation" min={0} max={100} /></td>}
                  <td><span class={`chip ${i.available ? 'up' : 'down'}`} data-field="available">{i.available ? 'available' : 'unavailable'}</span>
                    <Spark values={sr.avail} label="availability" min={0} max={1} /></td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {!rows.length && s.loaded && <p class="muted">No instance has reported yet.</p>}
    </section>
  );
}
