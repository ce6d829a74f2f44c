// Per-path uptime and downtime over a time range, from the path state changes in the
// event log (cnma.cpp path_event: kind path_up / path_down / path_unknown, subject
// "wan/vcpe", detail "from -> to[; why]"). Before the first change in the range the path
// was in that change's "from" state; without a change in the range, in its current state.
// Time in "unknown" (before the first probe answered, a daemon restart) counts as
// neither up nor down, so a fresh daemon does not read as 0 % up.
import { EventItem } from './api';

export interface Uptime {
  up_ms: number;
  down_ms: number;
  unknown_ms: number;
  pct_up: number | null; // of the time known
  last: { ts_ms: number; from: string; to: string; reason: string } | null;
}

// The event kinds this reads (the Paths page asks the daemon for these only).
export const kUptimeKinds = ['path_up', 'path_down', 'path_unknown'];
const kKinds = new Set(kUptimeKinds);

export function parseChange(detail: string): { from: string; to: string; reason: string } {
  const m = /^(\w+) -> (\w+)(?:; (.*))?$/.exec(detail);
  return m ? { from: m[1], to: m[2], reason: m[3] ?? '' } : { from: 'unknown', to: 'unknown', reason: detail };
}

export function uptime(events: EventItem[], subject: string, from_ms: number, to_ms: number, current: string): Uptime {
  const changes = events
    .filter((e) => kKinds.has(e.kind) && e.subject === subject && e.ts_ms <= to_ms)
    .sort((a, b) => a.ts_ms - b.ts_ms);
  const inRange = changes.filter((e) => e.ts_ms >= from_ms);
  const acc: Record<string, number> = { up: 0, down: 0, unknown: 0 };
  let state = inRange.length ? parseChange(inRange[0].detail).from : current;
  let t = from_ms;
  for (const e of inRange) {
    acc[state in acc ? state : 'unknown'] += e.ts_ms - t;
    t = e.ts_ms;
    state = parseChange(e.detail).to;
  }
  acc[state in acc ? state : 'unknown'] += Math.max(0, to_ms - t);
  const lastEv = changes[changes.length - 1];
  const known = acc.up + acc.down;
  return {
    up_ms: acc.up,
    down_ms: acc.down,
    unknown_ms: acc.unknown,
    pct_up: known > 0 ? (100 * acc.up) / known : null,
    last: lastEv ? { ts_ms: lastEv.ts_ms, ...parseChange(lastEv.detail) } : null,
  };
}

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
