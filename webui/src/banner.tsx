// The countdown of a pending configuration change, on every page; the Confirm button only
// for admins (a viewer's would be refused).
import { useEffect, useRef, useState } from 'preact/hooks';
import { Role } from './api';
import { live } from './live';
import { confirmPending, onPending, Pending, refreshPending } from './pending';

export function PendingBanner(props: { role: Role }) {
  const [p, setP] = useState<Pending | null>(null);
  const [, setTick] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // A pending change that ends with another revision current than its own was not
  // confirmed: the daemon went back to its base (or someone reverted it). Say so.
  const [expired, setExpired] = useState<{ revision: number; base: number; current: number } | null>(null);
  const prev = useRef<Pending | null>(null);
  useEffect(() => {
    void refreshPending();
    return onPending((x, current) => {
      const was = prev.current;
      if (was && !x && current !== was.revision) setExpired({ revision: was.revision, base: was.base, current });
      if (x) setExpired(null);
      prev.current = x;
      setP(x);
    });
  }, []);
  // A `config` event (a change, a confirmation, an expiry) may change what is pending.
  useEffect(() => {
    let lastConfig = -1;
    return live.subscribe((s) => {
      const t = s.events.filter((e) => e.kind === 'config').reduce((m, e) => Math.max(m, e.ts_ms), 0);
      if (t > lastConfig) {
        if (lastConfig >= 0) void refreshPending();
        lastConfig = t;
      }
    });
  }, []);
  useEffect(() => {
    if (!p) return;
    const t = window.setInterval(() => setTick((n) => n + 1), 250);
    return () => window.clearInterval(t);
  }, [p?.revision]);
  if (!p && expired)
    return (
      <div class="banner reverted" role="status" data-testid="pending-expired" data-revision={expired.revision}>
        <span>
          Revision {expired.revision} was <strong>not confirmed</strong>: the configuration went back to revision{' '}
          {expired.base} (now revision {expired.current}).
        </span>
        <button type="button" class="small" onClick={() => setExpired(null)}>Dismiss</button>
      </div>
    );
  if (!p) return null;
  const left = Math.max(0, Math.ceil((p.deadline_ms - Date.now()) / 1000));
  const confirm = async () => {
    setBusy(true);
    try {
      await confirmPending(p.revision);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="banner" role="status" data-testid="pending-banner" data-revision={p.revision}>
      <span>
        Configuration revision {p.revision} is <strong>pending</strong>: it returns to revision {p.base} in{' '}
        <strong data-testid="pending-left">{left} s</strong> unless confirmed.
      </span>
      {props.role === 'admin' && (
        <button type="button" onClick={confirm} disabled={busy} data-admin-control="confirm">Confirm revision {p.revision}</button>
      )}
      {error && <span class="error" role="alert">{error}</span>}
    </div>
  );
}
