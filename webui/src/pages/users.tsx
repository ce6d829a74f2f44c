// Users and API tokens (docs/API.md "Accounts routes"): admin only. The app shows no
// Users link to a viewer, and this page says "admins only" without asking the API (a
// viewer gets no controls that would fail). Tokens: list, create (name, role, expiry
// ≤ 1 year; the secret is in the create answer only, so it is shown this once, with a
// copy button, and forgotten when the page closes it), revoke.
import { useEffect, useState } from 'preact/hooks';
import { api, get, Session } from '../api';
import { Field, useFormSend } from '../form';
import { dateTime } from '../time';

interface User {
  name: string;
  role: string;
  created_ms: number;
  disabled: boolean;
}
interface Token {
  id: string;
  name: string;
  role: string;
  created_ms: number;
  expires_ms: number;
  last_used_ms: number | null;
  revoked: boolean;
  created_by: string;
}

const kDayMs = 86_400_000;
const when = (ms: number | null) => (ms ? dateTime(ms) : 'never');

// The role of a new user or token: one control, the same two roles (docs/API.md).
function RoleField(props: { id: string; value: string; onChange: (v: string) => void }) {
  return (
    <div class="field">
      <label for={props.id}>Role</label>
      <select id={props.id} value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
        <option value="viewer">viewer</option>
        <option value="admin">admin</option>
      </select>
    </div>
  );
}

function AddUser(props: { onAdded: () => void }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState('viewer');
  const [password, setPassword] = useState('');
  const { errors, general, send } = useFormSend(['name', 'role', 'password']);
  const submit = (e: Event) => {
    e.preventDefault();
    void send(async () => {
      await api('POST', '/api/v1/users', { name, role, password });
      setName('');
      setPassword('');
      props.onAdded();
    });
  };
  return (
    <form class="card" onSubmit={submit} noValidate data-admin-control="add-user">
      <h2>Add a user</h2>
      <Field id="new-name" label="Name" value={name} onInput={setName} error={errors.name} autocomplete="off" />
      <RoleField id="new-role" value={role} onChange={setRole} />
      <Field id="new-password" label="Password (at least 12 characters)" type="password" value={password}
             onInput={setPassword} error={errors.password} autocomplete="new-password" />
      {general && <p class="error" role="alert">{general}</p>}
      <button type="submit">Add user</button>
    </form>
  );
}

// The new token's secret, this once: selectable text and a copy button.
function NewSecret(props: { token: Token & { token: string }; onDone: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.token.token);
      setCopied('Copied.');
    } catch {
      // No clipboard (plain http, or denied): the text is selectable.
      setCopied('The browser refused the clipboard: select the text and copy it.');
    }
  };
  return (
    <div class="preview" role="region" aria-label="New token" data-testid="token-secret-box">
      <h3>Token “{props.token.name}” ({props.token.role}), expires {when(props.token.expires_ms)}</h3>
      <p><strong>Shown this once:</strong> copy it now; the daemon keeps only its hash.</p>
      <pre class="diffbox" data-testid="token-secret">{props.token.token}</pre>
      <div class="toolbar">
        <button type="button" onClick={copy} data-testid="token-copy">Copy</button>
        <button type="button" class="secondary" onClick={props.onDone} data-testid="token-done">Done, hide it</button>
        {copied && <span role="status" data-testid="token-copied">{copied}</span>}
      </div>
    </div>
  );
}

function Tokens() {
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [role, setRole] = useState('viewer');
  const [days, setDays] = useState('90');
  const { errors, general, send, fail } = useFormSend(['name', 'role', 'expires_ms']);
  const [created, setCreated] = useState<(Token & { token: string }) | null>(null);
  const load = () =>
    get<{ tokens: Token[] }>('/api/v1/tokens').then(
      (r) => { setTokens(r.tokens); setError(null); },
      (e) => setError(String(e.message ?? e)),
    );
  useEffect(() => void load(), []);
  const create = (e: Event) => {
    e.preventDefault();
    setCreated(null);
    const d = Number(days);
    if (!(Number.isInteger(d) && d >= 1 && d <= 365)) return fail({ expires_ms: '1..365 days' });
    void send(async () => {
      const t = await api<Token & { token: string }>('POST', '/api/v1/tokens', { name, role, expires_ms: Date.now() + d * kDayMs });
      setCreated(t);
      setName('');
      void load();
    });
  };
  const revoke = async (t: Token) => {
    try {
      await api('DELETE', `/api/v1/tokens?id=${encodeURIComponent(t.id)}`);
      setError(null);
    } catch (err) {
      setError(`revoking ${t.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
    void load();
  };
  return (
    <section class="card" data-testid="tokens">
      <h2>API tokens</h2>
      <p class="muted">For scripts: <code>Authorization: Bearer cats_…</code>, with the token's role (docs/API.md "Access").</p>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="scroll">
        <table>
          <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">Expires</th>
            <th scope="col">Last used</th><th scope="col">State</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {(tokens ?? []).map((t) => {
              const state = t.revoked ? 'revoked' : t.expires_ms <= Date.now() ? 'expired' : 'active';
              return (
                <tr data-token={t.name} data-state={state} key={t.name}>
                  <td>{t.name}</td><td>{t.role}</td><td>{when(t.created_ms)} by {t.created_by}</td><td>{when(t.expires_ms)}</td>
                  <td>{when(t.last_used_ms)}</td><td data-field="state">{state}</td>
                  <td>{state === 'active' && (
                    <button type="button" class="small" onClick={() => revoke(t)} aria-label={`Revoke token ${t.name}`}>Revoke</button>
                  )}</td>
                </tr>
              );
            })}
            {tokens && !tokens.length && <tr><td colSpan={7} class="muted">No tokens.</td></tr>}
          </tbody>
        </table>
      </div>
      <form onSubmit={create} noValidate data-admin-control="add-token" aria-label="New token">
        <h3>New token</h3>
        <div class="row2">
          <Field id="tok-name" label="Name" value={name} onInput={setName} error={errors.name} autocomplete="off" />
          <RoleField id="tok-role" value={role} onChange={setRole} />
          <Field id="tok-days" label="Expires in (days, 1..365)" value={days} onInput={setDays} error={errors.expires_ms} autocomplete="off" />
        </div>
        {general && <p class="error" role="alert">{general}</p>}
        <button type="submit" data-testid="token-create">Create token</button>
      </form>
      {created && <NewSecret token={created} onDone={() => setCreated(null)} />}
    </section>
  );
}

export function Users(props: { session: Session }) {
  const admin = props.session.role === 'admin';
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    get<{ users: User[] }>('/api/v1/users').then(
      (r) => setUsers(r.users),
      (e) => setError(String(e.message ?? e)),
    );
  useEffect(() => {
    if (admin) void load();
  }, [admin]);
  if (!admin)
    return (
      <section class="card" data-testid="users-admin-only">
        <h2>Users and tokens</h2>
        <p>Only an admin manages users and API tokens; you are signed in as a viewer.</p>
      </section>
    );
  return (
    <div class="users">
      <section class="card">
        <h2>Users</h2>
        {error && <p class="error" role="alert">{error}</p>}
        <div class="scroll">
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">State</th></tr></thead>
            <tbody>
              {(users ?? []).map((u) => (
                <tr data-user={u.name} key={u.name}>
                  <td>{u.name}</td><td>{u.role}</td><td>{dateTime(u.created_ms)}</td>
                  <td>{u.disabled ? 'disabled' : 'active'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <AddUser onAdded={load} />
      <Tokens />
    </div>
  );
}
