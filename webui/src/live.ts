// Live state for every page: first loaded over REST, then kept current by the SSE stream
// (GET /api/v1/stream, docs/API.md) or, where the daemon has no stream route (404), by
// polling the same REST routes every second. Pages subscribe and re-render on change.
import { DecisionItem, DecisionsMessage, EventItem, get, InstanceItem, PathItem, ServiceItem, Status } from './api';

export interface LiveState {
  status: Status | null;
  paths: PathItem[];
  instances: InstanceItem[];
  services: ServiceItem[];
  decisions: DecisionItem[];
  events: EventItem[]; // newest last, bounded
  loaded: boolean;
  mode: 'connecting' | 'stream' | 'polling';
  updated_ms: number;
}

// Live path samples for the charts, by "wan|vcpe": what arrived since the page loaded.
export type PathListener = (p: PathItem, ts_ms: number) => void;
export type InstanceListener = (i: InstanceItem, ts_ms: number) => void;
export const instanceKey = (i: { vcpe: string; service: string; instance: string }) => `${i.vcpe}|${i.service}|${i.instance}`;

const kTopics = 'paths,instances,decisions,events';
const kPollMs = 1000;
const kMaxEvents = 200;
const kEventsWindowMs = 15 * 60 * 1000;

export const pathKey = (wan: string, vcpe: string) => `${wan}|${vcpe}`;

class Live {
  state: LiveState = {
    status: null,
    paths: [],
    instances: [],
    services: [],
    decisions: [],
    events: [],
    loaded: false,
    mode: 'connecting',
    updated_ms: 0,
  };
  private listeners = new Set<(s: LiveState) => void>();
  private pathListeners = new Set<PathListener>();
  private instanceListeners = new Set<InstanceListener>();
  private source: EventSource | null = null;
  private timer: number | null = null;
  private running = false;
  private lastEventMs = 0;
  private streamErrors = 0;
  private lastStreamId = '';

  subscribe(f: (s: LiveState) => void): () => void {
    this.listeners.add(f);
    f(this.state);
    return () => this.listeners.delete(f);
  }
  onPath(f: PathListener): () => void {
    this.pathListeners.add(f);
    return () => this.pathListeners.delete(f);
  }

  onInstance(f: InstanceListener): () => void {
    this.instanceListeners.add(f);
    return () => this.instanceListeners.delete(f);
  }

  async start() {
    if (this.running) return;
    this.running = true;
    try {
      await this.reload();
    } catch (e) {
      // Not started: a later start() (after the login, or the session check) tries again.
      this.running = false;
      throw e;
    }
    if (!this.running) return;
    // Probe first: EventSource hides the status of a failed connection, and a 404 (no
    // stream route in this daemon) must mean polling, not reconnecting for ever.
    const probe = new AbortController();
    let streamOk = false;
    try {
      const r = await fetch(`/api/v1/stream?topics=${kTopics}`, { signal: probe.signal, cache: 'no-store' });
      streamOk = r.ok && (r.headers.get('content-type') ?? '').startsWith('text/event-stream');
    } catch {
      streamOk = false;
    }
    probe.abort();
    if (!this.running) return;
    if (streamOk) this.openStream();
    else this.poll();
  }

  stop() {
    this.running = false;
    this.source?.close();
    this.source = null;
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = null;
    this.state = { ...this.state, loaded: false, mode: 'connecting' };
  }

  // Everything over REST (first load, `event: reset`, each poll).
  async reload() {
    const from = Date.now() - kEventsWindowMs;
    const [status, paths, instances, services, decisions, events] = await Promise.all([
      get<Status>('/api/v1/status'),
      get<PathItem[]>('/api/v1/paths'),
      get<InstanceItem[]>('/api/v1/instances'),
      get<ServiceItem[]>('/api/v1/services').catch(() => [] as ServiceItem[]),
      get<DecisionItem[]>('/api/v1/decisions').catch(() => [] as DecisionItem[]),
      get<EventItem[]>(`/api/v1/events?from=${this.lastEventMs ? this.lastEventMs + 1 : from}`),
    ]);
    const now = Date.now();
    for (const p of paths) this.emitPath(p, now);
    for (const i of instances) for (const f of this.instanceListeners) f(i, now);
    this.lastEventMs = events.reduce((m, e) => Math.max(m, e.ts_ms), this.lastEventMs);
    this.set({
      status,
      paths,
      instances,
      services,
      decisions,
      events: [...this.state.events, ...events].slice(-kMaxEvents),
      loaded: true,
      updated_ms: now,
    });
  }

