import { useEffect, useState } from 'preact/hooks';
import { ApiError, FieldError, request } from '../../api';
import { Pending, set as setPending } from '../../pending';

// A proposed change: the daemon's dry run first (?dry_run=1: every check a commit
// makes, and the diff it would make), then Apply: the same request with the same If-Match,
// optionally "revert unless confirmed within N s". So what was shown is what is applied,
// or nothing is (409). The dry run's field errors go to the form (onFieldErrors).
export interface Change {
  method: 'PUT' | 'POST';
  path: string; // without query
  body: unknown;
}
interface DryRun {
  revision: number;
  text: string;
}

export function ChangePreview(props: { change: Change; etag: string; what: string; onCancel: () => void;
                                       onApplied: (rev: number) => void; onFieldErrors: (f: FieldError[]) => void }) {
  const [comment, setComment] = useState(props.what);
  const [useConfirm, setUseConfirm] = useState(true);
  const [within, setWithin] = useState('60');
  const [dry, setDry] = useState<DryRun | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const explain = (x: unknown) => {
    if (x instanceof ApiError && x.status === 409) return 'Someone else changed the configuration: cancel, then edit the current one.';
    if (x instanceof ApiError && x.fields.length) return `${x.message}: see the fields.`;
    return x instanceof Error ? x.message : String(x);
  };
  useEffect(() => {
    let stop = false;
    setDry(null);
    setError(null);
    props.onFieldErrors([]);
    request<DryRun>(props.change.method, `${props.change.path}?dry_run=1`, { body: props.change.body, ifMatch: props.etag })
      .then((r) => !stop && setDry(r.data), (x) => {
        if (stop) return;
        setError(explain(x));
        if (x instanceof ApiError) props.onFieldErrors(x.fields);
      });
    return () => {
      stop = true;
    };
  }, []);
  const apply = async () => {
    const n = Number(within);
    if (useConfirm && !(Number.isInteger(n) && n >= 1 && n <= 3600)) return setError('confirm within: 1..3600 seconds');
    const q = new URLSearchParams();
    if (useConfirm) q.set('confirm_within', String(n));
    if (comment) q.set('comment', comment);
    setBusy(true);
    setError(null);
    try {
      const r = await request<{ revision: number; pending: Pending | null }>(props.change.method, `${props.change.path}?${q}`,
        { body: props.change.body, ifMatch: props.etag });
      setPending(r.data.pending, r.data.revision);
      props.onApplied(r.data.revision);
    } catch (x) {
      setError(explain(x));
      if (x instanceof ApiError) props.onFieldErrors(x.fields);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="preview" role="region" aria-label="Change preview" data-testid="change-preview" aria-busy={!dry && !error}>
      <h3>Diff to apply <small class="muted">(the daemon's dry run against revision {props.etag.replace(/"/g, '')})</small></h3>
      {dry && <pre class="diffbox" data-testid="change-diff">{dry.text || '(no difference)'}</pre>}
      {!dry && !error && <p class="muted">Asking the daemon…</p>}
      {dry && (
        <div class="row2">
          <div class="field">
            <label for="chg-comment">Comment</label>
            <input id="chg-comment" value={comment} autocomplete="off" onInput={(e) => setComment((e.target as HTMLInputElement).value)} />
          </div>
          <div class="field">
            <label class="inline"><input type="checkbox" id="chg-confirm" checked={useConfirm}
                   onChange={(e) => setUseConfirm((e.target as HTMLInputElement).checked)} /> Revert unless confirmed within</label>
            <input id="chg-within" type="number" min={1} max={3600} value={within} disabled={!useConfirm} aria-label="seconds to confirm"
                   onInput={(e) => setWithin((e.target as HTMLInputElement).value)} />
          </div>
        </div>
      )}
      {error && <p class="error" role="alert" data-testid="change-error">{error}</p>}
      <div class="toolbar">
        {dry && (
          <button type="button" onClick={apply} disabled={busy || !dry.text} data-testid="change-apply">
            Apply{useConfirm ? ` (confirm within ${within} s)` : ''}
          </button>
        )}
        <button type="button" class="secondary" onClick={props.onCancel}>Cancel</button>
      </div>
    </div>
  );
}
