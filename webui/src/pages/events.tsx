// The event log, filtered by the daemon: GET /api/v1/events?since&until&kind&subject&limit
// &newest=1 (docs/API.md "Events") reads only the matching events, in SQL. Newest first;
// with a range up to now, the live events (the `events` topic, or the poll) that pass the
// same filter are added on top. The API's field errors show next to their filter.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, EventItem, get } from '../api';
import { live, LiveState } from '../live';
import { localInput } from '../range';
import { dateTime } from '../time';

const kRanges = [
  { id: '1h', label: 'last hour', ms: 3600_000 },
  { id: '24h', label: 'last 24 h', ms: 24 * 3600_000 },
  { id: '7d', label: 'last 7 days', ms: 7 * 24 * 3600_000 },
  { id: 'custom', label: 'custom', ms: 0 },
];
const kLimit = 500;
// Kind groups offered even before one of them happened (docs/API.md "Events").
const kGroups = ['path_*', 'instance_*', 'auth_*', 'plan_*'];
const evKey = (e: EventItem) => `${e.ts_ms}|${e.kind}|${e.subject}|${e.detail}`;

interface Filter {
  kind: string; // "", an exact kind, or a prefix ending in '*'
  subject: string; // "", a subject, or a run of its '/'-separated segments
  range: string;
  since: string; // datetime-local values, for the custom range
  until: string;
}

// The daemon's rule (store::matches), for the live events added on top.
export function matches(f: { kind: string; subject: string }, e: EventItem): boolean {
  if (f.kind && (f.kind.endsWith('*') ? !e.kind.startsWith(f.kind.slice(0, -1)) : e.kind !== f.kind)) return false;
  return !f.subject || `/${e.subject}/`.includes(`/${f.subject}/`);
}

export function Events() {
  const [s, setS] = useState<LiveState>(live.state);
  const [f, setF] = useState<Filter>({ kind: '', subject: '', range: '24h', since: localInput(Date.now() - 3600_000),
                                       until: localInput(Date.now()) });
  const [subject, setSubject] = useState(''); // typed, applied on Enter or leaving the field
  const [history, setHistory] = useState<EventItem[]>([]);
  const [seenKinds, setSeenKinds] = useState<string[]>([]);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [loadedAt, setLoadedAt] = useState(Date.now());
  useEffect(() => live.subscribe(setS), []);
  useEffect(() => {
    let stop = false;
    const now = Date.now();
    const r = kRanges.find((x) => x.id === f.range) ?? kRanges[1];
    const q = new URLSearchParams({ limit: String(kLimit), newest: '1' });
    if (r.id === 'custom') {
      q.set('since', String(new Date(f.since).getTime()));
      q.set('until', String(new Date(f.until).getTime()));
    } else {
      q.set('since', String(now - r.ms));
    }
    if (f.kind) q.set('kind', f.kind);
    if (f.subject) q.set('subject', f.subject);
    get<EventItem[]>(`/api/v1/events?${q}`).then((evs) => {
      if (stop) return;
      setHistory(evs);
      setLoadedAt(now);
      setFieldErrors({});
      setError(null);
      setSeenKinds((k) => [...new Set([...k, ...evs.map((e) => e.kind)])].sort());
    }, (e) => {
      if (stop) return;
      setHistory([]);
      const byField: Record<string, string> = {};
      if (e instanceof ApiError) for (const x of e.fields) byField[x.field] = x.message;
      setFieldErrors(byField);
      setError(Object.keys(byField).length ? null : String(e?.message ?? e));
    });
    return () => {
      stop = true;
    };
  }, [f.kind, f.subject, f.range, f.since, f.until]);

  const seen = new Set<string>();
  const liveOnes = f.range === 'custom' ? [] : s.events.filter((e) => e.ts_ms >= loadedAt - 1000 && matches(f, e));
  const all = [...history, ...liveOnes].filter((e) => (seen.has(evKey(e)) ? false : (seen.add(evKey(e)), true)));
  all.sort((a, b) => b.ts_ms - a.ts_ms);
  const shown = all.slice(0, kLimit);
  const kinds = [...new Set([...seenKinds, ...s.events.map((e) => e.kind)])].sort();
  const err = (id: string, name: string) =>
    fieldErrors[name] && <p class="error" id={`${id}-error`} role="alert" data-field-error={name}>{fieldErrors[name]}</p>;
  const invalid = (id: string, name: string) =>
    fieldErrors[name] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `${id}-error` } : {};
  const set = (p: Partial<Filter>) => setF((x) => ({ ...x, ...p }));
  return (
    <section class="card">
      <h2>Events</h2>
      <form class="toolbar filters" role="search" aria-label="Filter events"
            onSubmit={(e) => { e.preventDefault(); set({ subject: subject.trim() }); }}>
        <div>
          <label for="event-kind">Kind</label>
          <select id="event-kind" class="auto" value={f.kind} {...invalid('event-kind', 'kind')}
                  onChange={(e) => set({ kind: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            {kGroups.map((g) => <option value={g}>{g.replace('_*', '')} (all)</option>)}
            {kinds.map((k) => <option value={k} key={k}>{k}</option>)}
          </select>
          {err('event-kind', 'kind')}
        </div>
        <div>
          <label for="event-subject">Subject, vCPE, WAN or service</label>
          <input id="event-subject" type="search" value={subject} placeholder="e.g. cloud1 or wan1/cloud1"
                 {...invalid('event-subject', 'subject')}
                 onInput={(e) => setSubject((e.target as HTMLInputElement).value)}
                 onChange={() => set({ subject: subject.trim() })} />
          {err('event-subject', 'subject')}
        </div>
        <div>
          <label for="event-range">Time</label>
          <select id="event-range" class="auto" value={f.range} onChange={(e) => set({ range: (e.target as HTMLSelectElement).value })}>
            {kRanges.map((r) => <option value={r.id}>{r.label}</option>)}
          </select>
        </div>
        {f.range === 'custom' && <>
          <div>
            <label for="event-since">From</label>
            <input id="event-since" type="datetime-local" value={f.since} {...invalid('event-since', 'since')}
                   onChange={(e) => set({ since: (e.target as HTMLInputElement).value })} />
            {err('event-since', 'since')}
          </div>
          <div>
            <label for="event-until">To</label>
            <input id="event-until" type="datetime-local" value={f.until} {...invalid('event-until', 'until')}
                   onChange={(e) => set({ until: (e.target as HTMLInputElement).value })} />
            {err('event-until', 'until')}
          </div>
        </>}
        <span class="muted">newest first{f.range === 'custom' ? '' : ', live'}; at most {kLimit}</span>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="scroll" tabIndex={0}>
        <table data-testid="events-table">
          <thead><tr><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">Subject</th><th scope="col">Detail</th></tr></thead>
          <tbody>
            {shown.map((e) => (
              <tr data-event-kind={e.kind} data-event-subject={e.subject} data-ts={e.ts_ms} key={evKey(e)}>
                <td>{dateTime(e.ts_ms)}</td><td>{e.kind}</td><td>{e.subject}</td><td>{e.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!shown.length && !Object.keys(fieldErrors).length && <p class="muted">No event matches.</p>}
    </section>
  );
}
