import { useEffect, useState } from 'preact/hooks';
import { logout, Session, setUnauthorizedHandler } from './api';
import { live } from './live';
import { navigate, usePath } from './router';
import { Login } from './pages/login';
import { Overview } from './pages/overview';
import { Setup } from './pages/setup';
import { Users } from './pages/users';
import { lazyPage } from './lazy';
import { PendingBanner } from './banner';
import { Toasts } from './toasts';

const Paths = lazyPage(() => import('./pages/paths').then((m) => m.Paths));
const Instances = lazyPage(() => import('./pages/instances').then((m) => m.Instances));
const Services = lazyPage(() => import('./pages/services').then((m) => m.Services));
const Events = lazyPage(() => import('./pages/events').then((m) => m.Events));
const Config = lazyPage<{ session: Session }>(() => import('./pages/config').then((m) => m.Config));

// `sessionCheck`: the answer to "who are we", asked by main.tsx before the first render
// (null on /setup, which needs no session).
export function App({ sessionCheck }: { sessionCheck: Promise<Session | null> | null }) {
  const path = usePath();
  const [session, setSession] = useState<Session | null | undefined>(undefined);

  useEffect(() => {
    setUnauthorizedHandler(() => {
      live.stop();
      setSession(null);
    });
    if (!sessionCheck) setSession(null);
    else sessionCheck.then(setSession, () => setSession(null));
  }, []);

  useEffect(() => {
    if (session) void live.start().catch(() => {});
  }, [session]);

  // Redirects after render, not during it: the logged-out land on /login, the logged-in
  // on /overview.
  const target = path === '/setup' || session === undefined ? null : !session ? '/login'
    : path === '/login' || path === '/' ? '/overview' : null;
  useEffect(() => {
    if (target && target !== path) navigate(target, true);
  }, [target, path]);

  if (path === '/setup') return <Setup onDone={() => navigate('/login')} />;
  if (session === undefined) return <main class="center" aria-busy="true">Loading…</main>;
  if (!session) return <Login onLogin={(s) => { setSession(s); navigate('/overview', true); }} />;

  const doLogout = async () => {
    live.stop();
    try {
      await logout();
    } finally {
      setSession(null);
      navigate('/login');
    }
  };
  const link = (to: string, label: string) => (
    <a href={to} class={path === to ? 'active' : ''} aria-current={path === to ? 'page' : undefined}
       onClick={(e) => { e.preventDefault(); navigate(to); }}>{label}</a>
  );
  return (
    <div class="shell">
      <header class="top">
        <span class="brand">cats-sdwan</span>
        <nav aria-label="Pages">
          {link('/overview', 'Overview')}
          {link('/paths', 'Paths')}
          {link('/instances', 'Instances')}
          {link('/services', 'Services')}
          {link('/events', 'Events')}
          {link('/config', 'Configuration')}
          {/* Users and tokens: admins only (a viewer's requests there would fail) */}
          {session.role === 'admin' && link('/users', 'Users')}
        </nav>
        <span class="who" data-role={session.role}>
          {session.user} ({session.role})
          <button type="button" class="link" onClick={doLogout}>Log out</button>
        </span>
      </header>
      <main>
        <PendingBanner role={session.role} />
        {path === '/paths' ? <Paths />
          : path === '/instances' ? <Instances />
          : path === '/services' ? <Services />
          : path === '/events' ? <Events />
          : path === '/config' ? <Config session={session} />
          : path === '/users' ? <Users session={session} />
          : <Overview />}
      </main>
      <Toasts />
    </div>
  );
}
