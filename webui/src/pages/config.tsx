// Configuration (docs/API.md "Configuration"): the current document (secrets redacted by
// the daemon), the revisions, a diff between any two (text form), revert, and, for an
// admin only, a change: one value by JSON pointer, a JSON Patch, or the whole document,
// sent with If-Match (the revision read) and optionally "confirm within N s". A 409 says
// someone else changed it; field errors are shown next to the pointer they name.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, FieldError, get, request, Session } from '../api';
import { useFocusIfLost } from '../focus';
import { onPending, Pending, set as setPending } from '../pending';
import { lazyPage } from '../lazy';
import { dateTime } from '../time';

// The per-section forms are their own chunk, fetched only when an admin opens this page.
const Forms = lazyPage<{ doc: any; etag: string; onDone: (rev: number) => void }>(() => import('./forms').then((m) => m.Forms));

interface Revision {
  revision: number;
  ts_ms: number;
  author: string;
  peer: string;
  comment: string;
  confirm_by_ms: number | null;
  confirmed_ms: number | null;
}
interface Revisions {
  current: number;
  pending: Pending | null;
  revisions: Revision[];
}

// Leaves of the document as (pointer, JSON text) rows, RFC 6901 escaping.
function leaves(v: unknown, ptr = ''): [string, string][] {
  if (v !== null && typeof v === 'object') {
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v as object);
    if (!entries.length) return [[ptr || '/', JSON.stringify(v)]];
    return entries.flatMap(([k, x]) => leaves(x, `${ptr}/${String(k).replace(/~/g, '~0').replace(/\//g, '~1')}`));
  }
  return [[ptr || '/', JSON.stringify(v)]];
}
function lookup(doc: unknown, ptr: string): { found: boolean } {
  let cur: any = doc;
  for (const raw of ptr.split('/').slice(1)) {
    const k = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object' || !(k in cur)) return { found: false };
    cur = cur[k];
  }
  return { found: true };
}
// The errors that belong to a row: its own pointer, or one below it.
const errorsAt = (errs: FieldError[], ptr: string) => errs.filter((e) => e.field === ptr || e.field.startsWith(ptr + '/'));

type Mode = 'value' | 'patch' | 'document';

