// A page loaded on first use (its own chunk): the first load carries only the dashboard.
import { useEffect, useState } from 'preact/hooks';
import type { FunctionComponent } from 'preact';

export function lazyPage<P extends object>(load: () => Promise<FunctionComponent<P>>): FunctionComponent<P> {
  let loaded: FunctionComponent<P> | null = null;
  let promise: Promise<FunctionComponent<P>> | null = null;
  return (props: P) => {
    const [C, setC] = useState<FunctionComponent<P> | null>(() => loaded);
    const [error, setError] = useState<string | null>(null);
    useEffect(() => {
      if (C) return;
      let live = true;
      promise ??= load().then((c) => (loaded = c));
      promise.then((c) => live && setC(() => c), (e) => {
        promise = null;
        if (live) setError(String(e?.message ?? e));
      });
      return () => {
        live = false;
      };
    }, []);
    if (error) return <p class="error card" role="alert">This page did not load: {error}</p>;
    if (!C) return <p class="muted" aria-busy="true">Loading…</p>;
    return <C {...props} />;
  };
}
