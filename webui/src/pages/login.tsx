import { useState } from 'preact/hooks';
import { ApiError, login, Session } from '../api';
import { Field, splitError } from '../form';

export function Login(props: { onLogin: (s: Session) => void }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setGeneral(undefined);
    try {
      props.onLogin(await login(user, password));
    } catch (err) {
      const s = splitError(err, ['user', 'password']);
      setErrors(s.byField);
      // A wrong password names no field (it must not tell which one was wrong).
      setGeneral(err instanceof ApiError && err.status === 429 ? `${err.message} (too many attempts; wait)` : s.general);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="center">
      <form class="card narrow" onSubmit={submit} noValidate>
        <h1>Log in</h1>
        <Field id="user" label="User name" value={user} onInput={setUser} error={errors.user} autocomplete="username" />
        <Field id="password" label="Password" type="password" value={password} onInput={setPassword}
               error={errors.password} autocomplete="current-password" describedBy={general ? 'login-error' : undefined} />
        {general && <p class="error" id="login-error" role="alert" data-testid="login-error">{general}</p>}
        <button type="submit" disabled={busy}>Log in</button>
      </form>
    </main>
  );
}
