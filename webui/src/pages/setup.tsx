// The first admin, from the one-time link https://<cpe>/setup#token=<t>. The token is in
// the fragment, so it is in no request line, log or Referer; the page sends it in the body.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { Field, splitError } from '../form';

function tokenFromHash(): string {
  return new URLSearchParams(location.hash.replace(/^#/, '')).get('token') ?? '';
}

export function Setup(props: { onDone: () => void }) {
  const [token] = useState(tokenFromHash);
  const [user, setUser] = useState('admin');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setGeneral(undefined);
    if (password !== confirm) {
      setErrors({ confirm: 'the two passwords differ' });
      return;
    }
    setBusy(true);
    try {
      await api('POST', '/api/v1/setup', { token, user, password });
      // Drop the spent token from the address bar and history.
      history.replaceState(null, '', '/setup');
      setDone(true);
    } catch (err) {
      const s = splitError(err, ['user', 'password', 'token']);
      setErrors(s.byField);
      setGeneral(s.general);
    } finally {
      setBusy(false);
    }
  };

  if (done)
    return (
      <main class="center">
        <section class="card narrow" data-testid="setup-done">
          <h1>Admin created</h1>
          <p>The setup link is spent. Log in as <strong>{user}</strong>.</p>
          <button type="button" onClick={props.onDone}>Go to login</button>
        </section>
      </main>
    );
  return (
    <main class="center">
      <form class="card narrow" onSubmit={submit} noValidate>
        <h1>Set up the first admin</h1>
        {!token && <p class="error" role="alert">This page needs the one-time link (…/setup#token=…): run <code>catsctl setup-url</code> on the box.</p>}
        <Field id="user" label="User name" value={user} onInput={setUser} error={errors.user} autocomplete="username" />
        <Field id="password" label="Password (at least 12 characters)" type="password" value={password}
               onInput={setPassword} error={errors.password} autocomplete="new-password" />
        <Field id="confirm" label="Password again" type="password" value={confirm} onInput={setConfirm}
               error={errors.confirm} autocomplete="new-password" />
        {(general || errors.token) && <p class="error" role="alert" data-testid="setup-error">{errors.token ?? general}</p>}
        <button type="submit" disabled={busy || !token}>Create admin</button>
      </form>
    </main>
  );
}
