// The management API (docs/API.md) from the page: same origin, the session cookie is
// HttpOnly (the page never sees it); the CSRF token lives in memory only and goes with
// every change as X-CSRF-Token. The browser adds Origin itself.

export type Role = 'admin' | 'viewer';
export interface Session {
  user: string;
  role: Role;
}
export interface FieldError {
  field: string; // JSON pointer into the body: "/password"
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }
  // The message for one body field, for display next to it.
  field(name: string): string | undefined {
    return this.fields.find((f) => f.field === '/' + name)?.message;
  }
}

let csrf: string | null = null;
let onUnauthorized: () => void = () => {};

// Called when the session is gone (401 on a read): the app shows the login page.
export function setUnauthorizedHandler(f: () => void) {
  onUnauthorized = f;
}
export function setCsrf(token: string | null) {
  csrf = token;
}

export interface Reply<T> {
  data: T;
  etag: string | null;
}

// One request: JSON body in, JSON (or text, `text: true`) out, with the reply's ETag;
// `ifMatch` for the configuration's optimistic concurrency (docs/API.md "Revisions").
export async function request<T>(method: string, path: string,
                                 opts: { body?: unknown; ifMatch?: string; text?: boolean } = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = { Accept: opts.text ? 'text/plain' : 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.ifMatch) headers['If-Match'] = opts.ifMatch;
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const e = json?.error;
    const err = new ApiError(res.status, e?.code ?? 'error', e?.message ?? `${res.status} ${res.statusText}`, e?.fields ?? []);
    if (res.status === 401 && path !== '/api/v1/login' && path !== '/api/v1/setup') onUnauthorized();
    throw err;
  }
  return { data: (opts.text ? text : json) as T, etag: res.headers.get('ETag') };
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await request<T>(method, path, { body })).data;
}

export const get = <T>(path: string) => api<T>('GET', path);

// The current session (after a reload the CSRF token comes from here), or null.
export async function currentSession(): Promise<Session | null> {
  try {
    const s = await get<{ user: string; role: Role; csrf_token?: string }>('/api/v1/session');
    setCsrf(s.csrf_token ?? null);
    return { user: s.user, role: s.role };
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export async function login(user: string, password: string): Promise<Session> {
  const r = await api<{ csrf_token: string; user: string; role: Role }>('POST', '/api/v1/login', { user, password });
  setCsrf(r.csrf_token);
  return { user: r.user, role: r.role };
}

export async function logout(): Promise<void> {
  try {
    await api('POST', '/api/v1/logout');
  } finally {
    setCsrf(null);
  }
}

// ---- shapes of the read routes (cpe/views.cpp, cpe/steering.cpp)
export interface PathItem {
  wan: string;
  vcpe: string;
  tunnel?: string;
  rtt_ms: number | null;
  rtt_min_ms?: number | null; // over the probe window
  rtt_avg_ms?: number | null;
  rtt_max_ms?: number | null;
  jitter_ms: number | null;
  loss_pct: number | null;
  state: string; // up | down | unknown
  penalty?: number | null;
  flaps?: number;
  held_ms?: number | null;
}
export interface PathSample {
  wan: string;
  vcpe: string;
  ts_ms: number;
  rtt_ms: number | null;
  jitter_ms: number | null;
  loss_pct: number | null;
  state: string;
}
export interface InstanceItem {
  service: string;
  instance: string;
  vcpe: string;
  address: string;
  vcpus: number | null;
  utilization: number | null;
  processing_delay_ms: number | null;
  service_time_ms?: number | null;
  service_time_source?: string | null;
  last_processing_delay_ms?: number | null;
  last_processing_delay_age_ms?: number | null;
  gpu_count?: number | null;
  gpu_utilization?: number | null;
  available: boolean;
}
export interface InstanceBucket {
  vcpe: string;
  service: string;
  instance: string;
  ts_ms: number;
  vcpus: number | null;
  utilization: number | null;
  processing_delay_ms: number | null;
  available: boolean | null;
}
export interface FlowCount {
  service: string;
  instance: string;
  wan: string;
  flows: number | null;
}
// A candidate's cost term by term as the selector added it (common/select, CostParts):
// each weighted, so they add up to cost_ms. null where not known (weights adopted at start).
export interface CostParts {
  access_ms: number | null; // the service's access delay
  delay_ms: number | null; // RTT × the network cost weight
  jitter_ms: number | null; // jitter penalty (de-jitter buffer, 2 × jitter) × the network weight
  loss_ms: number | null; // loss penalty (retransmission rounds, RTT·p/(1−p)) × the network weight
  compute_ms: number | null; // processing delay (reported or modelled) × the compute weight
  wan_cost_ms: number | null; // the WAN's configured cost
}
export interface DecisionItem {
  service: string;
  instance: string; // its name (the address until its vCPE has reported it)
  address: string;
  vcpe: string;
  wan: string;
  weight: number;
  cost_ms: number | null;
  wan_cost_ms?: number | null; // the WAN's configured cost, part of cost_ms
  e2e_ms?: number | null; // access + network + compute, unweighted
  network_ms?: number | null; // RTT + jitter and loss terms (unweighted)
  compute_ms?: number | null; // reported or modelled processing delay (unweighted)
  cost_parts?: CostParts | null; // cost_ms term by term (null before the first decision)
  excluded: string | null;
  health: string;
  outcome: string | null;
  reason: string;
}
// A `decisions` stream message: one service's candidates as of one apply (docs/API.md).
export interface DecisionsMessage {
  service: string;
  publication: number;
  total: number;
  candidates: DecisionItem[];
}
export interface ServiceItem {
  id: string;
  vip: string;
  protocol: string;
  ports: number[];
  outcome: string | null;
  instances: { vcpe: string; address: string; instance: string; weight: number }[];
}
export interface EventItem {
  ts_ms: number;
  kind: string;
  subject: string;
  detail: string;
}
export interface Status {
  role: string;
  name: string;
  tunnels?: { interface: string; wan: string; up: boolean }[];
}
