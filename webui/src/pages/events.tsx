// The event log: the last 24 h from GET /api/v1/events, newest first, with what the
// `events` topic (or the poll) brings on top; filtered by kind.
import { useEffect, useState } from 'preact/hooks';
import { EventItem, get } from '../api';
import { live, LiveState } from '../live';

const kWindowMs = 24 * 3600_000;
const kShow = 500;
const evKey = (e: EventItem) => `${e.ts_ms}|${e.kind}|${e.subject}|${e.detail}`;

export function Events() {
  const [s, setS] = useState<LiveState>(live.state);
  const [history, setHistory] = useState<EventItem[]>([]);
  const [kind, setKind] = useState('');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => live.subscribe(setS), []);
  useEffect(() => {
    get<EventItem[]>(`/api/v1/events?from=${Date.now() - kWindowMs}`).then(setHistory, (e) => setError(String(e.message ?? e)));
  }, []);

  const seen = new Set<string>();
  const all = [...history, ...s.events].filter((e) => (seen.has(evKey(e)) ? false : (seen.add(evKey(e)), true)));
  all.sort((a, b) => b.ts_ms - a.ts_ms);
  const kinds = [...new Set(all.map((e) => e.kind))].sort();
  const shown = all.filter((e) => !kind || e.kind === kind).slice(0, kShow);
  return (
    <section class="card">
      <h2>Events</h2>
      <div class="toolbar">
        <label for="event-kind">Kind</label>
        <select id="event-kind" class="auto" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
          <option value="">all ({all.length})</option>
          {kinds.map((k) => <option value={k}>{k}</option>)}
        </select>
        <span class="muted">newest first, live</span>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="scroll" tabIndex={0}>
        <table data-testid="events-table">
          <thead><tr><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">Subject</th><th scope="col">Detail</th></tr></thead>
          <tbody>
            {shown.map((e) => (
              <tr data-event-kind={e.kind} key={evKey(e)}>
                <td>{new Date(e.ts_ms).toLocaleString()}</td><td>{e.kind}</td><td>{e.subject}</td><td>{e.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!shown.length && <p class="muted">No event in the last 24 h.</p>}
    </section>
  );
}