  private set(patch: Partial<LiveState>) {
    this.state = { ...this.state, ...patch };
    for (const f of this.listeners) f(this.state);
  }

  private emitPath(p: PathItem, ts: number) {
    for (const f of this.pathListeners) f(p, ts);
  }

  private poll() {
    this.set({ mode: 'polling' });
    const tick = async () => {
      if (!this.running) return;
      try {
        await this.reload();
      } catch {
        // a failed poll is retried on the next tick; a 401 already went to the login page
      }
      if (this.running) this.timer = window.setTimeout(tick, kPollMs);
    };
    this.timer = window.setTimeout(tick, kPollMs);
  }

  private openStream() {
    // Resume where the last connection stopped: the stream takes ?last_event_id= (the
    // browser's own reconnect would send the Last-Event-ID header instead).
    const resume = this.lastStreamId ? `&last_event_id=${encodeURIComponent(this.lastStreamId)}` : '';
    const es = new EventSource(`/api/v1/stream?topics=${kTopics}${resume}`);
    this.source = es;
    es.onopen = () => {
      this.streamErrors = 0;
      this.set({ mode: 'stream' });
    };
    es.onerror = () => {
      es.close();
      this.source = null;
      if (!this.running) return;
      // After repeated failures poll rather than show stale data.
      if (++this.streamErrors >= 3) return this.poll();
      this.timer = window.setTimeout(() => this.running && this.openStream(), 500 * this.streamErrors);
    };
    const seen = (e: Event) => {
      const id = (e as MessageEvent).lastEventId;
      if (id) this.lastStreamId = id;
    };
    for (const t of ['paths', 'instances', 'decisions', 'events', 'reset']) es.addEventListener(t, seen);
    const parse = (e: MessageEvent) => {
      try {
        return JSON.parse(e.data);
      } catch {
        return null;
      }
    };
    es.addEventListener('paths', (e) => {
      const p = parse(e as MessageEvent) as PathItem | null;
      if (!p) return;
      const k = pathKey(p.wan, p.vcpe);
      const paths = this.state.paths.filter((x) => pathKey(x.wan, x.vcpe) !== k).concat(p);
      paths.sort((a, b) => pathKey(a.wan, a.vcpe).localeCompare(pathKey(b.wan, b.vcpe)));
      this.emitPath(p, Date.now());
      this.set({ paths, updated_ms: Date.now() });
    });
    es.addEventListener('instances', (e) => {
      const i = parse(e as MessageEvent) as InstanceItem | null;
      if (!i) return;
      const same = (x: InstanceItem) => x.vcpe === i.vcpe && x.service === i.service && x.instance === i.instance;
      for (const f of this.instanceListeners) f(i, Date.now());
      this.set({ instances: this.state.instances.filter((x) => !same(x)).concat(i), updated_ms: Date.now() });
    });
    // One message per service: all its candidates as of one apply (their weights sum to
    // `total`, or are all 0), so replacing the service's items keeps the view whole.
    es.addEventListener('decisions', (e) => {
      const m = parse(e as MessageEvent) as DecisionsMessage | null;
      if (!m || !Array.isArray(m.candidates)) return;
      const decisions = this.state.decisions.filter((d) => d.service !== m.service).concat(m.candidates);
      this.set({ decisions, updated_ms: Date.now() });
    });
    es.addEventListener('events', (e) => {
      const ev = parse(e as MessageEvent) as EventItem | null;
      if (!ev) return;
      this.lastEventMs = Math.max(this.lastEventMs, ev.ts_ms);
      this.set({ events: [...this.state.events, ev].slice(-kMaxEvents), updated_ms: Date.now() });
    });
    es.addEventListener('reset', () => {
      void this.reload().catch(() => {});
    });
  }
}

export const live = new Live();