function Editor(props: { doc: unknown; etag: string; onDone: (rev: number) => void; onErrors: (f: FieldError[]) => void }) {
  const [mode, setMode] = useState<Mode>('value');
  const [pointer, setPointer] = useState('');
  const [value, setValue] = useState('');
  const [patch, setPatch] = useState('[\n  {"op": "replace", "path": "/selection/hold_down_ms", "value": 1200}\n]');
  const [whole, setWhole] = useState(JSON.stringify(props.doc, null, 2));
  const [comment, setComment] = useState('');
  const [useConfirm, setUseConfirm] = useState(true);
  const [within, setWithin] = useState('60');
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [general, setGeneral] = useState<string | null>(null);
  const [conflict, setConflict] = useState(false);
  const [busy, setBusy] = useState(false);
  // The daemon's dry run of exactly this request (?dry_run=1, same If-Match): its diff is
  // shown, and Apply sends the same request again. Any edit drops it.
  const [dry, setDry] = useState<{ method: string; body: unknown; text: string } | null>(null);
  useEffect(() => setWhole(JSON.stringify(props.doc, null, 2)), [props.etag]);
  useEffect(() => setDry(null), [mode, pointer, value, patch, whole, props.etag]);

  const fail = (x: unknown) => {
    if (x instanceof ApiError && x.status === 409) setConflict(true);
    else if (x instanceof ApiError && x.fields.length) {
      setErrors(x.fields);
      setGeneral(x.message);
      props.onErrors(x.fields);
    } else setGeneral(x instanceof Error ? x.message : String(x));
  };
  const apply = async () => {
    if (!dry) return;
    const n = Number(within);
    if (useConfirm && !(Number.isInteger(n) && n >= 1 && n <= 3600)) {
      setErrors([{ field: 'within', message: '1..3600 seconds' }]);
      return;
    }
    const q = new URLSearchParams();
    if (useConfirm) q.set('confirm_within', String(n));
    if (comment) q.set('comment', comment);
    setBusy(true);
    setGeneral(null);
    try {
      const r = await request<{ revision: number; pending: Pending | null }>(dry.method, `/api/v1/config${q.toString() ? `?${q}` : ''}`,
        { body: dry.body, ifMatch: props.etag });
      setPending(r.data.pending, r.data.revision);
      setComment('');
      setDry(null);
      props.onErrors([]);
      props.onDone(r.data.revision);
    } catch (x) {
      setDry(null);
      fail(x);
    } finally {
      setBusy(false);
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setErrors([]);
    setGeneral(null);
    setConflict(false);
    setDry(null);
    let method = 'PATCH';
    let body: unknown;
    const local: FieldError[] = [];
    try {
      if (mode === 'value') {
        if (!pointer.startsWith('/')) local.push({ field: 'pointer', message: 'a JSON pointer starts with "/", e.g. /selection/hold_down_ms' });
        let v: unknown;
        try {
          v = JSON.parse(value);
        } catch {
          local.push({ field: 'value', message: 'not JSON: quote strings ("text"); numbers and true/false as they are' });
        }
        body = [{ op: lookup(props.doc, pointer).found ? 'replace' : 'add', path: pointer, value: v }];
      } else if (mode === 'patch') {
        try {
          body = JSON.parse(patch);
        } catch (x) {
          local.push({ field: 'patch', message: `not JSON: ${(x as Error).message}` });
        }
      } else {
        method = 'PUT';
        try {
          body = JSON.parse(whole);
        } catch (x) {
          local.push({ field: 'document', message: `not JSON: ${(x as Error).message}` });
        }
      }
      const n = Number(within);
      if (useConfirm && !(Number.isInteger(n) && n >= 1 && n <= 3600)) local.push({ field: 'within', message: '1..3600 seconds' });
      if (local.length) {
        setErrors(local);
        return;
      }
      setBusy(true);
      const r = await request<{ text: string }>(method, '/api/v1/config?dry_run=1', { body, ifMatch: props.etag });
      props.onErrors([]);
      setDry({ method, body, text: r.data.text });
    } catch (x) {
      fail(x);
    } finally {
      setBusy(false);
    }
  };
  const local = (f: string) => errors.find((e) => e.field === f)?.message;
  const apiErrors = errors.filter((e) => e.field.startsWith('/'));
  const err = (id: string, m?: string) => m && <p class="error" id={`${id}-error`} role="alert">{m}</p>;
  return (
    <form class="card" onSubmit={submit} noValidate data-admin-control="config-edit">
      <h2>Change by JSON pointer, patch or document</h2>
      <div class="toolbar" role="radiogroup" aria-label="What to send">
        {([['value', 'One value'], ['patch', 'JSON Patch'], ['document', 'Whole document']] as const).map(([m, label]) => (
          <label class="inline"><input type="radio" name="mode" value={m} checked={mode === m} onChange={() => setMode(m)} /> {label}</label>
        ))}
      </div>
      {mode === 'value' && (
        <div class="row2">
          <div class="field">
            <label for="cfg-pointer">JSON pointer</label>
            <input id="cfg-pointer" value={pointer} placeholder="/selection/hold_down_ms" autocomplete="off"
                   aria-invalid={local('pointer') || errorsAt(apiErrors, pointer || '/').length ? 'true' : undefined}
                   onInput={(e) => setPointer((e.target as HTMLInputElement).value)} />
            {err('cfg-pointer', local('pointer'))}
            {pointer && errorsAt(apiErrors, pointer).map((e) => <p class="error" role="alert" data-field-error={e.field}>{e.field}: {e.message}</p>)}
          </div>
          <div class="field">
            <label for="cfg-value">Value (JSON)</label>
            <input id="cfg-value" value={value} placeholder="1200" autocomplete="off" aria-invalid={local('value') ? 'true' : undefined}
                   onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
            {err('cfg-value', local('value'))}
          </div>
        </div>
      )}
      {mode === 'patch' && (
        <div class="field">
          <label for="cfg-patch">JSON Patch (RFC 6902: add, remove, replace, test)</label>
          <textarea id="cfg-patch" rows={8} value={patch} onInput={(e) => setPatch((e.target as HTMLTextAreaElement).value)} />
          {err('cfg-patch', local('patch'))}
        </div>
      )}
      {mode === 'document' && (
        <div class="field">
          <label for="cfg-document">The whole document ("&lt;redacted&gt;" keeps a secret as it is)</label>
          <textarea id="cfg-document" rows={18} value={whole} onInput={(e) => setWhole((e.target as HTMLTextAreaElement).value)} />
          {err('cfg-document', local('document'))}
        </div>
      )}
      <div class="row2">
        <div class="field">
          <label for="cfg-comment">Comment</label>
          <input id="cfg-comment" value={comment} autocomplete="off" onInput={(e) => setComment((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field">
          <label class="inline"><input type="checkbox" id="cfg-confirm" checked={useConfirm}
                 onChange={(e) => setUseConfirm((e.target as HTMLInputElement).checked)} /> Revert unless confirmed within</label>
          <input id="cfg-within" type="number" min={1} max={3600} value={within} disabled={!useConfirm} aria-label="seconds"
                 onInput={(e) => setWithin((e.target as HTMLInputElement).value)} />
          {err('cfg-within', local('within'))}
        </div>
      </div>
      {conflict && (
        <p class="error" role="alert" data-testid="config-conflict">
          Someone else changed it; reload.{' '}
          <button type="button" onClick={() => props.onDone(0)}>Reload</button>
        </p>
      )}
      {general && <p class="error" role="alert" data-testid="config-error">{general}</p>}
      {/* the errors not already shown under the pointer input */}
      {apiErrors.some((e) => mode !== 'value' || !errorsAt([e], pointer).length) && (
        <ul class="errors">{apiErrors.filter((e) => mode !== 'value' || !errorsAt([e], pointer).length)
          .map((e) => <li class="error" data-field-error={e.field}><code>{e.field}</code>: {e.message}</li>)}</ul>
      )}
      <div class="toolbar">
        <button type="submit" disabled={busy} data-testid="config-preview">Preview the change</button>
      </div>
      {dry && (
        <div class="preview" role="region" aria-label="Change preview" data-testid="config-preview-box">
          <h3>Diff to apply <small class="muted">(the daemon's dry run against revision {props.etag.replace(/"/g, '')})</small></h3>
          <pre class="diffbox" data-testid="config-preview-diff">{dry.text || '(no difference)'}</pre>
          <div class="toolbar">
            <button type="button" onClick={apply} disabled={busy || !dry.text} data-testid="config-apply">
              Apply{useConfirm ? ` (confirm within ${within} s)` : ''}
            </button>
            <button type="button" class="secondary" onClick={() => setDry(null)}>Cancel</button>
          </div>
        </div>
      )}
    </form>
  );
}

export function Config(props: { session: Session }) {
  const admin = props.session.role === 'admin';
  const [doc, setDoc] = useState<{ data: unknown; etag: string } | null>(null);
  const [revs, setRevs] = useState<Revisions | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [from, setFrom] = useState(0);
  const [to, setTo] = useState(0);
  const [diff, setDiff] = useState<{ from: number; to: number; text: string } | null>(null);
  const [fieldErrors, setFieldErrors] = useState<FieldError[]>([]);
  const [revertMsg, setRevertMsg] = useState<string | null>(null);
  // The revert confirmation (with the focused button) goes when the revert is sent: the
  // focus goes to the message that says what happened, not to the top of the page.
  const revertMsgRef = useRef<HTMLParagraphElement>(null);
  useFocusIfLost(revertMsgRef, revertMsg);
  // Likewise a form's or the editor's Apply (its preview goes): the focus goes to the diff
  // of the revision just made, which load() shows.
  const diffRef = useRef<HTMLElement>(null);
  useFocusIfLost(diffRef, diff);

  const showDiff = async (a: number, b: number) => {
    try {
      const r = await request<string>('GET', `/api/v1/config/diff?from=${a}&to=${b}&format=text`, { text: true });
      setDiff({ from: a, to: b, text: r.data });
    } catch (e) {
      setDiff({ from: a, to: b, text: `(${e instanceof Error ? e.message : String(e)})` });
    }
  };
  const load = async (focus?: number) => {
    try {
      const [d, r] = await Promise.all([
        request<unknown>('GET', '/api/v1/config'),
        get<Revisions>('/api/v1/config/revisions?limit=100'),
      ]);
      setDoc({ data: d.data, etag: d.etag ?? `"${r.current}"` });
      setRevs(r);
      setPending(r.pending, r.current);
      setError(null);
      const older = r.revisions[1]?.revision ?? r.current;
      setFrom(older);
      setTo(r.current);
      if (focus) {
        const prev = r.revisions.find((x) => x.revision < focus)?.revision;
        if (prev) await showDiff(prev, focus);
      }
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  useEffect(() => void load(), []);
  // A confirmation from the banner, an expiry, a change elsewhere: read the list again when
  // what is pending or current differs from what it showed. The document and its ETag stay
  // as read (an edit in progress must not silently move onto someone else's revision):
  // the page says the document is stale, and a change sent now is a 409.
  const shown = useRef<{ pending: number | null; current: number } | null>(null);
  shown.current = revs ? { pending: revs.pending?.revision ?? null, current: revs.current } : null;
  useEffect(() => onPending((p, cur) => {
    const was = shown.current;
    if (!was || ((p?.revision ?? null) === was.pending && cur === was.current)) return;
    get<Revisions>('/api/v1/config/revisions?limit=100').then(setRevs, () => {});
  }), []);

  // Revert asks first, showing the daemon's diff from the current revision to the one
  // it would bring back (GET /api/v1/config/diff, the exact change a revert makes).
  const [askRevert, setAskRevert] = useState<{ revision: number; current: number; text: string } | null>(null);
  const askToRevert = async (rev: number) => {
    if (!revs) return;
    setRevertMsg(null);
    try {
      const r = await request<string>('GET', `/api/v1/config/diff?from=${revs.current}&to=${rev}&format=text`, { text: true });
      setAskRevert({ revision: rev, current: revs.current, text: r.data });
    } catch (e) {
      setRevertMsg(e instanceof Error ? e.message : String(e));
    }
  };
  const revert = async (rev: number) => {
    if (!doc) return;
    setAskRevert(null);
    try {
      const r = await request<{ revision: number; pending: Pending | null }>('POST', '/api/v1/config/revert', { body: { revision: rev } });
      setRevertMsg(`Revision ${r.data.revision} returns to revision ${rev}.`);
      await load(r.data.revision);
    } catch (e) {
      setRevertMsg(e instanceof Error ? e.message : String(e));
    }
  };
  const state = (r: Revision) =>
    revs?.pending && r.revision <= revs.pending.revision && r.revision > revs.pending.base && !r.confirmed_ms ? 'pending'
      : r.confirmed_ms ? 'confirmed' : r.confirm_by_ms ? 'expired' : '–';
  const rows = doc ? leaves(doc.data) : [];
  const numbers = revs?.revisions.map((r) => r.revision) ?? [];
  return (
    <div class="config">
      {error && <p class="error card" role="alert">{error}</p>}
      {admin && doc && <Forms doc={doc.data} etag={doc.etag} onDone={(rev) => void load(rev || undefined)} />}
      {admin && doc && <Editor doc={doc.data} etag={doc.etag} onDone={(rev) => void load(rev || undefined)} onErrors={setFieldErrors} />}
      <section class="card">
        <h2>Revisions {revs && <small class="muted">current {revs.current}</small>}</h2>
        {revertMsg && <p role="status" data-testid="revert-msg" tabIndex={-1} ref={revertMsgRef}>{revertMsg}</p>}
        {askRevert && (
          <div class="preview" role="region" aria-label="Revert preview" data-testid="revert-confirm" data-revision={askRevert.revision}>
            <h3>Revert to revision {askRevert.revision}? This is what changes from revision {askRevert.current}:</h3>
            <pre class="diffbox" data-testid="revert-diff">{askRevert.text || '(no difference)'}</pre>
            <div class="toolbar">
              <button type="button" onClick={() => void revert(askRevert.revision)} data-testid="revert-apply">Revert to revision {askRevert.revision}</button>
              <button type="button" class="secondary" onClick={() => setAskRevert(null)}>Cancel</button>
            </div>
          </div>
        )}
        <div class="scroll" tabIndex={0}>
          <table data-testid="revisions">
            <thead><tr><th scope="col">Revision</th><th scope="col">Time</th><th scope="col">Author</th><th scope="col">Comment</th>
              <th scope="col">Confirmation</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {(revs?.revisions ?? []).map((r, i) => {
                const st = state(r);
                const prev = revs!.revisions[i + 1]?.revision;
                return (
                  <tr data-revision={r.revision} data-state={st} key={r.revision}>
                    <td>{r.revision}{r.revision === revs!.current && <small class="muted"> (current)</small>}</td>
                    <td>{dateTime(r.ts_ms)}</td>
                    <td>{r.author}<br /><small class="muted">{r.peer}</small></td>
                    <td>{r.comment || '–'}</td>
                    <td>{st === 'pending' ? <span class="chip degraded">pending</span> : st}</td>
                    <td class="actions">
                      {prev !== undefined && <button type="button" class="small" onClick={() => showDiff(prev, r.revision)}
                                                     aria-label={`Diff ${prev} to ${r.revision}`}>Diff</button>}
                      {admin && r.revision !== revs!.current && (
                        <button type="button" class="small" data-admin-control="revert" onClick={() => void askToRevert(r.revision)}
                                aria-label={`Revert to revision ${r.revision}`}>Revert to</button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        <form class="toolbar" onSubmit={(e) => { e.preventDefault(); void showDiff(from, to); }}>
          <label for="diff-from">Diff from</label>
          <select id="diff-from" class="auto" value={from} onChange={(e) => setFrom(Number((e.target as HTMLSelectElement).value))}>
            {numbers.map((n) => <option value={n} key={n}>{n}</option>)}
          </select>
          <label for="diff-to">to</label>
          <select id="diff-to" class="auto" value={to} onChange={(e) => setTo(Number((e.target as HTMLSelectElement).value))}>
            {numbers.map((n) => <option value={n} key={n}>{n}</option>)}
          </select>
          <button type="submit">Show diff</button>
        </form>
        {diff && (
          <figure class="diff" tabIndex={-1} ref={diffRef}>
            <figcaption>Revision {diff.from} → {diff.to}</figcaption>
            <pre data-testid="config-diff" data-from={diff.from} data-to={diff.to}>{diff.text || '(no difference)'}</pre>
          </figure>
        )}
      </section>
      <section class="card">
        <h2>Current document {doc && <small class="muted">revision {doc.etag.replace(/"/g, '')}</small>}</h2>
        {doc && revs && `"${revs.current}"` !== doc.etag && (
          <p class="error" role="status" data-testid="config-stale">
            Revision {revs.current} is current now; this is an older one.{' '}
            <button type="button" class="small" onClick={() => void load()}>Reload</button>
          </p>
        )}
        <p class="muted">Secrets are shown as "&lt;redacted&gt;".{' '}
          <a href="/api/v1/config/export" download="cats-config.json">Export</a></p>
        <div class="scroll" tabIndex={0}>
          <table data-testid="config-doc" class="doc">
            <thead><tr><th scope="col">Pointer</th><th scope="col">Value</th></tr></thead>
            <tbody>
              {rows.map(([p, v]) => {
                const errs = errorsAt(fieldErrors, p);
                return (
                  <tr data-pointer={p} key={p} class={errs.length ? 'invalid' : ''}>
                    <td><code>{p}</code></td>
                    <td><code>{v}</code>{errs.map((e) => <p class="error" data-field-error={e.field}>{e.message}</p>)}</td>
                  </tr>
                );
              })}
              {fieldErrors.filter((e) => !rows.some(([p]) => e.field === p || e.field.startsWith(p + '/'))).map((e) => (
                <tr data-pointer={e.field} class="invalid"><td><code>{e.field}</code></td>
                  <td><p class="error" data-field-error={e.field}>{e.message}</p></td></tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}
