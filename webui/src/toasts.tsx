// Notifications in the page, on every page, from the live event feed (the stream's
// `events` topic, or the poll): a path going down or coming back, a service whose
// active candidates (instance × WAN with a weight) change, and a service left without an
// eligible candidate. Events that were already there when the page loaded are history
// (the Events page), not news. The same events stay in the Events page's list.
import { useEffect, useState } from 'preact/hooks';
import { EventItem } from './api';
import { live, LiveState } from './live';
import { parseWeights } from './weights';

export interface Toast {
  id: number;
  kind: 'down' | 'up' | 'change' | 'warn';
  event: string;
  subject: string;
  text: string;
  why: string; // the daemon's reason, shortened (the Events page has it whole)
}

const kShowMs = 15_000;
const kMax = 4; // a column of toasts must not cover the page's controls
const evKey = (e: EventItem) => `${e.ts_ms}|${e.kind}|${e.subject}|${e.detail}`;

// The WANs of candidate keys "vcpe/instance/wan" (select.cpp candidate_key).
const wansOf = (keys: string[]) => [...new Set(keys.map((k) => k.slice(k.lastIndexOf('/') + 1)))].sort().join(', ') || 'nothing';
const short = (s: string) => {
  const first = s.split('; ')[0];
  return first.length > 100 ? `${first.slice(0, 99)}…` : first;
};

// What a new event says, if it is news; `active` holds each service's last active set.
export function toastOf(e: EventItem, active: Map<string, string[]>): Omit<Toast, 'id'> | null {
  const base = { event: e.kind, subject: e.subject };
  if (e.kind === 'path_down') return { ...base, kind: 'down', text: `Path ${e.subject} is down`, why: short(e.detail) };
  if (e.kind === 'path_up') return { ...base, kind: 'up', text: `Path ${e.subject} is up again`, why: short(e.detail) };
  if (e.kind !== 'weights') return null;
  const w = parseWeights(e.detail);
  if (!w) return null;
  const was = active.get(e.subject);
  active.set(e.subject, w.active);
  if (w.outcome !== 'ok')
    return { ...base, kind: 'warn', text: `Service ${e.subject} has no eligible candidate (${w.outcome})`, why: short(w.reason) };
  if (was && was.join() === w.active.join()) return null; // same candidates, new weights
  const now = wansOf(w.active);
  const text = !was ? `Service ${e.subject}: now on ${now}`
    : wansOf(was) !== now ? `Service ${e.subject}: now on ${now} (was ${wansOf(was)})`
      : `Service ${e.subject}: ${w.active.length} candidate(s) on ${now} (was ${was.length})`;
  return { ...base, kind: 'change', text, why: short(w.reason) };
}

// The newest of each subject's news; past kMax, the oldest go first, paths going down last.
function bound(ts: Toast[]): Toast[] {
  let xs = ts.filter((t, i) => !ts.slice(i + 1).some((u) => u.subject === t.subject && (u.event === t.event
    || (t.event.startsWith('path_') && u.event.startsWith('path_')))));
  while (xs.length > kMax) {
    const drop = xs.find((t) => t.kind !== 'down') ?? xs[0];
    xs = xs.filter((t) => t !== drop);
  }
  return xs;
}

export function Toasts() {
  const [toasts, setToasts] = useState<Toast[]>([]);
  useEffect(() => {
    let seen: Set<string> | null = null;
    let next = 1;
    const active = new Map<string, string[]>();
    const fromDecisions = (s: LiveState) => {
      const by = new Map<string, string[]>();
      for (const d of s.decisions) if (d.weight > 0) by.set(d.service, [...(by.get(d.service) ?? []), `${d.vcpe}/${d.instance}/${d.wan}`]);
      for (const [k, v] of by) if (!active.has(k)) active.set(k, v.sort());
    };
    const off = live.subscribe((s) => {
      if (!s.loaded) return;
      fromDecisions(s);
      if (!seen) {
        // The first snapshot: what happened before the page was opened.
        seen = new Set(s.events.map(evKey));
        for (const e of s.events) if (e.kind === 'weights') { const w = parseWeights(e.detail); if (w) active.set(e.subject, w.active); }
        return;
      }
      const fresh: Toast[] = [];
      for (const e of s.events) {
        const k = evKey(e);
        if (seen.has(k)) continue;
        seen.add(k);
        const t = toastOf(e, active);
        if (t) fresh.push({ ...t, id: next++ });
      }
      seen = new Set(s.events.map(evKey)); // bounded like the live list
      if (!fresh.length) return;
      setToasts((ts) => bound([...ts, ...fresh]));
      for (const t of fresh) window.setTimeout(() => setToasts((ts) => ts.filter((x) => x.id !== t.id)), kShowMs);
    });
    return off;
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite" aria-label="Notifications">
      {toasts.map((t) => (
        <div class={`toast ${t.kind}`} data-toast={t.event} data-toast-kind={t.kind} key={t.id}>
          <span class="sr-only">{t.kind === 'down' ? 'Alert: ' : t.kind === 'warn' ? 'Warning: ' : 'Notice: '}</span>
          <span>{t.text}{t.why && <><br /><small class="muted">{t.why}</small></>}</span>
          <button type="button" class="small" aria-label="Dismiss" onClick={() => setToasts((ts) => ts.filter((x) => x.id !== t.id))}>×</button>
        </div>
      ))}
    </div>
  );
}
