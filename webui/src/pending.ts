// The pending configuration change (docs/API.md "Safe apply"), for the banner every page
// shows: read from GET /api/v1/config/revisions, again after every change made here, on
// every `config` event, and when the deadline passes (the daemon then reverts by itself).
import { api, get } from './api';

export interface Pending {
  revision: number;
  base: number;
  deadline_ms: number;
}

let pending: Pending | null = null;
let current = 0;
const listeners = new Set<(p: Pending | null, current: number) => void>();
let timer = 0;

export function onPending(f: (p: Pending | null, current: number) => void): () => void {
  listeners.add(f);
  f(pending, current);
  return () => listeners.delete(f);
}

export async function refreshPending(): Promise<void> {
  try {
    const r = await get<{ current: number; pending: Pending | null }>('/api/v1/config/revisions?limit=1');
    set(r.pending, r.current);
  } catch {
    // no configuration service (or no session): no banner
  }
}

export function set(p: Pending | null, cur: number) {
  pending = p;
  current = cur;
  window.clearTimeout(timer);
  // After the deadline the daemon reverts: read again a moment later.
  if (p) timer = window.setTimeout(() => void refreshPending(), Math.max(0, p.deadline_ms - Date.now()) + 1500);
  for (const f of listeners) f(pending, current);
}

export async function confirmPending(revision: number): Promise<void> {
  await api('POST', '/api/v1/config/confirm', { revision });
  await refreshPending();
}
