import { render } from 'preact';
import { currentSession } from './api';
import { App } from './app';
import { live } from './live';
import './style.css';

// Both questions a page asks first go out before the first render, not from its effects
// (which run after the first paint: a frame and the render later; the budget in
// docs/BENCHMARKS.md "Web UI first load"). The setup page needs no session; every other
// asks who we are. A page other than /login most likely has a session: its live state
// loads beside that question. Without a session the live start fails on its 401
// (live.start) and the session check's null shows the login page; after the login the
// app starts it again.
const path = location.pathname;
const sessionCheck = path === '/setup' ? null : currentSession();
if (path !== '/setup' && path !== '/login') void live.start().catch(() => {});

render(<App sessionCheck={sessionCheck} />, document.getElementById('app')!);
