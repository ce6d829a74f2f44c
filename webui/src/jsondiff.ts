// A structural JSON diff as an RFC 6902 patch, computed in the page: the API has no
// dry-run route, so a form's change is previewed as the patch from the document read
// (with its ETag) to the proposed one, and that same patch is what PATCH sends (If-Match
// pins the base, so what was previewed is what is applied or nothing is). Same rules and
// text form as the daemon's diff (docs/API.md "Diff format"): objects by key in sorted
// order, arrays by index (added elements in increasing index, removed ones from the end).

export type Op =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string; old?: unknown }
  | { op: 'replace'; path: string; value: unknown; old?: unknown };

const esc = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => k in b && equal(a[k], b[k]));
  }
  return false;
}

export function diff(a: unknown, b: unknown, path = ''): Op[] {
  if (equal(a, b)) return [];
  if (isObj(a) && isObj(b)) {
    const ops: Op[] = [];
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const p = `${path}/${esc(k)}`;
      if (!(k in b)) ops.push({ op: 'remove', path: p, old: a[k] });
      else if (!(k in a)) ops.push({ op: 'add', path: p, value: b[k] });
      else ops.push(...diff(a[k], b[k], p));
    }
    return ops;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const ops: Op[] = [];
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) ops.push(...diff(a[i], b[i], `${path}/${i}`));
    for (let i = n; i < b.length; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: b[i] });
    for (let i = a.length - 1; i >= n; i--) ops.push({ op: 'remove', path: `${path}/${i}`, old: a[i] });
    return ops;
  }
  return [{ op: 'replace', path: path || '', value: b, old: a }];
}

// The patch to send: the `old` values are only for the preview.
export const patchOf = (ops: Op[]) => ops.map(({ op, path, ...r }) => (op === 'remove' ? { op, path } : { op, path, value: (r as { value: unknown }).value }));

// JSON with object keys sorted, as the daemon stores and prints documents.
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

// One line per op, as the daemon's ?format=text.
export function text(ops: Op[]): string {
  const j = canonical;
  return ops.map((o) => (o.op === 'add' ? `+ ${o.path} = ${j(o.value)}`
    : o.op === 'remove' ? `- ${o.path} (was ${j(o.old)})`
      : `~ ${o.path}: ${j(o.old)} -> ${j(o.value)}`)).join('\n');
}
