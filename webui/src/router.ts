// A few client-side pages on history.pushState; cats-cpe answers each of these paths
// with index.html (cpe/webui_routes.hpp kWebuiPages).
import { useEffect, useState } from 'preact/hooks';

export const pages = ['/overview', '/paths', '/instances', '/services', '/events', '/config', '/users'] as const;

export function navigate(path: string, replace = false) {
  if (location.pathname + location.hash === path) return;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const f = () => setPath(location.pathname);
    addEventListener('popstate', f);
    return () => removeEventListener('popstate', f);
  }, []);
  return path;
}
